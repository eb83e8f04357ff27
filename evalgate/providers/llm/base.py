"""The base class of the LLM providers (anthropic, openai, http): one call of a case, from the request to the
priced, cached answer. The parts it puts together each have their module in this package: prompts (templates),
retry (failures and backoff), limiter (the adaptive concurrency), budget (the spending cap and the run's
settings), answers (reading JSON and streamed answers), options (the shared options), sdk (the vendor SDKs),
pricing; the response cache is evalgate/providers/cache.py.

`LLMProvider.complete(case)` does, in order: render the request from the case; answer from the cache when
it can; otherwise wait for a slot of the adaptive limiter, check the budget, send, and retry what is worth
retrying; then price the answer, charge the budget and store the answer in the cache.
The runner only calls `complete`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import time
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from evalgate.config_schema import DEFAULT_CACHE_DIR
from evalgate.contracts.cases import CallTiming, Case, Output, normalize_output
from evalgate.errors import InputError, RunAborted
from evalgate.options import Option
from evalgate.outbound import add_secret
from evalgate.providers.base import Provider
from evalgate.providers.cache import ResponseCache, cache_key
from evalgate.providers.llm.budget import RunSettings
from evalgate.providers.llm.limiter import AdaptiveLimiter
from evalgate.providers.llm.pricing import Price
from evalgate.providers.llm.retry import RATE_LIMITED_TRIES_FACTOR, Failure, ProviderError, backoff_delay

if TYPE_CHECKING:
    from evalgate.config import SuiteConfig


class LLMProvider(Provider):
    """A provider that calls a remote model over HTTP. Subclasses say how to build, send and classify a call.

    Call `configure_run(suite)` (or pass RunSettings) before `start` to apply the suite's prices, budget and
    cache; without it the provider uses the built-in prices, no budget and the cache in `.evalgate/cache` of
    the config folder.

    Timing (docs/metrics.md): each answer carries a CallTiming whose latency is the answering request's own
    time. The client library is imported in a worker thread, before any request's clock starts: when the cache
    is off, while the datasets are read (`evalgate.providers.preload`) or at the latest at `start`; else on
    the first call that misses it (the event loop keeps serving cache hits meanwhile, and a fully cached run
    never imports it). Its import and set-up (for anthropic and openai, the SDK's headers: a second or more
    when they are taken from the SDK) are never a latency.
    """

    # one session of evalgate's HTTP client (and h11) sends every call
    CLIENT_MODULES: ClassVar[tuple[str, ...]] = ("evalgate.providers.llm.http_client",)

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
        """Import the client library (run in a worker thread, off the event loop; a preload may have done it)."""
        for module in self.CLIENT_MODULES:
            importlib.import_module(module)

    def open_client(self) -> Any:
        """The SDK or HTTP client all calls share (on the event loop, once `import_library` has run)."""
        raise NotImplementedError

    def checked_session(self, session: Any, url: str) -> Any:
        """`session` (http_client.Session) once a request to `url` with its headers can be sent; else InputError
        naming what is wrong, never the value (a URL the client cannot use, a header value from the environment
        with a character HTTP does not allow): bad input, found before any call, never every case's error."""
        from evalgate.providers.llm.http_errors import ConnectionFailure

        try:
            session.check(url)
        except ConnectionFailure as exc:
            raise InputError(
                f"provider {self.config.name!r} cannot send its requests: {exc.reason}",
                file=self.config.file,
                line=self.config.line,
            ) from None
        return session

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
        """Close the client (http_client.Session), if one was opened."""
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

    async def start(self, slots: int, calls: int | None = None) -> None:
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
        self.limiter = AdaptiveLimiter(self.slots, requests=calls)
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
