"""Hostile feeds: file links, internal addresses, slow drips, huge and compressed pages, XML bombs.

Every server here is on 127.0.0.1. Loopback is refused by default, so the working feeds are
allow-listed by exact host:port; private and link-local addresses are only ever checked by the
address check itself, never sent traffic.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import trustme

from retrieval import Settings
from retrieval.sources.feeds import FetchReport, fetch_feeds
from retrieval.sources.fetcher import Fetcher, FetchFailed, FetchPolicy, address_refusal
from tests.slack_fake import local_server
from tests.test_feeds import BODY1, BODY2, PAGE

Route = Callable[[BaseHTTPRequestHandler], None]
GOOD = PAGE.format(title="Gdansk to open deep-sea terminal", body=BODY1).encode()
OTHER = PAGE.format(title="Tallinn ferry crews strike", body=BODY2).encode()
SECRET = "The vault combination is 31-17-42 and only the night porter knows it."


def send(handler: BaseHTTPRequestHandler, body: bytes, ctype: str = "text/html", **headers: str) -> None:
    """200 with a body; Content-Length unless headers say otherwise (close-delimited then)."""
    handler.send_response(200)
    handler.send_header("Content-Type", ctype)
    if headers.pop("length", "yes") == "yes":
        handler.send_header("Content-Length", str(len(body)))
    for key, value in headers.items():
        handler.send_header(key.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def page(body: bytes, **headers: str) -> Route:
    return lambda h: send(h, body, **headers)


def redirect(location: str) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.end_headers()

    return route


def drip(head: bool) -> Route:
    """A byte every 50 ms, of the status line and headers (head) or of the body; at most 10 s."""

    def route(h: BaseHTTPRequestHandler) -> None:
        raw = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
        if not head:
            h.wfile.write(raw)
            raw = GOOD * 20
        try:
            for byte in raw[:200]:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client gave up, as it should

    return route


def rss(*links: str, prolog: str = "") -> bytes:
    items = "".join(f"<item><title>Story {i}</title><link>{escape(link)}</link></item>" for i, link in enumerate(links))
    return (
        f'<?xml version="1.0"?>{prolog}<rss version="2.0"><channel><title>Wire</title>{items}</channel></rss>'.encode()
    )


class Server:
    """A 127.0.0.1 server answering GETs from a route table and recording every path asked for."""

    def __init__(self, ca: trustme.CA | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                route(self)

            def log_message(self, *_args: Any) -> None:
                pass

        if ca is None:
            self.server, self.url = local_server(Handler)
        else:  # HTTPS with a certificate for 127.0.0.1 from a throwaway CA
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
            self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.port = self.server.server_address[1]
        self.hostport = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with closing(Server()) as s:
        yield s


@pytest.fixture
def other() -> Iterator[Server]:
    """A second server, never allow-listed unless a test says so."""
    with closing(Server()) as s:
        yield s


def poll(tmp_path: Path, feeds: list[str], policy: FetchPolicy) -> FetchReport:
    return fetch_feeds(feeds, tmp_path / "articles", tmp_path / "state.json", policy)


def allow(*servers: Server, **limits: Any) -> FetchPolicy:
    return FetchPolicy(allow_hosts=frozenset(s.hostport for s in servers), **limits)


def saved_texts(report: FetchReport) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in report.saved)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
        ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
        ("100.64.0.1", "non-public"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
        ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"), ("64:ff9b::a00:1", "private"),
        ("93.184.216.34", None), ("8.8.8.8", None), ("2606:4700:4700::1111", None), ("::ffff:93.184.216.34", None),
    ],
)  # fmt: skip
def test_address_check_refuses_every_non_public_address(address: str, kind: str | None) -> None:
    assert address_refusal(address) == kind


def test_file_links_are_never_opened_in_any_spelling(server: Server, tmp_path: Path) -> None:
    secret = tmp_path / "secret.html"
    secret.write_text(PAGE.format(title="Vault", body=f"<p>{SECRET}</p>" * 3), encoding="utf-8")
    links = [f"file://{secret}", f"file:{secret}", f"file://localhost{secret}", f"FILE://{secret}"]
    server.routes = {
        "/rss.xml": page(rss(*links, f"{server.url}/to-file", f"{server.url}/good"), ctype="application/rss+xml"),
        "/to-file": redirect(f"file://{secret}"),
        "/good": page(GOOD),
    }
    report = poll(tmp_path, [f"{server.url}/rss.xml"], allow(server))
    reasons = dict(report.problems)
    refused = {url: r for url, r in reasons.items() if url.lower().startswith("file:")}  # feedparser respells some
    assert len(refused) == len(links) and all(
        "only http and https links are fetched, not file:" in r for r in refused.values()
    )
    assert reasons[f"{server.url}/to-file"].startswith(f"refused: redirected to file://{secret}")
    assert len(report.saved) == 1 and "Gdansk" in saved_texts(report)  # the refusals stopped nothing
    assert SECRET not in saved_texts(report)


def test_a_feed_body_naming_a_local_file_is_not_opened(server: Server, tmp_path: Path) -> None:
    local_feed = tmp_path / "local-feed.xml"
    local_feed.write_bytes(rss(f"{server.url}/good"))
    server.routes = {"/rss.xml": page(str(local_feed).encode(), ctype="application/rss+xml"), "/good": page(GOOD)}
    report = poll(tmp_path, [f"{server.url}/rss.xml"], allow(server))
    assert report.saved == [] and "/good" not in server.requests
    assert report.problems[0][0] == f"{server.url}/rss.xml"


def test_loopback_is_refused_unless_allow_listed(server: Server, tmp_path: Path) -> None:
    server.routes = {"/rss.xml": page(rss(f"{server.url}/good")), "/good": page(GOOD)}
    feeds = [f"{server.url}/rss.xml", f"http://localhost:{server.port}/rss.xml", f"http://2130706433:{server.port}/"]
    report = poll(tmp_path, feeds, FetchPolicy())
    assert server.requests == [] and report.saved == []
    for feed in feeds:
        reason = dict(report.problems)[feed]
        assert "loopback address" in reason and "BRIEF_FEED_ALLOW_HOSTS" in reason, reason


def test_allow_list_admits_exactly_that_host_and_port(server: Server, other: Server, tmp_path: Path) -> None:
    a = server.url
    other.routes = {"/good": page(OTHER)}
    hops = {
        "/to-other-port": f"{other.url}/good",
        "/to-localhost": f"http://localhost:{server.port}/never",
        "/to-mapped": f"http://[::ffff:127.0.0.1]:{server.port}/never",
        "/to-decimal": f"http://2130706433:{server.port}/never",
        "/to-unspecified": f"http://0.0.0.0:{server.port}/never",
        "/to-self": "/good",
    }
    server.routes = {
        "/rss.xml": page(rss(f"{a}/good", f"{other.url}/good", *(a + hop for hop in hops))),
        "/good": page(GOOD),
        "/never": page(OTHER),
        **{hop: redirect(target) for hop, target in hops.items()},
    }
    report = poll(tmp_path, [f"{a}/rss.xml"], allow(server))
    reasons = dict(report.problems)
    assert other.requests == [] and "/never" not in server.requests
    assert "127.0.0.1 is at 127.0.0.1, a loopback address" in reasons[f"{other.url}/good"]
    assert reasons[f"{a}/to-other-port"].startswith(f"refused: redirected to {other.url}/good: 127.0.0.1 is at")
    for hop, kind in [("/to-localhost", "loopback"), ("/to-mapped", "loopback"), ("/to-decimal", "loopback"),
                      ("/to-unspecified", "unspecified")]:  # fmt: skip
        assert (
            reasons[a + hop].startswith(f"refused: redirected to {hops[hop]}:")
            and f"a {kind} address" in reasons[a + hop]
        )
    # Its own page and a redirect within the allowed host work; the same text twice is saved once.
    assert len(report.saved) == 1 and report.known_entries == 1 and server.requests.count("/good") == 2


def test_allow_list_setting_reads_host_and_host_port() -> None:
    env = {
        "BRIEF_FEED_ALLOW_HOSTS": "127.0.0.1:8080, Feeds.Internal",
        "BRIEF_FEED_PAGE_TIMEOUT": "3",
        "BRIEF_FEED_MAX_PAGE_MB": "0.5",
        "BRIEF_FEED_POLL_TIMEOUT": "30",
    }
    policy = FetchPolicy.from_settings(Settings.from_env(env=env, dotenv_path=None))
    assert (policy.page_timeout_s, policy.max_page_bytes, policy.poll_timeout_s) == (3.0, 512 * 1024, 30.0)
    assert policy.allows("127.0.0.1", 8080) and not policy.allows("127.0.0.1", 8081)
    assert policy.allows("feeds.internal", 443) and policy.allows("FEEDS.internal", 8443)
    assert not policy.allows("other.internal", 443)


def test_slow_drip_is_cut_at_the_page_deadline(server: Server, tmp_path: Path) -> None:
    server.routes = {
        "/rss.xml": page(rss(f"{server.url}/drip-body", f"{server.url}/drip-head", f"{server.url}/good")),
        "/drip-body": drip(head=False),
        "/drip-head": drip(head=True),
        "/good": page(GOOD),
    }
    report = poll(tmp_path, [f"{server.url}/rss.xml"], allow(server, page_timeout_s=1.0))
    reasons = dict(report.problems)
    for path in ("/drip-body", "/drip-head"):
        assert reasons[server.url + path].startswith("refused: took longer than 1 s (raise BRIEF_FEED_PAGE_TIMEOUT")
    assert len(report.saved) == 1 and "Gdansk" in saved_texts(report)


def test_the_whole_poll_is_bounded_and_what_is_left_is_tried_next_time(server: Server, tmp_path: Path) -> None:
    server.routes = {
        "/rss.xml": page(rss(f"{server.url}/drip", f"{server.url}/good")),
        "/drip": drip(head=False),
        "/good": page(GOOD),
    }
    feeds = [f"{server.url}/rss.xml", f"{server.url}/rss.xml?again"]
    first = poll(tmp_path, feeds, allow(server, page_timeout_s=600, poll_timeout_s=1.5))
    reasons = dict(first.problems)
    assert reasons[f"{server.url}/drip"] == "refused: the poll took longer than 1.5 s (BRIEF_FEED_POLL_TIMEOUT)"
    assert reasons[f"{server.url}/good"].startswith("skipped: the poll took longer than 1.5 s")
    assert reasons[f"{server.url}/rss.xml?again"].startswith("skipped:") and first.saved == []
    server.routes["/drip"] = page(OTHER)
    second = poll(tmp_path, feeds[:1], allow(server))
    assert len(second.saved) == 2 and second.problems == []


def test_oversized_pages_are_refused_not_truncated(server: Server, tmp_path: Path) -> None:
    big = PAGE.format(title="Long read", body=f"<p>{BODY1}</p>" * 400).encode()  # about 170 KB
    server.routes = {
        "/rss.xml": page(rss(f"{server.url}/big", f"{server.url}/big-no-length", f"{server.url}/good")),
        "/big": page(big),
        "/big-no-length": page(big, length="no"),
        "/good": page(GOOD),
    }
    report = poll(tmp_path, [f"{server.url}/rss.xml"], allow(server, max_page_bytes=64 * 1024))
    reasons = dict(report.problems)
    for path in ("/big", "/big-no-length"):
        assert reasons[server.url + path] == "refused: larger than 0.0625 MB (BRIEF_FEED_MAX_PAGE_MB)"
    assert len(report.saved) == 1


def test_compressed_pages_are_read_and_a_gzip_bomb_is_capped(server: Server, tmp_path: Path) -> None:
    bomb = gzip.compress(b"<html><body><p>" + b" " * (32 * 1024 * 1024) + b"</p></body></html>")
    assert len(bomb) < 1024 * 1024  # the cap must hold on what it inflates to, not on what crosses the wire
    server.routes = {
        "/rss.xml": page(gzip.compress(rss(f"{server.url}/gz", f"{server.url}/bomb")), Content_Encoding="gzip"),
        "/gz": page(gzip.compress(GOOD), Content_Encoding="gzip"),
        "/bomb": page(bomb, Content_Encoding="gzip"),
    }
    report = poll(tmp_path, [f"{server.url}/rss.xml"], allow(server, max_page_bytes=1024 * 1024))
    assert dict(report.problems)[f"{server.url}/bomb"] == (
        "refused: larger than 1 MB (BRIEF_FEED_MAX_PAGE_MB) once decompressed"
    )
    assert len(report.saved) == 1 and "Gdansk" in saved_texts(report)


LAUGHS = "<!DOCTYPE rss [<!ENTITY lol0 'lol'>" + "".join(
    f"<!ENTITY lol{i} '{f'&lol{i - 1};' * 10}'>" for i in range(1, 10)
) + "]>"  # fmt: skip


def test_xml_bombs_and_external_entities_are_refused(server: Server, tmp_path: Path, other: Server) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    xxe = f"<!DOCTYPE rss [<!ENTITY xxe SYSTEM 'file://{secret}'>]>"
    bodies = {
        "/laughs.xml": rss(f"{server.url}/good", prolog=LAUGHS).replace(b"<title>Wire", b"<title>&lol9;Wire"),
        "/laughs-not-well-formed.xml": b"\n" + rss(f"{server.url}/good", prolog=LAUGHS),
        "/xxe.xml": rss(f"{server.url}/good", prolog=xxe).replace(b"<title>Wire", b"<title>&xxe;"),
    }
    server.routes = {path: page(body, ctype="application/rss+xml") for path, body in bodies.items()}
    server.routes["/good"] = page(GOOD)
    other.routes = {"/rss.xml": page(rss(f"{other.url}/p")), "/p": page(OTHER)}
    report = poll(tmp_path, [server.url + p for p in bodies] + [f"{other.url}/rss.xml"], allow(server, other))
    reasons = dict(report.problems)
    for path in bodies:
        assert reasons[server.url + path].startswith("refused: the feed declares XML entities"), reasons
    assert "/good" not in server.requests
    assert len(report.saved) == 1 and "Tallinn" in saved_texts(report)  # the next feed is still read


def test_fetcher_refuses_before_connecting(server: Server) -> None:
    fetcher = Fetcher(FetchPolicy())
    for url, reason in [
        ("ftp://127.0.0.1/x", "refused: only http and https links are fetched, not ftp: link"),
        ("data:text/html,hello", "refused: only http and https links are fetched, not data: link"),
        ("http:///nohost", "refused: the URL has no host"),
        (f"{server.url}/", f"refused: 127.0.0.1 is at 127.0.0.1, a loopback address; if this is an internal feed "
                           f"you trust, add {server.hostport} to BRIEF_FEED_ALLOW_HOSTS"),
    ]:  # fmt: skip
        with pytest.raises(FetchFailed) as caught:
            fetcher.get(url, {})
        assert caught.value.reason == reason
    assert server.requests == []


def test_https_is_verified_on_the_connection_to_the_checked_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    with closing(Server(ca=ca)) as server:
        server.routes = {"/rss.xml": page(rss(f"{server.url}/good")), "/good": page(GOOD)}
        untrusted = poll(tmp_path / "untrusted", [f"{server.url}/rss.xml"], allow(server))
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.problems[0][1] and untrusted.saved == []
        with ca.cert_pem.tempfile() as ca_file:
            monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # OpenSSL reads it whenever a context loads its defaults
            trusted = poll(tmp_path / "trusted", [f"{server.url}/rss.xml"], allow(server))
        assert trusted.problems == [] and len(trusted.saved) == 1


def test_a_slow_name_lookup_is_under_the_page_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake, because no slow name server can run here: this lookup fails only once the test ends.
    released = threading.Event()

    def slow(*_args: Any, **_kwargs: Any) -> Any:
        released.wait(30)
        raise socket.gaierror("no such name")

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    fetcher = Fetcher(FetchPolicy(page_timeout_s=0.5))
    try:
        with pytest.raises(FetchFailed) as caught:
            fetcher.get("http://slow-dns.example/feed.xml", {})
    finally:
        released.set()
    assert caught.value.reason.startswith("refused: took longer than 0.5 s")
