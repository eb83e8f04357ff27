"""Attacks on evalgate's HTTP client (evalgate/providers/llm/http_client.py), each kept as a regression test.

Every test starts its own server on 127.0.0.1 (asyncio.start_server, in the test's own event loop) that sends
exactly the bytes its attack needs, drives the client as the providers do (a Session, `post`, then
`checked_body`, `read` or `lines`, then `close`) and checks the outcome against what the server saw: the
connections it accepted, the requests it read, the connections the client closed. Ten of them found bugs in the
client's first version (stale bytes read as the next answer, a slot never released, a header's value in an
error, a multi-member gzip body cut short...): each failed before its fix.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import gzip
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import pytest

from evalgate.providers.llm import http_client, http_response
from evalgate.providers.llm.http_client import Session, Timeouts
from evalgate.providers.llm.http_errors import ConnectionFailure, HttpStatus, transport_failure

T = TypeVar("T")
TEST_LIMIT_S = 5.0  # no test waits longer than this for anything: a hang is a failure, never a stuck run
# time for a loopback handshake to finish (never_accepting's fillers), or for a task to reach its connect
SETTLE_S = 0.05
# a full accept backlog makes Linux drop further SYNs (the connect hangs); other systems may refuse it at once
NEEDS_LINUX_BACKLOG = pytest.mark.skipif(
    sys.platform != "linux", reason="relies on Linux dropping SYNs once a listener's backlog is full"
)


# --- the server side: a scripted HTTP/1.1 server on 127.0.0.1 -------------------------------------------------


@dataclass
class Received:
    """One request as the server read it off the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]  # names lower-cased, in the order sent
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def header(self, name: str) -> str | None:
        """The one value of a header; None when absent (AssertionError when sent more than once)."""
        values = self.values(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None


@dataclass
class Server:
    """What the server saw: connections accepted, open now and at most at once, requests read, and the
    connections the client closed (the server read its end of file)."""

    scheme: str = "http"
    port: int = 0
    connections: int = 0
    open: int = 0
    peak_open: int = 0
    client_closed: int = 0
    requests: list[Received] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def url(self, path: str = "/v1/answer") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    async def until(self, condition: Callable[[], bool], limit: float = 1.0) -> None:
        """Wait until `condition()` holds (what the server sees of the client happens a little later)."""
        async with asyncio.timeout(limit):
            while not condition():
                await asyncio.sleep(0.005)


class Peer:
    """One connection the server accepted, as its handler drives it."""

    def __init__(self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.number = server.connections  # 1 for the first connection accepted

    async def request(self) -> Received | None:
        """The next request on this connection; None when the client closed it (counted)."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.server.client_closed += 1
            return None
        method, target, *_ = head.decode("latin-1").split("\r\n")[0].split(" ")
        headers = []
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line:
                name, value = line.split(":", 1)
                headers.append((name.strip().lower(), value.strip()))
        length = int(dict(headers).get("content-length", "0"))
        received = Received(method, target, headers, await self.reader.readexactly(length))
        self.server.requests.append(received)
        return received

    async def send(self, *parts: bytes, pause: float = 0.0) -> None:
        """Each part written on its own, `pause` seconds apart (so that they arrive in separate reads)."""
        for index, part in enumerate(parts):
            if index and pause:
                await asyncio.sleep(pause)
            self.writer.write(part)
            await self.writer.drain()

    async def until_client_closes(self) -> None:
        """Read (and drop) whatever comes until the client closes the connection (counted)."""
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass
        self.server.client_closed += 1

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0) rather than a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Peer], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A server on 127.0.0.1 running `handler` for each connection it accepts; its handlers are cancelled at the
    end, and an exception in one of them fails the test."""
    server = Server(scheme="https" if tls else "http")
    tasks: set[asyncio.Task[Any]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        server.connections += 1
        server.open += 1
        server.peak_open = max(server.peak_open, server.open)
        try:
            await handler(Peer(server, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception as exc:
            server.errors.append(exc)
        finally:
            server.open -= 1
            writer.close()

    listener = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert not server.errors, f"the test's server failed: {server.errors!r}"


def reply(body: bytes = b"ok", *headers: str, status: int = 200, length: bool = True) -> bytes:
    """An HTTP/1.1 answer: the status line, `headers` ("Name: value"), a Content-Length unless `length` is
    False, and the body."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"
CHUNKED = "Transfer-Encoding: chunked"


def answering(*answers: bytes, close: bool = False) -> Handler:
    """Answers the server's n-th request (counted over all connections) with answers[n], the last one for any
    later request; keeps the connection open for more until the client closes it, or closes it after each
    answer when `close`."""

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(answers[min(len(peer.server.requests), len(answers)) - 1])
            if close:
                return

    return handle


def echoing(delay: float = 0.0) -> Handler:
    """Answers each request with its own body, `delay` seconds later, keeping the connection open."""

    async def handle(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            await asyncio.sleep(delay)
            await peer.send(reply(request.body))

    return handle


def silent_after(*parts: bytes) -> Handler:
    """Reads one request, sends `parts`, then says nothing more until the client closes the connection."""

    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(*parts)
            await peer.until_client_closes()

    return handle


# --- the client side: driven as the providers drive it --------------------------------------------------------


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, bounded: a hang fails the test after TEST_LIMIT_S."""

    async def bounded() -> T:
        async with asyncio.timeout(TEST_LIMIT_S):
            return await main

    return asyncio.run(bounded())


@asynccontextmanager
async def opened(
    headers: Mapping[str, str] | None = None, timeouts: Timeouts | None = None, slots: int = 1
) -> AsyncIterator[Session]:
    """A Session as the providers open one, closed at the end."""
    session = Session(headers or {}, timeouts or Timeouts(), slots)
    try:
        yield session
    finally:
        await session.close()


async def fetch(
    session: Session, url: str, body: bytes = b'{"q": 1}', content_type: str | None = None
) -> bytes:
    """One POST as sdk.send and http_api.send make it: the body, HttpStatus for a status of 300 or more."""
    async with session.post(url, body, content_type=content_type) as response:
        return await response.checked_body()


async def fetch_once(url: str, **session: Any) -> bytes:
    """One POST on a Session of its own."""
    async with opened(**session) as opened_session:
        return await fetch(opened_session, url)


async def fetch_lines(session: Session, url: str) -> list[bytes]:
    """One streamed POST as sdk._send_streamed reads it: line by line."""
    async with session.post(url, b'{"stream": true}') as response:
        return [line async for line in response.lines()]


async def until_the_client_has_it(session: Session) -> None:
    """Until what the server sent last on each of `session`'s idle connections (bytes, its close, a reset) has
    reached the client's side (asyncio's reader: bytes buffered, its end of file, or the reset's error), checked
    at each turn of the event loop, bounded: a test whose server sent it and then set an event waits for this,
    never for a sleep to be long enough."""
    readers = [connection.reader for kept in session._idle.values() for connection, _ in kept]
    assert readers, "no idle connection to wait for"
    async with asyncio.timeout(1.0):
        while not all(
            reader._buffer or reader.at_eof() or reader.exception() is not None for reader in readers
        ):
            await asyncio.sleep(0)


async def failure(awaitable: Awaitable[object]) -> ConnectionFailure:
    """The ConnectionFailure the call ends in (AssertionError if it ends otherwise)."""
    with pytest.raises(ConnectionFailure) as caught:
        await awaitable
    return caught.value


async def failure_answered_by(handler: Handler) -> ConnectionFailure:
    """The ConnectionFailure of one POST to a server running `handler`."""
    async with serve(handler) as server:
        return await failure(fetch_once(server.url()))


def assert_failure(exc: ConnectionFailure, *, retryable: bool, phrase: str) -> None:
    assert exc.retryable is retryable, exc.reason
    assert phrase in exc.reason, exc.reason


@contextmanager
def elapsed_between(low: float, high: float) -> Iterator[None]:
    """The block takes at least `low` and at most `high` seconds."""
    start = time.monotonic()
    yield
    took = time.monotonic() - start
    assert low <= took <= high, f"took {took:.3f} s, expected {low}..{high}"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def never_accepting() -> Iterator[int]:
    """A port whose listener's backlog is full: the kernel drops further SYNs, so a connect never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # the accept queue of listen(0) holds one; the rest wait in SYN-SENT
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(SETTLE_S)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()


# --- 1. keep-alive ------------------------------------------------------------------------------------------


def test_sequential_requests_reuse_one_connection() -> None:
    """Two requests one after the other go over the one connection the server accepted."""

    async def main() -> None:
        async with serve(answering(reply(b"one"), reply(b"two"))) as server, opened() as session:
            assert await fetch(session, server.url()) == b"one"
            assert await fetch(session, server.url()) == b"two"
            assert (server.connections, len(server.requests)) == (1, 2)

    run(main())


@pytest.mark.parametrize(("keep_idle", "connections"), [(0.0, 2), (None, 1)], ids=["expired", "default"])
def test_idle_connection_older_than_keep_idle_is_not_reused(
    monkeypatch: pytest.MonkeyPatch, keep_idle: float | None, connections: int
) -> None:
    """An idle connection kept longer than KEEP_IDLE_S (patched to 0: every one is too old) is closed and the
    next request opens a new one, before the server's own idle close can race it; within the default 5 s, two
    requests one after the other share one connection."""
    if keep_idle is not None:
        monkeypatch.setattr(http_client, "KEEP_IDLE_S", keep_idle)

    async def main() -> None:
        async with serve(answering(reply(b"one"), reply(b"two"))) as server, opened() as session:
            assert await fetch(session, server.url()) == b"one"
            assert await fetch(session, server.url()) == b"two"
            assert server.connections == connections
            await server.until(lambda: server.client_closed == connections - 1)

    run(main())


def test_connection_close_answer_is_not_reused() -> None:
    """An answer with `Connection: close` (the server leaving the socket open regardless): the client closes that
    connection and opens a new one for the next request."""

    async def main() -> None:
        handler = answering(reply(b"one", "Connection: close"), reply(b"two"))
        async with serve(handler) as server, opened() as session:
            assert await fetch(session, server.url()) == b"one"
            assert await fetch(session, server.url()) == b"two"
            assert server.connections == 2
            await server.until(lambda: server.client_closed >= 1)

    run(main())


def test_http_1_0_answer_is_not_reused() -> None:
    """An HTTP/1.0 answer (no keep-alive in 1.0) is never followed by a second request on its connection."""

    async def main() -> None:
        old = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold"
        async with serve(answering(old, reply(b"new"))) as server, opened() as session:
            assert await fetch(session, server.url()) == b"old"
            assert await fetch(session, server.url()) == b"new"
            assert server.connections == 2

    run(main())


@pytest.mark.parametrize("how", ["close", "reset"])
def test_idle_connection_closed_by_the_server_is_replaced(how: str) -> None:
    """The server closes (FIN) or resets (RST) a keep-alive connection while it is idle: the next request sees
    it is gone (reusable()) and succeeds on a fresh connection."""
    closed = asyncio.Event()  # set by the server once its socket is closed (its FIN or RST sent)

    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(reply(b"answer %d" % peer.number))
            if peer.number == 1:
                peer.reset() if how == "reset" else peer.writer.close()
                await peer.writer.wait_closed()
                closed.set()
            else:
                await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened() as session:
            assert await fetch(session, server.url()) == b"answer 1"
            await closed.wait()
            await until_the_client_has_it(session)
            assert await fetch(session, server.url()) == b"answer 2"
            assert (server.connections, len(server.requests)) == (2, 2)

    run(main())


@pytest.mark.parametrize("how", ["close", "reset"])
def test_close_racing_the_next_request_is_a_retryable_failure(how: str) -> None:
    """The idle connection is closed just as the next request goes out (the server reads it, then closes or
    resets without answering): a retryable ConnectionFailure, never a wrong answer; the request after it gets a
    fresh connection."""

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            if len(peer.server.requests) == 2:
                peer.reset() if how == "reset" else peer.writer.close()
                return
            await peer.send(reply(b"answer %d" % len(peer.server.requests)))

    async def main() -> None:
        async with serve(handle) as server, opened() as session:
            assert await fetch(session, server.url()) == b"answer 1"
            exc = await failure(fetch(session, server.url()))
            assert exc.retryable, exc.reason
            assert await fetch(session, server.url()) == b"answer 3"
            assert (server.connections, len(server.requests)) == (2, 3)

    run(main())


def test_bytes_after_an_answer_are_never_the_next_answer() -> None:
    """A server sends one answer too many: the extra answer must not be taken for the next request's (a desync
    that pairs every later request with the previous one's answer)."""

    async def main() -> None:
        first = reply(b"first") + reply(b"stale")
        async with serve(answering(first, reply(b"fresh"))) as server, opened() as session:
            assert await fetch(session, server.url()) == b"first"
            assert await fetch(session, server.url()) == b"fresh"
            assert server.connections == 2

    run(main())


def test_unsolicited_408_on_an_idle_connection_is_not_the_answer() -> None:
    """Servers may send `408 Request Timeout` on a keep-alive connection they close for idleness: the next
    request must go out on a new connection and get its own answer."""
    idle = asyncio.Event()  # set by the client once the first answer is read and its connection is idle
    closed = asyncio.Event()  # set by the server once the 408 is sent and its socket closed

    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            await peer.send(reply(b"answer %d" % peer.number))
            if peer.number == 1:
                await idle.wait()  # the 408 comes after the answer was read, not with it
                await peer.send(reply(b"idle too long", "Connection: close", status=408))
                peer.writer.close()
                await peer.writer.wait_closed()
                closed.set()
                return
            await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened() as session:
            assert await fetch(session, server.url()) == b"answer 1"
            idle.set()
            await closed.wait()
            await until_the_client_has_it(session)
            assert await fetch(session, server.url()) == b"answer 2"
            assert (server.connections, len(server.requests)) == (2, 2)

    run(main())


# --- 2. framing ---------------------------------------------------------------------------------------------


def test_content_length_body() -> None:
    """A body framed by Content-Length, sent in pieces, is read whole and only that far."""

    async def main() -> None:
        body = b'{"answer": "' + b"x" * 5000 + b'"}'
        answer = reply(body)
        async with serve(silent_after(answer[:100], answer[100:3000], answer[3000:])) as server:
            assert await fetch_once(server.url()) == body

    run(main())


def test_chunked_body_in_several_chunks_then_reuse() -> None:
    """A chunked body whose chunks arrive in separate reads is joined; its last chunk ends it, so the
    connection serves the next request."""

    async def handle(peer: Peer) -> None:
        await peer.request()
        head = reply(b"", CHUNKED, length=False)
        await peer.send(head, chunk(b"al"), chunk(b"pha "), chunk(b"beta"), LAST_CHUNK, pause=0.005)
        await peer.request()
        await peer.send(reply(b"second"))
        await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened() as session:
            assert await fetch(session, server.url()) == b"alpha beta"
            assert await fetch(session, server.url()) == b"second"
            assert server.connections == 1

    run(main())


@pytest.mark.parametrize("header", ["Connection: close", None])
def test_body_delimited_by_the_servers_close(header: str | None) -> None:
    """HTTP/1.1 without Content-Length or chunks: the body is all the server sends until it closes (whether or
    not it says `Connection: close`); that connection is not used again."""

    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            if peer.number == 1:
                head = reply(b"", *([header] if header else []), length=False)
                await peer.send(head, b"until ", b"the end", pause=0.005)
                return
            await peer.send(reply(b"next"))
            await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened() as session:
            assert await fetch(session, server.url()) == b"until the end"
            assert await fetch(session, server.url()) == b"next"
            assert server.connections == 2

    run(main())


def test_204_has_no_body_and_keeps_the_connection() -> None:
    """A 204 without Content-Length has an empty body (not one read to the close) and its connection is reused."""

    async def main() -> None:
        async with serve(answering(reply(b"", status=204, length=False), reply(b"next"))) as server:
            async with opened() as session:
                async with session.post(server.url(), b"{}") as response:
                    assert response.status == 204
                    assert await response.read() == b""
                assert await fetch(session, server.url()) == b"next"
            assert server.connections == 1

    run(main())


def test_informational_answers_come_before_the_real_one() -> None:
    """`100 Continue` and `103 Early Hints` before the answer are skipped; the answer's status and body count."""

    async def main() -> None:
        early = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        handler = answering(early + reply(b"real", "X-Real: yes", status=201))
        async with (
            serve(handler) as server,
            opened() as session,
            session.post(server.url(), b"{}") as response,
        ):
            assert (response.status, response.headers["x-real"]) == (201, "yes")
            assert await response.checked_body() == b"real"

    run(main())


def test_answer_sent_one_byte_at_a_time() -> None:
    """Status line, headers and body split into one-byte reads are parsed as if sent at once."""

    async def handle(peer: Peer) -> None:
        peer.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await peer.request()
        answer = reply(b"tiny", "X-A: 1")
        await peer.send(*(answer[i : i + 1] for i in range(len(answer))), pause=0.001)
        await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server:
            assert await fetch_once(server.url()) == b"tiny"

    run(main())


# --- 3. broken answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "phrase"),
    [
        (reply(b"", "Content-Length: 100", length=False) + b"only ten..", "expected 100"),
        (reply(b"", CHUNKED, length=False) + chunk(b"first") + b"a\r\nhalf", "complete message body"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "peer unexpectedly closed"),
    ],
    ids=["content-length", "chunked", "head"],
)
def test_close_in_the_middle_of_the_answer_is_retryable(answer: bytes, phrase: str) -> None:
    """The server closes before the answer it announced is complete: a retryable ConnectionFailure."""

    async def main() -> None:
        async with serve(answering(answer, close=True)) as server:
            assert_failure(await failure(fetch_once(server.url())), retryable=True, phrase=phrase)

    run(main())


async def closed_before_answering() -> ConnectionFailure:
    """The failure of a request the server reads, then closes its connection without a byte of answer."""
    async with serve(answering(b"", close=True)) as server:
        return await failure(fetch_once(server.url()))


def test_close_before_answering_is_retryable() -> None:
    """The server reads the request and closes without a byte of answer: a retryable ConnectionFailure."""
    assert run(closed_before_answering()).retryable


def test_close_before_answering_says_so() -> None:
    """The reason a user reads for a server closing without answering says that, not that bytes were not HTTP."""
    assert_failure(run(closed_before_answering()), retryable=True, phrase="closed before answering")


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64) + b"\r\n\r\n",
        reply(b"", CHUNKED, length=False) + b"zz\r\nhello\r\n0\r\n\r\n",
        reply(b"abc", "Content-Length: 4"),
        b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
    ],
    ids=["ssh-banner", "tls-bytes", "chunk-size", "two-lengths", "status-code", "header-line"],
)
def test_bytes_that_are_not_http_are_a_connection_failure(answer: bytes) -> None:
    """Garbage, a TLS server spoken to in clear, a malformed chunk size, conflicting lengths, a bad status code,
    a header line without a colon: a ConnectionFailure saying the answer is not HTTP/1.1, not a hang."""

    async def main() -> None:
        exc = await failure_answered_by(silent_after(answer))
        assert_failure(exc, retryable=True, phrase="the answer is not HTTP/1.1")

    run(main())


def test_servers_text_is_not_quoted_in_the_reason() -> None:
    """A header line without a colon holding what looks like a key (a server echoing a request's header): the
    ConnectionFailure names what is wrong in h11's words, never the server's bytes, and stays short."""

    async def main() -> None:
        answer = b"HTTP/1.1 200 OK\r\nx-echo sk-ant-SECRET" + b"-x" * 300 + b"\r\nContent-Length: 0\r\n\r\n"
        exc = await failure_answered_by(silent_after(answer))
        assert_failure(exc, retryable=True, phrase="the answer is not HTTP/1.1 (illegal header line)")
        assert "sk-ant-SECRET" not in str(exc) and "x-echo" not in exc.reason
        assert len(exc.reason) < 200, exc.reason

    run(main())


def test_head_larger_than_the_limit_fails_without_waiting_for_its_end() -> None:
    """Headers beyond MAX_RESPONSE_HEAD_BYTES that never end: a ConnectionFailure as soon as the limit is
    passed (the server then stays silent: waiting for the end of the head would hang)."""

    async def main() -> None:
        filler = "".join(f"X-Filler-{i}: {'v' * 90}\r\n" for i in range(800))  # ~80 KB, no blank line
        head = b"HTTP/1.1 200 OK\r\n" + filler.encode()
        assert len(head) > http_client.MAX_RESPONSE_HEAD_BYTES
        exc = await failure_answered_by(silent_after(head))
        assert_failure(exc, retryable=True, phrase="Receive buffer too long")

    run(main())


def test_head_just_under_the_limit_is_read() -> None:
    """A head of ~60 KB (under the 64 KiB limit) is an answer like any other."""

    async def main() -> None:
        handler = answering(reply(b"ok", "X-Big: " + "b" * 60_000))
        async with (
            serve(handler) as server,
            opened() as session,
            session.post(server.url(), b"{}") as response,
        ):
            assert len(response.headers["x-big"]) == 60_000
            assert await response.read() == b"ok"

    run(main())


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_larger_than_the_limit_is_not_retryable(monkeypatch: pytest.MonkeyPatch, framing: str) -> None:
    """A body one byte over MAX_RESPONSE_BYTES (patched to 1000) is a ConnectionFailure no retry repeats; one
    of exactly 1000 bytes is read."""
    monkeypatch.setattr(http_response, "MAX_RESPONSE_BYTES", 1000)

    def answer(body: bytes) -> bytes:
        if framing == "chunked":
            return reply(b"", CHUNKED, length=False) + chunk(body[:600]) + chunk(body[600:]) + LAST_CHUNK
        return reply(body)

    async def main() -> None:
        async with serve(answering(answer(b"a" * 1000), answer(b"b" * 1001))) as server, opened() as session:
            assert await fetch(session, server.url()) == b"a" * 1000
            exc = await failure(fetch(session, server.url()))
            assert_failure(exc, retryable=False, phrase="larger than 1000 bytes")

    run(main())


# --- 4. compression -----------------------------------------------------------------------------------------


def gzip_answer(compressed: bytes, encoding: str = "gzip", *headers: str, status: int = 200) -> bytes:
    return reply(compressed, f"Content-Encoding: {encoding}", *headers, status=status)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("GZIP ", gzip.compress),
    ],
)
def test_compressed_body_is_decoded(encoding: str, compress: Callable[[bytes], bytes]) -> None:
    """gzip (and its old name x-gzip, any case) and deflate (zlib) bodies are decoded."""

    async def main() -> None:
        body = b'{"text": "' + b"words " * 2000 + b'"}'
        async with serve(answering(gzip_answer(compress(body), encoding))) as server:
            assert await fetch_once(server.url()) == body

    run(main())


