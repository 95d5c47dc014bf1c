"""Socket Mode: the same `create_app`, connected to a local WebSocket server that speaks Slack's
Socket Mode envelope protocol (hello, envelopes, acks by envelope_id). Slack itself cannot run
here; the server below is a stand-in, the client and the app are the real ones.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from bot import Listeners, create_app, socket_mode_handler
from retrieval import Brief
from tests.slack_fake import BOT_USER, TEAM, FakeSlack


class SocketModeServer:
    """Sends envelopes to the connected client and collects its acks."""

    def __init__(self) -> None:
        self.outbox: queue.Queue[dict] = queue.Queue()
        self.acks: queue.Queue[dict] = queue.Queue()
        self.server = serve(self._session, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _session(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "local"}}))
        reader = threading.Thread(target=self._read, args=(ws,), daemon=True)
        reader.start()
        while reader.is_alive():
            try:
                ws.send(json.dumps(self.outbox.get(timeout=0.1)))
            except queue.Empty:
                continue

    def _read(self, ws: ServerConnection) -> None:
        try:
            for raw in ws:
                self.acks.put(json.loads(raw))
        except ConnectionClosed:
            pass  # the client went away when the test closed it

    def ack_for(self, envelope_id: str, timeout: float = 30) -> dict:
        while True:
            ack = self.acks.get(timeout=timeout)
            if ack.get("envelope_id") == envelope_id:
                return ack

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def socket_mode(seed_brief: Brief) -> Iterator[tuple[FakeSlack, SocketModeServer]]:
    ws = SocketModeServer()
    with FakeSlack() as fake:
        fake_answer = fake.answer
        fake.answer = lambda method, data: (  # type: ignore[method-assign]
            {"ok": True, "url": ws.url} if method == "apps.connections.open" else fake_answer(method, data)
        )
        settings = seed_brief.settings.with_(
            slack_bot_token="xoxb-test", slack_app_token="xapp-test", slack_api_url=f"{fake.url}/api/"
        )
        assert settings.slack_mode == "socket"
        app = create_app(settings, seed_brief, Listeners(settings, seed_brief))
        handler = socket_mode_handler(app, settings)
        handler.connect()
        try:
            yield fake, ws
        finally:
            handler.close()
            ws.close()


def test_mention_over_socket_mode(socket_mode: tuple[FakeSlack, SocketModeServer]) -> None:
    fake, ws = socket_mode
    ws.outbox.put({
        "envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False, "retry_attempt": 0,
        "payload": {
            "type": "event_callback", "team_id": TEAM, "api_app_id": "A0001", "event_id": "EvS1", "event_time": 1,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            "event": {"type": "app_mention", "user": "U0USER", "channel": "C0GENERAL", "ts": "1700.1",
                      "text": f"<@{BOT_USER}> when did Biden first strike Syria?"},
        },
    })  # fmt: skip
    assert ws.ack_for("env-1") == {"envelope_id": "env-1"}
    (post,) = fake.wait_for("chat.postMessage")
    assert post["thread_ts"] == "1700.1" and "US military has carried out" in post["text"]
    assert fake.of("apps.connections.open")[0]["_auth"] == "Bearer xapp-test"


def test_slash_command_over_socket_mode(socket_mode: tuple[FakeSlack, SocketModeServer]) -> None:
    fake, ws = socket_mode
    ws.outbox.put({
        "envelope_id": "env-2", "type": "slash_commands", "accepts_response_payload": True,
        "payload": {"command": "/brief", "text": "How many targets did US forces strike in Iraq and Syria after the attack in Jordan?",
                    "user_id": "U0USER", "channel_id": "C0GENERAL", "team_id": TEAM,
                    "response_url": f"{fake.url}/commands/1", "trigger_id": "t1"},
    })  # fmt: skip
    ack = ws.ack_for("env-2")
    assert ack["payload"]["text"].startswith("Looking for: How many targets")
    (answer,) = fake.wait_for("response_url")
    assert answer["response_type"] == "ephemeral" and "85 targets" in json.dumps(answer["blocks"])
