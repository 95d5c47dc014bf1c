"""A stand-in for Slack's Web API on 127.0.0.1, and requests signed exactly as Slack signs them.

This is the one fake in the suite: Slack itself cannot run here. It answers the Web API methods
the bot calls and records every call it accepts (and every post to a response_url) for the tests
to read; file uploads go through files_upload_v2's three steps (files.getUploadURLExternal, the
bytes to the upload URL, recorded as "upload", then files.completeUploadExternal). `refuse()` makes it answer the next calls of a method as a rate-limited or failing Slack
does (429 with Retry-After, 503, or a dropped connection); refused calls are kept apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_USER, BOT_ID, TEAM = "UBOT", "BBOT", "T0001"


def local_server(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """A threaded HTTP server on 127.0.0.1 (a free port), serving in the background, and its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def send_json(
    handler: BaseHTTPRequestHandler, payload: dict[str, Any], headers: dict[str, str] | None = None, status: int = 200
) -> None:
    """Answer a request with `status` (200 by default) and a JSON body."""
    body = json.dumps(payload).encode()
    handler.send_response(status)
    for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class FakeSlack:
    """Records calls as (method, payload); `method` is e.g. "chat.postMessage" or "response_url"."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()
        self.fail: dict[str, str] = {}  # method -> Slack error to answer with
        self.refused: list[tuple[str, int]] = []  # (method, status) of every refused call
        self._refusals: dict[str, list[tuple[int, str]]] = {}  # method -> pending (status, Retry-After)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data_bytes = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/upload/"):  # step 2 of files_upload_v2: the file's bytes
                    fake.record("upload", {"file_id": self.path[len("/upload/") :], "bytes": data_bytes})
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"OK")
                    return
                raw = data_bytes.decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    data = json.loads(raw or "{}")
                else:
                    data = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                if self.path.startswith("/api/"):
                    method = self.path[len("/api/") :].split("?")[0]
                    data["_auth"] = self.headers.get("Authorization", "")
                else:
                    method = "response_url"
                    data["_path"] = self.path
                refusal = fake.take_refusal(method)
                if refusal is None:
                    fake.record(method, data)
                    send_json(self, fake.answer(method, data))
                elif refusal[0] == 0:  # a connection dropped before any answer
                    self.close_connection = True
                else:
                    status, retry_after = refusal
                    error = "ratelimited" if status == 429 else "service_unavailable"
                    send_json(self, {"ok": False, "error": error}, {"Retry-After": retry_after}, status)

            def log_message(self, *_args: Any) -> None:
                pass

        self.handler = Handler

    def __enter__(self) -> FakeSlack:
        self.server, self.url = local_server(self.handler)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def refuse(self, method: str, times: int, status: int = 429, retry_after: str = "0") -> None:
        """Answer the next `times` calls of `method` with `status` (429: rate limited, with this
        Retry-After; 503: unavailable; 0: drop the connection unanswered) instead of serving them."""
        with self.changed:
            self._refusals.setdefault(method, []).extend([(status, retry_after)] * times)

    def take_refusal(self, method: str) -> tuple[int, str] | None:
        with self.changed:
            pending = self._refusals.get(method)
            if not pending:
                return None
            refusal = pending.pop(0)
            self.refused.append((method, refusal[0]))
            self.changed.notify_all()
            return refusal

    def record(self, method: str, data: dict[str, Any]) -> None:
        with self.changed:
            self.calls.append((method, data))
            self.changed.notify_all()

    def answer(self, method: str, data: dict[str, Any]) -> dict[str, Any]:
        if method in self.fail:
            return {"ok": False, "error": self.fail[method]}
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": TEAM, "user": "brief"}
        if method == "chat.postMessage":
            data["_ts"] = f"{time.time():.6f}"  # the posted message's ts, for tests to reply to
            return {"ok": True, "channel": data.get("channel"), "ts": data["_ts"]}
        if method == "files.getUploadURLExternal":  # step 1 of files_upload_v2: where to send the bytes
            file_id = f"F{len(self.calls):07d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":  # step 3: share the uploaded files
            files = json.loads(data.get("files") or "[]")
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": True}

    def of(self, method: str) -> list[dict[str, Any]]:
        with self.changed:
            return [data for m, data in self.calls if m == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        """The calls to `method` once there are at least `count` of them (polls, bounded)."""
        with self.changed:
            ok = self.changed.wait_for(lambda: len([1 for m, _ in self.calls if m == method]) >= count, timeout)
        assert ok, f"expected {count} {method} call(s), saw {[m for m, _ in self.calls]}"
        return self.of(method)


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature headers: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def post(url: str, body: str, content_type: str, headers: dict[str, str]) -> tuple[int, str, float]:
    """POST and return (status, body, seconds taken)."""
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": content_type, **headers}, method="POST"
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.monotonic() - started


class SlackSender:
    """Sends events, slash commands and button clicks to the app, signed with `secret`."""

    def __init__(self, app_url: str, secret: str, fake: FakeSlack) -> None:
        self.app_url, self.secret, self.fake = app_url, secret, fake
        self._n = 0

    def event(self, event: dict[str, Any], event_id: str | None = None, retry: int | None = None,
              timestamp: int | None = None, secret: str | None = None) -> tuple[int, str, float]:  # fmt: skip
        self._n += 1
        body = json.dumps({
            "token": "legacy", "team_id": TEAM, "api_app_id": "A0001", "type": "event_callback",
            "event_id": event_id or f"Ev{self._n:06d}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        })  # fmt: skip
        headers = sign(secret or self.secret, body, timestamp)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return post(self.app_url, body, "application/json", headers)

    def command(self, text: str, user: str = "U0USER", channel: str = "C0GENERAL") -> tuple[int, str, float]:
        self._n += 1
        body = urllib.parse.urlencode({
            "token": "legacy", "team_id": TEAM, "channel_id": channel, "channel_name": "general",
            "user_id": user, "user_name": "analyst", "command": "/brief", "text": text,
            "response_url": f"{self.fake.url}/commands/{self._n}", "trigger_id": f"trig{self._n}",
            "api_app_id": "A0001",
        })  # fmt: skip
        return post(self.app_url, body, "application/x-www-form-urlencoded", sign(self.secret, body))

    def click(
        self, action_id: str, value: str, user: str = "U0USER", channel: str = "C0GENERAL",
        message_ts: str | None = None,
    ) -> tuple[int, str, float]:  # fmt: skip
        """A button click; with `message_ts`, on that visible message (else on an ephemeral one)."""
        self._n += 1
        container = {"type": "message", "channel_id": channel, "is_ephemeral": message_ts is None}
        if message_ts:
            container["message_ts"] = message_ts
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0001",
            "channel": {"id": channel}, "container": container,
            "trigger_id": f"trig{self._n}", "response_url": f"{self.fake.url}/actions/{self._n}",
            "actions": [{"type": "button", "action_id": action_id, "block_id": "brief_actions", "value": value,
                         "action_ts": f"{time.time():.6f}"}],
        }  # fmt: skip
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return post(self.app_url, body, "application/x-www-form-urlencoded", sign(self.secret, body))

    def message_shortcut(
        self, callback_id: str, text: str, user: str = "U0USER", channel: str = "C0GENERAL"
    ) -> tuple[int, str, float]:
        """A message shortcut (type message_action) on a message holding `text`."""
        self._n += 1
        payload = {
            "type": "message_action", "callback_id": callback_id, "team": {"id": TEAM}, "user": {"id": user},
            "channel": {"id": channel, "name": "general"}, "api_app_id": "A0001", "trigger_id": f"trig{self._n}",
            "message_ts": "1700000000.000200", "response_url": f"{self.fake.url}/actions/{self._n}",
            "message": {"type": "message", "user": "U0OTHER", "ts": "1700000000.000200", "text": text},
        }  # fmt: skip
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return post(self.app_url, body, "application/x-www-form-urlencoded", sign(self.secret, body))


def wait_until(predicate: Callable[[], bool], timeout: float = 60) -> None:
    """Poll `predicate` until true (bounded): for effects with no signal to wait on."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