@pytest.mark.parametrize(
    ("compressed", "phrase"),
    [
        (gzip.compress(b"hello world " * 100)[:-20], "cut short"),
        (
            gzip.compress(b"hello world " * 100)[:-8] + b"\x00\x00\x00\x00" + struct.pack("<I", 1200),
            "damaged",
        ),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 40, "damaged"),
        (b"plain text, not compressed", "damaged"),
    ],
    ids=["cut-short", "bad-crc", "bad-blocks", "not-compressed"],
)
def test_broken_compressed_body_is_not_retryable(compressed: bytes, phrase: str) -> None:
    """A gzip body cut short, with a wrong checksum, with damaged blocks, or not compressed at all: a
    ConnectionFailure no retry repeats."""

    async def main() -> None:
        async with serve(answering(gzip_answer(compressed))) as server:
            assert_failure(await failure(fetch_once(server.url())), retryable=False, phrase=phrase)

    run(main())


def test_gzip_bomb_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 MB of zeros gzipped to ~10 KB, MAX_RESPONSE_BYTES patched to 1000: the client stops at the limit
    without inflating the rest (its peak of Python memory stays far below 10 MB)."""
    monkeypatch.setattr(http_response, "MAX_RESPONSE_BYTES", 1000)
    bomb = gzip.compress(bytes(10 * 1024 * 1024))
    assert len(bomb) < 20_000

    async def main() -> None:
        async with serve(answering(gzip_answer(bomb))) as server:
            tracemalloc.start()
            try:
                exc = await failure(fetch_once(server.url()))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert_failure(exc, retryable=False, phrase="larger than 1000 bytes")
            assert peak < 2 * 1024 * 1024, f"peak {peak} bytes: the bomb was inflated"

    run(main())


def test_unknown_content_encoding_is_not_retryable() -> None:
    """An encoding the client cannot decode (br) is a ConnectionFailure no retry repeats, naming it."""

    async def main() -> None:
        exc = await failure_answered_by(answering(gzip_answer(b"\x0b\x02\x80hi\x03", "br")))
        assert_failure(exc, retryable=False, phrase="encoded as 'br'")

    run(main())


@pytest.mark.parametrize(
    "encoding",
    ["sk-ant-SECRET-" + "x" * 5000, "br, sk-ant-SECRET", "sk-ant-SECRET/x"],
    ids=["5000-characters", "list", "not-a-token"],
)
def test_unknown_content_encoding_is_not_quoted_when_not_a_short_token(encoding: str) -> None:
    """A Content-Encoding of 5,000 characters, or anything but one short token, is the server's text: the
    reason says "an unknown encoding" without it, and stays short (a short token such as br is named)."""

    async def main() -> None:
        exc = await failure_answered_by(answering(gzip_answer(b"\x0b\x02\x80hi\x03", encoding)))
        assert_failure(exc, retryable=False, phrase="encoded as an unknown encoding")
        assert "SECRET" not in str(exc) and len(exc.reason) < 200, exc.reason

    run(main())


def test_undecodable_error_status_keeps_its_status_and_retry_after() -> None:
    """A 503 with retry-after whose body is in an encoding the client cannot decode (br): HttpStatus with its
    status, headers and body as sent (the provider retries it after its delay; transport_failure, which ends a
    case on an unreadable encoding, is not involved), and its connection, read whole, serves the next request."""

    async def main() -> None:
        brotli = b"\x0b\x02\x80busy\x03"
        answer = gzip_answer(brotli, "br", "Retry-After: 7", status=503)
        async with serve(answering(answer, reply(b"next"))) as server, opened() as session:
            with pytest.raises(HttpStatus) as caught:
                await fetch(session, server.url())
            assert (caught.value.status, caught.value.content) == (503, brotli)
            assert caught.value.headers["retry-after"] == "7"
            assert caught.value.headers["content-encoding"] == "br"
            assert transport_failure(caught.value, 30) is None
            assert await fetch(session, server.url()) == b"next"
            assert server.connections == 1

    run(main())


def test_undecodable_success_is_still_a_connection_failure() -> None:
    """The same encoding on a 200 (its body is the answer the caller needs): a non-retryable ConnectionFailure
    naming it, even with a retry-after."""

    async def main() -> None:
        answer = gzip_answer(b"\x0b\x02\x80hi\x03", "br", "Retry-After: 7", status=200)
        exc = await failure_answered_by(answering(answer))
        assert_failure(exc, retryable=False, phrase="encoded as 'br'")

    run(main())


def test_unknown_content_encoding_releases_its_slot_and_connection() -> None:
    """After the `br` answer fails, the connection is closed and the only slot is free for the next request."""

    async def main() -> None:
        handler = answering(gzip_answer(b"\x0b\x02\x80hi\x03", "br"), reply(b"next"))
        async with serve(handler) as server, opened(slots=1) as session:
            await failure(fetch(session, server.url()))
            async with asyncio.timeout(0.2):
                assert await fetch(session, server.url()) == b"next"
            await server.until(lambda: server.client_closed >= 1)

    run(main())


def test_empty_body_labelled_gzip_is_an_empty_body() -> None:
    """A 429 with `Content-Encoding: gzip`, `Content-Length: 0` and retry-after (as a proxy may send it) is an
    HttpStatus to retry after its delay, not a ConnectionFailure that ends the case."""

    async def main() -> None:
        async with serve(answering(gzip_answer(b"", "gzip", "Retry-After: 3", status=429))) as server:
            with pytest.raises(HttpStatus) as caught:
                await fetch_once(server.url())
            assert (caught.value.status, caught.value.content) == (429, b"")
            assert caught.value.headers["retry-after"] == "3"

    run(main())


def test_gzip_body_of_several_members_is_read_whole() -> None:
    """Two gzip members one after the other decode to both texts, not silently to the first alone."""

    async def main() -> None:
        compressed = gzip.compress(b"hello ") + gzip.compress(b"world")
        assert gzip.decompress(compressed) == b"hello world"
        async with serve(answering(gzip_answer(compressed))) as server:
            assert await fetch_once(server.url()) == b"hello world"

    run(main())


def test_client_asks_for_gzip_and_deflate_only_and_frames_its_own_body() -> None:
    """Accept-Encoding, Content-Length and Transfer-Encoding are the client's own: the session's values for them
    are not sent (the server is told `gzip, deflate` and the real length, once each)."""

    async def main() -> None:
        headers = {"Accept-Encoding": "br", "Content-Length": "999", "Transfer-Encoding": "chunked"}
        async with serve(answering(reply())) as server, opened(headers) as session:
            await fetch(session, server.url(), b"12345")
            (request,) = server.requests
            assert request.header("accept-encoding") == "gzip, deflate"
            assert request.header("content-length") == "5"
            assert request.header("transfer-encoding") is None
            assert request.body == b"12345"

    run(main())


# --- 5. status ----------------------------------------------------------------------------------------------


def test_redirect_is_an_http_status_and_not_followed() -> None:
    """A 302 is the answer: HttpStatus with its body and lower-cased headers; no request to its Location."""

    async def main() -> None:
        answer = reply(b"moved", "Location: /elsewhere", "X-Trace-ID: abc", status=302)
        async with serve(answering(answer)) as server:
            with pytest.raises(HttpStatus) as caught:
                await fetch_once(server.url())
            assert (caught.value.status, caught.value.content) == (302, b"moved")
            assert caught.value.headers["location"] == "/elsewhere"
            assert caught.value.headers["x-trace-id"] == "abc"
            assert [request.target for request in server.requests] == ["/v1/answer"]

    run(main())


def test_429_carries_retry_after_and_duplicate_headers_are_joined() -> None:
    """A 429's Retry-After reaches HttpStatus; a header sent twice is one value joined with ", "."""

    async def main() -> None:
        answer = reply(b'{"error": "slow down"}', "Retry-After: 7", "X-Dup: a", "x-dup: b", status=429)
        async with serve(answering(answer)) as server:
            with pytest.raises(HttpStatus) as caught:
                await fetch_once(server.url())
            assert caught.value.status == 429
            assert caught.value.content == b'{"error": "slow down"}'
            assert caught.value.headers["retry-after"] == "7"
            assert caught.value.headers["x-dup"] == "a, b"

    run(main())


