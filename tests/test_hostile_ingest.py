"""Hostile input: one bad file never stops the others, and a bad disk never takes the live index.

Each test names the fault it plays. Two faults cannot be produced for real here and are
simulated at the narrowest boundary, saying so: a permission error (the tests run as root, who
reads chmod-000 files; a non-root run uses the real chmod) and a full disk (no tmpfs or
/dev/full for an unprivileged index folder).
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import sqlite3
from pathlib import Path

import docx
import pypdf
import pytest

import retrieval.index.folder as index_module
import retrieval.index.ingest as ingest_module
from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.errors import CorruptIndexError, IndexWriteError
from retrieval.index.folder import IndexReader, Manifest, live_version
from retrieval.index.ingest import ingest
from retrieval.index.store import Store
from retrieval.read.articles import build_article
from retrieval.read.documents import SkipFile, discover, read_file
from retrieval.sources.updates import Updater

MB = 1024 * 1024
ROOT_USER = os.geteuid() == 0
GOOD = (
    "The harbour authority said on Monday that the new container terminal in Valmora would open "
    "in the spring, doubling the port's capacity."
)
PDF_LINES = [
    "Engineers in Rotterdam completed the world's largest floating solar farm on Wednesday,",
    "the port authority said, adding that the panels would power 4,000 homes.",
]
DOCX_TEXT = "The lighthouse keeper on Skerry Island retired on Friday after forty-one years of service."


def tiny_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF whose text object holds `lines` (written by hand: no generator needed)."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    content = "BT /F1 11 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypted_pdf() -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(tiny_pdf(PDF_LINES)))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def word_file(path: Path, *paragraphs: str) -> Path:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(path))
    return path


def deep_json(depth: int = 100_000) -> str:
    return '{"text": ' + "[" * depth + "]" * depth + "}"


def reasons(skipped: list[tuple[str, str]]) -> dict[str, str]:
    return {Path(path).name: reason for path, reason in skipped}


def make_unreadable(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 when that stops us; as root (who reads anything) a simulated EACCES on these paths."""
    if not ROOT_USER:
        for path in paths:
            path.chmod(0)
        return
    denied = {path.resolve() for path in paths}
    for method in ("read_bytes", "read_text"):
        real = getattr(Path, method)

        def refuse(self: Path, *args: object, _real: object = real, **kwargs: object) -> object:
            if self.resolve() in denied:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return _real(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(Path, method, refuse)


# --- one bad file never stops the others --------------------------------------------------------


def test_deeply_nested_json_is_a_skip_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(deep_json(), encoding="utf-8")
    with pytest.raises(SkipFile, match="nested too deeply"):
        read_file(path, MB)
    lines = tmp_path / "feed.jsonl"
    lines.write_text(deep_json() + "\n" + json.dumps({"text": GOOD}) + "\n", encoding="utf-8")
    read = read_file(lines, MB)
    assert [d.record for d in read.documents] == [2]
    assert read.skipped == [(f"{lines}:1", read.skipped[0][1])] and "nested too deeply" in read.skipped[0][1]


def test_unreadable_and_vanishing_files_are_skips_and_the_run_goes_on(
    settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    (folder / "deep.json").write_text(deep_json(), encoding="utf-8")
    locked = folder / "locked.txt"
    locked.write_text(GOOD.replace("Valmora", "Ostrava"), encoding="utf-8")
    (folder / "sources.jsonl").write_text(json.dumps({"file": "good.txt", "title": "Terminal"}), encoding="utf-8")
    make_unreadable([locked, folder / "sources.jsonl"], monkeypatch)
    gone = (folder / "gone.txt").resolve()
    gone.write_text(GOOD.replace("Valmora", "Kestrel"), encoding="utf-8")
    # The file vanishes for real between the moment ingest sizes it up and the moment it reads it.
    real_stat = Path.stat

    def stat_then_delete(self: Path, **kwargs: bool) -> os.stat_result:
        result = real_stat(self, **kwargs)
        if self == gone and os.path.exists(gone):
            os.unlink(gone)
        return result

    monkeypatch.setattr(ingest_module, "read_file", _with_stat(stat_then_delete, monkeypatch))
    report = ingest([folder], settings, embedder=embedder)
    why = reasons(report.skipped)
    assert report.added == 1 and report.articles_total == 1
    assert "nested too deeply" in why["deep.json"]
    assert "permission denied" in why["locked.txt"]
    assert "vanished" in why["gone.txt"]
    assert why["sources.jsonl"].startswith("cannot read: permission denied")  # its files are read without it


def _with_stat(stat: object, monkeypatch: pytest.MonkeyPatch) -> object:
    """read_file with Path.stat replaced only while it runs (discovery keeps the real one)."""
    real_read = ingest_module.read_file

    def read(path: Path, max_bytes: int, sidecar: dict | None = None) -> object:
        with monkeypatch.context() as m:
            m.setattr(Path, "stat", stat)
            return real_read(path, max_bytes, sidecar)

    return read


def test_the_folder_watcher_indexes_good_files_beside_a_bad_one(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    settings = settings.with_(articles_dir=seeds_copy)
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    updater = Updater(brief)
    now = [0.0]
    updater.watcher.clock = lambda: now[0]
    (seeds_copy / "deep.json").write_text(deep_json(), encoding="utf-8")
    (seeds_copy / "valmora.txt").write_text(GOOD, encoding="utf-8")
    updates: list[object] = []
    updater.on_update = updates.append
    assert not updater.watcher.step()  # the change is seen ...
    now[0] += 10
    assert updater.watcher.step()  # ... and after the quiet period one update runs
    (update,) = updates
    assert update.ingested.added == 1  # type: ignore[attr-defined]
    assert "nested too deeply" in reasons(update.ingested.skipped)["deep.json"]  # type: ignore[attr-defined]
    result = brief.ask("When will the Valmora container terminal open?")
    assert result.answer is not None and "Valmora" in result.answer.text


# --- front matter -----------------------------------------------------------------------------


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    # A few hundred bytes that a YAML loader with aliases turns into millions of strings.
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdef", "bcdefg", strict=True)]
    path = tmp_path / "bomb.md"
    path.write_text("---\n" + "\n".join(levels) + "\ntitle: *g\n---\n" + GOOD + "\n", encoding="utf-8")
    assert path.stat().st_size < 600
    with pytest.raises(SkipFile, match=r"alias .*write the value out"):
        read_file(path, MB)


def test_declared_metadata_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    title = "Terminal " * 2000
    path.write_text(f"---\ntitle: {title}\nurl: https://x.example/{'a' * 5000}\n---\n{GOOD}\n", encoding="utf-8")
    article = build_article(read_file(path, MB).documents[0])
    assert article.title is not None and len(article.title) <= 500 and article.title.endswith(("…", "..."))
    assert article.url is None  # a 5,000-character URL cannot be right
    record = tmp_path / "long.json"
    record.write_text(json.dumps({"text": GOOD, "title": "x" * 100_000, "source": "Wire " * 10_000}), encoding="utf-8")
    article = build_article(read_file(record, MB).documents[0])
    assert len(article.title or "") <= 500 and len(article.outlet or "") <= 200


@pytest.mark.parametrize(
    ("front", "reason"),
    [("title: " + "[" * 5000 + "]" * 5000, "nested too deeply"), ("note: " + "x" * 70_000, "longer than 64 KB")],
)
def test_hostile_front_matter_is_a_skip(tmp_path: Path, front: str, reason: str) -> None:
    path = tmp_path / "a.md"
    path.write_text(f"---\n{front}\n---\n{GOOD}\n", encoding="utf-8")
    with pytest.raises(SkipFile, match=reason):
        read_file(path, MB)


# --- encodings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_text_with_a_byte_order_mark_is_decoded(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "wide.txt"
    data = GOOD.encode(codec)
    path.write_bytes(data if codec != "utf-16-be" else b"\xfe\xff" + data)
    (doc,) = read_file(path, MB).documents
    assert doc.text == GOOD


# --- links and folders ------------------------------------------------------------------------


def test_links_and_unreadable_folders_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "articles"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    outside = tmp_path / "private.txt"
    outside.write_text("Not an article: a file elsewhere on the machine.", encoding="utf-8")
    (folder / "loop1.txt").symlink_to(folder / "loop2.txt")
    (folder / "loop2.txt").symlink_to(folder / "loop1.txt")
    (folder / "dangling.txt").symlink_to(folder / "nowhere.txt")
    (folder / "sub" / "up").symlink_to(folder)  # a folder loop
    (folder / "leak.txt").symlink_to(outside)
    (folder / "inside.txt").symlink_to(folder / "good.txt")  # inside the folder: followed
    locked = folder / "locked"
    locked.mkdir()
    (locked / "hidden-away.txt").write_text(GOOD, encoding="utf-8")
    if ROOT_USER:  # root lists any folder: simulate EACCES on this one (see the module docstring)
        real_scandir = os.scandir

        def scandir(path: object) -> object:
            if Path(str(path)) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_scandir(path)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    files, passed = discover([folder])
    why = reasons(passed)
    assert [p.name for p in files] == ["good.txt"]
    assert why["loop1.txt"] == why["loop2.txt"] == "symbolic link loop"
    assert why["dangling.txt"].startswith("dangling symbolic link")
    assert why["up"].startswith("symbolic link loop")
    assert "outside" in why["leak.txt"] and "BRIEF_FOLLOW_SYMLINKS=1" in why["leak.txt"]
    assert why["locked"].startswith("cannot read folder: permission denied")
    followed, _ = discover([folder], follow_symlinks=True)
    assert sorted(p.name for p in followed) == ["good.txt", "private.txt"]
    assert Settings.from_env(env={"BRIEF_FOLLOW_SYMLINKS": "1"}, dotenv_path=None).follow_symlinks
    assert not Settings.from_env(env={}, dotenv_path=None).follow_symlinks


def test_other_file_types_are_listed_as_unsupported(tmp_path: Path) -> None:
    for name in ("photo.jpg", "notes.doc", "README", "sources.jsonl", ".DS_Store", "story.txt"):
        (tmp_path / name).write_text(GOOD, encoding="utf-8")
    files, passed = discover([tmp_path])
    assert [p.name for p in files] == ["story.txt"]
    why = reasons(passed)
    assert sorted(why) == ["README", "notes.doc", "photo.jpg"]  # hidden files and sources.jsonl stay silent
    assert all(r.startswith("unsupported format") for r in why.values())


# --- PDF and Word -----------------------------------------------------------------------------


def test_pdf_and_word_are_ingested_and_bad_ones_skipped(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "solar.pdf").write_bytes(tiny_pdf(PDF_LINES))
    word_file(folder / "keeper.docx", "Keeper retires", DOCX_TEXT)
    (folder / "locked.pdf").write_bytes(encrypted_pdf())
    (folder / "torn.pdf").write_bytes(tiny_pdf(PDF_LINES)[:300])
    (folder / "torn.docx").write_bytes(b"PK\x03\x04 not really a zip")
    report = ingest([folder], settings, embedder=embedder)
    why = reasons(report.skipped)
    assert report.added == 2
    assert why["locked.pdf"].startswith("encrypted PDF")
    assert why["torn.pdf"].startswith("damaged PDF")
    assert why["torn.docx"].startswith("damaged Word file")
    brief = Brief(settings, embedder)
    answer = brief.ask("Where was the world's largest floating solar farm completed?").answer
    assert answer is not None and "Rotterdam" in answer.text
    answer = brief.ask("When did the Skerry Island lighthouse keeper retire?").answer
    assert answer is not None and "forty-one years" in answer.text


# --- the disk and the index folder ------------------------------------------------------------


def fill_the_disk(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next index version's writes fail as on a full disk.

    "files": a simulated ENOSPC when the new vector segment is saved (faked: the disk here is not
    full). "sqlite": a real SQLITE_FULL, by capping the database at the pages it already has.
    """
    if where == "files":

        def disk_full(self: object, path: Path) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        monkeypatch.setattr(index_module.VectorIndex, "save", disk_full)
        return
    real_store = index_module.Store

    def capped_store(path: Path, readonly: bool = False) -> Store:
        store = real_store(path, readonly)
        if not readonly:
            pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
            store.conn.execute(f"PRAGMA max_page_count = {pages}")
        return store

    monkeypatch.setattr(index_module, "Store", capped_store)


@pytest.mark.parametrize("where", ["files", "sqlite"])
def test_disk_full_is_one_line_and_the_live_version_keeps_answering(
    settings: Settings, embedder: Embedder, seeds_copy: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, where: str,
) -> None:  # fmt: skip
    settings = settings.with_(articles_dir=seeds_copy)
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    question = "When will the Valmora container terminal open?"
    before = brief.ask(question)
    (seeds_copy / "valmora.txt").write_text(GOOD, encoding="utf-8")
    fill_the_disk(where, monkeypatch)
    with pytest.raises(IndexWriteError) as failed:
        brief.ingest([seeds_copy])
    message = str(failed.value)
    assert "\n" not in message and "no space left on device" in message and "still serves version v000001" in message
    listed = [s["name"] for s in Manifest.read(settings.index_dir).segments]
    assert sorted(p.name for p in (settings.index_dir / "segments").iterdir()) == listed  # nothing half-written
    after = brief.ask(question)
    assert after.version == "v000001" and after.to_dict() == before.to_dict()
    # The running bot's watcher logs it on one line and carries on.
    updater = Updater(brief)
    with caplog.at_level(logging.ERROR, logger="retrieval.sources.watch"):
        updater.watcher._pending_since, updater.watcher.clock = 0.0, lambda: 100.0
        assert updater.watcher.step()
    (record,) = [r for r in caplog.records if r.name == "retrieval.sources.watch"]
    assert record.exc_info is None and "no space left on device" in record.getMessage()
    monkeypatch.undo()
    assert brief.ingest([seeds_copy]).added == 1  # space freed: the next ingest completes
    assert "Valmora" in (brief.ask(question).answer or "").__str__()


def test_garbage_manifest_is_one_line_and_a_running_brief_keeps_its_version(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    question = "Which town on the Iraq border was hit in October 2023?"
    assert brief.ask(question).answer is not None
    with sqlite3.connect(settings.index_dir / "brief.sqlite") as conn:
        conn.execute("UPDATE brief_state SET value = CASE key WHEN 'version' THEN 'v000002' ELSE ? END",
                     ("\xff\xfe\x80\x81garbage\x00\n",))  # fmt: skip
    with pytest.raises(CorruptIndexError, match="it has no valid manifest") as failed:
        IndexReader(settings.index_dir)
    assert "\n" not in str(failed.value) and "rebuild" in str(failed.value)
    result = brief.ask(question)
    assert result.answer is not None and result.version == "v000001"


def test_manifest_counts_that_disagree_with_the_data_are_detected(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    with sqlite3.connect(live_version(settings.index_dir) / "brief.sqlite") as conn:
        manifest = json.loads(conn.execute("SELECT value FROM brief_state WHERE key = 'manifest'").fetchone()[0])
        manifest["passages"] += 1
        conn.execute("UPDATE brief_state SET value = ? WHERE key = 'manifest'", (json.dumps(manifest),))
    with pytest.raises(CorruptIndexError, match=r"manifest counts 5 articles and \d+ passages, its database 5 and"):
        IndexReader(settings.index_dir)
