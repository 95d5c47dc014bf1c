"""Guarded HTTP for feeds: http(s) only, public addresses only, bounded in time and size.

Every hop of a redirect is followed here, never by the HTTP library: its scheme is checked, its
host resolved and every address checked (unless the user allow-listed that exact host for an
internal feed), and the connection made to an address that was checked, so a DNS answer that
changes between check and connect cannot send it elsewhere. A page has a total deadline (a
watchdog closes the socket when it passes, so a server dripping a byte at a time cannot hold it)
and a size cap counted on the decompressed bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from retrieval.settings import Settings

SCHEMES = {"http": 80, "https": 443}
REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ENCODED = {"gzip", "x-gzip", "deflate"}


class FetchFailed(Exception):
    """A page could not be had; `reason` is the line for the fetch report, `status` the HTTP code if any."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched and how much: allow-listed internal hosts, time and size limits."""

    allow_hosts: frozenset[str] = frozenset()  # "host" (any port) or "host:port", lower case
    page_timeout_s: float = 20.0
    max_page_bytes: int = 5 * 1024 * 1024
    poll_timeout_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        """The policy the BRIEF_FEED_* settings describe."""
        return cls(
            allow_hosts=frozenset(h.strip().lower() for h in settings.feed_allow_hosts),
            page_timeout_s=settings.feed_page_timeout_s,
            max_page_bytes=int(settings.feed_max_page_mb * 1024 * 1024),
            poll_timeout_s=settings.feed_poll_timeout_s,
        )

    def allows(self, host: str, port: int) -> bool:
        """Whether the user allow-listed this host (and port) for internal feeds."""
        host = host.lower()
        named = f"[{host}]" if ":" in host else host  # IPv6 literals are written in brackets
        return bool({host, named, f"{named}:{port}"} & self.allow_hosts)


@dataclass(frozen=True)
class Page:
    """A fetched page: the URL it finally came from, its decompressed body and headers."""

    url: str
    body: bytes
    headers: Message = field(repr=False)


def address_refusal(address: str) -> str | None:
    """Why an IP address must not be fetched from (e.g. "loopback"), or None for a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(str(embedded))
    for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


class Fetcher:
    """Fetches pages under one policy, all within one poll's deadline."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self.poll_deadline = time.monotonic() + policy.poll_timeout_s

    def get(self, url: str, headers: dict[str, str]) -> Page:
        """GET a page, following up to five redirects, each hop checked; FetchFailed says why not."""
        now = time.monotonic()
        if now >= self.poll_deadline:
            raise FetchFailed(
                f"skipped: the poll took longer than {self.policy.poll_timeout_s:g} s "
                "(BRIEF_FEED_POLL_TIMEOUT); it is tried again next poll"
            )
        page_deadline = now + self.policy.page_timeout_s
        deadline = min(page_deadline, self.poll_deadline)
        if deadline == page_deadline:
            late = f"refused: took longer than {self.policy.page_timeout_s:g} s (raise BRIEF_FEED_PAGE_TIMEOUT for a slow site)"
        else:
            late = f"refused: the poll took longer than {self.policy.poll_timeout_s:g} s (BRIEF_FEED_POLL_TIMEOUT)"
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            try:
                result = self._once(current, headers, deadline, late)
            except FetchFailed as exc:
                if hop and exc.reason.startswith("refused:"):
                    raise FetchFailed(
                        f"refused: redirected to {current}: {exc.reason.removeprefix('refused: ')}"
                    ) from exc
                raise
            if isinstance(result, Page):
                return result
            current = urllib.parse.urljoin(current, result)
        raise FetchFailed(f"refused: more than {MAX_REDIRECTS} redirects")

    def _once(self, url: str, headers: dict[str, str], deadline: float, late: str) -> Page | str:
        """One request: a Page, or the Location of a redirect."""
        parts = urllib.parse.urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise FetchFailed(f"refused: only http and https links are fetched, not {scheme or 'a relative'}: link")
        try:
            host, port = parts.hostname, parts.port or SCHEMES[scheme]
        except ValueError as exc:
            raise FetchFailed(f"refused: malformed URL ({exc})") from exc
        if not host:
            raise FetchFailed("refused: the URL has no host")
        addresses = self._addresses(host, port, deadline, late)
        conn = _connection(scheme, host, port, addresses, max(0.001, deadline - time.monotonic()))
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), conn.abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            result = self._exchange(conn, url, parts, headers)
            if conn.aborted.is_set():  # a close-delimited body cut by the watchdog looks complete
                raise FetchFailed(late)
            return result
        except FetchFailed:
            raise
        except (OSError, http.client.HTTPException, zlib.error) as exc:
            if time.monotonic() >= deadline or conn.aborted.is_set():
                raise FetchFailed(late) from exc
            what = "unreachable" if isinstance(exc, OSError) else "broken response"
            raise FetchFailed(f"{what} ({str(exc) or type(exc).__name__})") from exc
        finally:
            watchdog.cancel()
            conn.close()

    def _addresses(self, host: str, port: int, deadline: float, late: str) -> list[str]:
        """The host's addresses, all checked unless the host is allow-listed."""
        infos = _resolve(host, port, deadline - time.monotonic())
        if infos is None:
            raise FetchFailed(late)
        if isinstance(infos, Exception):
            raise FetchFailed(f"unreachable ({infos})") from infos
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.policy.allows(host, port):
            for address in addresses:
                kind = address_refusal(address)
                if kind:
                    raise FetchFailed(
                        f"refused: {host} is at {address}, a {kind} address; if this is an internal feed "
                        f"you trust, add {host}:{port} to BRIEF_FEED_ALLOW_HOSTS"
                    )
        return addresses

    def _exchange(
        self, conn: _Pinned, url: str, parts: urllib.parse.SplitResult, headers: dict[str, str]
    ) -> Page | str:
        target = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
        if parts.query:
            target += "?" + urllib.parse.quote(parts.query, safe="/%:@!$&'()*+,;=~?")
        conn.request("GET", target, headers={**headers, "Accept-Encoding": "gzip, deflate", "Connection": "close"})
        with conn.getresponse() as response:
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise FetchFailed(f"HTTP {response.status} without a Location", response.status)
                return location
            if not 200 <= response.status < 300:
                raise FetchFailed(f"HTTP {response.status}", response.status)
            return Page(url, self._body(response), response.msg)

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        limit = self.policy.max_page_bytes
        too_big = f"refused: larger than {limit / 1024 / 1024:g} MB (BRIEF_FEED_MAX_PAGE_MB)"
        length = response.getheader("Content-Length")
        if length and length.strip().isdigit() and int(length) > limit:
            raise FetchFailed(too_big)
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding not in _ENCODED | {"identity", ""}:
            raise FetchFailed(f"refused: unsupported Content-Encoding {encoding!r}")
        inflater = zlib.decompressobj(32 + zlib.MAX_WBITS) if encoding in _ENCODED else None
        body = bytearray()
        received = 0
        while chunk := response.read1(CHUNK):
            received += len(chunk)
            if received > limit:
                raise FetchFailed(too_big)
            if inflater is None:
                body += chunk
                continue
            # max_length caps what one call may produce, so a bomb never inflates past the limit.
            body += inflater.decompress(chunk, limit - len(body) + 1)
            if len(body) > limit or inflater.unconsumed_tail:
                raise FetchFailed(f"{too_big} once decompressed")
        if inflater is not None:
            body += inflater.flush()
            if len(body) > limit:
                raise FetchFailed(f"{too_big} once decompressed")
        return bytes(body)


