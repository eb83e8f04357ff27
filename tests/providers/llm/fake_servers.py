"""Real HTTP servers on 127.0.0.1 that speak the Anthropic Messages API and the OpenAI chat-completions API.

The tests and the throughput benchmark point the real SDKs at them through `base_url`. A server answers every
request with an echo of the prompt, and can be told how to misbehave:

- per prompt: `server.script("the user text", ["429:2", "ok"])` makes the first request whose last user
  message is that text answer 429 with `retry-after: 2`, the next one succeed (see `Behavior` for the forms);
- for everyone: `latency` (seconds before answering), `max_concurrent` (above it: 429 with `retry-after`) and
  `tokens_per_minute` (a token bucket holding one second's worth and refilled continuously; a request whose
  tokens, in and out, the bucket cannot pay is answered 429 with the whole seconds until it could, as the
  Anthropic API does).

A request with `"stream": true` is answered with server-sent events in the vendor's format (Anthropic or
OpenAI), one word per event: the first after `latency`, the next ones `token_delay` apart.

It counts requests (`server.calls`), keeps their bodies and headers (`server.requests`), the highest number of
requests in flight at once (`server.peak_in_flight`) and the refusals (`state.rate_limited`).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"
CUSTOM_PATH = "/custom/answer"

# Behavior strings:
#   "ok"                 answer normally
#   "429:SECONDS"        rate limited, with retry-after (omit SECONDS for no header)
#   "529"                Anthropic overloaded_error
#   "500" / "503" / "400" / "401" / "404" / "408" ...   that status with the vendor's error shape
#   "slow:SECONDS"       answer normally after sleeping
#   "malformed"          200 with a body that is not JSON
#   "truncated"          200 with JSON missing the fields a client needs
#   "stream-overloaded"  (Anthropic, streamed) 200, message_start, then an overloaded_error event mid-stream


def words(text: str) -> int:
    """The fake servers' token count: whitespace-separated words (at least 1)."""
    return max(1, len(text.split()))


def answer_for(prompt: str) -> str:
    """What the fake model answers to a prompt (tests compute expectations with this, not the provider)."""
    return f"echo: {prompt}"


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""  # the body as sent


@dataclass
class ServerState:
    latency: float = 0.0
    max_concurrent: int | None = None
    retry_after: str | None = "1"
    token_delay: float = 0.0
    tokens_per_minute: float | None = None
    bucket: float = (
        0.0  # tokens available (tokens_per_minute), refilled continuously up to one second's worth
    )
    refilled_at: float = field(default_factory=time.monotonic)
    scripts: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    requests: list[RecordedRequest] = field(default_factory=list)
    calls: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    rate_limited: int = 0
    first_request_at: float | None = None  # time.monotonic() of the first request since the last mark
    last_answer_at: float | None = None  # and of the end of the last answer
    lock: threading.Lock = field(default_factory=threading.Lock)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)


