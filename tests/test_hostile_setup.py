"""Set-up and messages as a new user meets them: make, Docker, settings, hints, stats, console, watch."""

from __future__ import annotations

import io
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot import console, create_app, http_server
from retrieval import Brief, Settings
from retrieval.cli import build_parser, main
from retrieval.errors import ConfigError
from retrieval.index.folder import SEGMENTS
from retrieval.sources.watch import FolderWatcher
from tests.conftest import ROOT, SEEDS

MAKE = shutil.which("make")


def make_dry_run(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run for a fresh venv under tmp_path (nothing is run)."""
    assert MAKE, "make is needed to read the Makefile as make reads it"
    venv = tmp_path / "venv"
    done = subprocess.run(
        [MAKE, "-n", "-B", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


# --- make ------------------------------------------------------------------------------------------
def test_make_installs_cpu_torch_from_the_cpu_index_and_falls_back_fast(tmp_path: Path) -> None:
    commands = make_dry_run("setup", tmp_path)
    (torch_line,) = [line for line in commands.splitlines() if "torch==" in line and "download.pytorch.org" in line]
    first, _, fallback = torch_line.partition("||")
    assert "--index-url https://download.pytorch.org/whl/cpu" in first  # the CPU wheel, not the CUDA one
    timeout = re.search(r"--timeout (\d+)", first)
    assert timeout and int(timeout.group(1)) <= 10, "an unreachable index must fail within seconds"
    assert "--retries 0" in first  # pip's default is 5 retries with back-off
    assert "pip install" in fallback and "torch==2.13.0" in fallback and "unreachable" in fallback
    # torch comes before the project, and the project is installed against the pinned set
    (project_line,) = [line for line in commands.splitlines() if "-e '.[dev]'" in line]
    assert commands.index(torch_line) < commands.index(project_line)
    assert "-c constraints.txt" in project_line


def test_make_respects_the_users_hub_setting() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(export\s+)?HF_HUB_OFFLINE\s*:?=", makefile, re.M)
    # ... and Brief decides by itself: offline for a local folder, online for a hub id
    local = Settings.from_env(env={}, dotenv_path=None)
    assert local.hf_offline
    hub = Settings.from_env(env={"BRIEF_EMBED_MODEL": "sentence-transformers/all-MiniLM-L6-v2"}, dotenv_path=None)
    assert not hub.hf_offline
    forced = {"BRIEF_EMBED_MODEL": "sentence-transformers/all-MiniLM-L6-v2", "HF_HUB_OFFLINE": "1"}
    assert Settings.from_env(env=forced, dotenv_path=None).hf_offline


def test_the_lock_pins_every_dependency_and_make_lock_regenerates_it(tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        req = Requirement(spec)
        pinned = pins.get(canonicalize_name(req.name))
        assert pinned, f"{req.name} is not pinned in constraints.txt; run `make lock`"
        assert req.specifier.contains(pinned), f"{req.name}=={pinned} does not satisfy {spec}; run `make lock`"
    commands = make_dry_run("lock", tmp_path)
    assert "tools/lock.py > constraints.txt" in commands
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("-c constraints.txt") >= 2  # torch and the rest


# --- Docker ----------------------------------------------------------------------------------------
def test_dockerfile_caches_dependencies_stops_cleanly_and_checks_health() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    steps = [line for line in lines if line and not line.startswith("#")]

    def first(prefix: str) -> int:
        return next(i for i, line in enumerate(steps) if line.startswith(prefix))

    code = first("COPY retrieval")
    deps = next(i for i, line in enumerate(steps) if "pip install -c constraints.txt" in line)
    assert deps < code, "dependencies must be installed before the code is copied"
    copies_before = [line for line in steps[:deps] if line.startswith("COPY")]
    assert copies_before == ["COPY pyproject.toml constraints.txt ./"]  # a code edit keeps the layer
    assert "pip install --no-deps ." in steps[code + 1]
    # PID 1 ignores SIGTERM without a handler: stop with SIGINT (KeyboardInterrupt) or run an init
    assert "STOPSIGNAL SIGINT" in steps or any("tini" in line for line in steps)
    (health,) = [line for line in steps if line.startswith("HEALTHCHECK")]
    assert '["brief", "health"]' in health and "SLACK_APP_TOKEN" not in health
    assert not any("HF_HUB_OFFLINE=1" in line for line in steps)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv/", "index/", ".env", ".git"} <= set(ignored)


def test_the_runtime_image_leaves_torch_out() -> None:
    # No Docker engine runs here: the stages are read. That ingest and ask run without torch once
    # the export exists is tested in test_speed.py.
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    build, runtime = text.split("\nFROM ", 2)[1:]
    assert "pip uninstall -y torch sentence-transformers transformers" in build
    assert build.index("load_embedder") < build.index("pip uninstall")  # the export is made first
    assert "torch" not in runtime.split("RUN python")[0].replace("without torch", "")  # nothing installs it again
    assert "COPY --from=build /venv /venv" in runtime and "COPY --from=build /app/model-cache" in runtime
    assert "assert 'torch' not in sys.modules" in runtime


def test_health_means_a_live_slack_connection_or_a_live_http_server(seed_brief: Brief) -> None:
    from retrieval.cli import connected_to

    # Socket Mode: an established TCP connection to the remote port (443 for Slack); a real
    # loopback connection stands in for Slack's WebSocket.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            peer, _ = server.accept()
            with peer:
                assert connected_to(port)
        assert client.fileno() == -1
    with socket.create_server(("127.0.0.1", 0)) as idle:
        assert not connected_to(idle.getsockname()[1])
    # HTTP mode: the bot's own /healthz
    settings = seed_brief.settings.with_(slack_bot_token="xoxb-test", slack_signing_secret="secret")
    server = http_server(create_app(settings, seed_brief), "127.0.0.1", 0)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret", "PORT": str(port)}
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("SLACK_APP_TOKEN", raising=False)
            assert main(["health"]) == 0
            server.shutdown()
            server.server_close()
            assert main(["health"]) == 1
    finally:
        thread.join(timeout=10)


# --- settings --------------------------------------------------------------------------------------
def test_bad_settings_name_the_variable_and_the_form(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match=r'^BRIEF_TOP_K must be a whole number, got "five"'):
        Settings.from_env(env={"BRIEF_TOP_K": "five"}, dotenv_path=None)
    with pytest.raises(ConfigError) as bad:
        Settings.from_env(
            env={"BRIEF_WATCH": "maybe", "PORT": "99999", "BRIEF_WATCH_DEBOUNCE": "soon"}, dotenv_path=None
        )
    message = str(bad.value)
    assert 'BRIEF_WATCH must be 1 or 0 (or true/false, yes/no, on/off), got "maybe"' in message
    assert 'PORT must be at most 65535, got "99999"' in message
    assert 'BRIEF_WATCH_DEBOUNCE must be a number (e.g. 2.5), got "soon"' in message
    with caplog.at_level(logging.WARNING, logger="brief.settings"):
        settings = Settings.from_env(env={"BRIEF_TOPK": "3", "BRIEF_TOP_K": "4"}, dotenv_path=None)
    assert settings.top_k == 4
    assert "unknown setting BRIEF_TOPK in the environment is ignored; did you mean BRIEF_TOP_K?" in caplog.text


def test_a_bad_setting_is_one_line_from_the_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIEF_TOP_K", "five")
    assert main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('brief: BRIEF_TOP_K must be a whole number, got "five"') and err.count("\n") == 1


def test_index_works_after_every_sub_command() -> None:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    for name, command in sub.choices.items():
        assert "--index" in command._option_string_actions, f"brief {name} does not take --index"
    assert parser.parse_args(["stats", "--index", "a"]).index == Path("a")
    assert parser.parse_args(["--index", "b", "stats"]).index == Path("b")  # the old place still works
    assert parser.parse_args(["ingest", "--rebuild", "--index", "c"]).index == Path("c")
    assert parser.parse_args(["eval", "qa.jsonl", "--index", "d"]).index == Path("d")


# --- hints that work when pasted --------------------------------------------------------------------
def hinted_command(stderr: str) -> list[str]:
    """The `brief ...` command a message tells the user to run, split as a shell would."""
    match = re.search(r"`(brief [^`]+)`", stderr)
    assert match, stderr
    return shlex.split(match.group(1))


def test_every_printed_hint_runs_as_pasted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(sorted(SEEDS.glob("*.txt"))[0], articles)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIEF_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("BRIEF_PROGRESS", "0")
    monkeypatch.delenv("BRIEF_INDEX_DIR", raising=False)
    index = tmp_path / "my index"  # a space: the hint must quote it

    assert main(["stats", "--index", str(index)]) == 1
    built = hinted_command(capsys.readouterr().err)
    assert built[:2] == ["brief", "ingest"]
    assert main(built[1:]) == 0, capsys.readouterr().err
    assert "articles added: 1" in capsys.readouterr().out

    for segment in (index / SEGMENTS).iterdir():
        segment.unlink()  # damage it
    assert main(["ask", "what happened?", "--index", str(index)]) == 1
    err = capsys.readouterr().err
    assert "is damaged" in err
    rebuilt = hinted_command(err)
    assert "--rebuild" in rebuilt
    assert main(rebuilt[1:]) == 0, capsys.readouterr().err
    assert main(["stats", "--index", str(index)]) == 0
    assert "articles: 1" in capsys.readouterr().out


def test_a_hub_model_that_cannot_load_offline_is_one_line(
    seed_brief: Brief, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIEF_EMBED_MODEL", "brief-tests/no-such-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("BRIEF_INDEX_DIR", str(seed_brief.settings.index_dir))
    assert main(["ask", "when did Biden first strike Syria?"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # not a traceback
    assert "cannot load the embedding model 'brief-tests/no-such-model' offline" in err
    assert "set HF_HUB_OFFLINE=0" in err


# --- stats: fast, without the model ------------------------------------------------------------------
def test_stats_and_the_no_index_error_never_import_the_model(seed_brief: Brief, tmp_path: Path) -> None:
    index = seed_brief.settings.index_dir
    probe = (
        "import sys\nfrom retrieval.cli import main\n"
        f"a = main(['stats', '--index', {str(index)!r}])\n"
        f"b = main(['stats', '--missing', '--index', {str(index)!r}])\n"
        f"c = main(['ask', 'anything?', '--index', {str(tmp_path / 'none')!r}])\n"
        "print('codes', a, b, c)\n"
        "print('heavy', sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "BRIEF_PROGRESS": "0"},
    )  # fmt: skip
    assert "codes 0 0 1" in done.stdout, done.stderr
    assert "heavy []" in done.stdout
    assert "articles: 5" in done.stdout and "(384 dims)" in done.stdout
    # issue 9: the seeds hold one article without a title, listed so it can be fixed
    assert "without a title: 1; without a date: 0" in done.stdout
    (listed,) = [line for line in done.stdout.splitlines() if "title: (none)" in line]
    assert "002_f824ce4a2bcc7d70.txt" in listed and "date: 2021-02-26" in listed
    assert "sources.jsonl" in done.stdout
    assert "no index at" in done.stderr


# --- the console `make run` opens ---------------------------------------------------------------------
def test_console_handles_help_stats_and_timeline(seed_brief: Brief) -> None:
    out = io.StringIO()
    typed = "help\nstats\ntimeline US strikes in Syria\ntimeline\n"
    assert console(seed_brief, io.StringIO(typed), out) == 0
    text = out.getvalue()
    assert "timeline <topic>" in text and "stats" in text  # help
    assert "Corpus: 5 articles" in text
    assert "Timeline: US strikes in Syria" in text and "26 Feb 2021" in text
    assert "Which topic?" in text
    assert "Sorry" not in text


# --- brief watch ---------------------------------------------------------------------------------------
def test_watch_refuses_a_missing_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["watch", str(tmp_path / "nope"), "--index", str(tmp_path / "index")]) == 2
    assert f"cannot watch {tmp_path / 'nope'}: it does not exist" in capsys.readouterr().err


def test_a_vanished_folder_does_not_empty_the_index(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("An article.", encoding="utf-8")
    now = [0.0]
    calls: list[int] = []
    watcher = FolderWatcher(folder, lambda: calls.append(1), debounce_s=1.0, clock=lambda: now[0])
    shutil.rmtree(folder)  # an unmounted volume looks like this
    for _ in range(3):
        watcher.step()
        now[0] += 5
    assert calls == []  # an update now would prune every article


def test_watch_prints_the_first_summary_once_and_stops_on_sigterm(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "note.txt").write_text(
        "Engineers in Rotterdam completed the world's largest floating solar farm on Wednesday.", encoding="utf-8"
    )
    env = {**os.environ, "BRIEF_INDEX_DIR": str(tmp_path / "index"), "HF_HUB_OFFLINE": "1", "BRIEF_PROGRESS": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrieval.cli", "watch", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("watching"):
                break
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(seen) + rest
    assert output.count("files seen: 1; articles added: 1") == 1, output
    assert proc.returncode == 0, err
    assert f"stopped watching {folder}" in output
