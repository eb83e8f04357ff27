"""What the LLM providers (anthropic, openai, http) share: prompt templates, retries with backoff, an adaptive
(AIMD) concurrency limiter, the run's budget, usage and cost, and the response cache.

`LLMProvider.complete(case)` does, in order: render the request from the case; answer from the cache when
it can; otherwise wait for a slot of the adaptive limiter, check the budget, send, and retry what is worth
retrying; then price the answer, charge the budget and store the answer in the cache.
The runner only calls `complete`.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import inspect
import json
import math
import os
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import jinja2
import jinja2.meta

from evalgate.cache import ResponseCache, cache_key
from evalgate.errors import InputError, RunAborted
from evalgate.fileio import read_text
from evalgate.limits import MAX_ATTEMPTS, MAX_TEXT_FILE_BYTES
from evalgate.model import CallTiming, Case, Output, conversation_messages, normalize_output
from evalgate.options import Option, non_negative, positive, seconds, up_to
from evalgate.outbound import add_secret
from evalgate.pricing import Price, PriceTable
from evalgate.providers.base import Provider

if TYPE_CHECKING:
    from evalgate.config import SuiteConfig

# the names a prompt template sees; `expected` is deliberately absent (it would leak the answer)
PROMPT_VARIABLES = ("input", "metadata", "id", "category")
MAX_RETRY_AFTER = 60.0  # seconds: a longer retry-after is capped
BACKOFF_BASE = 0.5  # seconds before the first retry (doubled each attempt, jittered)
BACKOFF_CAP = 20.0
# a refusal that says when to come back (overload with retry-after: a rate limit) does not use up an attempt; such
# a case still stops after this many times max_attempts requests in all
RATE_LIMITED_TRIES_FACTOR = 4
DEFAULT_CACHE_DIR = ".evalgate/cache"
NO_KEY_PLACEHOLDER = "no-key"  # what an SDK gets as its key for a server that needs none (it insists on one)


class ProviderError(Exception):
    """A call that failed for good (after retries, or not worth retrying): this case's error. `timing` holds the
    attempts made and the time waited (set when the retries give up)."""

    timing: CallTiming | None = None


# --------------------------------------------------------------------------------------------------------
# options shared by the providers


def _messages_check(roles: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        for item in value:
            if not isinstance(item, dict) or set(item) != {"role", "content"}:
                return "must be a list of mappings with exactly the keys role and content"
            if item["role"] not in roles or not isinstance(item["content"], str):
                return f"items need a role ({', '.join(roles)}) and a content template (a string)"
        return None if value else "must not be empty"

    return check


def _extra_check(reserved: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        clash = sorted(set(value) & set(reserved))
        return f"must not set {', '.join(clash)} (use the provider's own keys)" if clash else None

    return check


def _str_list(value: Any) -> str | None:
    return None if all(isinstance(item, str) for item in value) else "must be a list of strings"


def chat_options(
    *, roles: tuple[str, ...], reserved: tuple[str, ...], max_tokens: int | None
) -> dict[str, Option]:
    """The options of a chat provider (anthropic, openai)."""
    return {
        "model": Option((str,), required=True, help="the model name, for example claude-sonnet-4-5"),
        "prompt": Option(
            (str,), help="a Jinja2 template file, relative to the config, rendered as the user message"
        ),
        "messages": Option(
            (list,),
            check=_messages_check(roles),
            help="a list of {role, content} with Jinja2 content templates",
        ),
        "system": Option(
            (str,), help="the system prompt: a Jinja2 template, or a .j2 file relative to the config"
        ),
        "max_tokens": Option(
            (int,), default=max_tokens, check=positive, help="the most tokens an answer may have"
        ),
        "temperature": Option((float,), check=non_negative, help="sampling temperature"),
        "stop_sequences": Option((list,), check=_str_list, help="strings that end the answer"),
        "extra": Option((dict,), default={}, check=_extra_check(reserved), help="more request parameters"),
        "base_url": Option((str,), help="the API's address (a proxy, a gateway, a local server)"),
        "stream": Option(
            (bool,),
            default=False,
            help="stream the answer, to record the time to its first token (latency_ttft_*) per case",
        ),
        **CALL_OPTIONS,
    }


CALL_OPTIONS: dict[str, Option] = {
    "timeout": Option((float,), default=60.0, check=seconds, help="seconds one HTTP request may take"),
    "max_attempts": Option(
        (int,), default=4, check=up_to(MAX_ATTEMPTS), help="tries per case, the first one included"
    ),
}


# --------------------------------------------------------------------------------------------------------
# prompt templates


@dataclass
class Prompt:
    """A rendered prompt: the system text (or None) and the messages ({role, content})."""

    system: str | None
    messages: list[dict[str, str]]


def default_user_text(value: Any) -> str:
    """The user message when there is no template: the input itself, or its JSON text when not a string."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def template_context(case: Case) -> dict[str, Any]:
    return {"input": case.input, "metadata": case.metadata, "id": case.id, "category": case.category}


