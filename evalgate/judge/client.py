"""Asking an LLM judge: judge prompts, strict JSON replies with one repair attempt, bounded concurrency.

A judge is an ordinary provider (config `judge:`): each question is sent as a Case whose input is the
rendered prompt. Every reply must be one JSON object (optionally inside a single ```json code fence). A reply
that does not parse or does not have the expected shape is sent back once with the problem, asking for valid
JSON only; a second failure is a per-question error, which the caller scores as a failure.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalgate.contracts.cases import Case, Output, normalize_output
from evalgate.errors import InputError
from evalgate.files.jsonio import JSONProblem, parse_json
from evalgate.outbound import redact
from evalgate.progress import Progress
from evalgate.providers import create_provider

if TYPE_CHECKING:  # jinja2 loads with the first prompt: the metric registry reads the judge families' FACTS
    import jinja2

MAX_REPLY_KEPT = 500  # characters of an invalid reply kept in the error record


class JudgeFormatError(ValueError):
    """The judge's reply is not the JSON object asked for; the message says what is wrong."""


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@functools.lru_cache(maxsize=32)
def _compiled(template: str) -> jinja2.Template:
    return _environment().from_string(template)


def render_template(template: str, /, **values: Any) -> str:
    """Render a Jinja2 judge prompt (StrictUndefined: a misspelled variable is an error, not "").

    A prompt is compiled once and reused: compiling takes about 2 ms, rendering a few microseconds, and a
    prompt is rendered once or twice per case."""
    return _compiled(template).render(**values)


