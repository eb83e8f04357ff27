"""The plain data types that cross stage boundaries: a case, a provider's output, a case's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OUTPUT_KEYS = ("text", "label", "score", "probabilities", "tokens_in", "tokens_out", "cost")
CONVERSATION_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Case:
    """One eval case read from a dataset line."""

    id: str
    input: Any
    expected: Any = None
    category: str = "default"
    metadata: dict[str, Any] = field(default_factory=dict)
    cluster: str | None = None  # cases sharing a cluster are not independent (clustered standard errors)
    source: str = ""  # "file:line" it came from


def conversation_messages(value: Any) -> list[dict[str, str]] | None:
    """The chat messages of a conversation input, or None for any other value.

    A conversation is a non-empty list of {"role": "user" | "assistant", "content": text} objects (no other
    keys) whose last message is the user's: what `evalgate generate` writes for multi-turn cases, and what the
    chat providers send as the messages when no prompt template is configured.
    """
    if not isinstance(value, list) or not value:
        return None
    for message in value:
        if not (
            isinstance(message, dict)
            and set(message) == {"role", "content"}
            and message["role"] in CONVERSATION_ROLES
            and isinstance(message["content"], str)
        ):
            return None
    if value[-1]["role"] != "user":
        return None
    return [{"role": message["role"], "content": message["content"]} for message in value]


@dataclass
class Output:
    """What a provider returned, normalized. `value` is what metrics compare with `expected`."""

    value: Any
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific details kept in the results file


def normalize_output(raw: Any) -> Output:
    """Turn what a provider returned into an Output.

    A string, number, bool, list or None is the value itself. A mapping whose keys are all output keys
    (`text`, `label`, `score`, `probabilities`, `tokens_in`, `tokens_out`, `cost`) is unpacked: usage goes
    to its fields and the rest stays the value (a mapping of `text`/`label`/`score`/`probabilities`).
    Any other mapping is a structured output and is kept whole.
    """
    if isinstance(raw, Output):
        return raw
    if isinstance(raw, dict) and raw and all(key in OUTPUT_KEYS for key in raw):
        value = {k: v for k, v in raw.items() if k in ("text", "label", "score", "probabilities")}
        return Output(
            value=value,
            tokens_in=int_or_none(raw.get("tokens_in")),
            tokens_out=int_or_none(raw.get("tokens_out")),
            cost=float_or_none(raw.get("cost")),
        )
    return Output(value=raw)


def int_or_none(value: Any) -> int | None:
    """A count from untrusted data: an int, or None when absent or not a number."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class CaseResult:
    """One case run once: its output or its error, and what it cost."""

    case: Case
    output: Output | None
    error: str | None
    latency_ms: float
    repeat: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None
