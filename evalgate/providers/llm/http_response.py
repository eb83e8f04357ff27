"""An answer of evalgate's HTTP client (http_client.py): its status and headers, and its body read once, decoded
(gzip, deflate) and bounded (MAX_RESPONSE_BYTES, MAX_STREAM_LINE_BYTES), whole or line by line."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import h11

from evalgate.files.limits import MAX_RESPONSE_BYTES, MAX_STREAM_LINE_BYTES
from evalgate.providers.llm.http_errors import ConnectionFailure, HttpStatus

if TYPE_CHECKING:
    from evalgate.providers.llm.http_client import Connection

DECODABLE = ("gzip", "x-gzip", "deflate")  # zlib reads each (a gzip or a zlib header, told apart by zlib)


class Response:
    """The status and headers (names lower-cased) of an answer; its body read once, by one of read,
    checked_body or lines."""

    def __init__(
        self, connection: Connection, head: h11.Response, read: float | None, deadline: float | None
    ) -> None:
        self.status: int = head.status_code
        # not a success: a redirect (not followed) or an error, HttpStatus once the body is read
        self.failed = self.status >= 300
        headers: dict[str, str] = {}
        for name, value in head.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers
        self._connection = connection
        self._read = read
        self._deadline = deadline
        self._size = 0
        self._ended = False
        try:
            self._decoder = _decoder(headers.get("content-encoding"))
        except ConnectionFailure:
            if not self.failed:
                raise
            # an error's status and headers (a 503's retry-after) count more than its body: kept as sent
            self._decoder = None
        self._fed = False

    async def read(self) -> bytes:
        """The whole body, decoded."""
        parts = []
        while (part := await self._next_part()) is not None:
            parts.append(part)
        return b"".join(parts)

    async def checked_body(self) -> bytes:
        """The whole body; HttpStatus, with it, when the answer `failed`."""
        content = await self.read()
        if self.failed:
            raise HttpStatus(self.status, content, self.headers)
        return content

    async def lines(self) -> AsyncIterator[bytes]:
        """The body's lines, each with its line break (the last one without, if the body ends without one); a
        line longer than MAX_STREAM_LINE_BYTES is a ConnectionFailure that no retry repeats."""
        pieces: list[bytes] = []  # of the line not yet ended: joined once, when it ends
        size = 0
        while (part := await self._next_part()) is not None:
            start = 0
            while (end := part.find(b"\n", start)) != -1:
                if size + end - start > MAX_STREAM_LINE_BYTES:
                    raise _line_too_long()
                pieces.append(part[start : end + 1])
                yield b"".join(pieces)
                pieces.clear()
                size, start = 0, end + 1
            if start < len(part):
                pieces.append(part[start:])
                size += len(part) - start
            if size > MAX_STREAM_LINE_BYTES:
                raise _line_too_long()
        if pieces:
            yield b"".join(pieces)

    async def _next_part(self) -> bytes | None:
        """The next piece of the decoded body; None at its end."""
        while not self._ended:
            event = await self._connection.next_event(self._read, self._deadline)
            if type(event) is h11.Data:
                part = event.data if self._decoder is None else self._decode(event.data)
            elif type(event) is h11.EndOfMessage:
                self._ended = True
                part = b"" if self._decoder is None else self._decode_end()
            else:
                raise ConnectionFailure("closed in the middle of the answer")
            self._size += len(part)
            if self._size > MAX_RESPONSE_BYTES:
                raise ConnectionFailure(
                    f"the answer is larger than {MAX_RESPONSE_BYTES} bytes", retryable=False
                )
            if part:
                return part
        return None

    def _decode(self, data: bytes) -> bytes:
        assert self._decoder is not None
        out = b""
        try:  # never more than one byte past the limit: a small body that inflates without end stops there
            while data:
                self._fed = True
                if self._decoder.eof:  # another gzip member follows
                    self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)
                out += self._decoder.decompress(data, MAX_RESPONSE_BYTES + 1 - self._size - len(out))
                data = self._decoder.unused_data if self._decoder.eof else b""
                if len(out) > MAX_RESPONSE_BYTES - self._size:
                    break
            return out
        except zlib.error:
            raise ConnectionFailure("the answer's compressed body is damaged", retryable=False) from None

    def _decode_end(self) -> bytes:
        assert self._decoder is not None
        rest = self._decoder.flush()
        if self._fed and not self._decoder.eof:  # the compressed stream stops short of its end
            raise ConnectionFailure("the answer's compressed body is cut short", retryable=False)
        return rest


def _decoder(encoding: str | None) -> zlib._Decompress | None:
    """zlib's decoder of a body sent with `encoding`; None for none; ConnectionFailure for one it cannot read."""
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return None
    if name in DECODABLE:
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # a gzip or a zlib header, whichever the body has
    shown = repr(name) if len(name) <= 16 and name.replace("-", "").isalnum() else "an unknown encoding"
    raise ConnectionFailure(
        f"the answer is encoded as {shown}, which evalgate does not read", retryable=False
    )


def _line_too_long() -> ConnectionFailure:
    return ConnectionFailure(f"a streamed line is longer than {MAX_STREAM_LINE_BYTES} bytes", retryable=False)