def test_error_status_body_is_decoded() -> None:
    """A 500 whose JSON body is gzipped: HttpStatus holds the decoded body (the providers classify from it)."""

    async def main() -> None:
        body = b'{"error": {"type": "overloaded_error"}}'
        async with serve(answering(gzip_answer(gzip.compress(body), status=500))) as server:
            with pytest.raises(HttpStatus) as caught:
                await fetch_once(server.url())
            assert (caught.value.status, caught.value.content) == (500, body)

    run(main())


# --- 6. streamed lines --------------------------------------------------------------------------------------


def test_lines_split_across_reads_and_chunks() -> None:
    """Lines cut by chunk and read boundaries are whole when yielded; CRLF is kept; a last line without a line
    break is yielded too."""

    async def handle(peer: Peer) -> None:
        await peer.request()
        pieces = [b"data: a", b"bc\ndata: ", b"d\r", b"\n\n", b"data: e\nda", b"ta: f\n", b"tail"]
        head = reply(b"", CHUNKED, "Content-Type: text/event-stream", length=False)
        await peer.send(head, *map(chunk, pieces), LAST_CHUNK, pause=0.003)
        await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened() as session:
            lines = await fetch_lines(session, server.url())
            assert lines == [b"data: abc\n", b"data: d\r\n", b"\n", b"data: e\n", b"data: f\n", b"tail"]

    run(main())