class Templates:
    """Jinja2 templates read relative to the config folder, with undefined names as errors.

    Problems found before any call (a missing file, a syntax error, a name a template cannot see) and problems
    found while rendering a case (an attribute that case lacks) are both bad input: InputError, exit 2.
    """

    def __init__(self, base_dir: Path, *, config_file: str, config_line: int | None) -> None:
        self.base_dir = base_dir
        self.config_file = config_file
        self.config_line = config_line
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(base_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )

    def from_file(self, relative: str) -> jinja2.Template:
        path = self.base_dir / relative
        if not path.exists():
            raise InputError(
                f"prompt template {relative!r} not found (looked for {path})",
                file=self.config_file,
                line=self.config_line,
            )
        source = read_text(path, what="template", max_bytes=MAX_TEXT_FILE_BYTES)
        self._check_names(source, file=str(path), line=None)
        try:
            return self.env.get_template(Path(relative).as_posix())
        except jinja2.TemplateNotFound as exc:
            raise InputError(
                f"template {exc.name!r} not found in the config folder {self.base_dir} (it may not leave it)",
                file=self.config_file,
                line=self.config_line,
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"template syntax error: {exc.message}", file=exc.filename or path, line=exc.lineno
            ) from None

    def from_string(self, source: str, *, where: str) -> jinja2.Template:
        """An inline template written in the config (`where` names the key in messages)."""
        self._check_names(source, file=self.config_file, line=self.config_line, where=where)
        try:
            return self.env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"{where}: template syntax error: {exc.message}", file=self.config_file, line=self.config_line
            ) from None

    def system_template(self, value: str) -> jinja2.Template:
        """`system` is a template file when it names a .j2 file, otherwise an inline template."""
        if value.endswith(".j2") and "\n" not in value:
            return self.from_file(value)
        return self.from_string(value, where="provider.system")

    def _check_names(self, source: str, *, file: str, line: int | None, where: str = "") -> None:
        try:
            names = jinja2.meta.find_undeclared_variables(self.env.parse(source))
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"{where + ': ' if where else ''}template syntax error: {exc.message}",
                file=file,
                line=exc.lineno if not where else line,
            ) from None
        unknown = sorted(names - set(PROMPT_VARIABLES) - set(self.env.globals))
        if unknown:
            hint = " (the expected answer is never shown to the model)" if "expected" in unknown else ""
            raise InputError(
                f"{where + ': ' if where else ''}the template uses {', '.join(unknown)}{hint}; "
                f"a template sees {', '.join(PROMPT_VARIABLES)}",
                file=file,
                line=line,
            )

    def expression(self, source: str, *, where: str) -> Callable[..., Any]:
        """An inline `{{ expr }}` kept as an expression: evaluating it returns a value of any type."""
        self._check_names("{{ " + source + " }}", file=self.config_file, line=self.config_line, where=where)
        try:
            return self.env.compile_expression(source, undefined_to_none=False)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"{where}: template syntax error: {exc.message}", file=self.config_file, line=self.config_line
            ) from None

    def render(self, template: jinja2.Template, context: Mapping[str, Any], case: Case) -> str:
        """Render for one case; a failure names the template, the problem and the case."""
        return self._guarded(lambda: template.render(context), case, template.filename or self.config_file)

    def evaluate(self, expression: Callable[..., Any], context: Mapping[str, Any], case: Case) -> Any:
        def value() -> Any:
            result = expression(**context)
            if isinstance(result, jinja2.Undefined):
                result._fail_with_undefined_error()
            return result

        return self._guarded(value, case, self.config_file)

    def _guarded(self, render: Callable[[], Any], case: Case, file: str) -> Any:
        try:
            return render()
        except jinja2.UndefinedError as exc:
            problem = exc.message
        except jinja2.TemplateError as exc:
            problem = str(exc)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        raise InputError(f"rendering case {case.id!r} ({case.source or 'no source'}): {problem}", file=file)