def as_text(value: Any) -> str:
    """A case input, expected value or output as prompt text: strings as they are, the `text` of an output
    mapping, anything else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


_FENCE = re.compile(r"\A```(?:json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```\Z", re.S)


def parse_json_object(text: str) -> dict[str, Any]:
    """Parse a judge reply strictly: the whole reply is one JSON object, or one ```json fence holding it.

    Prose around the object is not tolerated (that is what the repair attempt is for).
    """
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    if not stripped:
        raise JudgeFormatError("the reply is empty")
    try:  # strict, as every JSON evalgate reads: no NaN, no 1e400, nothing nested past the limit
        value = parse_json(stripped)
    except JSONProblem as problem:
        where = f" at line {problem.line}" if problem.line else ""
        raise JudgeFormatError(f"the reply is not valid JSON ({problem.message}{where})") from None
    if not isinstance(value, dict):
        raise JudgeFormatError(f"the reply must be a JSON object, got a JSON {type(value).__name__}")
    return value


def require_string(answer: dict[str, Any], key: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str):
        raise JudgeFormatError(f'"{key}" must be a string')
    return value


def require_number(value: Any, where: str, low: float, high: float) -> float:
    """A JSON number within [low, high] (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JudgeFormatError(f"{where} must be a number from {low:g} to {high:g}, got {json.dumps(value)}")
    if not low <= value <= high:
        raise JudgeFormatError(f"{where} must be from {low:g} to {high:g}, got {value:g}")
    return float(value)


def require_keys(mapping: Any, where: str, expected: list[str]) -> dict[str, Any]:
    """A JSON object with exactly the keys `expected`."""
    if not isinstance(mapping, dict):
        raise JudgeFormatError(f'"{where}" must be a JSON object with the keys {", ".join(expected)}')
    missing = [key for key in expected if key not in mapping]
    extra = [key for key in mapping if key not in expected]
    if missing or extra:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if extra:
            problems.append("unexpected " + ", ".join(extra))
        raise JudgeFormatError(
            f'"{where}" must have exactly the keys {", ".join(expected)} ({"; ".join(problems)})'
        )
    return mapping


REPAIR_PROMPT = """{{ prompt }}

Your previous reply was:
<previous_reply>
{{ reply }}
</previous_reply>

That reply cannot be used: {{ problem }}.
Reply again with only the JSON object described above: no text before or after it."""


@dataclass
class JudgeAnswer:
    """The outcome of one judge question: the validated value, or an error (never both)."""

    value: Any = None
    error: str | None = None
    repaired: bool = False  # the first reply was invalid and the repair attempt succeeded
    invalid_reply: str | None = None  # the last invalid reply (truncated), kept for the report


USAGE_FIELDS = ("tokens_in", "tokens_out", "cost")


@dataclass
class UsageTally:
    """The usage of some answers: how many, the sums of what they reported, and how many did not report each
    field (a sum over answers that did not all report it is a lower bound, never a measurement of them all)."""

    calls: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS, 0.0))
    unreported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS, 0))

    def add(self, output: Output) -> None:
        self.calls += 1
        for name in USAGE_FIELDS:
            value = getattr(output, name)
            if value is None:
                self.unreported[name] += 1
            else:
                self.sums[name] += value

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            **{name: round(value, 6) if name == "cost" else int(value) for name, value in self.sums.items()},
            "unreported": dict(self.unreported),
        }


@dataclass
class JudgeUsage:
    """The judge's usage: every answer (`calls`, of them `cached`, and their tokens and cost), and split into
    the calls made (`made`) and the answers the response cache gave (`saved`: what the cache saved, as the
    original calls recorded it)."""

    made: UsageTally = field(default_factory=UsageTally)
    saved: UsageTally = field(default_factory=UsageTally)

    def add(self, output: Output) -> None:
        (self.saved if output.cached else self.made).add(output)

    @property
    def calls(self) -> int:
        return self.made.calls + self.saved.calls

    def to_json(self) -> dict[str, Any]:
        both = {name: self.made.sums[name] + self.saved.sums[name] for name in USAGE_FIELDS}
        return {
            "calls": self.calls,
            "cached": self.saved.calls,
            "tokens_in": int(both["tokens_in"]),
            "tokens_out": int(both["tokens_out"]),
            "cost": round(both["cost"], 6),
            "made": self.made.to_json(),
            "saved": self.saved.to_json(),
        }


@dataclass
class JudgeSession:
    """Questions to one judge provider, at most `concurrency` at a time, each within `timeout` seconds."""

    provider: Any  # evalgate.providers.base.Provider, already started
    concurrency: int
    timeout: float
    model: str = ""
    usage: JudgeUsage = field(default_factory=JudgeUsage)
    progress: Progress | None = None  # told of every answered question (see `tracking`)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    @contextmanager
    def tracking(self, progress: Progress | None, total: int) -> Iterator[None]:
        """Report each of the next `total` questions to `progress` as it is answered (an error counts as one)."""
        if progress is None:
            yield
            return
        progress.start(total)
        self.progress = progress
        try:
            yield
        finally:
            self.progress = None
            progress.finish()

    async def ask(
        self, question_id: str, prompt: str, validate: Callable[[dict[str, Any]], Any]
    ) -> JudgeAnswer:
        """Send `prompt`; parse and `validate` the reply (validate: value or JudgeFormatError).

        An invalid reply gets one repair attempt. Provider failures (timeouts, API errors) are errors too.
        """
        answer = await self._answer(question_id, prompt, validate)
        if self.progress is not None:
            self.progress.advance(answer.error is not None)
        return answer

    async def _answer(
        self, question_id: str, prompt: str, validate: Callable[[dict[str, Any]], Any]
    ) -> JudgeAnswer:
        try:
            reply = await self._call(question_id, prompt)
            try:
                return JudgeAnswer(value=validate(parse_json_object(reply)))
            except JudgeFormatError as first:
                repair = render_template(REPAIR_PROMPT, prompt=prompt, reply=reply, problem=str(first))
                reply = await self._call(question_id + "#repair", repair)
                try:
                    return JudgeAnswer(value=validate(parse_json_object(reply)), repaired=True)
                except JudgeFormatError as second:
                    return JudgeAnswer(
                        error=f"invalid judge reply after one repair attempt: {second}",
                        invalid_reply=redact(reply)[:MAX_REPLY_KEPT],  # redacted before the cut
                    )
        except TimeoutError:
            return JudgeAnswer(error=f"judge call failed: no reply within {self.timeout:g}s")
        except Exception as exc:  # any other failure (RunAborted included) is this question's error
            detail = str(exc) or "no details"
            return JudgeAnswer(error=f"judge call failed: {type(exc).__name__}: {detail}")

    async def _call(self, question_id: str, prompt: str) -> str:
        async with self._slots:
            raw = await asyncio.wait_for(
                self.provider.complete(Case(id=question_id, input=prompt)), self.timeout
            )
        output = normalize_output(raw)
        self.usage.add(output)
        return as_text(output.value)


def question_id(*parts: str) -> str:
    """A stable id for a judge question (shown in provider logs and cache entries)."""
    return "judge-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@asynccontextmanager
async def open_judge(
    config: Any, provider_config: Any = None, *, purpose: str = "the judge"
) -> AsyncIterator[JudgeSession]:
    """Start the judge provider of a SuiteConfig (or `provider_config`), yield a session, close it afterwards.

    Judge calls are cached like any provider call: the LLM providers (anthropic, openai, http) key their
    response cache on the rendered request (model, parameters and the judge prompt as the user message), and
    `configure_run` gives them the suite's cache folder (or `cache.enabled: false`), prices and budget.
    """
    provider_config = provider_config or config.judge
    if provider_config is None:
        raise InputError(
            f"{purpose} needs a judge model: add a `judge:` section to the config, for example "
            "judge: {type: anthropic, model: claude-haiku-4-5}",
            file=config.path,
        )
    provider = create_provider(provider_config, config.base_dir)
    provider.configure_run(config)  # the LLM providers take the suite's cache, prices and budget
    await provider.start(config.concurrency)
    try:
        yield JudgeSession(
            provider,
            concurrency=config.concurrency,
            timeout=config.timeout,
            model=str(provider_config.options.get("model") or provider_config.type),
        )
    finally:
        await provider.close()