def test_lines_of_a_gzipped_stream() -> None:
    """A gzipped event stream, flushed per event, yields the same lines as the plain one."""

    async def handle(peer: Peer) -> None:
        await peer.request()
        encoder = zlib.compressobj(wbits=31)
        parts = [encoder.compress(b"data: %d\n\n" % i) + encoder.flush(zlib.Z_SYNC_FLUSH) for i in range(3)]
        parts.append(encoder.flush())
        head = reply(b"", CHUNKED, "Content-Encoding: gzip", length=False)
        await peer.send(head, *map(chunk, parts), LAST_CHUNK, pause=0.003)
        await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened() as session:
            lines = await fetch_lines(session, server.url())
            assert lines == [b"data: 0\n", b"\n", b"data: 1\n", b"\n", b"data: 2\n", b"\n"]

    run(main())


def test_unending_line_longer_than_the_limit_is_not_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line still growing past MAX_STREAM_LINE_BYTES (patched to 100) is a non-retryable ConnectionFailure
    as soon as it passes the limit (the server then stays silent)."""
    monkeypatch.setattr(http_response, "MAX_STREAM_LINE_BYTES", 100)

    async def main() -> None:
        head = reply(b"", CHUNKED, length=False)
        handler = silent_after(head + chunk(b"ok\n") + chunk(b"x" * 60) + chunk(b"y" * 60))
        async with serve(handler) as server, opened() as session:
            exc = await failure(fetch_lines(session, server.url()))
            assert_failure(exc, retryable=False, phrase="longer than 100 bytes")

    run(main())


def test_complete_line_longer_than_the_limit_is_not_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 150-byte line with its line break in one read, MAX_STREAM_LINE_BYTES patched to 100: refused too."""
    monkeypatch.setattr(http_response, "MAX_STREAM_LINE_BYTES", 100)

    async def main() -> None:
        async with serve(answering(reply(b"x" * 150 + b"\nnext\n"))) as server, opened() as session:
            exc = await failure(fetch_lines(session, server.url()))
            assert_failure(exc, retryable=False, phrase="longer than 100 bytes")

    run(main())


