"""Reading an API's answer: its JSON body, the fields a malformed answer may lack, and streamed events."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from evalgate.contracts.cases import Output
from evalgate.providers.llm.retry import Failure, ProviderError


def json_body(content: bytes) -> Any:
    """A response body as JSON; ProviderError("malformed response: ...") when it is not JSON."""
    try:
        return json.loads(content)
    except ValueError as exc:
        raise ProviderError(f"malformed response: not JSON ({exc})") from None


def mapping_at(data: Any, key: str) -> dict[str, Any]:
    """`data[key]` when both are mappings, else an empty mapping (a field a malformed answer lacks)."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


class StreamError(Exception):
    """An error event inside a streamed answer (the status was 200): classified by its error type."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class StreamReader(ABC):
    """Reads one streamed answer's server-sent events (`data: {...}` lines) into an Output.

    `feed(line)` returns True when the line brought answer text (the first such line is the first token).
    Subclasses read their API's events in `event`; an unreadable event is a malformed response.
    """

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.stop_reason: Any = None
        self.events = 0

    def feed(self, line: str) -> bool:
        if not line.startswith("data:"):
            return False  # event names, comments, keep-alives and blank separators
        data = line[5:].strip()
        if not data or data == "[DONE]":
            return False
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ProviderError(f"malformed response: a streamed event is not JSON ({exc})") from None
        if not isinstance(event, dict):
            return False
        self.events += 1
        return self.event(event)

    @abstractmethod
    def event(self, event: dict[str, Any]) -> bool:
        """Take one event; True when it carried answer text."""

    def output(self) -> Output:
        if not self.events:
            raise ProviderError("malformed response: the stream ended without an event")
        return Output(
            value="".join(self.text),
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            extra={"stop_reason": self.stop_reason},
        )
