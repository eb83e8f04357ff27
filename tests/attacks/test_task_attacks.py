"""Attacks on a suite of tasks: forged or mismatched results, names that would escape a folder or read as a
workflow command, results of tasks where one suite is expected. Each is one clear message and exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalgate.cli import main
from tests.conftest import write_suite
from tests.test_tasks import EXAMPLE


@pytest.fixture
def judged(tmp_path: Path) -> tuple[Path, dict]:
    """The two-task example and the results of one run of it."""
    folder = tmp_path / "suite"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".evalgate", "__pycache__"))
    out = folder / "results.json"
    assert main(["run", "-q", "--config", str(folder / "evalgate.yaml"), "--output", str(out)]) == 0
    return folder, json.loads(out.read_text())


def gate(folder: Path, current: dict, *baseline: dict) -> int:
    (folder / "current.json").write_text(json.dumps(current))
    argv = ["gate", "--config", str(folder / "evalgate.yaml"), "--current", str(folder / "current.json")]
    if baseline:
        (folder / "baseline.json").write_text(json.dumps(baseline[0]))
        argv += ["--baseline", str(folder / "baseline.json")]
    return main(argv)


def test_a_task_with_tasks_of_its_own_is_refused(judged, capsys) -> None:
    folder, results = judged
    results["tasks"]["intent"]["tasks"] = {"inner": results["tasks"]["summary"]}
    assert gate(folder, results) == 2
    assert "tasks.intent.tasks" in capsys.readouterr().err


def test_results_whose_tasks_are_not_the_configs_are_refused(judged, capsys) -> None:
    folder, results = judged
    results["tasks"]["renamed"] = results["tasks"].pop("summary")
    assert gate(folder, results) == 2
    assert "the results have the tasks intent, renamed, the config intent, summary" in capsys.readouterr().err


def test_a_task_whose_results_claim_another_suite_is_refused(judged, capsys) -> None:
    folder, results = judged
    results["tasks"]["intent"]["suite"] = "support-tasks/summary"
    assert gate(folder, results) == 2
    assert "suite 'support-tasks/summary'" in capsys.readouterr().err


def test_an_empty_or_one_task_suite_with_no_cases_never_passes(judged, capsys) -> None:
    folder, results = judged
    for task in results["tasks"].values():
        task["cases"], task["metrics"], task["categories"] = [], {}, {}
    assert gate(folder, results) == 2  # a rule names a metric the results lack: nothing is judged
    assert "accuracy" in capsys.readouterr().err


def test_the_results_of_one_suite_as_the_baseline_of_a_config_without_tasks_are_refused(
    judged, capsys
) -> None:
    folder, results = judged
    (folder / "one").mkdir()
    single = write_suite(
        folder / "one",
        """
        suite: support-tasks/intent
        datasets: [../eval/intent.jsonl]
        provider: {type: python, target: ../app/support.py:classify}
        """,
    )
    (folder / "current.json").write_text(json.dumps(results["tasks"]["intent"]))
    (folder / "baseline.json").write_text(json.dumps(results))
    argv = ["gate", "--config", str(single), "--current", str(folder / "current.json")]
    assert main([*argv, "--baseline", str(folder / "baseline.json")]) == 2
    assert "the baseline is the results of a suite of tasks" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../escape", ".hidden", "::error::x", "a/b", "x" * 65, "", "ok name"])
def test_a_task_name_that_could_escape_a_folder_or_forge_a_log_line_is_refused(
    tmp_path: Path, name: str, capsys
) -> None:
    path = write_suite(
        tmp_path,
        f"""
        suite: s
        datasets: [a.jsonl]
        provider: {{type: python, target: t.py:f}}
        tasks:
          {json.dumps(name)}: {{}}
        """,
        {"a.jsonl": '{"id": "1", "input": "x", "expected": "x"}\n', "t.py": "def f(x):\n    return x\n"},
    )
    assert main(["run", "-q", "--config", str(path), "--output", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "expected letters, digits" in err and "evalgate.yaml:5:" in err
    assert not list(tmp_path.glob("*.journal.jsonl")) and not (tmp_path / "r.json").exists()