# --- 7. timeouts --------------------------------------------------------------------------------------------


@pytest.mark.slow
@NEEDS_LINUX_BACKLOG
@pytest.mark.parametrize("timeouts", [Timeouts(connect=0.2), Timeouts(total=0.2)], ids=["connect", "total"])
def test_connect_timeout_against_a_server_that_never_accepts(timeouts: Timeouts) -> None:
    """A listener whose backlog is full never completes the handshake: TimeoutError after the connect timeout
    (or the total one), which transport_failure reports as a retryable timeout."""

    async def main() -> None:
        with never_accepting() as port, elapsed_between(0.19, 0.6), pytest.raises(TimeoutError) as caught:
            await fetch_once(f"http://127.0.0.1:{port}/v1/answer", timeouts=timeouts)
        failed = transport_failure(caught.value, 0.2)
        assert failed is not None
        assert (failed.message, failed.retryable) == ("timed out after 0.2 s", True)

    run(main())


@pytest.mark.slow
def test_read_timeout_when_silent_before_the_head_releases_the_slot() -> None:
    """Silent after the request: TimeoutError after read=0.2; the connection is closed and the only slot is
    free, so the next request succeeds on a new connection."""

    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            if peer.number == 1:
                await peer.until_client_closes()
            else:
                await peer.send(reply(b"second"))
                await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened(timeouts=Timeouts(read=0.2), slots=1) as session:
            with elapsed_between(0.19, 0.6), pytest.raises(TimeoutError):
                await fetch(session, server.url())
            await server.until(lambda: server.client_closed >= 1)
            assert await fetch(session, server.url()) == b"second"
            assert server.connections == 2

    run(main())


@pytest.mark.slow
def test_read_timeout_when_silent_after_the_head() -> None:
    """Head sent, then silence: read() ends in TimeoutError after read=0.2."""

    async def main() -> None:
        head = reply(b"", "Content-Length: 10", length=False)
        async with (
            serve(silent_after(head + b"part")) as server,
            opened(timeouts=Timeouts(read=0.2)) as session,
            session.post(server.url(), b"{}") as response,
        ):
            assert response.status == 200
            with elapsed_between(0.19, 0.6), pytest.raises(TimeoutError):
                await response.read()

    run(main())