class ChatPrompt:
    """Builds the system text and messages of a chat provider from its options."""

    def __init__(self, options: Mapping[str, Any], templates: Templates) -> None:
        if options.get("prompt") and options.get("messages"):
            raise InputError(
                "use either prompt (a template file) or messages, not both",
                file=templates.config_file,
                line=templates.config_line,
            )
        self.templates = templates
        self.system = templates.system_template(options["system"]) if options.get("system") else None
        self.messages: list[tuple[str, jinja2.Template]] | None = None
        if options.get("prompt"):
            self.messages = [("user", templates.from_file(options["prompt"]))]
        elif options.get("messages"):
            self.messages = [
                (item["role"], templates.from_string(item["content"], where=f"provider.messages[{index}]"))
                for index, item in enumerate(options["messages"])
            ]

    def render(self, case: Case) -> Prompt:
        context = template_context(case)
        system = self.templates.render(self.system, context, case) if self.system else None
        if self.messages is None:  # a conversation input is sent as its messages, anything else as one
            messages = conversation_messages(case.input)
            return Prompt(system, messages or [{"role": "user", "content": default_user_text(case.input)}])
        return Prompt(
            system,
            [
                {"role": role, "content": self.templates.render(template, context, case)}
                for role, template in self.messages
            ],
        )


# --------------------------------------------------------------------------------------------------------
# failures, retries and the adaptive limiter


@dataclass(frozen=True)
class Failure:
    """How to handle a failed call: retry or not, whether it signals overload, how long the server asked."""

    message: str
    retryable: bool
    overload: bool = False
    retry_after: float | None = None


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date), capped at 60 s."""
    if not headers:
        return None
    seconds: float | None = None
    millis = headers.get("retry-after-ms")
    value = headers.get("retry-after")
    try:
        if millis is not None:
            seconds = float(millis) / 1000
        elif value is not None:
            seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is None and value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def failure_for_status(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, error_type: str | None = None
) -> Failure:
    """429, 529, 503 and `overloaded_error` are overload (retried, and the limiter backs off); 408, 409 and
    other 5xx are retried; any other 4xx is this case's error."""
    text = f"HTTP {status}" + (f" {error_type}" if error_type else "") + (f": {message}" if message else "")
    overload = status in (429, 503, 529) or error_type == "overloaded_error"
    retryable = overload or status in (408, 409) or status >= 500
    return Failure(text, retryable=retryable, overload=overload, retry_after=parse_retry_after(headers))


