"""The console front end that `make run` starts while no Slack credentials are configured."""

from __future__ import annotations

import io

from bot import console, prepare
from retrieval import Brief, Settings
from retrieval.embeddings import Embedder


def test_console_builds_the_index_and_answers(settings: Settings, embedder: Embedder) -> None:
    brief = Brief(settings, embedder)
    out = io.StringIO()
    prepare(brief, out)
    assert "articles added: 5" in out.getvalue()
    assert "Brief is ready: 5 articles" in out.getvalue()
    code = console(brief, io.StringIO("when did Biden first strike Syria?\n\n" + "z" * 1200 + "\n"), out)
    assert code == 0
    text = out.getvalue()
    assert "Answer: The US military has carried out an air strike" in text
    assert "Sorry: the question is 1,200 characters long" in text
