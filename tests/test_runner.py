"""The runner: bounded concurrency, timeouts, errors per case, abort, order, repeats, progress, run_suite."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import io
from pathlib import Path
from typing import Any, ClassVar

import pytest

from evalgate.config import ProviderConfig, SuiteConfig
from evalgate.contracts.cases import Case, Output
from evalgate.errors import RunAborted
from evalgate.progress import BarProgress, LineProgress, auto_progress
from evalgate.providers.base import Provider
from evalgate.runner import run_cases, run_suite
from tests.gatekit import make_config

TARGETS = Path(__file__).parent / "fixtures" / "targets"


class ScriptedProvider(Provider):
    """A model driven by the case input: ("sleep", s), ("raise", exc), ("abort", why), ("return", x)."""

    type: ClassVar[str] = "scripted"
    OPTIONS: ClassVar[dict] = {}

    def __init__(self) -> None:
        config = ProviderConfig(type="scripted", name="t", options={}, file="evalgate.yaml")
        super().__init__(config, Path("."))
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[str] = []
        self.cancelled: list[str] = []

    async def complete(self, case: Case) -> Any:
        self.calls.append(case.id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            action, argument = case.input
            if action == "sleep":
                await asyncio.sleep(argument)
                return {"label": case.id, "tokens_in": 3}
            if action == "raise":
                raise argument
            if action == "abort":
                raise RunAborted(argument)
            return argument
        except asyncio.CancelledError:
            self.cancelled.append(case.id)
            raise
        finally:
            self.in_flight -= 1


def cases_of(*inputs: Any, category: str = "typical") -> list[Case]:
    return [Case(id=f"c-{i}", input=value, category=category) for i, value in enumerate(inputs)]


def run(cases, provider, **kwargs):
    kwargs.setdefault("concurrency", 4)
    kwargs.setdefault("timeout", 5.0)
    return asyncio.run(run_cases(cases, provider, **kwargs))


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_concurrency_bound_holds_and_is_reached(concurrency):
    provider = ScriptedProvider()
    cases = cases_of(*[("sleep", 0.01)] * 30)
    outcome = run(cases, provider, concurrency=concurrency)
    assert provider.max_in_flight == concurrency
    assert len(provider.calls) == 30
    assert all(result.ok for result in outcome.results)


def test_results_keep_input_order_whatever_the_finish_order():
    provider = ScriptedProvider()
    delays = [0.05, 0.0, 0.03, 0.01, 0.04, 0.0]
    cases = cases_of(*[("sleep", d) for d in delays])
    outcome = run(cases, provider, concurrency=6)
    assert [r.case.id for r in outcome.results] == [c.id for c in cases]
    assert [r.output.value for r in outcome.results] == [{"label": c.id} for c in cases]
    assert [r.output.tokens_in for r in outcome.results] == [3] * 6  # outputs are normalized


def test_latency_is_measured_per_case():
    provider = ScriptedProvider()
    outcome = run(cases_of(("sleep", 0.0), ("sleep", 0.12)), provider, concurrency=2)
    fast, slow = (r.latency_ms for r in outcome.results)
    assert fast < 100
    assert 120 <= slow < 1000
    assert 0.12 <= outcome.wall_s < 1.0


@pytest.mark.slow
def test_timeout_cancels_the_call_and_becomes_the_case_error():
    provider = ScriptedProvider()
    outcome = run(cases_of(("sleep", 30), ("sleep", 0.0)), provider, concurrency=2, timeout=0.2)
    slow, fast = outcome.results
    assert slow.error == "timeout after 0.2s"
    assert slow.output is None
    assert 200 <= slow.latency_ms < 2000
    assert provider.cancelled == ["c-0"]
    assert fast.ok


def test_a_timeout_error_raised_by_the_provider_is_not_reported_as_ours():
    provider = ScriptedProvider()
    outcome = run(cases_of(("raise", TimeoutError("upstream read timed out"))), provider, timeout=5)
    assert outcome.results[0].error == "TimeoutError: upstream read timed out"


def test_exceptions_become_type_and_message_without_traceback():
    provider = ScriptedProvider()
    outcome = run(
        cases_of(("raise", ValueError("bad label")), ("raise", KeyError("x")), ("raise", RuntimeError())),
        provider,
    )
    assert [r.error for r in outcome.results] == ["ValueError: bad label", "KeyError: 'x'", "RuntimeError"]
    assert all(r.output is None for r in outcome.results)
    assert outcome.aborted is None


def test_error_text_is_one_bounded_line():
    provider = ScriptedProvider()
    page = "<html>\n  <body>Bad gateway</body>\n</html>" + "x" * 5000
    outcome = run(cases_of(("raise", RuntimeError(page))), provider)
    error = outcome.results[0].error
    assert error.startswith("RuntimeError: <html> <body>Bad gateway</body> </html>xxx")
    assert "\n" not in error
    assert len(error) == len("RuntimeError: ") + 2000
    assert error.endswith("x...")


def test_abort_stops_scheduling_and_marks_unfinished_cases():
    provider = ScriptedProvider()
    inputs = [("sleep", 0.0)] * 3 + [("abort", "budget of $1.00 spent")] + [("sleep", 0.0)] * 20
    outcome = run(cases_of(*inputs), provider, concurrency=1)
    assert outcome.aborted == "budget of $1.00 spent"
    assert len(outcome.results) == 24
    assert [r.ok for r in outcome.results[:3]] == [True] * 3
    assert {r.error for r in outcome.results[3:]} == {"aborted: budget of $1.00 spent"}
    assert len(provider.calls) == 4


@pytest.mark.slow
def test_abort_lets_cases_in_flight_finish():
    provider = ScriptedProvider()
    inputs = [("sleep", 0.2), ("abort", "quota")] + [("sleep", 0.0)] * 10
    outcome = run(cases_of(*inputs), provider, concurrency=2)
    assert outcome.results[0].ok
    assert outcome.results[1].error == "aborted: quota"
    assert all(r.error == "aborted: quota" for r in outcome.results[2:])
    assert len(provider.calls) == 2


def test_repeats_run_every_case_that_many_times():
    provider = ScriptedProvider()
    cases = cases_of(*[("sleep", 0.0)] * 5)
    outcome = run(cases, provider, repeats=3)
    assert [(r.case.id, r.repeat) for r in outcome.results] == [(c.id, k) for c in cases for k in range(3)]
    assert sorted(provider.calls) == sorted([c.id for c in cases] * 3)


def test_empty_case_list_gives_an_empty_outcome():
    outcome = run([], ScriptedProvider())
    assert (outcome.results, outcome.aborted) == ([], None)


def test_an_output_object_passes_through():
    provider = ScriptedProvider()
    outcome = run(cases_of(("return", Output(value="x", cost=0.5))), provider)
    assert outcome.results[0].output.cost == 0.5


def test_line_progress_prints_every_tenth_and_a_final_line():
    stream = io.StringIO()
    progress = LineProgress(stream, every_s=3600)
    provider = ScriptedProvider()
    inputs = [("sleep", 0.0)] * 17 + [("raise", ValueError("x"))] * 3
    run(cases_of(*inputs), provider, concurrency=1, progress=progress)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10  # 2, 4, ... 18 of 20, then the final line
    assert lines[0].startswith("evalgate: 2/20 cases (10%), 0 errors, ")
    assert "eta" in lines[0]
    assert lines[-2].startswith("evalgate: 18/20 cases (90%), 1 errors")
    assert lines[-1].startswith("evalgate: 20/20 cases (100%), 3 errors")
    assert "done in" in lines[-1]


def test_line_progress_prints_on_time_between_marks():
    now = [0.0]
    stream = io.StringIO()
    progress = LineProgress(stream, every_s=10, clock=lambda: now[0])
    progress.start(1000)
    for _ in range(6):
        now[0] += 4.0
        progress.advance(error=False)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # at 12 s and at 24 s
    # 3 cases in 12 s = 0.25 cases/s; 997 left / 0.25 = 3988 s = 1 h 06 min 28 s
    assert lines[0] == "evalgate: 3/1000 cases (0%), 0 errors, 0.2 cases/s, eta 1h06m"
    assert lines[1].startswith("evalgate: 6/1000 cases (0%)")


def suite(tmp_path: Path, provider: ProviderConfig, **overrides: Any) -> SuiteConfig:
    values = dict(
        path=tmp_path / "evalgate.yaml", base_dir=TARGETS, providers=[provider], concurrency=4, timeout=5.0
    )
    return dataclasses.replace(make_config(), **{**values, **overrides})


def test_run_suite_creates_starts_and_closes_the_real_python_provider(tmp_path):
    config = suite(
        tmp_path,
        ProviderConfig(type="python", name="d", options={"target": "model_fns.py:classify"}, file="x.yaml"),
        repeats=2,
    )
    cases = cases_of("I want a refund", "hello")
    outcome = asyncio.run(run_suite(config, cases, progress=None))
    assert [r.output.value for r in outcome.results] == ["billing", "billing", "other", "other"]


def test_run_suite_uses_the_given_provider_config(tmp_path):
    config = suite(
        tmp_path,
        ProviderConfig(type="python", name="a", options={"target": "model_fns.py:classify"}, file="x.yaml"),
    )
    other = ProviderConfig(type="python", name="b", options={"target": "model_fns.py:fails"}, file="x.yaml")
    outcome = asyncio.run(run_suite(config, cases_of("x"), other, progress=None))
    assert outcome.results[0].error == "ValueError: cannot classify 'x'"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_shows_done_total_errors_and_rate():
    stream = FakeTerminal()
    progress = auto_progress(stream)
    assert isinstance(progress, BarProgress)
    inputs = [("sleep", 0.01)] * 8 + [("raise", ValueError("x"))] * 2
    run(cases_of(*inputs), ScriptedProvider(), concurrency=1, progress=progress)
    final = stream.getvalue().rsplit("\r", 1)[-1]
    assert "10/10" in final
    assert "2 errors" in final
    assert "cases/s" in final


def test_off_a_terminal_progress_is_line_based():
    assert isinstance(auto_progress(io.StringIO()), LineProgress)


def test_the_objects_of_start_up_are_frozen_only_while_the_calls_run(tmp_path):
    """A full garbage collection during the calls would scan every module's objects with the event loop
    stopped (~50 ms, added to every call in flight): they are frozen while the calls run, handed back after."""
    (tmp_path / "probe.py").write_text("import gc\n\n\ndef frozen(text):\n    return gc.get_freeze_count()\n")
    config = suite(
        tmp_path,
        ProviderConfig(type="python", name="d", options={"target": "probe.py:frozen"}, file="x.yaml"),
        base_dir=tmp_path,
    )
    assert gc.get_freeze_count() == 0
    outcome = asyncio.run(run_suite(config, cases_of("a", "b"), progress=None))
    assert all(result.output.value > 1000 for result in outcome.results)  # the modules, at least
    assert gc.get_freeze_count() == 0  # garbage among them is collected again after the run


def test_a_run_outcome_in_a_task_result_costs_asyncio_run_nothing_to_format() -> None:
    """asyncio.run, putting back the SIGINT handler it installed (a caller without evalgate's own handlers),
    formats the main task's repr, and with it the task's result: a RunOutcome's repr leaves its results out, so
    that costs the same for 20,000 case results as for none (it took ~25 ms per 2,000, twice per run)."""
    import signal

    from evalgate.contracts.cases import CaseResult
    from evalgate.runner import RunOutcome

    case = Case(id="c", input="x" * 200)
    outcome = RunOutcome([CaseResult(case, Output("y" * 200), None, 1.0) for _ in range(20_000)], None, 1.0)
    assert len(repr(outcome)) < 300
    assert "results" not in repr(outcome)

    async def finish() -> RunOutcome:
        return outcome

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a plain script has it
    try:
        assert asyncio.run(finish()) is outcome  # and the repr asyncio.run formats is the short one
    finally:
        signal.signal(signal.SIGINT, previous)
