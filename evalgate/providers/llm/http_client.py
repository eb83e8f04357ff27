"""The HTTP client every LLM provider sends with: HTTP/1.1 over asyncio's streams, each message written and read
by h11, one pool of keep-alive connections per run, sized to its concurrency.

Chosen by measurement (docs/providers.md, "Throughput"; bench/llm_throughput.py's floors): the same 2,000 requests,
32 at a time, from a process of their own, take 1.07× N·L/C with h11 over asyncio's streams and 1.13–1.20× with
aiohttp, whose import alone is ~0.11 s of CPU (h11's ~15 ms) and whose client costs more CPU per call; httpx costs
more still. h11 is the HTTP/1.1 protocol of httpcore (and so of the SDKs' own httpx): the framing (content length,
chunks, a body read to the connection's close), keep-alive and the checks of what a server sends are its.

What this module decides: a redirect is not followed (its status is the answer: HttpStatus); a response is read
whole before its connection serves another request, and a connection whose answer was not read whole is closed;
gzip and deflate are asked for and decoded; TLS verifies with the system's CA certificates (Python's default
context, loaded at a session's first https connection); no proxy is used (nor was one by the client before).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import h11

from evalgate.files.limits import MAX_RESPONSE_HEAD_BYTES
from evalgate.providers.llm.http_errors import ConnectionFailure
from evalgate.providers.llm.http_response import Response

READ_SIZE = 64 * 1024  # bytes asked of the socket at a time
KEEP_IDLE_S = 5.0  # an idle connection older than this is closed, not reused (httpcore's keep-alive expiry)
DEFAULT_HEADERS = {"accept": "*/*", "user-agent": "evalgate"}  # unless the session's headers set them
# the client's own: the encodings it decodes, the body's length; a session's value for these is not sent
ACCEPT_ENCODING = "gzip, deflate"
OWN_HEADERS = frozenset(("accept-encoding", "content-length", "transfer-encoding"))
T = TypeVar("T")
# what Session._parse checked once per URL is not checked again for every request (~15 µs a call with an SDK's
# twenty headers): h11's own parser builds its events so; an h11 without the keyword checks every request again
PRECHECKED: dict[str, Any] = (
    {"_parsed": True} if "_parsed" in h11.Request.__init__.__code__.co_varnames else {}
)
SAFE_IN_TARGET = "!#$%&'()*+,/:;=?@[]~"  # kept as they are in a request's target; the rest is percent-encoded


@dataclass(frozen=True)
class Timeouts:
    """Seconds, None for none: to connect, between two reads of the answer, and for the whole exchange."""

    connect: float | None = None
    read: float | None = None
    total: float | None = None


@dataclass(frozen=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port: a connection serves one origin
    path: bytes  # the request's target: path and query, percent-encoded
    # the session's, with this origin's Host (and a URL's user as Basic auth)
    headers: list[tuple[bytes, bytes]]


class Session:
    """Requests over a pool of at most `slots` connections, each sending `headers` (Content-Type among them,
    when the caller gives none), with `timeouts`. Open it on the event loop that will use it; close() it."""

    def __init__(self, headers: Mapping[str, str], timeouts: Timeouts, slots: int) -> None:
        # blanks and line breaks around a value are not part of it (a secret's trailing newline)
        own = {
            name.lower(): value.strip(" \t\r\n")
            for name, value in headers.items()
            if name.lower() not in OWN_HEADERS
        }
        self._headers = {**DEFAULT_HEADERS, **own, "accept-encoding": ACCEPT_ENCODING}
        self._timeouts = timeouts
        self._slots = asyncio.Semaphore(slots)
        self._idle: dict[tuple[str, str, int], list[tuple[Connection, float]]] = {}  # with when it was kept
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    def post(self, url: str, body: bytes, *, content_type: str | None = None) -> Exchange:
        return self.request("POST", url, body, content_type=content_type)

    def request(self, method: str, url: str, body: bytes, *, content_type: str | None = None) -> Exchange:
        """`async with session.request(...) as response`: the response's status and headers are read when the
        block starts; its body is read in the block (Response.read, .checked_body or .lines)."""
        return Exchange(self, method, url, body, content_type)

    def check(self, url: str) -> None:
        """ConnectionFailure (not retryable) when no request to `url` with this session's headers can be sent: a
        URL the client cannot use, a header HTTP does not allow. Its reason never holds a value."""
        self._target(url)

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection, _ in connections:
                connection.close()
        self._idle.clear()

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = self._parse(url)
        return target

    def _parse(self, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").encode("idna").decode("ascii")
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
        except (ValueError, UnicodeError):
            raise ConnectionFailure("the URL cannot be read", retryable=False) from None
        if parts.scheme not in ("http", "https") or not host:
            raise ConnectionFailure("the URL is not an http or https address", retryable=False)
        path = quote(parts.path or "/", safe=SAFE_IN_TARGET) + (
            "?" + quote(parts.query, safe=SAFE_IN_TARGET) if parts.query else ""
        )
        named = dict(self._headers)
        if "host" not in named:  # first, as clients send it
            where = (f"[{host}]" if ":" in host else host) + ("" if parts.port is None else f":{parts.port}")
            named = {"host": where, **named}
        if parts.username is not None and "authorization" not in named:
            user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            named["authorization"] = "Basic " + base64.b64encode(user.encode()).decode("ascii")
        try:
            headers = [(name.encode("ascii"), value.encode("utf-8")) for name, value in named.items()]
            # h11's checks, once per URL (PRECHECKED: not again for each request)
            h11.Request(method=b"POST", target=path.encode("ascii"), headers=headers)
        except (UnicodeEncodeError, h11.LocalProtocolError):
            raise ConnectionFailure(
                "a header or the URL holds a character HTTP does not allow",
                retryable=False,
            ) from None
        return _Target((parts.scheme, host, port), path.encode("ascii"), headers)

    async def _connection(self, origin: tuple[str, str, int], deadline: float | None) -> Connection:
        """An idle connection to `origin` the server has not closed, else a new one."""
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            connection, kept_at = idle.pop()
            if now - kept_at < KEEP_IDLE_S and connection.reusable():
                return connection
            connection.close()
        scheme, host, port = origin
        tls = self._tls_context() if scheme == "https" else None
        # refused, unreachable, a name that does not resolve, a certificate refused: ConnectionFailure
        reader, writer = await _within(
            _sooner(deadline, self._timeouts.connect),
            asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_SIZE
            ),
        )
        return Connection(reader, writer)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _keep(self, origin: tuple[str, str, int], connection: Connection) -> None:
        if self._closed:
            connection.close()
            return
        self._idle.setdefault(origin, []).append((connection, asyncio.get_running_loop().time()))


class Exchange:
    """One request and its response on a connection of the session's pool (an async context manager)."""

    def __init__(
        self, session: Session, method: str, url: str, body: bytes, content_type: str | None
    ) -> None:
        self._session = session
        self._method = method.encode("ascii")
        self._url = url
        self._body = body
        self._content_type = content_type
        self._connection: Connection | None = None
        self._origin: tuple[str, str, int] | None = None

    async def __aenter__(self) -> Response:
        session = self._session
        target = session._target(self._url)
        self._origin = target.origin
        headers = list(target.headers)
        if self._content_type is not None and "content-type" not in session._headers:
            headers.append((b"content-type", self._content_type.encode("ascii")))
        headers.append((b"content-length", str(len(self._body)).encode("ascii")))
        await session._slots.acquire()
        total = session._timeouts.total  # from the slot on: the exchange's own time
        deadline = None if total is None else asyncio.get_running_loop().time() + total
        try:
            self._connection = await session._connection(target.origin, deadline)
            head = await self._connection.send(
                h11.Request(method=self._method, target=target.path, headers=headers, **PRECHECKED), self._body,
                session._timeouts.read, deadline,
            )  # fmt: skip
            return Response(self._connection, head, session._timeouts.read, deadline)
        except BaseException:
            self._end(reusable=False)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        # an answer read whole leaves the connection clean, whatever the block raised after (HttpStatus for a
        # 429: its retry reuses the connection instead of a new TCP and TLS handshake)
        self._end(reusable=self._connection is not None and self._connection.answered())

    def _end(self, *, reusable: bool) -> None:
        """The connection back to the pool, ready for the next request, or closed; the slot released."""
        connection, self._connection = self._connection, None
        if connection is not None:
            if reusable and self._origin is not None:
                connection.protocol.start_next_cycle()
                self._session._keep(self._origin, connection)
            else:
                connection.close()
        self._session._slots.release()


