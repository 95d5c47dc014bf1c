"""Plain-text rendering of a result, for the terminal and the console bot."""

from __future__ import annotations

import textwrap

from retrieval.brief import Citation, Result

NO_ANSWER = "The corpus holds no answer to this question."


def source_line(c: Citation) -> str:
    """Outlet · title · date, with unknown parts left out."""
    parts = [c.outlet, c.title or "(untitled)", c.published or "undated"]
    return " · ".join(p for p in parts if p)


def render_text(result: Result, width: int = 100, bold: tuple[str, str] = ("**", "**")) -> str:
    """The answer line, then numbered citations with their quoted passages."""
    lines: list[str] = []
    if result.searched_for:
        lines.append(f"Searched for: {result.searched_for}")
    if result.answer is not None:
        when = f"{result.answer.date_label}: " if result.answer.date_label else ""
        lines.append(f"Answer: {when}{result.answer.text} [{result.answer.citation}]")
    else:
        lines.append(NO_ANSWER)
        if result.passages:
            lines.append("Related passages (not an answer):")
    for c in result.passages:
        lines.append("")
        lines.append(f"[{c.n}] {source_line(c)}")
        body = textwrap.fill(c.display_text(bold), width=width, initial_indent="    ", subsequent_indent="    ")
        lines.append(body)
        lines.append(f"    {c.path} ¶{c.paragraph}" + (f" · {c.url}" if c.url else ""))
    return "\n".join(lines)
