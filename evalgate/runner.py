"""Run the cases through a provider: bounded concurrency, a per-case timeout, latency and errors per case."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from evalgate.contracts.cases import Case, CaseResult, Output, normalize_output
from evalgate.errors import InputError, RunAborted
from evalgate.outbound import redact
from evalgate.process import interrupts
from evalgate.process.exitcodes import signal_name
from evalgate.process.watchdog import LoopBlocked, LoopWatchdog
from evalgate.progress import Progress, auto_progress

if TYPE_CHECKING:
    from evalgate.config import ProviderConfig, SuiteConfig
    from evalgate.journal import RunJournal


class Answerer(Protocol):
    """What run_cases needs of a started provider: a Provider, or one shaped by evalgate.providers.shaping."""

    async def complete(self, case: Case) -> Any: ...


MAX_ERROR_CHARS = 2000  # an upstream HTML error page does not belong in every case of the results file
ABORTED = (
    "aborted: "  # the error of a case run the run never finished (a stop, a spent budget): `aborted: why`
)


@dataclass
class RunOutcome:
    """Every case x repeat exactly once, in input order; why the run stopped early (if it did); wall time."""

    # not in the repr: asyncio.run, when it put back a SIGINT handler it had installed (a caller without evalgate's
    # own, such as a script calling run_suite), formats the main task's repr and with it this result's: the repr
    # of 2,000 case results took ~25 ms, twice per run
    results: list[CaseResult] = field(repr=False)
    aborted: str | None
    wall_s: float
    not_run: int = 0  # case runs that never finished (aborted, interrupted): the run is incomplete when > 0
    provider_fingerprint: str = ""  # set by run_suite: identifies the model under test in the signature
    cache_stats: dict[str, int] | None = None  # response-cache hits and misses, when the provider has a cache
    limiter: dict[str, float] | None = None  # the adaptive limiter's report, when the provider has one


def error_text(exc: BaseException) -> str:
    """An exception as one line for the results file: `Type: message`, no traceback, at most ~2,000 chars, and
    no secret (redacted before the cut, so no part of one survives it)."""
    message = " ".join(redact(str(exc)).split())
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 3] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def call_latency(output: Output | None, elapsed_s: float) -> float | None:
    """A call's latency in ms: the provider's own timing when it has one (for a cached answer, the original
    call's recorded time, or None when none was recorded: a cache read is never a latency), else `elapsed_s`,
    the time the runner measured around the call."""
    if output is not None and (output.cached or output.latency_ms is not None):
        return output.latency_ms
    return elapsed_s * 1000.0


async def run_cases(
    cases: Sequence[Case],
    provider: Answerer,
    *,
    concurrency: int,
    timeout: float,
    repeats: int = 1,
    progress: Progress | None = None,
    reused: Mapping[tuple[str, int], CaseResult] | None = None,
    on_finished: Callable[[CaseResult], None] | None = None,
) -> RunOutcome:
    """Run each case `repeats` times through a started provider, at most `concurrency` calls at once.

    A case run in `reused` (by case id and repeat: finished earlier, see evalgate.journal) is kept as it is and
    not called; `on_finished(result)` is called as each other case run finishes (the journal).

    A call that takes longer than `timeout` seconds is cancelled and recorded as an error (also an async call
    that blocks the event loop: see evalgate.process.watchdog); any exception is recorded as that case's error.
    `RunAborted` stops scheduling, and cases not run get `aborted: <reason>`; so does a stop signal (Ctrl-C,
    SIGTERM: see evalgate.process.interrupts), which also cancels the calls in flight.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    jobs = [(case, repeat) for case in cases for repeat in range(repeats)]
    reused = reused or {}
    results: list[CaseResult | None] = [reused.get((case.id, repeat)) for case, repeat in jobs]
    todo = [index for index, result in enumerate(results) if result is None]
    pending = iter(todo)  # shared by the workers: the event loop runs one next() at a time
    aborted: str | None = None
    clock = time.perf_counter

    async def work() -> None:
        nonlocal aborted
        for index in pending:
            if aborted is not None:
                return
            case, repeat = jobs[index]
            try:
                result = results[index] = await _call(provider, case, repeat, timeout)
            except RunAborted as exc:
                aborted = aborted or str(exc) or type(exc).__name__
                return
            if on_finished is not None:
                on_finished(result)
            if progress is not None:
                progress.advance(result.error is not None)
            if aborted is not None:
                return

    workers: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:  # called by the signal handler: only what is safe there
        nonlocal aborted
        aborted = aborted or f"interrupted by {signal_name(signum)}"
        loop.call_soon_threadsafe(cancel_workers, signum)

    def cancel_workers(signum: int) -> None:
        print(
            f"\nevalgate: {signal_name(signum)}: stopping the run (the cases in flight are cancelled, the results so "
            "far are kept); send it again to stop at once",
            file=sys.stderr,
            flush=True,
        )
        for task in workers:
            task.cancel()

    if progress is not None:
        progress.start(len(todo))
    began = clock()
    try:
        with interrupts.while_running(stop):
            async with LoopWatchdog(timeout), asyncio.TaskGroup() as group:  # a failure cancels the others
                workers.extend(group.create_task(work()) for _ in range(min(concurrency, len(todo))))
    except ExceptionGroup as failures:
        bad_input = failures.subgroup(InputError)
        if bad_input is not None:
            raise bad_input.exceptions[0] from None
        raise
    finally:
        if progress is not None:
            progress.finish()
    wall_s = clock() - began
    not_run = sum(result is None for result in results)
    finished = [
        result if result is not None else CaseResult(case, None, f"{ABORTED}{aborted}", None, repeat)
        for result, (case, repeat) in zip(results, jobs, strict=True)
    ]
    return RunOutcome(results=finished, aborted=aborted, wall_s=wall_s, not_run=not_run)


async def _call(provider: Answerer, case: Case, repeat: int, timeout: float) -> CaseResult:
    """One call of the provider on a case, timed: its output, or its error (a timeout, an event loop blocked
    past it, any exception, with a failed call's attempts and waits). RunAborted and InputError (bad input, such
    as a template naming a missing variable: exit 2) stop the run and pass through."""
    output = error = timing = None
    timeout_error = f"timeout after {timeout:g}s"
    deadline = asyncio.timeout(timeout)
    began = time.perf_counter()
    try:
        async with deadline:
            raw = await provider.complete(case)
        output = normalize_output(raw)
        timing = output.timing
    except (RunAborted, InputError):
        raise
    except LoopBlocked as exc:
        error = f"{timeout_error}: {exc}"
    except (Exception, SystemExit) as exc:
        error = timeout_error if deadline.expired() else error_text(exc)
        timing = getattr(exc, "timing", None)  # a provider's failed call: its attempts and waits
    return CaseResult(case, output, error, call_latency(output, time.perf_counter() - began), repeat, timing)


def _shaped_provider(config: SuiteConfig, provider_config: ProviderConfig) -> Any:
    """The provider `provider_config` describes, its answers shaped (evalgate.providers.shaping)."""
    from evalgate.providers import create_provider
    from evalgate.providers.shaping import shaped

    keep_prompt = config.judge is not None and not config.task  # what the judge is shown as the task
    return shaped(
        create_provider(provider_config, config.base_dir),
        provider_config,
        config.base_dir,
        keep_prompt=keep_prompt,
    )


def _on_finished(
    journal: RunJournal | None, meanwhile: Callable[[], None] | None
) -> Callable[[CaseResult], None] | None:
    """What run_cases calls as each case run finishes: the journal's record, and `meanwhile` after the first."""
    if meanwhile is None:
        return journal.record if journal is not None else None
    first = [meanwhile]

    def finished(result: CaseResult) -> None:
        if journal is not None:
            journal.record(result)
        if first:
            first.pop()()

    return finished


@contextlib.contextmanager
def start_up_frozen() -> Iterator[None]:
    """The objects alive before the calls (modules, the config, the cases: ~100,000 with an HTTP client) kept out
    of the garbage collector's full passes while the calls run. A full pass scans every tracked object with
    the event loop stopped: ~50 ms, by which every call in flight is delayed (measured: 51 ms once in a run of
    2,000 calls). They are handed back afterwards (`gc.unfreeze`), so garbage among them is still collected."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def run_suite(
    config: SuiteConfig,
    cases: Sequence[Case],
    provider_config: ProviderConfig | None = None,
    progress: Progress | Literal["auto"] | None = "auto",
    journal: RunJournal | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> RunOutcome:
    """Create the suite's provider (or `provider_config`'s), start it, run the cases, and always close it.

    `progress="auto"` reports to stderr: a bar on a terminal, periodic lines otherwise. A `journal` is opened
    once the provider's fingerprint is known (it checks earlier work against it), gives the case runs finished
    earlier, and records each case run as it finishes. `meanwhile` is called once, when the first case run
    has finished and the others' calls are in flight: work that can overlap them (it must not block).
    """
    provider = _shaped_provider(config, provider_config or config.provider)
    if progress == "auto":
        progress = auto_progress(label=f"evalgate {config.task_name}" if config.task_name else "evalgate")
    try:
        settings = provider.configure_run(config)
        reused = journal.begin(provider.fingerprint()) if journal is not None else {}
        budget = getattr(settings, "budget", None)
        if budget is not None:  # the run's cap counts what the reused case runs cost
            for result in reused.values():
                if result.output is not None and not result.output.cached:
                    budget.charge(result.output)
        calls = len(cases) * config.repeats - len(reused)
        slots = max(1, min(config.concurrency, calls))  # no idle workers for a small sample or a resumed run
        try:
            await provider.start(slots, calls)
        except (
            RunAborted
        ) as exc:  # before any case: evalgate's own failure (an SDK that cannot give its headers)
            raise InputError(f"the run could not start, nothing was sent: {exc}") from None
        with start_up_frozen():
            outcome = await run_cases(
                cases,
                provider,
                concurrency=slots,
                timeout=config.timeout,
                repeats=config.repeats,
                progress=progress,
                reused=reused,
                on_finished=_on_finished(journal, meanwhile),
            )
        outcome.provider_fingerprint = provider.fingerprint()
        outcome.cache_stats = getattr(provider, "cache_stats", None)
        outcome.limiter = getattr(provider, "limiter_report", None)
        return outcome
    finally:
        if journal is not None:
            journal.close()
        await provider.close()
