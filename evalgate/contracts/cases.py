"""The plain data types that cross stage boundaries: a case, a provider's output, a case's result."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import sys
from dataclasses import dataclass, field
from typing import Any

ANSWER_KEYS = ("text", "label", "score", "probabilities")  # the answer; the other output keys are usage
OUTPUT_KEYS = (*ANSWER_KEYS, "tokens_in", "tokens_out", "cost")
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
    assertions: tuple[dict[str, Any], ...] = ()  # the line's `assert` list, checked (evalgate.assertions)
    tags: tuple[str, ...] = ()  # the line's `tags`: each one a slice (evalgate.slices)


@dataclass(frozen=True)
class CallTiming:
    """How a provider that measures its own calls (the LLM providers) got one answer, besides its latency
    (`Output.latency_ms`: the answering request's own time, from sending it to its last byte, never a wait for a
    free slot, a back-off, a failed attempt or the SDK's import).

    `attempts` counts the requests made (the answering one included); `wait_ms` is everything before the answering
    request began (queueing for the limiter, the failed attempts and the back-off between them); `ttft_ms`,
    streaming only, the time from sending the answering request to its first token.
    """

    attempts: int = 1
    wait_ms: float = 0.0
    ttft_ms: float | None = None


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
    # The call's own time when the provider timed it (for a cached answer: the original call's recorded time,
    # None when the cache has none); None otherwise, and the runner times the call itself.
    latency_ms: float | None = None
    timing: CallTiming | None = None  # attempts, waits and time to first token of a provider-timed call


def normalize_output(raw: Any) -> Output:
    """Turn what a provider returned into an Output whose value JSON can hold; OutputError when it cannot.

    A string, number, bool, list or None is the value itself. A mapping whose keys are all output keys
    (`text`, `label`, `score`, `probabilities`, `tokens_in`, `tokens_out`, `cost`) is unpacked: usage goes
    to its fields and the rest stays the value (a mapping of `text`/`label`/`score`/`probabilities`).
    Any other mapping is a structured output and is kept whole.

    This is the one place where outputs are checked (the runner calls it on every answer, the caches before
    they store one): the value and `extra` follow `json_value`'s rule, usage that is not a count or an amount
    (NaN, negative, not a number) is not reported (None). An OutputError becomes the case's error, so a value
    the results file cannot hold is never stored, cached or scored.
    """
    if isinstance(raw, Output):  # every other field (cached, the recorded latency) is kept as it is
        return dataclasses.replace(
            raw,
            value=json_value(raw.value, "output"),
            tokens_in=int_or_none(raw.tokens_in),
            tokens_out=int_or_none(raw.tokens_out),
            cost=float_or_none(raw.cost),
            extra=json_value(raw.extra, "output extra") if raw.extra else {},
        )
    if isinstance(raw, dict) and raw and all(key in OUTPUT_KEYS for key in raw):
        return Output(
            value=json_value({k: v for k, v in raw.items() if k in ANSWER_KEYS}, "output"),
            tokens_in=int_or_none(raw.get("tokens_in")),
            tokens_out=int_or_none(raw.get("tokens_out")),
            cost=float_or_none(raw.get("cost")),
        )
    return Output(value=json_value(raw, "output"))


def int_or_none(value: Any) -> int | None:
    """A count from untrusted data: a whole number 0 or more, or None when absent or not a count (NaN, -1, "3")."""
    if type(value) is int and 0 <= value <= sys.float_info.max:  # the usual count, read for every answer
        return value
    amount = float_or_none(value)
    return None if amount is None else int(value) if isinstance(value, numbers.Integral) else int(amount)


def float_or_none(value: Any) -> float | None:
    """An amount from untrusted data: a finite number 0 or more, or None when absent or not one."""
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        amount = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return amount if math.isfinite(amount) and amount >= 0 else None


class OutputError(ValueError):
    """An output the results file cannot hold faithfully (NaN, a generator, invalid Unicode...): the case's error."""


MAX_OUTPUT_DEPTH = 100  # levels of nested lists and mappings in one output
MAX_INT_DIGITS = 4300  # Python's limit for reading a JSON integer back (sys.int_info.default_max_str_digits)
_INT_LIMIT = 10**MAX_INT_DIGITS
_JSON_KEY_TEXT = {True: "true", False: "false", None: "null"}


def json_value(value: Any, where: str) -> Any:
    """`value` as plain JSON data, by one rule (docs/reference.md, "Outputs"):

    str (valid Unicode: no lone surrogate), bool, None, int (at most 4,300 digits) and finite float are kept;
    NaN and infinity are errors; bytes are decoded as UTF-8 (an error when they are not UTF-8); tuples become
    lists and sets sorted lists; numpy scalars and arrays become numbers and lists; mapping keys must be strings
    (numbers, bool and None become their JSON text, as json.dumps writes them; two keys with the same text are
    an error). Anything else (a generator, an object, a date), a cycle, or nesting deeper than 100 levels is
    an error. Errors name the field: `output.items[2].score is NaN`.
    """
    return _clean(value, where, 0, set())


def _clean(value: Any, where: str, depth: int, open_containers: set[int]) -> Any:
    if isinstance(value, str):  # the usual answer: an ASCII str, returned as it is
        if not value.isascii():
            _check_unicode(value, where)
        return value if type(value) is str else str(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -_INT_LIMIT < value < _INT_LIMIT:
            return int(value)
        raise OutputError(
            f"{where} is an integer of more than {MAX_INT_DIGITS:,} digits, which JSON cannot hold"
        )
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        what = "NaN" if math.isnan(value) else "infinite"
        raise OutputError(f"{where} is {what}, which JSON cannot hold: return a finite number or None")
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return _clean(bytes(value).decode("utf-8"), where, depth, open_containers)
        except UnicodeDecodeError as exc:
            raise OutputError(
                f"{where} is bytes that are not UTF-8 ({exc.reason} at byte {exc.start})"
            ) from None
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _clean(value.tolist(), where, depth, open_containers)
    if not isinstance(value, dict | list | tuple | set | frozenset):
        raise OutputError(
            f"{where} is a {type(value).__name__}, which JSON cannot hold: return a string, number, bool, "
            "None, list or dict"
        )
    if depth >= MAX_OUTPUT_DEPTH:
        raise OutputError(f"{where[:80]}... is nested deeper than {MAX_OUTPUT_DEPTH} levels")
    if id(value) in open_containers:
        raise OutputError(f"{where} contains itself (a cycle), which JSON cannot hold")
    open_containers.add(id(value))
    try:
        if isinstance(value, dict):
            return _clean_mapping(value, where, depth, open_containers)
        items = [_clean(item, f"{where}[{i}]", depth + 1, open_containers) for i, item in enumerate(value)]
        if isinstance(value, set | frozenset):
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    finally:
        open_containers.discard(id(value))


def _clean_mapping(
    value: dict[Any, Any], where: str, depth: int, open_containers: set[int]
) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        text = _key_text(key, where)
        if text in cleaned:
            raise OutputError(f"{where} has two keys that JSON writes as {text!r}")
        cleaned[text] = _clean(item, f"{where}.{text}", depth + 1, open_containers)
    return cleaned


def _key_text(key: Any, where: str) -> str:
    # an ASCII str as it is; else checked as a value is (no message built for the first)
    if isinstance(key, str):
        return key if type(key) is str and key.isascii() else _clean(key, f"a key of {where}", 0, set())
    if key is None or isinstance(key, bool):
        return _JSON_KEY_TEXT[key]
    if isinstance(key, int | float) and not (isinstance(key, float) and not math.isfinite(key)):
        return json.dumps(_clean(key, f"a key of {where}", 0, set()))
    raise OutputError(f"{where} has the key {key!r}, which JSON cannot hold (keys must be strings)")


def _check_unicode(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise OutputError(
            f"{where} holds a lone surrogate ({text[exc.start]!r} at index {exc.start}), which is not valid "
            "Unicode"
        ) from None


@dataclass
class CaseResult:
    """One case run once: its output or its error, and what it cost.

    `latency_ms` is a measurement: the call's time now, or for a cached answer the time recorded when it was
    first answered (None when there is none); never the time a cache read took.
    """

    case: Case
    output: Output | None
    error: str | None
    latency_ms: float | None
    repeat: int = 0
    timing: CallTiming | None = None  # the provider's own timing of the call, when it measured one

    @property
    def ok(self) -> bool:
        return self.error is None
