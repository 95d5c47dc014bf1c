"""Plain-text rendering of a result, for the terminal and the console bot."""

from __future__ import annotations

import textwrap

from retrieval.brief import Citation, Result

NO_ANSWER = "The corpus holds no answer to this question."


def source_line(c: Citation) -> str:
    """Outlet · title · date, with unknown parts left out."""
    parts = [c.outlet, c.title or "(untitled)", c.published or "undated"]
    return " · ".join(p for p in parts if p)


def marked_text(c: Citation, bold: tuple[str, str] = ("**", "**")) -> str:
    """The passage text with the answering sentence (if any) wrapped in `bold` markers."""
    if c.answer_span is None:
        return c.text
    a, b = c.answer_span
    return f"{c.text[:a]}{bold[0]}{c.text[a:b]}{bold[1]}{c.text[b:]}"


def render_text(result: Result, width: int = 100, bold: tuple[str, str] = ("**", "**")) -> str:
    """The answer line, then numbered citations with their quoted passages."""
    lines: list[str] = []
    if result.answer is not None:
        lines.append(f"Answer: {result.answer.text} [{result.answer.citation}]")
        if result.answer.date:
            lines.append(f"Date: {result.answer.date}")
    else:
        lines.append(NO_ANSWER)
        if result.passages:
            lines.append("Related passages (not an answer):")
    for c in result.passages:
        lines.append("")
        lines.append(f"[{c.n}] {source_line(c)}")
        body = textwrap.fill(marked_text(c, bold), width=width, initial_indent="    ", subsequent_indent="    ")
        lines.append(body)
        lines.append(f"    {c.path} ¶{c.paragraph}" + (f" · {c.url}" if c.url else ""))
    return "\n".join(lines)
