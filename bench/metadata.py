"""Metadata recovery and furniture safety on real text, through the real read + clean pipeline.

1. RealTime QA articles (true title, date and URL known) are written in several layouts people
   actually have (plain-text header blocks in different orders, dates in file names, YAML front
   matter, HTML with meta tags, JSONL with other key names); each file goes through
   documents.read_file + articles.build_article and the share of titles, dates and URLs
   recovered is printed per layout. Titles are scored on articles that have one.
2. TimeQA's Wikipedia paragraphs go through the same pipeline; every record dropped is counted,
   and those that hold a real sentence are listed (none should be).

python bench/metadata.py [--limit N]    (no model needed; the data is read from ../shared)
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
RTQA = EVAL / "realtimeqa_dev" / "corpus.jsonl.gz"
TIMEQA = EVAL / "timeqa_dev"

from retrieval.read.articles import Article, build_article  # noqa: E402
from retrieval.read.cleaning import normalize_line  # noqa: E402
from retrieval.read.documents import SkipFile, read_file  # noqa: E402

Record = dict[str, Any]
# A layout turns (article, its number, a seeded random source) into (file name, file text).
Layout = Callable[[Record, int, random.Random], tuple[str, str]]


def _day(r: Record) -> date:
    return date.fromisoformat(r["publish_date"].replace("/", "-")[:10])


def _when(r: Record, rng: random.Random) -> datetime:
    """The publication day at a random time of day (the day itself never moves)."""
    return datetime.combine(_day(r), datetime.min.time()).replace(hour=rng.randrange(6, 23), minute=rng.randrange(60))


def _outlet(r: Record) -> str:
    host = urlparse(r["url"]).netloc.removeprefix("www.")
    return host.split(".")[0].upper() if len(host.split(".")[0]) <= 4 else host.split(".")[0].capitalize()


def _slug(r: Record) -> str:
    words = re.findall(r"[a-z0-9]+", (r["title"] or r["text"][:60]).lower())
    return "-".join(words[:6]) or "article"


def _written(d: datetime, rng: random.Random) -> str:
    """The day in one of the common written forms."""
    forms = [
        d.strftime("%Y-%m-%d"),
        d.strftime("%Y-%m-%dT%H:%M:%SZ"),
        d.strftime("%Y-%m-%dT%H:%M:%S-05:00"),
        d.strftime("%a, %d %b %Y %H:%M:%S GMT"),  # RFC 2822
        f"{d.strftime('%A, %B')} {d.day}, {d.year} {d.strftime('%I:%M %p').lstrip('0')} ET",
        f"{d.strftime('%b')}. {d.day}, {d.year}",
        f"{d.day} {d.strftime('%B %Y, %H:%M')}",
    ]
    return rng.choice(forms)


def _body(r: Record) -> str:
    return r["text"].strip()


def text_title_date_url(r: Record, n: int, rng: random.Random) -> tuple[str, str]:
    """The shape of the issue: title line, ISO date line, URL line, blank line, body."""
    head = [r["title"]] if r["title"] else []
    return f"{n:04d}.txt", "\n".join([*head, _day(r).isoformat(), r["url"]]) + "\n\n" + _body(r) + "\n"


def text_url_byline_title_published(r: Record, n: int, rng: random.Random) -> tuple[str, str]:
    """URL first, a byline, the title, then "Published <weekday, date, time ET>" and an update line."""
    when = _when(r, rng)
    head = [r["url"]]
    if r["authors"]:
        head.append("By " + " and ".join(r["authors"][:2]))
    if r["title"]:
        head.append(r["title"])
    head.append(
        f"Published {when.strftime('%A, %B')} {when.day}, {when.year} {when.strftime('%I:%M %p').lstrip('0')} ET"
    )
    if rng.random() < 0.5:
        head.append(f"Updated {when.strftime('%b')}. {when.day}, {when.year}")
    return f"{n:04d}.txt", "\n".join(head) + "\n\n" + _body(r) + "\n"


def text_outlet_block(r: Record, n: int, rng: random.Random) -> tuple[str, str]:
    """Outlet, title, "NAME, OUTLET", a written date in any common form, "Source: URL", in shuffled order."""
    outlet = _outlet(r)
    lines = [outlet, _written(_when(r, rng), rng), f"Source: {r['url']}"]
    if r["authors"]:
        lines.append(f"{r['authors'][0]}, {outlet}")
    rng.shuffle(lines)
    if r["title"]:
        lines.insert(rng.randrange(2), r["title"])
    return f"{n:04d}.txt", "\n".join(lines) + "\n\n" + _body(r) + "\n"


def markdown_date_in_name(r: Record, n: int, rng: random.Random) -> tuple[str, str]:
    """The date only in the file name (three naming styles); a heading and a link line in the text."""
    d = _day(r)
    slug = f"{_slug(r)}-{n}"  # the number keeps same-day, same-headline files apart
    name = [f"{d.isoformat()}-{slug}.md", f"{n:02d}_{d.isoformat()}_{slug}.txt",
            f"{d.strftime('%Y%m%d')}-{slug}.md"][n % 3]  # fmt: skip
    head = [f"# {r['title']}"] if r["title"] and name.endswith(".md") else [r["title"]] if r["title"] else []
    head.append(f"<{r['url']}>" if name.endswith(".md") else r["url"])
    return name, "\n\n".join([*head, _body(r)]) + "\n"


def front_matter(r: Record, n: int, rng: random.Random) -> tuple[str, str]:
    """YAML front matter with the key spellings blog engines and exporters use."""
    when = _when(r, rng)
    meta = {rng.choice(["date", "published", "pubDate"]): rng.choice([_day(r).isoformat(), when.isoformat()]),
            rng.choice(["url", "link", "canonical_url"]): r["url"]}  # fmt: skip
    if r["title"]:
        meta["title"] = r["title"]
    if r["authors"]:
        meta["authors"] = r["authors"]
    return f"{n:04d}.md", "---\n" + _yaml(meta) + "---\n\n" + _body(r) + "\n"


def _yaml(meta: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)


def html_meta_tags(r: Record, n: int, rng: random.Random) -> tuple[str, str]:
    """A page with Open Graph and article meta tags, a canonical link, navigation and a footer."""
    from html import escape

    when = _when(r, rng)
    title = escape(r["title"] or "")
    paragraphs = "\n".join(f"<p>{escape(p.strip())}</p>" for p in r["text"].split("\n") if p.strip())
    head = [
        f'<meta property="og:title" content="{title}">' if title else "",
        f'<meta property="og:site_name" content="{_outlet(r)}">',
        f'<meta property="article:published_time" content="{when.strftime("%Y-%m-%dT%H:%M:%S")}-04:00">',
        f'<link rel="canonical" href="{escape(r["url"])}">',
    ]
    page = (
        "<!DOCTYPE html><html><head>" + (f"<title>{title} | {_outlet(r)}</title>\n" if title else "")
        + "\n".join(h for h in head if h)
        + "\n</head><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>\n"
        + f"<article>{f'<h1>{title}</h1>' if title else ''}\n{paragraphs}\n</article>"
        + "<footer>All rights reserved.</footer></body></html>"
    )  # fmt: skip
    return f"{n:04d}.html", page


def jsonl_other_keys(r: Record, n: int, rng: random.Random) -> tuple[str, str]:
    """One JSONL line with news-API key spellings: headline, publishedAt & co., link, source.name, authors."""
    when = _when(r, rng)
    date_key = ["publishedAt", "pubDate", "publish_date", "date_published", "datePublished"][n % 5]
    value = {"publishedAt": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "pubDate": when.strftime("%a, %d %b %Y %H:%M:%S GMT"),
             "publish_date": r["publish_date"], "date_published": when.isoformat(),
             "datePublished": _day(r).isoformat()}[date_key]  # fmt: skip
    record: Record = {"headline": r["title"] or "", date_key: value, "link": r["url"],
                      "source": {"id": None, "name": _outlet(r)}, "authors": r["authors"], "text": r["text"]}  # fmt: skip
    return "feed.jsonl", json.dumps(record, ensure_ascii=False)


LAYOUTS: dict[str, Layout] = {
    "text: title / ISO date / URL": text_title_date_url,
    "text: URL / byline / title / Published": text_url_byline_title_published,
    "text: shuffled outlet, date form, author": text_outlet_block,
    "md/txt: date in the file name": markdown_date_in_name,
    "md: YAML front matter": front_matter,
    "html: meta tags": html_meta_tags,
    "jsonl: news-API keys": jsonl_other_keys,
}


def same(a: str | None, b: str | None) -> bool:
    """Equal after normalising white space (and Unicode compatibility forms)."""
    return a is not None and b is not None and normalize_line(a) == normalize_line(b)


def run_layout(name: str, layout: Layout, records: list[Record], folder: Path) -> dict[str, Any]:
    """Write every record in one layout, read and clean each file, score the metadata."""
    folder.mkdir(parents=True)
    rng = random.Random(name)
    jsonl: list[str] = []
    paths: list[tuple[Path, Record]] = []
    for n, r in enumerate(records):
        fname, text = layout(r, n, rng)
        if fname.endswith(".jsonl"):
            jsonl.append(text)
            continue
        (folder / fname).write_text(text, encoding="utf-8")
        paths.append((folder / fname, r))
    articles: list[tuple[Article | None, Record]] = []
    for path, r in paths:
        articles.append((_build_one(path), r))
    if jsonl:
        (folder / "feed.jsonl").write_text("\n".join(jsonl) + "\n", encoding="utf-8")
        for doc in read_file(folder / "feed.jsonl", 10**10).documents:
            try:
                articles.append((build_article(doc), records[doc.record - 1]))  # type: ignore[operator]
            except SkipFile:
                articles.append((None, records[doc.record - 1]))  # type: ignore[operator]
    titled = [(a, r) for a, r in articles if r["title"]]
    return {
        "n": len(articles),
        "skipped": sum(a is None for a, _ in articles),
        "title": sum(a is not None and same(a.title, r["title"]) for a, r in titled) / max(1, len(titled)),
        "titled": len(titled),
        "false_title": sum(a is not None and a.title is not None for a, r in articles if not r["title"]),
        "untitled": len(articles) - len(titled),
        "date": sum(a is not None and a.published == _day(r) for a, r in articles) / max(1, len(articles)),
        "url": sum(a is not None and a.url == r["url"] for a, r in articles) / max(1, len(articles)),
        "false": [(r, a) for a, r in articles if a is not None and a.title is not None and not r["title"]],
        "misses": [
            (r, a)
            for a, r in articles
            if a is None
            or a.published != _day(r)
            or a.url != r["url"]
            or (r["title"] and not same(a.title, r["title"]))
        ],
    }


def _build_one(path: Path) -> Article | None:
    try:
        return build_article(read_file(path, 10**10).documents[0])
    except SkipFile:
        return None


def metadata_section(limit: int | None, show: int) -> None:
    """Section 1: per-layout recovery of title, date and URL."""
    with gzip.open(RTQA, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    records = [r for r in records if r["text"].strip()][:limit]
    print(f"## Metadata recovery: {len(records)} RealTime QA articles, "
          f"{sum(bool(r['title']) for r in records)} with a title")  # fmt: skip
    print(f"{'layout':42} {'title':>7} {'date':>7} {'url':>7}  false titles  skipped")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, layout) in enumerate(LAYOUTS.items()):
            s = run_layout(name, layout, records, Path(tmp) / f"layout{i}")
            print(f"{name:42} {s['title']:7.1%} {s['date']:7.1%} {s['url']:7.1%}  "
                  f"{s['false_title']:>4} of {s['untitled']:<4}  {s['skipped']}")  # fmt: skip
            for r, a in s["false"][:show]:
                print(f"    false title {r['doc_id']}: {a.title!r}")
            for r, a in s["misses"][:show]:
                got = (a.title, a.published, a.url) if a else "skipped"
                print(f"    miss {r['doc_id']}: want {(r['title'], _day(r), r['url'])} got {got}")


def timeqa_section(show: int) -> None:
    """Section 2: TimeQA paragraphs dropped by cleaning, and which of them hold a real sentence."""
    rows = [json.loads(line) for line in (TIMEQA / "paragraphs.jsonl").open(encoding="utf-8")]
    questions = [json.loads(line) for line in (TIMEQA / "questions.jsonl").open(encoding="utf-8")]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "timeqa.jsonl"
        corpus.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows), encoding="utf-8")
        read = read_file(corpus, 10**10)
        dropped: dict[str, str] = {}
        for doc in read.documents:
            try:
                build_article(doc)
            except SkipFile as exc:
                dropped[rows[doc.record - 1]["pid"]] = str(exc)  # type: ignore[operator]
    texts = {r["pid"]: r["text"] for r in rows}
    sentences = [pid for pid in dropped if _has_sentence(texts[pid])]
    gold_hit = sum(any(pid in dropped for pid in q["gold_pids"]) for q in questions)
    print(f"\n## TimeQA paragraphs dropped by cleaning: {len(dropped)} of {len(rows)}")
    print(f"reasons: {dict(Counter(dropped.values()))}")
    print(f"questions with a dropped gold paragraph: {gold_hit} of {len(questions)}")
    print(f"dropped records holding a real sentence (>= 6 words and >= 40 characters): {len(sentences)}")
    for pid in sentences[:show]:
        print(f"    {pid}: {texts[pid][:120]}")


def _has_sentence(text: str) -> bool:
    """A rough test for prose: six words or more and 40 characters, not a bare heading."""
    return len(text) >= 40 and len(text.split()) >= 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="RealTime QA articles to use (default all)")
    parser.add_argument("--show", type=int, default=0, help="misses to print per layout")
    args = parser.parse_args()
    if not RTQA.is_file() and not (TIMEQA / "paragraphs.jsonl").is_file():
        print(f"skipped: {EVAL} has no RealTime QA or TimeQA data (read from ../shared, never committed)")
        return
    print(f"# bench/metadata.py — {date.today().isoformat()}")
    if RTQA.is_file():
        metadata_section(args.limit, args.show)
    else:
        print(f"metadata section skipped: {RTQA} not found")
    if (TIMEQA / "paragraphs.jsonl").is_file():
        timeqa_section(args.show)
    else:
        print(f"TimeQA section skipped: {TIMEQA} not found")


if __name__ == "__main__":
    main()