@pytest.mark.slow
def test_total_timeout_against_a_trickle() -> None:
    """A byte every 0.1 s: each read is quick (no read timeout), but total=0.3 ends the exchange."""

    async def handle(peer: Peer) -> None:
        await peer.request()
        await peer.send(reply(b"", "Content-Length: 50", length=False), *[b"z"] * 50, pause=0.1)

    async def main() -> None:
        async with serve(handle) as server:
            with elapsed_between(0.29, 0.7), pytest.raises(TimeoutError):
                await fetch_once(server.url(), timeouts=Timeouts(read=0.2, total=0.3))

    run(main())


@pytest.mark.slow
def test_read_timeout_is_per_read_not_for_the_whole_answer() -> None:
    """30 bytes 0.02 s apart (at least 0.58 s in all) with read=0.3: the answer takes longer than the read
    timeout, every wait is far shorter than it (0.28 s of margin), so the body is read."""
    body = bytes(range(65, 95))

    async def handle(peer: Peer) -> None:
        await peer.request()
        head = reply(b"", f"Content-Length: {len(body)}", length=False)
        await peer.send(head, *(body[i : i + 1] for i in range(len(body))), pause=0.02)
        await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server:
            with elapsed_between(0.3, TEST_LIMIT_S):
                assert await fetch_once(server.url(), timeouts=Timeouts(read=0.3)) == body

    run(main())


async def raising(exc: BaseException) -> None:
    """Raises `exc` itself at once, as a socket's call does when the kernel gives up."""
    raise exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "TimeoutError"),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), "TimeoutError"),  # OSError makes it a TimeoutError
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "ConnectionResetError"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "OSError"),
    ],
    ids=["TimeoutError", "ETIMEDOUT", "reset", "unreachable"],
)
@pytest.mark.parametrize("limit", [5.0, None], ids=["limit", "no-limit"])
def test_kernels_own_timeout_is_a_connection_failure(exc: OSError, reason: str, limit: float | None) -> None:
    """_within: an OSError the awaited call raises itself, before any limit (TimeoutError among them: the
    kernel's own ETIMEDOUT, a TCP retransmission or keep-alive given up), is a retryable ConnectionFailure named
    by its class, which transport_failure reports as a connection error, never as the configured timeout."""

    async def main() -> None:
        until = None if limit is None else asyncio.get_running_loop().time() + limit
        with pytest.raises(ConnectionFailure) as caught:
            await http_client._within(until, raising(exc))
        assert (caught.value.reason, caught.value.retryable) == (reason, True)
        assert caught.value.__cause__ is exc
        failed = transport_failure(caught.value, 30)
        assert failed is not None and failed.message == f"connection error: {reason}"

    run(main())


def test_limit_that_passes_is_the_timeout() -> None:
    """_within: the limit passing is the configured timeout (TimeoutError, "timed out after N s"), not a
    ConnectionFailure; what returns before it is returned."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with elapsed_between(0.04, 1.0), pytest.raises(TimeoutError) as caught:
            await http_client._within(loop.time() + 0.05, asyncio.sleep(5))
        assert not isinstance(caught.value, ConnectionFailure)
        failed = transport_failure(caught.value, 0.05)
        assert failed is not None and failed.message == "timed out after 0.05 s"
        assert await http_client._within(loop.time() + 1, asyncio.sleep(0, "done")) == "done"
        assert await http_client._within(None, asyncio.sleep(0, "done")) == "done"

    run(main())


def test_kernels_connect_timeout_is_a_connection_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connect the kernel gives up on (ETIMEDOUT, well within connect=5): a retryable ConnectionFailure
    "TimeoutError", not the configured connect timeout (TimeoutError, which transport_failure would report as
    "timed out after 5 s"); its slot is freed."""

    async def timed_out(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ETIMEDOUT, "Connection timed out")

    monkeypatch.setattr(asyncio, "open_connection", timed_out)

    async def main() -> None:
        async with opened(timeouts=Timeouts(connect=5), slots=1) as session:
            for _ in range(2):
                exc = await failure(fetch(session, f"http://127.0.0.1:{free_port()}/v1/answer"))
                assert (exc.reason, exc.retryable) == ("TimeoutError", True)

    run(main())


@pytest.mark.slow
def test_request_body_the_server_never_reads_times_out() -> None:
    """A body of 20 MB (more than the sockets' buffers hold) to a server that reads the head and then nothing:
    the client waits for the answer under the timeouts, TimeoutError after read=0.3, never a hang; the
    connection is closed at once, its unsent body dropped (the server, reading again, sees its end)."""
    timed_out = asyncio.Event()

    async def handle(peer: Peer) -> None:
        await peer.reader.readuntil(b"\r\n\r\n")
        await timed_out.wait()  # reads nothing more, answers nothing until the client gave up
        await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened(timeouts=Timeouts(read=0.3)) as session:
            with elapsed_between(0.29, 2.0), pytest.raises(TimeoutError):
                await fetch(session, server.url(), b"x" * 20_000_000)
            timed_out.set()
            await server.until(lambda: server.client_closed == 1)

    run(main())


def test_early_error_answer_to_a_large_body_is_the_answer() -> None:
    """A server that refuses a 20 MB body at once (413 and close, without reading the body): the caller gets
    HttpStatus 413, not a retryable ConnectionFailure that every retry repeats."""

    async def handle(peer: Peer) -> None:
        await peer.reader.readuntil(b"\r\n\r\n")
        await peer.send(reply(b"too large", "Connection: close", status=413))
        peer.writer.close()  # with the body unread: the kernel resets the connection

    async def main() -> None:
        async with serve(handle) as server, opened(timeouts=Timeouts(read=1)) as session:
            with pytest.raises(HttpStatus) as caught:
                await fetch(session, server.url(), b"x" * 20_000_000)
            assert caught.value.status == 413

    run(main())


def test_transport_failure_wording() -> None:
    """transport_failure: a timeout is retryable "timed out after N s"; a ConnectionFailure is "connection
    error: <reason>" keeping its retryable; anything else is not the transport's (None)."""
    timed_out = transport_failure(TimeoutError(), 0.5)
    assert timed_out is not None and (timed_out.message, timed_out.retryable) == (
        "timed out after 0.5 s",
        True,
    )
    for retryable in (True, False):
        failed = transport_failure(ConnectionFailure("ConnectionResetError", retryable=retryable), 30)
        assert failed is not None
        assert (failed.message, failed.retryable) == ("connection error: ConnectionResetError", retryable)
    assert transport_failure(ValueError("not ours"), 30) is None


# --- 8. requests --------------------------------------------------------------------------------------------


def test_request_as_the_server_receives_it() -> None:
    """Method, target, Host with the port (first), the body and its exact Content-Length, the session's headers,
    the caller's content-type, and the client's defaults."""

    async def main() -> None:
        headers = {"Authorization": "Bearer sk-test", "X-Team": "support", "User-Agent": "custom/1"}
        body = '{"q": "café"}'.encode()
        async with serve(answering(reply())) as server, opened(headers) as session:
            await fetch(session, server.url(), body, content_type="application/json")
            (request,) = server.requests
        assert (request.method, request.target, request.body) == ("POST", "/v1/answer", body)
        assert request.headers[0] == ("host", f"127.0.0.1:{server.port}")
        assert request.header("content-length") == str(len(body))
        assert request.header("authorization") == "Bearer sk-test"
        assert request.header("x-team") == "support"
        assert request.header("user-agent") == "custom/1"
        assert request.header("accept") == "*/*"
        assert request.header("content-type") == "application/json"

    run(main())