def _resolve(host: str, port: int, timeout: float) -> list[Any] | Exception | None:
    """getaddrinfo within a deadline (None when it passed): a name server can be as slow as a web server."""
    answer: list[list[Any] | Exception] = []

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            answer.append(exc)

    # The lookup cannot be cancelled; a late one finishes in the background under the resolver's own timeout.
    thread = threading.Thread(target=lookup, name="brief-resolve", daemon=True)
    thread.start()
    thread.join(max(0.0, timeout))
    return answer[0] if answer else None


class _Pinned(http.client.HTTPConnection):
    """Connects only to addresses already checked; the Host header and TLS name stay the URL's."""

    addresses: list[str]
    aborted: threading.Event
    held: socket.socket | None = None

    def _open(self) -> socket.socket:
        error: OSError = TimeoutError("the deadline passed before connecting")
        for address in self.addresses:
            if self.aborted.is_set():
                break
            try:
                sock = socket.create_connection((address, self.port), self.timeout)
            except OSError as exc:
                error = exc
                continue
            self._hold(sock)
            return sock
        raise error

    def _hold(self, sock: socket.socket) -> None:
        self.sock = self.held = sock  # `held` outlives `sock`, which getresponse() drops once it has the body's reader
        if self.aborted.is_set():  # the watchdog fired while this socket was being made
            self.abort()

    def abort(self) -> None:
        """The deadline passed: shut the socket so that any blocked read or handshake returns at once."""
        self.aborted.set()
        sock = self.held
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _PinnedHTTP(_Pinned):
    def connect(self) -> None:
        self._open()


class _PinnedHTTPS(_Pinned, http.client.HTTPSConnection):
    def connect(self) -> None:
        raw = self._open()
        tls = ssl.create_default_context().wrap_socket(raw, server_hostname=self.host, do_handshake_on_connect=False)
        self._hold(tls)  # before the handshake, so that the watchdog can cut a dripped handshake too
        tls.do_handshake()


def _connection(scheme: str, host: str, port: int, addresses: list[str], timeout: float) -> _Pinned:
    conn = (_PinnedHTTPS if scheme == "https" else _PinnedHTTP)(host, port, timeout=timeout)
    conn.addresses, conn.aborted = addresses, threading.Event()
    return conn