def classify_sdk_error(sdk: Any, exc: Exception, timeout: float) -> Failure | None:
    """Classify an exception of the anthropic or openai SDK (`sdk`: the module; both share error types)."""
    if isinstance(exc, sdk.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body["error"] if isinstance(body.get("error"), dict) else body
        return failure_for_status(
            exc.status_code,
            str(error.get("message") or ""),
            headers=exc.response.headers,
            error_type=error.get("type"),
        )
    if isinstance(exc, sdk.APITimeoutError):
        return Failure(f"timed out after {timeout:g} s", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return Failure(f"connection error: {exc}", retryable=True)
    return None


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


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before retry number `attempt` (1 = the first retry): the server's retry-after plus up to 10%,
    else an exponential backoff with full jitter between half and all of base·2^(attempt-1), capped."""
    if retry_after is not None:
        return retry_after * (1 + 0.1 * rng.random())
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return ceiling * (0.5 + 0.5 * rng.random())


@dataclass(frozen=True)
class Ticket:
    """A slot of the limiter: the epoch it was granted in, and our requests in flight once it was (itself
    included): a request refused with that many in flight says the server admits fewer."""

    epoch: int
    in_flight: int


class AdaptiveLimiter:
    """Concurrency that converges on the server's real limit (docs/providers.md, "The adaptive limiter").

    - **A cut goes to what the server was seen to admit**: a request refused (429, 529, 503) when `k` of ours
      were in flight, itself included, sets the limit to `k - 1`, but one cut never takes more than half
      (`FLOOR`). Against a concurrency cap that is the cap itself, in one or two steps; against a token or
      request rate it is the number of requests the server was still serving (refused ones come back at once
      and free their slots, so `k` falls as the server refuses more).
    - **One cut per congestion event**: refusals of requests sent before the last cut belong to the event that
      caused it (an epoch, as TCP counts one loss per window), and no second cut comes within COOLDOWN_RTTS
      smoothed round trips of the last one (a server needs that long to show the effect of a cut).
    - **Growth after a hold**: each success adds 1/limit (about one slot per round of answers, as AIMD does),
      but only after HOLD_ROUNDS rounds without a cut: a limit just learnt is held, so probing above it (and the
      refused request that probing costs, which then waits out its retry-after) is rare, not every round. A cut
      that lands where the last one did (the same ceiling, found again) doubles the hold, up to MAX_HOLD_ROUNDS.
    - **A pause below one**: a refusal with nothing else of ours in flight (`k` = 1) says even one request at a
      time is too many (a token or request rate below what one request at a time uses): no new request starts
      until the server's retry-after has passed, so retries come paced, not in a herd.
    - never above `slots` (the suite's concurrency) nor below 1.

    `report()` says where it settled: the limit held for the longest time, the lowest, the number of cuts and of
    refusals.
    """

    FLOOR = 0.5
    COOLDOWN_RTTS = 1.0
    HOLD_ROUNDS = 8
    MAX_HOLD_ROUNDS = 64
    RTT_WEIGHT = 0.1  # the smoothed round trip follows the successes' latencies with this weight

    def __init__(self, slots: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = slots
        self.limit = float(slots)
        self.in_flight = 0
        self.epoch = 0
        self.decreases = 0
        self.overloads = 0
        self.lowest = float(slots)
        self._clock = clock
        self._rtt: float | None = None
        self._last_cut = -math.inf
        self._hold = 0.0  # successes still to see before the limit may grow again
        self._hold_rounds = self.HOLD_ROUNDS
        self._last_landing: float | None = None  # where the last cut put the limit
        self._paused_until = -math.inf
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._level_since: float | None = None  # when the current whole limit began (first acquire)
        self._time_at: dict[int, float] = {}

    async def acquire(self) -> Ticket:
        """Wait for a free slot; return the ticket to pass to `overloaded`."""
        if self._level_since is None:
            self._level_since = self._clock()
        while (pause := self._paused_until - self._clock()) > 0:
            await asyncio.sleep(pause)
        while self.in_flight >= int(self.limit):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                else:  # woken, then cancelled: hand the wake-up on
                    self._wake()
                raise
        self.in_flight += 1
        return Ticket(self.epoch, self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def succeeded(self, seconds: float | None = None) -> None:
        """A request answered (in `seconds`, which feed the smoothed round trip)."""
        if seconds is not None:
            self._rtt = seconds if self._rtt is None else self._rtt + self.RTT_WEIGHT * (seconds - self._rtt)
        if self._hold > 0:
            self._hold -= 1
        else:
            self._set_limit(min(float(self.slots), self.limit + 1.0 / self.limit))
        self._wake()

    def overloaded(self, ticket: Ticket, retry_after: float | None = None) -> None:
        """The server refused a request (429, 529, 503): cut, unless this event already caused a cut; pause for
        the server's retry-after when the request was our only one in flight."""
        self.overloads += 1
        now = self._clock()
        if ticket.in_flight == 1 and retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        if ticket.epoch != self.epoch or now - self._last_cut < self.COOLDOWN_RTTS * (self._rtt or 0.0):
            return
        self._set_limit(max(1.0, self.limit * self.FLOOR, float(ticket.in_flight - 1)))
        same_ceiling = self._last_landing is not None and abs(self.limit - self._last_landing) < 1.0
        self._hold_rounds = (
            min(self.MAX_HOLD_ROUNDS, self._hold_rounds * 2) if same_ceiling else self.HOLD_ROUNDS
        )
        self._last_landing = self.limit
        self.epoch += 1
        self.decreases += 1
        self._last_cut = now
        self._hold = self._hold_rounds * self.limit
        self.lowest = min(self.lowest, self.limit)

    def report(self) -> dict[str, Any]:
        """Where the limit settled: `settled` is the whole limit held longest (the run's working concurrency),
        `final` the limit at the end, `lowest` the lowest, `cuts` and `overloads` the cuts and the refusals."""
        time_at = dict(self._time_at)
        if self._level_since is not None:
            level = int(self.limit)
            time_at[level] = time_at.get(level, 0.0) + self._clock() - self._level_since
        settled = max(sorted(time_at), key=lambda level: time_at[level]) if time_at else int(self.limit)
        return {
            "slots": self.slots,
            "settled": settled,
            "final": round(self.limit, 2),
            "lowest": round(self.lowest, 2),
            "cuts": self.decreases,
            "overloads": self.overloads,
        }

    def _set_limit(self, limit: float) -> None:
        if int(limit) != int(self.limit) and self._level_since is not None:
            now = self._clock()
            level = int(self.limit)
            self._time_at[level] = self._time_at.get(level, 0.0) + now - self._level_since
            self._level_since = now
        self.limit = limit

    def _wake(self) -> None:
        free = int(self.limit) - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


# --------------------------------------------------------------------------------------------------------
# budget and the run's settings


class Budget:
    """The run's spending cap, shared by every provider given the same RunSettings.

    A call is refused (RunAborted) once the cost or the tokens spent reach their maximum; the answer that
    crosses the line is kept. Calls already in flight finish, so the overshoot is at most one round of calls.
    Cached answers cost nothing.
    """

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None) -> None:
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.cost = 0.0
        self.tokens = 0

    def check(self) -> None:
        if self.max_cost is not None and self.cost >= self.max_cost:
            raise RunAborted(f"budget exceeded: spent ${self.cost:.4f} of max_cost ${self.max_cost:g}")
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            raise RunAborted(f"budget exceeded: spent {self.tokens} tokens of max_tokens {self.max_tokens}")

    def charge(self, output: Output) -> None:
        self.cost += output.cost or 0.0
        self.tokens += (output.tokens_in or 0) + (output.tokens_out or 0)


@dataclass
class RunSettings:
    """What a run decides for its LLM providers: prices, the budget, and where the cache lives (None: off)."""

    prices: PriceTable = field(default_factory=PriceTable)
    budget: Budget = field(default_factory=Budget)
    cache_dir: Path | None = None

    @classmethod
    def from_suite(cls, suite: SuiteConfig) -> RunSettings:
        """From a suite config (`evalgate run --no-cache` sets its cache.enabled to false)."""
        return cls(
            prices=PriceTable(suite.prices),
            budget=Budget(suite.budget.get("max_cost"), suite.budget.get("max_tokens")),
            cache_dir=suite.resolve(suite.cache.get("dir") or DEFAULT_CACHE_DIR)
            if suite.cache.get("enabled", True)
            else None,
        )


# --------------------------------------------------------------------------------------------------------
# the provider base class


class LLMProvider(Provider):
    """A provider that calls a remote model over HTTP. Subclasses say how to build, send and classify a call.

    Call `configure_run(suite)` (or pass RunSettings) before `start` to apply the suite's prices, budget and
    cache; without it the provider uses the built-in prices, no budget and the cache in `.evalgate/cache` of
    the config folder.

    Timing (docs/metrics.md): each answer carries a CallTiming whose latency is the answering request's own
    time. The client library is imported in a worker thread, before any request's clock starts: at `start`
    when the cache is off, else on the first call that misses it (the event loop keeps serving cache hits
    meanwhile, and a fully cached run never imports it). Its import and set-up (a second or more for an SDK)
    are never a latency.
    """

    OPTIONS: ClassVar[dict[str, Option]]

    def __init__(self, config: Any, base_dir: Path) -> None:
        super().__init__(config, base_dir)
        self.settings: RunSettings | None = None
        self.cache: ResponseCache | None = None
        self.limiter: AdaptiveLimiter | None = None
        self.price: Price | None = None
        self.max_attempts: int = self.options.get("max_attempts") or 4
        self.slots = 1
        self._rng = random.Random()
        self._asked: dict[str, int] = {}
        self._client: Any = None
        self._library: asyncio.Future[None] | None = None

    # -- hooks for subclasses -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check options, secrets and templates (called by start); raise InputError on bad input."""

    @abstractmethod
    def build_request(self, case: Case) -> dict[str, Any]:
        """Everything that determines the answer to `case`, as JSON-able data, without secrets."""

    @abstractmethod
    async def send(self, request: dict[str, Any]) -> Output:
        """Make one call; return the answer with its usage (cost is filled in by the base class). A streaming
        call sets `timing.ttft_ms`; the base class fills in the rest of the timing."""

    @abstractmethod
    def classify(self, exc: Exception) -> Failure | None:
        """How to handle an exception `send` raised; None for an unexpected one (not retried)."""

    def endpoint(self) -> str:
        """Where calls go, part of the cache key (an answer from another server is another answer)."""
        return ""

    def model_name(self) -> str | None:
        """The model whose price applies, if any."""
        return self.options.get("model")

    def import_library(self) -> None:
        """Import the client library (run in a worker thread, off the event loop)."""

    def open_client(self) -> Any:
        """The SDK or HTTP client all calls share (on the event loop, once `import_library` has run)."""
        raise NotImplementedError

    @property
    def client(self) -> Any:
        assert self._client is not None, "await ready() first"
        return self._client

    async def ready(self) -> None:
        """Import the client library in a worker thread and open the client, once; concurrent callers wait for
        the same import (their wait is counted as wait, never as latency)."""
        if self._client is not None:
            return
        if self._library is None:
            self._library = asyncio.ensure_future(asyncio.to_thread(self.import_library))
        await asyncio.shield(self._library)
        if self._client is None:
            self._client = self.open_client()

    async def close_client(self) -> None:
        """Close the client, if one was opened (an SDK client or an aiohttp session: both have close())."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- run-level settings ---------------------------------------------------------------------------------

    def configure_run(
        self, suite: SuiteConfig | None = None, *, settings: RunSettings | None = None
    ) -> RunSettings:
        """Apply a suite's prices, budget and cache (or given RunSettings, to share a budget); return them."""
        if settings is None:
            settings = RunSettings.from_suite(suite) if suite is not None else self._default_settings()
        self.settings = settings
        return settings

    def _default_settings(self) -> RunSettings:
        return RunSettings(cache_dir=self.base_dir / DEFAULT_CACHE_DIR)

    @property
    def cache_stats(self) -> dict[str, Any]:
        """Cache hits and misses of this run ({"hits": 0, "misses": 0} when the cache is off)."""
        return self.cache.stats if self.cache else {"hits": 0, "misses": 0}

    @property
    def limiter_report(self) -> dict[str, Any] | None:
        """Where the adaptive limiter settled (AdaptiveLimiter.report), once started."""
        return self.limiter.report() if self.limiter else None

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self, slots: int) -> None:
        if self.settings is None:
            self.configure_run()
        assert self.settings is not None
        self.prepare()
        self.price = self.settings.prices.price_for(self.model_name())
        if self.settings.budget.max_cost is not None and self.price is None:
            raise InputError(
                f"budget.max_cost is set but the price of model {self.model_name()!r} is unknown; "
                "add it under prices: {model: {input: .., output: ..}} (USD per million tokens)",
                file=self.config.file,
                line=self.config.line,
            )
        self.slots = max(1, slots)
        self.limiter = AdaptiveLimiter(self.slots)
        if self.settings.cache_dir is not None:
            self.cache = ResponseCache(self.settings.cache_dir)
        else:  # every call will miss: open the client now, before any case's clock or timeout starts
            await self.ready()

    async def close(self) -> None:
        if self._library is not None and not self._library.done():
            self._library.cancel()
        await self.close_client()
        if self.cache is not None:
            self.cache.close()  # its counters stay readable through cache_stats

    # -- one case -------------------------------------------------------------------------------------------

    def cache_key_for(self, request: dict[str, Any]) -> str:
        """The request's key, marked with the number of times this run already asked it: with `repeats`, the
        k-th repeat gets the k-th stored sample, never a copy of the first (which would hide flaky answers)."""
        asked = cache_key({"provider": self.type, "endpoint": self.endpoint(), "request": request})
        sample = self._asked.get(asked, 0)
        self._asked[asked] = sample + 1
        return f"{asked}#{sample}" if sample else asked

    async def complete(self, case: Case) -> Output:
        assert self.limiter is not None and self.settings is not None, "start() first"
        began = time.perf_counter()
        request = self.build_request(case)
        key = self.cache_key_for(request) if self.cache else ""
        if self.cache:
            hit = self.cache.get(key)
            if hit is not None:
                hit.cost = self.price.cost(hit.tokens_in, hit.tokens_out) if self.price else None
                return hit
        await self.ready()
        output = await self._call_with_retries(
            request, began
        )  # its latency is stored with it: a hit replays it
        output.cost = self.price.cost(output.tokens_in, output.tokens_out) if self.price else None
        self.settings.budget.charge(output)
        output = normalize_output(output)  # an answer JSON cannot hold is the case's error, never cached
        if self.cache:
            self.cache.put(key, output)
        return output

    async def _call_with_retries(self, request: dict[str, Any], began: float) -> Output:
        """Send until answered; the answer's timing is its own request's, with the attempts and the wait before
        it; a ProviderError carries the timing of the attempts that failed."""
        assert self.limiter is not None and self.settings is not None
        clock = time.perf_counter
        attempt = tries = 0  # attempts count against max_attempts; tries are every request made
        while True:
            attempt += 1
            tries += 1
            ticket = await self.limiter.acquire()
            sent = clock()
            try:
                self.settings.budget.check()
                failure = None
                try:
                    output = await self.send(request)
                except (asyncio.CancelledError, RunAborted, InputError):
                    raise
                except ProviderError as exc:
                    failure = Failure(str(exc), retryable=False)
                except Exception as exc:
                    failure = self.classify(exc) or Failure(f"{type(exc).__name__}: {exc}", retryable=False)
            finally:
                self.limiter.release()
            answered = clock()
            if failure is None:
                self.limiter.succeeded(answered - sent)
                output.latency_ms = (answered - sent) * 1000.0  # the answering request's own time
                output.timing = CallTiming(
                    attempts=tries,
                    wait_ms=(sent - began) * 1000.0,
                    ttft_ms=output.timing.ttft_ms if output.timing else None,
                )
                return output
            if failure.overload:
                self.limiter.overloaded(ticket, failure.retry_after)
                if failure.retry_after is not None:  # a rate limit saying when: not a failed attempt
                    attempt -= 1
            if (
                not failure.retryable
                or attempt >= self.max_attempts
                or tries >= self.max_attempts * RATE_LIMITED_TRIES_FACTOR
            ):
                suffix = f" (after {tries} attempts)" if tries > 1 else ""
                error = ProviderError(failure.message + suffix)
                error.timing = CallTiming(attempts=tries, wait_ms=(sent - began) * 1000.0)
                raise error
            await asyncio.sleep(backoff_delay(tries, failure.retry_after, self._rng))


def env_secret(name: str, *, config_file: str, config_line: int | None, purpose: str) -> str:
    """A secret from the environment; InputError naming the variable (never its value) when it is unset."""
    value = os.environ.get(name, "")
    if not value:
        raise InputError(
            f"{purpose} needs the environment variable {name} (it is not set)",
            file=config_file,
            line=config_line,
        )
    add_secret(value)
    return value


class SDKChatProvider(LLMProvider):
    """A chat provider on a vendor SDK (anthropic, openai): the request built from the prompt and the options,
    one SDK client for all calls, the SDK's errors.

    How a call goes, each choice measured by bench/llm_throughput.py (docs/providers.md, "Throughput"):
    - the SDK's aiohttp transport (`DefaultAioHttpClient`, its pool sized to the run's concurrency): about half
      the client CPU per call of its default httpx2 transport;
    - the SDK's own request path (`client.post` of the endpoint, with auth, headers, base URL, timeouts and its
      error types) with the request body as built here: the per-method argument transforms cost more CPU than
      the call and change nothing in a body that is already JSON;
    - answers read from the raw JSON, not the SDK's pydantic objects; the SDK's retries off (ours retry, so
      429s also slow the limiter down); its OpenTelemetry spans off unless configured;
    - `stream: true` reads the server-sent events line by line for the time to the first token.
    """

    SDK_CLIENT: ClassVar[str]  # "module:AsyncClientClass"
    API_KEY_ENV: ClassVar[str]
    BASE_URL_ENV: ClassVar[str]
    DEFAULT_BASE_URL: ClassVar[str]
    PATH: ClassVar[str]  # the endpoint, relative to the base URL
    STOP_FIELD: ClassVar[str]  # the request field the stop_sequences option goes to

    @abstractmethod
    def prompt_fields(self, prompt: Prompt) -> dict[str, Any]:
        """The request fields of a rendered prompt (the messages, and the system text where the API wants it)."""

    @abstractmethod
    def parse_answer(self, data: Any) -> Output:
        """The answer and its usage from the response JSON; ProviderError("malformed response: ...")."""

    @abstractmethod
    def stream_fields(self) -> dict[str, Any]:
        """What a streamed request adds to the body (`stream: true`, and what the usage needs)."""

    @abstractmethod
    def stream_reader(self) -> StreamReader:
        """A reader of this API's streamed events."""

    @classmethod
    def api_key_env(cls, options: Mapping[str, Any]) -> str | None:
        """The environment variable holding the API key (given these options); None for a server that needs no key."""
        return cls.API_KEY_ENV

    @classmethod
    def secret_env_names(cls, options: Mapping[str, Any]) -> set[str]:
        env = cls.api_key_env(options)
        return {env} if env else set()

    def prepare(self) -> None:
        env = self.api_key_env(self.options)
        purpose = f"the {self.type} provider"
        self._api_key = (
            env_secret(env, config_file=self.config.file, config_line=self.config.line, purpose=purpose)
            if env
            else NO_KEY_PLACEHOLDER
        )
        templates = Templates(self.base_dir, config_file=self.config.file, config_line=self.config.line)
        self._prompt = ChatPrompt(self.options, templates)

    def endpoint(self) -> str:
        return self.options.get("base_url") or os.environ.get(self.BASE_URL_ENV) or self.DEFAULT_BASE_URL

    def build_request(self, case: Case) -> dict[str, Any]:
        """The request body; `stream` is not part of it (a streamed answer is the same answer, cached alike)."""
        request: dict[str, Any] = {
            "model": self.options["model"],
            **self.prompt_fields(self._prompt.render(case)),
        }
        for name in ("max_tokens", "temperature"):
            if self.options.get(name) is not None:
                request[name] = self.options[name]
        if self.options.get("stop_sequences"):
            request[self.STOP_FIELD] = list(self.options["stop_sequences"])
        request.update(self.options.get("extra") or {})
        return request

    def sdk(self) -> Any:
        return importlib.import_module(self.SDK_CLIENT.partition(":")[0])

    def import_library(self) -> None:
        self.sdk()
        importlib.import_module("httpx2")

    def open_client(self) -> Any:
        import httpx2

        sdk = self.sdk()
        client_class = getattr(sdk, self.SDK_CLIENT.partition(":")[2])
        timeout = self.options["timeout"]
        options: dict[str, Any] = {
            "api_key": self._api_key,
            "base_url": self.endpoint(),
            "max_retries": 0,
            "timeout": timeout,
            "http_client": sdk.DefaultAioHttpClient(
                timeout=timeout,
                limits=httpx2.Limits(max_connections=self.slots, max_keepalive_connections=self.slots),
            ),
        }
        # SDKs that trace their calls with OpenTelemetry spend about 7% of a call's CPU on spans nobody records
        # in a CLI run: off, unless the user configured tracing through the SDK's environment variables
        telemetry_env = self.SDK_CLIENT.partition(":")[0].upper() + "_OPEN_TELEMETRY"
        if "open_telemetry" in inspect.signature(client_class).parameters and not any(
            name.startswith(telemetry_env) for name in os.environ
        ):
            options["open_telemetry"] = False
        client = client_class(**options)
        client.default_headers  # noqa: B018 - the SDK computes its platform headers once: here, not in a call
        return client

    async def send(self, request: dict[str, Any]) -> Output:
        import httpx2

        if self.options.get("stream"):
            return await self._send_streamed(request)
        response = await self.client.post(self.PATH, body=request, cast_to=httpx2.Response)
        return self.parse_answer(json_body(response.content))

    async def _send_streamed(self, request: dict[str, Any]) -> Output:
        import httpx2

        sent = time.perf_counter()
        response = await self.client.post(
            self.PATH, body={**request, **self.stream_fields()}, cast_to=httpx2.Response, stream=True
        )
        reader = self.stream_reader()
        first_token: float | None = None
        try:
            async for line in response.aiter_lines():
                if reader.feed(line) and first_token is None:
                    first_token = time.perf_counter()
        finally:
            await response.aclose()
        output = reader.output()
        ttft = None if first_token is None else (first_token - sent) * 1000.0
        output.timing = CallTiming(ttft_ms=ttft)  # the rest of the timing is the base class's to fill in
        return output

    def classify(self, exc: Exception) -> Failure | None:
        if isinstance(exc, StreamError):
            return exc.failure
        return classify_sdk_error(self.sdk(), exc, self.options["timeout"])


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