def test_sessions_content_type_wins_over_the_callers() -> None:
    """A Content-Type among the session's headers is sent once, the caller's not added beside it."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened({"Content-Type": "text/plain"}) as session:
            await fetch(session, server.url(), content_type="application/json")
            assert server.requests[0].values("content-type") == ["text/plain"]

    run(main())


SECRET = "sk-SECRET-0123456789"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Api-Key", f"{SECRET}\r\nX-Injected: 1"),
        ("X-Api-Key", f"{SECRET}\nsecond-line"),
        ("X Api Key", SECRET),
        ("X-Clé", SECRET),
    ],
    ids=["crlf-in-value", "lf-in-value", "space-in-name", "non-ascii-name"],
)
def test_header_that_http_does_not_allow_is_refused_without_its_value(name: str, value: str) -> None:
    """A header value with a line break (or a name with a space) is never sent: a non-retryable
    ConnectionFailure whose text does not hold the value (it may be a secret); the server receives nothing."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened({name: value}) as session:
            exc = await failure(fetch(session, server.url()))
            assert exc.retryable is False
            assert SECRET not in str(exc) and SECRET not in repr(exc.args)
            assert (server.connections, server.requests) == (0, [])

    run(main())


@pytest.mark.parametrize(
    "value",
    [f"{SECRET}\n", f" {SECRET} \r\n", f"\r\n\t{SECRET}\n\n"],
    ids=["trailing-newline", "blanks-and-crlf", "line-breaks-both-sides"],
)
def test_header_value_with_surrounding_line_breaks_is_sent_trimmed(value: str) -> None:
    """A value with a line break around it (a secret read from a file or CI variable with its newline) is sent
    without it: the server receives exactly the value, and Session.check finds nothing wrong."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened({"X-Api-Key": value}) as session:
            assert await fetch(session, server.url()) == b"ok"
            assert server.requests[0].header("x-api-key") == SECRET
            session.check(server.url())

    run(main())


@pytest.mark.parametrize(
    "headers",
    [{"X-Api-Key": f"{SECRET}\nsecond-line"}, {"X-Api-Key": f" {SECRET}\r\nX-Injected: 1\r\n"}],
    ids=["lf-inside", "crlf-inside"],
)
def test_session_check_refuses_a_header_before_any_connection(headers: dict[str, str]) -> None:
    """Session.check(url), as the providers call it when they open their client: a value with a line break
    inside is a non-retryable ConnectionFailure naming neither the value nor any part of it, before any
    connection (the server accepts none)."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened(headers) as session:
            with pytest.raises(ConnectionFailure) as caught:
                session.check(server.url())
            exc = caught.value
            assert_failure(exc, retryable=False, phrase="a header or the URL holds a character")
            for part in (SECRET, "second-line", "X-Injected"):
                assert part not in str(exc) and part not in repr(exc.args)
            assert (server.connections, server.requests) == (0, [])

    run(main())


def test_session_check_refuses_a_url_it_cannot_use() -> None:
    """Session.check on a URL the client cannot use: the same ConnectionFailure as the request would end in."""
    session = Session({}, Timeouts(), 1)
    with pytest.raises(ConnectionFailure) as caught:
        session.check("ftp://127.0.0.1/file")
    assert_failure(caught.value, retryable=False, phrase="not an http or https address")


def test_header_value_with_surrounding_spaces_is_sent_stripped() -> None:
    """Spaces and tabs around a value are not part of it (RFC 9110, 5.5): the value is sent without them."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened({"X-Api-Key": f" {SECRET}\t "}) as session:
            await fetch(session, server.url())
            assert server.requests[0].header("x-api-key") == SECRET

    run(main())


def test_target_is_percent_encoded() -> None:
    """A non-ASCII path and a query with spaces and non-ASCII are percent-encoded (UTF-8); what is already
    encoded stays as it is."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened() as session:
            await fetch(session, server.url("/v1/café menu/a%2Fb?q=a b&lang=日本&x=1+2"))
            assert (
                server.requests[0].target
                == "/v1/caf%C3%A9%20menu/a%2Fb?q=a%20b&lang=%E6%97%A5%E6%9C%AC&x=1+2"
            )

    run(main())


