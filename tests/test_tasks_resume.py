"""A suite of tasks stopped mid-way (SIGTERM) keeps a journal per task; `evalgate run --resume` completes it without
calling the model again for any finished case run. The real `evalgate` process, and the calls the model under test
received, counted from its own log (as tests/test_resume.py does for one suite)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from evalgate.process.exitcodes import for_signal
from tests.conftest import write_suite
from tests.test_resume import COUNTED, calls, start_run

pytestmark = pytest.mark.slow  # whole evalgate processes, stopped and resumed


def test_a_stopped_suite_of_tasks_resumes_each_task_from_its_own_journal(tmp_path: Path) -> None:
    cases = "".join(
        json.dumps({"id": f"c{i}", "input": f"c{i}", "expected": f"C{i}"}) + "\n" for i in range(6)
    )
    other = "".join(
        json.dumps({"id": f"d{i}", "input": f"d{i}", "expected": f"D{i}"}) + "\n" for i in range(6)
    )
    write_suite(
        tmp_path,
        """
        suite: two
        concurrency: 1
        provider: {type: python, target: model.py:predict}
        metrics: [exact_match]
        tasks:
          first: {datasets: [first.jsonl]}
          second: {datasets: [second.jsonl]}
        """,
        {"first.jsonl": cases, "second.jsonl": other, "model.py": COUNTED},
    )
    process = start_run(tmp_path, "--output", "results.json")
    second = tmp_path / "results.json.second.journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (second.exists() and second.read_text().count("\n") > 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # in the second task, with two of its cases done
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == for_signal(signal.SIGTERM), stderr
    assert (tmp_path / "results.json.first.journal.jsonl").exists() and second.exists()
    stopped = json.loads((tmp_path / "results.json").read_text())
    assert stopped["run"]["complete"] is False and stopped["tasks"]["first"]["run"]["complete"] is True
    before = calls(tmp_path)
    assert sum(before.values()) >= 8 and all(count == 1 for count in before.values())

    process = start_run(tmp_path, "--output", "results.json", "--resume")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    again = calls(tmp_path)
    assert not set(again) & {case for case, count in before.items() if count} - {
        case for case in before if case.startswith("d")
    }  # no case of the first task runs again
    assert not any(case.startswith("c") for case in again)
    assert set(before) | set(again) == {f"c{i}" for i in range(6)} | {f"d{i}" for i in range(6)}
    twice = set(before) & set(again)
    assert len(twice) <= 1 and twice <= set(aborted(stopped))  # only the case the stop cancelled mid-answer
    resumed = json.loads((tmp_path / "results.json").read_text())
    assert resumed["run"]["complete"] is True
    assert resumed["tasks"]["second"]["metrics"]["exact_match"]["value"] == 1.0
    assert not any(tmp_path.glob("*.journal.jsonl"))  # complete: the journals are gone


def aborted(results: dict) -> list[str]:
    """The case runs a stop cancelled or never started (the one in flight was called, and is again on resume)."""
    return [
        case["id"]
        for task in results["tasks"].values()
        for case in task["cases"]
        if (case.get("error") or "").startswith("aborted")
    ]
