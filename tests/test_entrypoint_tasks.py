"""The Action on a suite of tasks (examples/support-tasks): one check, one comment with a section per task, an
annotation at the failing task's rule, outputs per task, and a push to main that adds a history series per task.
The real engine (a subprocess) against the fake GitHub API, as in test_entrypoint.py."""

# ruff: noqa: F401, F811 - the tests take test_entrypoint's fixtures `fake` and `engine`, imported by name

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_entrypoint import (  # `fake` (the GitHub API) and `engine` (the recorded engine) are fixtures
    BASE_SHA,
    HEAD_SHA,
    action_env,
    annotation_data,
    engine,
    engine_env,
    entrypoint,
    fake,
    make_zip,
    outputs,
    pr_event,
    push_event,
    written,
)
from tests.test_tasks import EXAMPLE, break_refunds

pytestmark = pytest.mark.slow  # the engine runs as a subprocess


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".evalgate", "__pycache__"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVALGATE_GITHUB_BACKOFF", "0")
    return folder


def base_results(workspace: Path) -> str:
    """The results of the example at the base commit (`evalgate run`)."""
    out = workspace.parent / "base.json"
    argv = [sys.executable, "-P", "-m", "evalgate", "run", "-q", "--no-cache", "--output", str(out)]
    subprocess.run([*argv, "--label", "base-run"], cwd=workspace, env=engine_env(), check=True)
    return out.read_text()


def test_a_pull_request_on_a_suite_of_tasks_gets_one_check_and_one_comment(
    fake, engine, workspace, capsys
) -> None:
    fake.add_run(head_sha=HEAD_SHA, event="pull_request", branch="feature", run_id=4242)
    run = fake.add_run(head_sha=BASE_SHA, created_at="2026-11-20T10:00:00Z")
    fake.add_artifact(run["id"], "evalgate-baseline", make_zip({"results.json": base_results(workspace)}))
    break_refunds(workspace)
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event()))
    assert code == 1
    assert [argv[0] for argv, _ in engine.calls] == ["check"]
    verdict = written(workspace, "verdict.json")
    assert verdict["tasks"]["intent"]["baseline"]["label"] == "base-run"
    assert (
        verdict["tasks"]["intent"]["verdict"] == "fail" and verdict["tasks"]["summary"]["verdict"] == "pass"
    )
    [ours] = fake.comments[5]
    body = ours["body"]
    assert (
        body.startswith("<!-- evalgate:support-tasks -->\n")
        and body.count("<!-- evalgate:support-tasks") == 1
    )
    assert "### Task intent" in body and "### Task summary" in body
    out = outputs(workspace)
    assert out["verdict"] == "fail"
    metrics = json.loads(out["metrics"])
    assert metrics["intent/accuracy"] < 1.0 and metrics["summary/assertions"] == 0.75
    # each failing rule annotated at its line in the task's gate, titled with the task
    lines = (workspace / "evalgate.yaml").read_text().splitlines()
    refund_line = next(i for i, line in enumerate(lines, 1) if "refund: {accuracy" in line)
    stdout = capsys.readouterr().out.splitlines()
    refund = next(r for r in verdict["reasons"] if r["category"] == "refund")
    assert (
        f"::error file=evalgate.yaml,line={refund_line},title=evalgate%3A intent%3A accuracy [refund]::"
        + annotation_data(refund["message"])
    ) in stdout


def test_a_push_to_main_adds_each_task_to_the_history(fake, engine, workspace) -> None:
    assert entrypoint.main(action_env(fake, workspace, "push", push_event("main"))) == 0
    assert [argv[0] for argv, _ in engine.calls] == ["check", "history"]
    with sqlite3.connect(workspace / ".evalgate" / "history.sqlite") as db:
        suites = db.execute("SELECT suite, sha, branch FROM runs ORDER BY suite").fetchall()
    assert suites == [("support-tasks/intent", HEAD_SHA, "main"), ("support-tasks/summary", HEAD_SHA, "main")]