def test_url_user_and_password_are_sent_as_basic_auth() -> None:
    """`user:password@` (percent-decoded) becomes Basic auth, and is not in the Host or the target."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened() as session:
            url = server.url().replace("://", "://us%40er:p%3Ass@")
            await fetch(session, url)
            (request,) = server.requests
        assert request.header("authorization") == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
        assert (request.header("host"), request.target) == (f"127.0.0.1:{server.port}", "/v1/answer")

    run(main())


def test_session_authorization_wins_over_the_urls_user() -> None:
    """An Authorization among the session's headers is kept; the URL's user adds no second one."""

    async def main() -> None:
        async with serve(answering(reply())) as server, opened({"Authorization": "Bearer k"}) as session:
            await fetch(session, server.url().replace("://", "://user:pw@"))
            assert server.requests[0].values("authorization") == ["Bearer k"]

    run(main())


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("ftp://127.0.0.1/file", "not an http or https address"),
        ("http:///no-host", "not an http or https address"),
        ("127.0.0.1:8080/no-scheme", "not an http or https address"),
        ("http://127.0.0.1:99999/", "cannot be read"),
        ("http://[::1/", "cannot be read"),
    ],
)
def test_url_the_client_cannot_use_is_not_retryable(url: str, phrase: str) -> None:
    """A URL of another scheme, without a host, with a port out of range or unbalanced brackets: a
    non-retryable ConnectionFailure; no slot is kept (the same session then serves a good URL)."""

    async def main() -> None:
        async with serve(answering(reply(b"fine"))) as server, opened(slots=1) as session:
            for _ in range(2):
                assert_failure(await failure(fetch(session, url)), retryable=False, phrase=phrase)
            assert await fetch(session, server.url()) == b"fine"

    run(main())


# --- 9. the pool --------------------------------------------------------------------------------------------


def test_slots_bound_the_connections_open_at_once() -> None:
    """slots=2 and 10 concurrent requests: never more than 2 connections open at the server, 2 in all (reused),
    and each request gets its own answer."""

    async def main() -> None:
        async with serve(echoing(delay=0.01)) as server, opened(slots=2) as session:
            bodies = [b'{"n": %d}' % n for n in range(10)]
            answers = await asyncio.gather(*(fetch(session, server.url(), body) for body in bodies))
            assert answers == bodies
            assert (server.peak_open, server.connections, len(server.requests)) == (2, 2, 10)

    run(main())


@pytest.mark.parametrize("when", ["waiting for the head", "reading the body"])
def test_cancelled_request_closes_its_connection_and_frees_its_slot(when: str) -> None:
    """A request cancelled while it waits for the answer's head or reads its body: its connection is closed
    (the server sees it) and the only slot is free for the next request."""
    entered = asyncio.Event()  # set once `async with` has returned the response: the head is read

    async def fetch_entered(session: Session, url: str) -> bytes:
        async with session.post(url, b"{}") as response:
            entered.set()
            return await response.read()

    async def handle(peer: Peer) -> None:
        if await peer.request() is not None:
            if peer.number == 1:
                await peer.send(
                    b""
                    if when == "waiting for the head"
                    else reply(b"", "Content-Length: 9", length=False) + b"part"
                )
                await peer.until_client_closes()
            else:
                await peer.send(reply(b"second"))
                await peer.until_client_closes()

    async def main() -> None:
        async with serve(handle) as server, opened(slots=1) as session:
            task = asyncio.create_task(fetch_entered(session, server.url()))
            await server.until(lambda: len(server.requests) == 1)  # the request sent: the client waits
            if when == "reading the body":
                await entered.wait()  # the head read: the client waits for the rest of the body
            assert entered.is_set() is (when == "reading the body")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await server.until(lambda: server.client_closed == 1)
            assert await fetch(session, server.url()) == b"second"
            assert server.connections == 2

    run(main())


@NEEDS_LINUX_BACKLOG
def test_request_cancelled_while_connecting_frees_its_slot() -> None:
    """A request cancelled during a connect that never completes: the only slot is free for the next one."""

    async def main() -> None:
        with never_accepting() as port:
            async with serve(answering(reply(b"next"))) as server, opened(slots=1) as session:
                task = asyncio.create_task(fetch(session, f"http://127.0.0.1:{port}/v1/answer"))
                await asyncio.sleep(SETTLE_S)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert await fetch(session, server.url()) == b"next"

    run(main())


def test_request_cancelled_while_waiting_for_a_slot_takes_none() -> None:
    """slots=1: a request cancelled while it waits for the slot neither keeps it nor frees one it never had;
    the requests after it still go one at a time over the one connection."""

    async def main() -> None:
        async with serve(echoing(delay=0.02)) as server, opened(slots=1) as session:
            first = asyncio.create_task(fetch(session, server.url(), b"1"))
            waiting = asyncio.create_task(fetch(session, server.url(), b"2"))
            await server.until(lambda: len(server.requests) == 1)
            waiting.cancel()
            assert await first == b"1"
            with pytest.raises(asyncio.CancelledError):
                await waiting
            bodies = [b"%d" % n for n in range(3, 7)]
            assert await asyncio.gather(*(fetch(session, server.url(), body) for body in bodies)) == bodies
            assert (server.peak_open, server.connections, len(server.requests)) == (1, 1, 5)

    run(main())


def test_exception_in_the_block_before_the_body_is_read_closes_the_connection() -> None:
    """An exception raised inside `async with session.post(...)` before the body is read closes the connection
    rather than returning it to the pool, its answer half read; the slot is freed."""

    async def main() -> None:
        async with serve(answering(reply(b"first"), reply(b"second"))) as server, opened(slots=1) as session:
            with pytest.raises(ValueError, match="the caller's"):
                async with session.post(server.url(), b"{}"):
                    raise ValueError("the caller's")
            await server.until(lambda: server.client_closed == 1)
            assert await fetch(session, server.url()) == b"second"
            assert server.connections == 2

    run(main())


def test_exception_after_the_body_is_read_keeps_the_connection() -> None:
    """An answer read whole leaves its connection clean, whatever the block raises after it (checked_body's
    HttpStatus for a 429): the retry goes out on the same connection, not a new handshake."""

    async def main() -> None:
        async with (
            serve(answering(reply(b"busy", status=429), reply(b"second"))) as server,
            opened(slots=1) as session,
        ):
            with pytest.raises(HttpStatus):
                async with session.post(server.url(), b"{}") as response:
                    await response.checked_body()
            assert await fetch(session, server.url()) == b"second"
            assert (server.connections, server.client_closed) == (1, 0)

    run(main())


def test_body_not_read_closes_the_connection() -> None:
    """Leaving the block without reading the body: the connection is closed, never reused with the unread
    body still in it."""

    async def main() -> None:
        async with serve(answering(reply(b"unread"), reply(b"second"))) as server, opened() as session:
            async with session.post(server.url(), b"{}") as response:
                assert response.status == 200
            await server.until(lambda: server.client_closed == 1)
            assert await fetch(session, server.url()) == b"second"
            assert server.connections == 2

    run(main())


def test_close_closes_idle_connections() -> None:
    """Session.close() closes the pool's idle connections (the server sees them end)."""

    async def main() -> None:
        async with serve(echoing()) as server:
            session = Session({}, Timeouts(), 2)
            await asyncio.gather(fetch(session, server.url()), fetch(session, server.url()))
            await session.close()
            await server.until(lambda: server.client_closed == server.connections == 2)

    run(main())


def test_connection_in_flight_at_close_is_closed_too() -> None:
    """close() while a request is in flight: once the request ends, its connection is closed, not kept."""

    async def main() -> None:
        async with serve(echoing(delay=0.02)) as server:
            session = Session({}, Timeouts(), 1)
            task = asyncio.create_task(fetch(session, server.url()))
            await server.until(lambda: len(server.requests) == 1)
            await session.close()
            assert await task == b'{"q": 1}'
            await server.until(lambda: server.client_closed == 1, limit=0.15)

    run(main())


# --- 10. TLS ------------------------------------------------------------------------------------------------


def make_certificate(folder: Path, names: str) -> tuple[Path, Path]:
    """A self-signed certificate and its key for the subjectAltName `names`, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: no certificate to test TLS with")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=evalgate test",
         "-addext", f"subjectAltName={names}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def tls_server(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_tls_refuses_an_untrusted_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A self-signed certificate not among the trusted ones: a retryable ConnectionFailure naming the SSL
    error class; no request reaches the server."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    cert, key = make_certificate(tmp_path, "IP:127.0.0.1,DNS:localhost")

    async def main() -> None:
        async with serve(answering(reply(b"secure")), tls=tls_server(cert, key)) as server:
            exc = await failure(fetch_once(server.url()))
            assert_failure(exc, retryable=True, phrase="SSLCertVerificationError")
            assert server.requests == []

    run(main())


def test_tls_with_the_certificate_trusted_through_ssl_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE set after the Session is made but before its first https connection: the certificate is
    trusted, the answers come over TLS, and the connection is kept alive across requests."""
    cert, key = make_certificate(tmp_path, "IP:127.0.0.1,DNS:localhost")

    async def main() -> None:
        async with serve(
            answering(reply(b"secure 1"), reply(b"secure 2")), tls=tls_server(cert, key)
        ) as server:
            async with opened() as session:
                monkeypatch.setenv("SSL_CERT_FILE", str(cert))
                assert await fetch(session, server.url()) == b"secure 1"
                assert await fetch(session, server.url()) == b"secure 2"
            assert server.connections == 1

    run(main())


def test_tls_refuses_a_trusted_certificate_for_another_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trusted certificate whose names do not include 127.0.0.1: refused (the host name is checked)."""
    cert, key = make_certificate(tmp_path, "DNS:api.example.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))

    async def main() -> None:
        async with serve(answering(reply(b"secure")), tls=tls_server(cert, key)) as server:
            exc = await failure(fetch_once(server.url()))
            assert_failure(exc, retryable=True, phrase="SSLCertVerificationError")

    run(main())


# --- 11. refused --------------------------------------------------------------------------------------------


def test_connection_refused_is_retryable_and_frees_the_slot() -> None:
    """A port nothing listens on: a retryable ConnectionFailure "ConnectionRefusedError", each time (the one
    slot is not kept by the failed attempt)."""

    async def main() -> None:
        url = f"http://127.0.0.1:{free_port()}/v1/answer"
        async with opened(slots=1) as session:
            for _ in range(2):
                exc = await failure(fetch(session, url))
                assert (exc.reason, exc.retryable) == ("ConnectionRefusedError", True)

    run(main())
