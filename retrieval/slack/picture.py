"""Timelines as pictures: the dated events on a time axis, one mark per event, labelled and
coloured by outlet. matplotlib is imported here only, and only when a picture is drawn."""

from __future__ import annotations

import io
import textwrap
from datetime import timedelta
from pathlib import Path

from retrieval.errors import UsageError
from retrieval.timeline import Timeline

LEVELS = (5, -5, 3, -3, 1, -1)  # label heights, alternating above and below the axis
LABEL_WIDTH = 26  # characters per label line
LABEL_LINES = 3
DPI = 110
OTHER = "(no outlet)"


def _safe(text: str) -> str:
    """Article text as matplotlib draws it literally: `$` would start mathtext, control characters nothing good."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split()).replace("$", r"\$")


def _label(date_label: str, text: str) -> str:
    lines = textwrap.wrap(_safe(text), LABEL_WIDTH)
    if len(lines) > LABEL_LINES:
        rest = " ".join(lines[LABEL_LINES - 1 :])
        lines = [*lines[: LABEL_LINES - 1], textwrap.shorten(rest, LABEL_WIDTH, placeholder="…")]
    return "\n".join([_safe(date_label), *lines])


def draw_timeline(timeline: Timeline) -> tuple[bytes, int]:
    """The timeline as a PNG, and the number of events drawn (one mark each); UsageError if it has none."""
    if not timeline.events:
        raise UsageError(f"no dated events about “{timeline.topic}” to draw; try a broader topic")
    import matplotlib

    matplotlib.use("Agg")  # no display; Figure below is used without pyplot's global state
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    events = timeline.events
    outlets = list(dict.fromkeys(e.citation.outlet or OTHER for e in events))
    palette = matplotlib.colormaps["tab10"]
    colour = {o: palette(i % 10) for i, o in enumerate(outlets)}
    width = min(28.0, max(10.0, 2.1 * len(events)))
    fig = Figure(figsize=(width, 6.5), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    days = [e.first for e in events]
    levels = [LEVELS[i % len(LEVELS)] for i in range(len(events))]
    ax.vlines(days, 0, levels, color="#9aa5b1", linewidth=1, zorder=1)  # type: ignore[arg-type]
    ax.axhline(0, color="#1d3557", linewidth=1.5, zorder=1)
    for outlet in outlets:
        mine = [(d, 0) for d, e in zip(days, events, strict=True) if (e.citation.outlet or OTHER) == outlet]
        ax.scatter([d for d, _ in mine], [y for _, y in mine], s=90, color=colour[outlet], edgecolor="white",  # type: ignore[arg-type]
                   linewidth=1.2, zorder=3, label=_safe(outlet)[:40])  # fmt: skip
    for day, level, event in zip(days, levels, events, strict=True):
        ax.annotate(
            _label(event.label, event.text), xy=(day, level), xytext=(0, 6 if level > 0 else -6),  # type: ignore[arg-type]
            textcoords="offset points", ha="center", va="bottom" if level > 0 else "top", fontsize=8,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": colour[event.citation.outlet or OTHER]},
        )  # fmt: skip
    span = max((days[-1] - days[0]).days, 1)
    pad = timedelta(days=max(30, span // 7))  # room for the outermost labels
    ax.set_xlim(days[0] - pad, days[-1] + pad)  # type: ignore[arg-type]
    ax.set_ylim(-8.5, 8.5)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(_safe(f"Timeline: {timeline.topic}")[:120], loc="left", fontsize=12, fontweight="bold")
    ax.legend(title="Outlet", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title_fontsize=8, frameon=False)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue(), len(events)


def write_timeline_png(timeline: Timeline, path: Path) -> int:
    """Draw the timeline into `path` (a .png file); the number of events drawn."""
    data, count = draw_timeline(timeline)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}; pass --png a path in a folder you can write") from exc
    return count
