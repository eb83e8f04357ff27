"""The command provider with real worker processes: normal runs, and every way a worker can fail."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from evalgate.config import ProviderConfig
from evalgate.contracts.cases import Case
from evalgate.errors import InputError
from evalgate.providers import create_provider
from evalgate.providers.command import SHUTDOWN_GRACE_S, CommandProvider
from evalgate.runner import run_cases

FIXTURES = Path(__file__).parent.parent / "fixtures"
WORKER = ["workers/jsonl_worker.py"]


def provider_for(*flags: str, command: Any = None, **options: Any) -> CommandProvider:
    config = ProviderConfig(
        type="command",
        name="default",
        options={
            "command": command if command is not None else [sys.executable, *WORKER, *flags],
            "env": None,
            "cwd": None,
            "startup_timeout": None,
            **options,
        },
        file="suite/evalgate.yaml",
        line=5,
    )
    provider = create_provider(config, FIXTURES)
    assert isinstance(provider, CommandProvider)
    return provider


def cases_of(inputs: list[Any]) -> list[Case]:
    return [Case(id=f"c-{i}", input=value, metadata={"n": i}) for i, value in enumerate(inputs)]


def run(provider: CommandProvider, inputs: list[Any], *, concurrency: int = 2, timeout: float = 10.0):
    async def go():
        await provider.start(concurrency)
        try:
            return await run_cases(cases_of(inputs), provider, concurrency=concurrency, timeout=timeout)
        finally:
            await provider.close()

    outcome = asyncio.run(go())
    assert len(outcome.results) == len(inputs)  # every case is accounted for
    return outcome


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_normal_run_echoes_every_case_through_the_pool():
    inputs = [f"question {i}" for i in range(30)]
    outcome = run(provider_for(), inputs, concurrency=3)
    assert [r.output.value["echo"] for r in outcome.results] == [text.upper() for text in inputs]
    assert [r.output.value["metadata"] for r in outcome.results] == [{"n": i} for i in range(30)]
    pids = {r.output.value["pid"] for r in outcome.results}
    assert len(pids) == 3  # one long-lived worker per slot, reused
    time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)  # close() ended them


@pytest.mark.slow
def test_close_kills_a_worker_that_ignores_the_end_of_its_input():
    began = time.monotonic()
    outcome = run(provider_for("--linger"), ["a"], concurrency=1)
    assert time.monotonic() - began < SHUTDOWN_GRACE_S + 3
    pid = outcome.results[0].output.value["pid"]
    time.sleep(0.2)
    assert not alive(pid)


def test_non_ascii_text_round_trips_whatever_the_locale():
    provider = provider_for(env={"LC_ALL": "C", "LANG": "C"})
    outcome = run(provider, ["héllo ✓ 日本", {"text": "ü"}], concurrency=1)
    assert [r.output.value["echo"] for r in outcome.results] == ["HÉLLO ✓ 日本", {"text": "ü"}]


def test_worker_error_response_is_the_case_error_and_the_worker_keeps_running():
    outcome = run(provider_for(), ["a", "boom", "b"], concurrency=1)
    assert outcome.results[1].error == "WorkerError: model refused: empty prompt"
    assert outcome.results[0].output.value["pid"] == outcome.results[2].output.value["pid"]


def test_a_crash_mid_run_fails_that_case_and_a_fresh_worker_takes_the_next():
    outcome = run(provider_for(), ["a", "crash", "b", "c"], concurrency=1)
    first, crashed, after, last = outcome.results
    assert crashed.error.startswith("WorkerFailed: the worker exited with code 7 before answering")
    assert "worker: fatal: out of memory" in crashed.error  # the stderr tail explains it
    assert after.ok and last.ok
    assert first.output.value["pid"] != after.output.value["pid"]
    assert after.output.value["pid"] == last.output.value["pid"]


@pytest.mark.slow
def test_a_worker_killed_by_a_signal_says_so():
    outcome = run(provider_for(), ["oom-killed", "a"], concurrency=1)
    error = outcome.results[0].error
    assert error.startswith("WorkerFailed: the worker was killed by SIGKILL before answering")
    assert outcome.results[1].ok


@pytest.mark.slow
def test_a_worker_exiting_between_cases_is_restarted():
    outcome = run(provider_for("--max-requests", "2"), [f"q{i}" for i in range(9)], concurrency=1)
    # a case sent just as the worker exits fails (it may have been read); the next one gets a new worker
    for result in outcome.results:
        assert result.ok or result.error.startswith("WorkerFailed: the worker exited with code 0")
    pids = [r.output.value["pid"] for r in outcome.results if r.ok]
    assert len(pids) >= 5
    assert all(pids.count(pid) <= 2 for pid in set(pids))


@pytest.mark.slow
def test_a_hung_worker_is_killed_at_the_timeout_and_replaced():
    outcome = run(provider_for(), ["a", "hang", "b"], concurrency=1, timeout=1.0)
    first, hung, after = outcome.results
    assert hung.error == "timeout after 1s"
    assert after.ok
    old_pid = first.output.value["pid"]
    assert after.output.value["pid"] != old_pid
    time.sleep(0.2)
    assert not alive(old_pid)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("bad_input", "words"),
    [
        ("bad", "the worker printed a line that is not JSON: 'Loading weights... done'"),
        ("wrong", "the worker answered id 'someone-else' to the request for id 'c-1'"),
    ],
)
def test_protocol_errors_fail_the_case_and_restart_the_worker(bad_input, words):
    outcome = run(provider_for(), ["a", bad_input, "b", "c"], concurrency=1)
    first, broken, after, last = outcome.results
    assert broken.error.startswith("WorkerFailed: " + words)
    assert after.ok and last.ok
    assert after.output.value["pid"] != first.output.value["pid"]


def test_blank_lines_before_a_response_are_skipped():
    outcome = run(provider_for("--banner"), ["a", "b"], concurrency=1)
    assert all(r.ok for r in outcome.results)


def test_lots_of_stderr_never_blocks_the_worker():
    outcome = run(provider_for(), ["noise"] * 6 + ["a"], concurrency=2, timeout=10)
    assert all(r.ok for r in outcome.results)


@pytest.mark.slow
def test_a_worker_that_cannot_start_fails_fast_with_its_stderr(tmp_path):
    log = tmp_path / "starts.log"
    provider = provider_for("--fail-start", env={"WORKER_START_LOG": str(log)})
    began = time.monotonic()
    outcome = run(provider, [f"q{i}" for i in range(40)], concurrency=2, timeout=30)
    assert time.monotonic() - began < 15
    errors = [r.error for r in outcome.results]
    assert all(error.startswith("WorkerFailed: ") for error in errors)
    assert "exited with code 3 before answering" in errors[0]
    assert "No module named 'torch'" in errors[0]
    assert "failed 3 times in a row without answering once" in errors[-1]
    assert "No module named 'torch'" in errors[-1]
    assert len(set(errors[5:])) == 1  # the same message, not one nested in the next
    assert len(log.read_text().split()) <= 4  # 2 at start, then respawns until the third failure


@pytest.mark.slow
def test_a_worker_that_hangs_at_start_is_given_up_after_startup_timeout():
    provider = provider_for("--hang-start", startup_timeout=0.5)
    began = time.monotonic()
    outcome = run(provider, [f"q{i}" for i in range(20)], concurrency=2, timeout=30)
    assert time.monotonic() - began < 10
    errors = [r.error for r in outcome.results]
    assert "no answer within 0.5s of starting (startup_timeout)" in errors[0]
    assert "failed 3 times in a row" in errors[-1]


@pytest.mark.slow
def test_a_hang_at_start_without_startup_timeout_costs_three_timeouts_then_fails_fast():
    provider = provider_for("--hang-start")
    began = time.monotonic()
    outcome = run(provider, [f"q{i}" for i in range(10)], concurrency=1, timeout=0.5)
    assert time.monotonic() - began < 5
    errors = [r.error for r in outcome.results]
    assert errors[:3] == ["timeout after 0.5s"] * 3
    assert all("gave no answer before the case timeout" in error for error in errors[3:])


def test_a_command_that_does_not_exist_is_a_config_error():
    provider = provider_for(command=["./no-such-worker", "--serve"])
    with pytest.raises(InputError) as info:
        asyncio.run(provider.start(2))
    assert (info.value.file, info.value.line) == ("suite/evalgate.yaml", 5)
    assert "./no-such-worker --serve" in info.value.message


def test_a_string_command_is_split_like_a_shell_and_env_and_cwd_apply(tmp_path):
    script = tmp_path / "env worker.py"
    script.write_text(
        "import json, os, sys\n"
        "for line in sys.stdin:\n"
        "    request = json.loads(line)\n"
        "    output = [os.environ['MODEL_NAME'], os.path.basename(os.getcwd())]\n"
        "    print(json.dumps({'id': request['id'], 'output': output}))\n"
    )
    (tmp_path / "work").mkdir()
    provider = provider_for(
        command=f"{sys.executable} '../env worker.py'",
        env={"MODEL_NAME": "tiny-v2"},
        cwd=str(tmp_path / "work"),
    )
    outcome = run(provider, ["x"], concurrency=1)
    assert outcome.results[0].output.value == ["tiny-v2", "work"]


def test_a_missing_cwd_is_a_config_error():
    with pytest.raises(InputError, match="is not a folder"):
        provider_for(cwd="no/such/folder")


def test_command_option_checks():
    check = CommandProvider.OPTIONS["command"].check
    assert check(["python", "worker.py"]) is None
    assert check("python worker.py --port 3") is None
    assert check([]) == "must not be empty"
    assert check(["python", 3]) == "must be a list of strings"
    assert "cannot be split" in check("python 'unclosed")


@pytest.mark.slow
def test_mixed_failures_in_one_concurrent_run_are_all_accounted_for():
    inputs = ["a", "crash", "b", "bad", "hang", "wrong", "boom", "noise"] + [f"q{i}" for i in range(30)]
    outcome = run(provider_for(), inputs, concurrency=4, timeout=2.0)
    errors = {value: r.error for value, r in zip(inputs, outcome.results, strict=True)}
    assert errors["crash"].startswith("WorkerFailed: the worker exited with code 7")
    assert errors["bad"].startswith("WorkerFailed: the worker printed a line that is not JSON")
    assert errors["hang"] == "timeout after 2s"
    assert errors["wrong"].startswith("WorkerFailed: the worker answered id")
    assert errors["boom"] == "WorkerError: model refused: empty prompt"
    good = [value for value in inputs if value not in ("crash", "bad", "hang", "wrong", "boom")]
    assert all(errors[value] is None for value in good)