class Connection:
    """One keep-alive connection to an origin: its streams and h11's state of the exchange on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD_BYTES)

    def reusable(self) -> bool:
        """Idle, still open and silent: the server has neither closed it nor sent anything since its last
        answer (an unsolicited 408 before an idle close would be read as the next request's answer). The
        reader's buffer has no public accessor; CPython's StreamReader has kept it as `_buffer` since 3.4."""
        # private, undeclared by typeshed; a Python without it keeps no connection rather than risk a stale answer
        unread = getattr(self.reader, "_buffer", b"?")
        return not (self.reader.at_eof() or self.writer.is_closing() or unread)

    def answered(self) -> bool:
        """The request sent and its answer read whole, the connection kept open by both sides."""
        return (
            self.protocol.our_state is h11.DONE
            and self.protocol.their_state is h11.DONE
            and self.protocol.trailing_data == (b"", False)
        )

    def close(self) -> None:
        """Closed; at once, without flushing, when part of the request was never sent (a request given up)."""
        if self.writer.transport.get_write_buffer_size():
            self.writer.transport.abort()
        else:
            self.writer.close()

    async def send(
        self, request: h11.Request, body: bytes, read: float | None, deadline: float | None
    ) -> h11.Response:
        protocol = self.protocol
        self.writer.write(
            protocol.send(request) + protocol.send(h11.Data(data=body)) + protocol.send(h11.EndOfMessage())
        )
        # no drain: the answer is read while the body is still going out (a server may answer a large body with an
        # early 413 and close; RFC 9112, 9.5), the transport sending what is buffered as the socket takes it
        event = await self.next_event(read, deadline)
        while type(event) is h11.InformationalResponse:  # 100 Continue and the like come before the answer
            event = await self.next_event(read, deadline)
        assert type(event) is h11.Response, event  # before its answer, h11 gives a client nothing else
        return event

    async def next_event(self, read: float | None, deadline: float | None) -> object:
        """h11's next event of the answer, reading the socket as it needs; ConnectionFailure when the bytes are
        not HTTP or the connection breaks, TimeoutError when the server is silent past a timeout."""
        protocol = self.protocol
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as exc:  # h11's words up to the bytes it quotes (a server's text)
                raise ConnectionFailure(
                    f"the answer is not HTTP/1.1 ({str(exc).split(':')[0][:100]})"
                ) from None
            if event is not h11.NEED_DATA:
                return event
            # reset, or TLS broken mid-answer: ConnectionFailure
            data = await _within(_sooner(deadline, read), self.reader.read(READ_SIZE))
            if not data and protocol.their_state is h11.SEND_RESPONSE and not protocol.trailing_data[0]:
                raise ConnectionFailure("closed before answering")
            protocol.receive_data(data)  # b"": the server closed the connection


async def _within(limit: float | None, waiting: Awaitable[T]) -> T:
    """`waiting` awaited until the loop's time `limit` (None: no limit): TimeoutError when that limit passes, a
    ConnectionFailure for any other OSError (refused, reset, a certificate refused, the kernel's own timeout)."""
    timer = asyncio.timeout_at(limit)
    try:
        async with timer:
            return await waiting
    except OSError as exc:  # TimeoutError is one: the configured timeout's only when its timer ran out
        if timer.expired():
            raise
        raise ConnectionFailure(type(exc).__name__) from exc


def _sooner(deadline: float | None, within: float | None) -> float | None:
    """The earlier of `deadline` and `within` seconds from now, either None for none."""
    if within is None:
        return deadline
    limit = asyncio.get_running_loop().time() + within
    return limit if deadline is None else min(deadline, limit)
