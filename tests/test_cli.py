"""The command line end to end, as a user runs it: real processes, real files, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_suite

DEMO = ROOT / "examples" / "digits-classifier"


def evalgate(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The real `evalgate` process (the supervisor, then the command): 0.3-1 s of start-up each, so the tests
    that use it are marked slow; the everyday loop drives the same commands in-process (cli.main)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "evalgate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_one_clear_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """main's baseline, then the two pull requests of the demo, each in its own copy of the example."""
    out = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, str(DEMO / "demo.py"), "--out", str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {name: out / name for name in ("main", "pr-1-reseed", "pr-2-no-occlusion")}


@pytest.mark.slow
def test_the_demo_baseline_is_a_complete_results_file(demo_runs: dict[str, Path]) -> None:
    results = json.loads((demo_runs["main"] / "results.json").read_text())
    assert results["suite"] == "digits-classifier"
    assert len(results["cases"]) == 450
    assert {case["category"] for case in results["cases"]} == {"typical", "edge", "adversarial"}
    assert results["metrics"]["error_rate"]["value"] == 0
    accuracy = sum(case["scores"]["accuracy"] for case in results["cases"]) / 450
    assert results["metrics"]["accuracy"]["value"] == pytest.approx(accuracy, abs=1e-12)
    for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "f1_macro"):
        assert results["metrics"][key]["value"] is not None


@pytest.mark.slow
def test_the_harmless_retrain_passes(demo_runs: dict[str, Path]) -> None:
    verdict = json.loads((demo_runs["pr-1-reseed"] / "verdict.json").read_text())
    assert verdict["verdict"] in ("pass", "warn")
    assert verdict["exit_code"] == 0
    assert not [reason for reason in verdict["reasons"] if reason["severity"] == "fail"]


@pytest.mark.slow
def test_the_regressing_retrain_fails_on_the_cut_off_scans(demo_runs: dict[str, Path]) -> None:
    run = demo_runs["pr-2-no-occlusion"]
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["verdict"] == "fail" and verdict["exit_code"] == 1
    failed = {
        (reason["metric"], reason["category"])
        for reason in verdict["reasons"]
        if reason["severity"] == "fail"
    }
    assert ("accuracy", "edge") in failed
    report = (run / "report.md").read_text()
    assert "edge" in report and "accuracy" in report
    results = json.loads((run / "results.json").read_text())
    assert results["categories"]["edge"]["accuracy"]["value"] < 0.8
    assert results["categories"]["typical"]["accuracy"]["value"] > 0.95


@pytest.mark.slow
def test_gate_alone_reproduces_the_verdict_of_check(demo_runs: dict[str, Path], tmp_path: Path) -> None:
    run = demo_runs["pr-2-no-occlusion"]
    result = evalgate(
        "gate",
        "--current", str(run / "results.json"),
        "--baseline", str(demo_runs["main"] / "results.json"),
        "--config", str(run / "repo" / "evalgate.yaml"),
        "--json", str(tmp_path / "verdict.json"),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    first = json.loads((run / "verdict.json").read_text())
    again = json.loads((tmp_path / "verdict.json").read_text())
    assert again["verdict"] == first["verdict"]
    assert again["metrics"] == first["metrics"]


@pytest.mark.slow
def test_without_a_baseline_only_absolute_thresholds_apply(
    demo_runs: dict[str, Path], tmp_path: Path
) -> None:
    run = demo_runs["pr-2-no-occlusion"]
    result = evalgate(
        "gate",
        "--current", str(run / "results.json"),
        "--config", str(run / "repo" / "evalgate.yaml"),
        "--json", str(tmp_path / "verdict.json"),
        "--report", str(tmp_path / "report.md"),
    )  # fmt: skip
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["baseline"]["available"] is False
    assert {reason["rule"] for reason in verdict["reasons"]} <= {"min", "max", "error_rate"}
    assert result.returncode == verdict["exit_code"]
    assert "baseline" in (tmp_path / "report.md").read_text().lower()


# -- bad input of every kind: exit 2, one clear message, nothing half-written --------------------------------


def small_suite(tmp_path: Path, **changes: str) -> Path:
    files = {
        "model.py": "def predict(x):\n    return x.upper()\n",
        "data/typical_cases.jsonl": '{"id": "a", "input": "x", "expected": "X"}\n{"id": "b", "input": "y", "expected": "Y"}\n',
    }
    files.update(changes)
    config = files.pop(
        "evalgate.yaml", "suite: t\ndatasets: [data]\nprovider: {type: python, target: model.py:predict}\n"
    )
    return write_suite(tmp_path, config, files)


@pytest.mark.slow
def test_a_small_suite_runs_and_passes(tmp_path: Path) -> None:
    config = small_suite(tmp_path)
    result = evalgate("check", "--config", str(config), "--output", str(tmp_path / "r.json"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["metrics"]["accuracy"]["value"] == 1.0


@pytest.mark.slow
def test_a_bad_config_key_is_exit_2_with_file_and_line(tmp_path: Path) -> None:
    config = small_suite(
        tmp_path,
        **{
            "evalgate.yaml": "suite: t\ndatasets: [data]\nprovider: {type: python, target: model.py:predict}\ngate:\n  accuracy: {mn: 0.9}\n"
        },
    )
    assert_one_clear_error(evalgate("run", "--config", str(config)), "evalgate.yaml:5", "mn")


@pytest.mark.slow
def test_a_malformed_dataset_line_is_exit_2_with_file_and_line(tmp_path: Path) -> None:
    config = small_suite(
        tmp_path, **{"data/edge_cases.jsonl": '{"id": "c", "input": "z"}\n{"id": "d", "input": \n'}
    )
    assert_one_clear_error(evalgate("run", "--config", str(config)), "edge_cases.jsonl:2")


@pytest.mark.slow
def test_a_duplicate_case_id_is_exit_2_naming_both_places(tmp_path: Path) -> None:
    config = small_suite(tmp_path, **{"data/edge_cases.jsonl": '{"id": "a", "input": "z"}\n'})
    assert_one_clear_error(
        evalgate("run", "--config", str(config)), "edge_cases.jsonl:1", "typical_cases.jsonl:1"
    )


@pytest.mark.slow
def test_a_malformed_results_file_is_exit_2(tmp_path: Path) -> None:
    config = small_suite(tmp_path)
    bad = tmp_path / "results.json"
    bad.write_text('{"schema_version": 1,\n "suite": "t",\n oops}\n')
    assert_one_clear_error(evalgate("gate", "--current", str(bad), "--config", str(config)), "results.json:3")


@pytest.mark.slow
def test_a_baseline_that_is_not_a_results_file_is_exit_2(tmp_path: Path) -> None:
    config = small_suite(tmp_path)
    current = tmp_path / "current.json"
    assert evalgate("run", "--config", str(config), "--output", str(current), "--quiet").returncode == 0
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"schema_version": 1, "suite": "t", "cases": [{"id": 3}]}))
    result = evalgate("gate", "--current", str(current), "--baseline", str(baseline), "--config", str(config))
    assert_one_clear_error(result, "baseline.json")