class _Connection:
    """One keep-alive HTTP/1.1 connection: read a request, answer it, repeat."""

    def __init__(
        self, state: ServerState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.state = state
        self.reader = reader
        self.writer = writer

    async def serve(self) -> None:
        self.state.writers.add(self.writer)
        try:
            while await self._one():
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up (a timeout test), or the server is stopping
        finally:
            self.state.writers.discard(self.writer)
            self.writer.close()

    async def _one(self) -> bool:
        head = await self.reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        raw = await self.reader.readexactly(int(headers.get("content-length") or 0))
        if method != "POST":
            await self._send(405, {"error": {"type": "not_found_error", "message": "POST only"}})
            return True
        try:
            body = json.loads(raw)
        except ValueError:
            await self._send(400, {"error": {"type": "invalid_request_error", "message": "body is not JSON"}})
            return True
        await self._answer(path, headers, body, raw)
        return headers.get("connection", "").lower() != "close"

    async def _answer(self, path: str, headers: dict[str, str], body: Any, raw: bytes) -> None:
        state = self.state
        prompt = _prompt_of(path, body)
        with state.lock:
            state.calls += 1
            if state.first_request_at is None:
                state.first_request_at = time.monotonic()
            state.requests.append(RecordedRequest(path, headers, body, raw))
            queue = state.scripts.get(prompt)
            behavior = queue.popleft() if queue else "ok"
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            over = state.max_concurrent is not None and state.in_flight > state.max_concurrent
            wait = None if over else _take_tokens(state, path, body, prompt)
            if over or wait is not None:
                state.rate_limited += 1
        try:
            if over:
                behavior = f"429:{state.retry_after}" if state.retry_after else "429"
            elif wait is not None:
                behavior = f"429:{max(1, math.ceil(wait))}"
            elif state.latency and not body.get("stream"):
                await asyncio.sleep(state.latency)
            await self._behave(path, behavior, body, prompt)
        finally:
            with state.lock:
                state.in_flight -= 1
                state.last_answer_at = time.monotonic()

    async def _behave(self, path: str, behavior: str, body: Any, prompt: str) -> None:
        kind, _, arg = behavior.partition(":")
        if kind == "ok" and body.get("stream"):
            await self._stream(path, body, prompt)
        elif kind == "ok":
            await self._send(200, _success(path, body, prompt))
        elif kind == "slow":
            await asyncio.sleep(float(arg))
            await self._send(200, _success(path, body, prompt))
        elif kind == "malformed":
            await self._send_raw(200, b'{"id": "msg_1", "content": [')
        elif kind == "truncated":
            await self._send(200, {"id": "x"})
        elif kind == "stream-overloaded":
            head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            self.writer.write(head.encode("latin-1"))
            start = _stream_events(path, body, prompt)[0]
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            for event in (start, error):
                await self._chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()
        else:
            status = int(kind)
            await self._send(status, _error_body(path, status), {"retry-after": arg} if arg else {})

    async def _stream(self, path: str, body: Any, prompt: str) -> None:
        """The answer as server-sent events, one word each: the first after `latency`, then `token_delay` apart."""
        head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        self.writer.write(head.encode("latin-1"))
        first = True
        for event in _stream_events(path, body, prompt):
            if event is _TOKEN_GAP:
                await asyncio.sleep(self.state.latency if first else self.state.token_delay)
                first = False
                continue
            name = f"event: {event['type']}\n" if path == ANTHROPIC_PATH else ""
            await self._chunk(f"{name}data: {json.dumps(event)}\n\n")
        if path != ANTHROPIC_PATH:
            await self._chunk("data: [DONE]\n\n")
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    async def _chunk(self, text: str) -> None:
        data = text.encode()
        self.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await self.writer.drain()

    async def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        await self._send_raw(status, json.dumps(payload).encode(), headers)

    async def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        lines = [
            f"HTTP/1.1 {status} {reason}",
            "content-type: application/json",
            f"content-length: {len(data)}",
        ]
        lines += ["request-id: req_fake", *(f"{name}: {value}" for name, value in (headers or {}).items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        await self.writer.drain()


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def _take_tokens(state: ServerState, path: str, body: Any, prompt: str) -> float | None:
    """Charge a request's tokens to the bucket (state.lock held): None when paid, else the seconds until the
    bucket could pay them."""
    if state.tokens_per_minute is None:
        return None
    rate = state.tokens_per_minute / 60.0
    now = time.monotonic()
    state.bucket = min(rate, state.bucket + (now - state.refilled_at) * rate)
    state.refilled_at = now
    answer = _success(path, body, prompt)
    usage = answer.get("usage") or {}
    cost = sum(value for value in usage.values() if isinstance(value, int) and value > 0)
    cost = usage.get("total_tokens", cost)
    if state.bucket >= cost:
        state.bucket -= cost
        return None
    return (cost - state.bucket) / rate


_TOKEN_GAP = object()  # in a stream: wait before the next word (latency before the first, token_delay after)


def _stream_events(path: str, body: Any, prompt: str) -> list[Any]:
    """The streamed events of the answer `_success` gives, with a gap before each word."""
    answer = _success(path, body, prompt)
    text = answer_for(prompt)
    pieces = [word if i == 0 else " " + word for i, word in enumerate(text.split(" "))]
    events: list[Any] = []
    if path == ANTHROPIC_PATH:
        usage = answer["usage"]
        start = {**answer, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events.append({"type": "message_start", "message": start})
        events.append(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        )
        for piece in pieces:
            events += [_TOKEN_GAP, {"type": "content_block_delta", "index": 0,
                                    "delta": {"type": "text_delta", "text": piece}}]  # fmt: skip
        events.append({"type": "content_block_stop", "index": 0})
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": usage["output_tokens"]},
            }
        )
        events.append({"type": "message_stop"})
        return events
    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": body.get("model")}
    events.append({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for piece in pieces:
        events += [_TOKEN_GAP, {**chunk, "choices": [{"index": 0, "delta": {"content": piece}}]}]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append({**chunk, "choices": [], "usage": answer["usage"]})
    return events


def _error_body(path: str, status: int) -> dict[str, Any]:
    error_type = _ERROR_TYPES.get(status, "api_error")
    message = f"fake {error_type} ({status})"
    if path == ANTHROPIC_PATH:
        return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_fake"}
    return {"error": {"message": message, "type": error_type, "code": str(status)}}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def _prompt_of(path: str, body: Any) -> str:
    """The last user message's text (or the custom endpoint's `question`)."""
    if path == CUSTOM_PATH:
        return str(body.get("question", ""))
    messages = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    return _text_of(users[-1]["content"]) if users else ""


def _success(path: str, body: Any, prompt: str) -> dict[str, Any]:
    text = answer_for(prompt)
    everything = " ".join(_text_of(m.get("content", "")) for m in body.get("messages") or []) or prompt
    if isinstance(body.get("system"), str):
        everything = body["system"] + " " + everything
    tokens_in, tokens_out = words(everything), words(text)
    if path == ANTHROPIC_PATH:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }
    if path == OPENAI_PATH:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1764144000,
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }
    return {"result": {"answer": text, "labels": ["a", "b"]}, "usage": {"in": tokens_in, "out": tokens_out}}


class FakeLLMServer:
    """One server answering the Anthropic, OpenAI and custom paths, on its own event loop in a thread.

    Use as a context manager (or start/stop).
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        max_concurrent: int | None = None,
        retry_after: str | None = "1",
        token_delay: float = 0.0,
        tokens_per_minute: float | None = None,
    ):
        self.state = ServerState(
            latency=latency,
            max_concurrent=max_concurrent,
            retry_after=retry_after,
            token_delay=token_delay,
            tokens_per_minute=tokens_per_minute,
        )
        self.state.bucket = (tokens_per_minute or 0.0) / 60.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def script(self, prompt: str, behaviors: list[str]) -> None:
        """Answer the next requests for `prompt` with these behaviors, in order (then normally)."""
        with self.state.lock:
            self.state.scripts[prompt].extend(behaviors)

    @property
    def calls(self) -> int:
        return self.state.calls

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def peak_in_flight(self) -> int:
        return self.state.peak_in_flight

    def start(self) -> FakeLLMServer:
        self._thread.start()

        async def listen() -> asyncio.Server:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await _Connection(self.state, reader, writer).serve()

            return await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result()
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self.state.writers):
                writer.transport.abort()
            await asyncio.sleep(0.01)  # let the connections see the abort and end

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Run a server for the benchmark's child process: print its URL; on each "stats" line read from stdin
    print the counters as JSON; stop at end of input."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--tokens-per-minute", type=float, default=None)
    args = parser.parse_args()
    with FakeLLMServer(
        latency=args.latency,
        max_concurrent=args.max_concurrent,
        retry_after=args.retry_after,
        tokens_per_minute=args.tokens_per_minute,
    ) as server:
        print(server.url, flush=True)
        for line in sys.stdin:
            state = server.state
            if line.strip() == "mark":
                with state.lock:
                    state.first_request_at = state.last_answer_at = None
            if line.strip() == "stats":
                counters = {
                    "calls": state.calls,
                    "peak_in_flight": state.peak_in_flight,
                    "rate_limited": state.rate_limited,
                    "cpu_s": time.process_time(),
                    "first_request_at": state.first_request_at,
                    "last_answer_at": state.last_answer_at,
                }
                print(json.dumps(counters), flush=True)


if __name__ == "__main__":
    main()