@pytest.mark.slow
def test_a_missing_baseline_file_is_exit_2(tmp_path: Path) -> None:
    config = small_suite(tmp_path)
    current = tmp_path / "current.json"
    assert evalgate("run", "--config", str(config), "--output", str(current), "--quiet").returncode == 0
    result = evalgate(
        "gate", "--current", str(current), "--baseline", str(tmp_path / "nope.json"), "--config", str(config)
    )
    assert_one_clear_error(result, "nope.json", "not found")


@pytest.mark.slow
def test_a_failed_run_leaves_the_previous_results_file_whole(tmp_path: Path) -> None:
    config = small_suite(tmp_path)
    output = tmp_path / "results.json"
    assert evalgate("run", "--config", str(config), "--output", str(output), "--quiet").returncode == 0
    before = output.read_text()
    config.write_text(config.read_text() + "concurrency: -1\n")
    assert_one_clear_error(evalgate("run", "--config", str(config), "--output", str(output)), "concurrency")
    assert output.read_text() == before


@pytest.mark.slow
def test_usage_errors_are_exit_2() -> None:
    result = evalgate("gate")
    assert result.returncode == 2
    assert "--current" in result.stderr


@pytest.mark.slow
def test_the_report_shows_the_trend_of_main_from_the_history_store(
    demo_runs: dict[str, Path], tmp_path: Path
) -> None:
    run = demo_runs["pr-2-no-occlusion"]
    repo = tmp_path / "repo"
    shutil.copytree(run / "repo", repo)
    baseline = json.loads((demo_runs["main"] / "results.json").read_text())
    for day in range(1, 4):
        baseline["created_at"] = f"2026-11-0{day}T08:00:00Z"
        snapshot = tmp_path / f"main-{day}.json"
        snapshot.write_text(json.dumps(baseline))
        appended = evalgate(
            "history", "--config", str(repo / "evalgate.yaml"), "--append", str(snapshot),
            "--branch", "main", "--sha", f"{day}" * 40,
        )  # fmt: skip
        assert appended.returncode == 0, appended.stderr
    result = evalgate(
        "gate", "--current", str(run / "results.json"), "--baseline", str(demo_runs["main"] / "results.json"),
        "--config", str(repo / "evalgate.yaml"), "--report", str(tmp_path / "report.md"),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = (tmp_path / "report.md").read_text()
    assert "xychart-beta" in report
    assert report.count("0.973") >= 1


def test_help_lists_the_commands_first_in_the_order_named_and_each_named_one_exists() -> None:
    from evalgate.cli import COMMAND_ORDER, build_parser

    subparsers = next(action for action in build_parser()._actions if action.dest == "command")
    assert list(subparsers.choices)[: len(COMMAND_ORDER)] == COMMAND_ORDER


@pytest.mark.slow
def test_a_sample_below_one_is_exit_2_before_the_datasets_are_read(tmp_path: Path) -> None:
    config = small_suite(tmp_path)
    (tmp_path / "data" / "typical_cases.jsonl").write_text("not json\n")
    assert_one_clear_error(
        evalgate("run", "--config", str(config), "--sample", "0"), "--sample must be at least 1"
    )


@pytest.mark.slow
def test_building_the_command_line_does_not_import_scipy() -> None:
    """Every command registers itself for --help; none may pull in scipy (0.6 s or more) just to do that."""
    probe = "import sys; from evalgate.cli import build_parser; build_parser(); print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
