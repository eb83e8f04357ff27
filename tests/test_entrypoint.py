"""The Action's entrypoint, end to end: the real engine (`python -P -m evalgate`, a subprocess) on a small real
suite, against the fake GitHub API (real PyGithub, real HTTP on 127.0.0.1).

The suite (ghkit.write_suite): 40 cases, a python provider, and the models `good`, `slip` (a warning) and
`bad` (a failure), plus two here whose engine ends without a verdict. The engine is only wrapped to record its
calls; one test (forged outputs) edits the real verdict afterwards, for a headline the engine cannot write.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "github")]

import ghkit  # noqa: E402
from fake_github import FakeGitHub  # noqa: E402
from ghkit import ACCURACY_LINE, REPO, TOKEN, make_zip, write_suite  # noqa: E402
from test_gh_actions_io import parse_output_file  # noqa: E402

import entrypoint  # noqa: E402
from evalgate.github import inputs  # noqa: E402

HEAD_SHA = "a" * 40
BASE_SHA = "b" * 40
MODELS = {
    **ghkit.MODELS,
    # the engine process ends without a verdict: the model exits it, or kills it (as the OOM killer would)
    "exits": "import os\n\ndef predict(x):\n    os._exit(1)\n",
    "killed": "import os, signal\n\ndef predict(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    # the run stops early, as a spent budget stops it
    "aborts": "from evalgate.errors import RunAborted\n\ndef predict(x):\n    raise RunAborted('budget exceeded: test')\n",
}
VERDICT_MODEL = {"pass": "good", "warn": "slip", "fail": "bad"}


def engine_env() -> dict[str, str]:
    """What the engine subprocess needs here (in the image, evalgate is installed)."""
    return {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real results files of the good and the bad model (`evalgate run`), labelled by their model."""
    suite = write_suite(tmp_path_factory.mktemp("suite"))
    files = {}
    for model in ("good", "bad"):
        (suite / "model.py").write_text(MODELS[model])
        files[model] = suite / f"{model}.json"
        argv = ["run", "--quiet", "--no-cache", "--output", str(files[model]), "--label", f"{model}-run"]
        subprocess.run(
            [sys.executable, "-P", "-m", "evalgate", *argv], cwd=suite, env=engine_env(), check=True
        )
    return files


class Engine:
    """Records each call of the engine, then runs the real one."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.real = entrypoint.run_engine

    def __call__(self, argv: list[str], env: dict[str, str]) -> int:
        self.calls.append((list(argv), dict(env)))
        return self.real(argv, env)

    @property
    def argv(self) -> list[str]:
        return self.calls[-1][0]


def _options(argv: list[str]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("--")}


@pytest.fixture
def fake() -> FakeGitHub:
    with FakeGitHub(REPO, TOKEN) as server:
        yield server


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Engine:
    recorder = Engine()
    monkeypatch.setattr(entrypoint, "run_engine", recorder)
    return recorder


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = write_suite(tmp_path / "workspace")
    monkeypatch.chdir(tmp_path)  # restored after the test (the entrypoint changes folder)
    monkeypatch.setenv("EVALGATE_GITHUB_BACKOFF", "0")
    return ws


def use_model(workspace: Path, model: str) -> None:
    (workspace / "model.py").write_text(MODELS[model])


def pr_event(number: int = 5, fork: bool = False) -> dict:
    head_repo = "mallory/repo" if fork else REPO
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": HEAD_SHA, "ref": "feature", "repo": {"full_name": head_repo}},
            "base": {"sha": BASE_SHA, "ref": "main", "repo": {"full_name": REPO}},
        },
        "repository": {"full_name": REPO, "default_branch": "main"},
    }


def push_event(branch: str, deleted: bool = False) -> dict:
    return {
        "ref": f"refs/heads/{branch}",
        "before": BASE_SHA,
        "after": "0" * 40 if deleted else HEAD_SHA,
        "deleted": deleted,
        "head_commit": None if deleted else {"id": HEAD_SHA},
        "repository": {"full_name": REPO, "default_branch": "main"},
    }


def action_env(
    fake: FakeGitHub, workspace: Path, event_name: str, event: dict, **inputs: str
) -> dict[str, str]:
    event_path = workspace.parent / "event.json"
    event_path.write_text(json.dumps(event))
    env = {
        **engine_env(),
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_RUN_ID": "4242",
        "GITHUB_SHA": "f" * 40,
        "GITHUB_OUTPUT": str(workspace.parent / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(workspace.parent / "summary.md"),
        "INPUT_GITHUB_TOKEN": TOKEN,
        "EVALGATE_GITHUB_BACKOFF": "0",
    }
    env.update({f"INPUT_{name.upper()}": value for name, value in inputs.items()})
    return env


def outputs(workspace: Path) -> dict[str, str]:
    return parse_output_file((workspace.parent / "output.txt").read_text())


def written(workspace: Path, name: str) -> dict:
    return json.loads((workspace / ".evalgate" / "out" / name).read_text())


def accuracy_row(verdict: dict) -> dict:
    return next(m for m in verdict["metrics"] if m["metric"] == "accuracy" and m["category"] is None)


def baseline_run(fake: FakeGitHub, results: dict[str, Path], sha: str = BASE_SHA) -> dict:
    """The base commit's successful run, holding the good model's results; and a newer run of another commit
    holding the bad model's, which must not be taken."""
    fake.add_run(head_sha=HEAD_SHA, event="pull_request", branch="feature", run_id=4242)  # this run
    run = fake.add_run(head_sha=sha, created_at="2026-11-20T10:00:00Z")
    fake.add_artifact(run["id"], "evalgate-baseline", make_zip({"results.json": results["good"].read_text()}))
    decoy = fake.add_run(head_sha="d" * 40, created_at="2026-11-21T10:00:00Z")
    fake.add_artifact(
        decoy["id"], "evalgate-baseline", make_zip({"results.json": results["bad"].read_text()})
    )
    return run


def annotation_data(message: str) -> str:
    """A workflow command's message, escaped as the runner expects."""
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


@pytest.mark.slow
def test_pull_request_gates_comments_and_reports(fake, engine, workspace, results, capsys) -> None:
    base = baseline_run(fake, results)
    use_model(workspace, "bad")
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), api_key="x"))
    assert code == 1
    # the engine: check, against the base commit's run's results, with the PR head as the commit under test
    argv = engine.argv
    assert argv[0] == "check" and _options(argv)["--config"] == "evalgate.yaml"
    verdict = written(workspace, "verdict.json")
    assert verdict["baseline"]["label"] == "good-run"
    assert accuracy_row(verdict)["baseline"] == 1.0 and accuracy_row(verdict)["current"] == 0.75
    assert written(workspace, "results.json")["git"] == {"sha": HEAD_SHA, "ref": "feature"}
    # the comment
    [ours] = fake.comments[5]
    assert ours["body"].startswith("<!-- evalgate:digits -->\n") and verdict["headline"] in ours["body"]
    # outputs
    out = outputs(workspace)
    assert out["verdict"] == "fail" and out["accuracy"] == "0.75" and out["error_rate"] == "0.0"
    assert out["results_path"] == ".evalgate/out/results.json" and (workspace / out["results_path"]).is_file()
    assert out["report_path"] == ".evalgate/out/report.md"
    metrics = json.loads(out["metrics"])
    assert metrics["accuracy"] == 0.75 and metrics["error_rate"] == 0.0
    assert [r["severity"] for r in json.loads(out["summary"])["reasons"]] == ["fail", "fail"]
    assert out["comment_url"] == ours["html_url"]
    # the step summary, and one annotation per breached rule at the rule's line
    summary = (workspace.parent / "summary.md").read_text()
    assert verdict["headline"] in summary
    assert f"baseline from artifact 'evalgate-baseline' of run {base['id']}" in summary
    stdout = capsys.readouterr().out
    for reason in verdict["reasons"]:
        assert (
            f"::error file=evalgate.yaml,line={ACCURACY_LINE},title=evalgate%3A accuracy::"
            + annotation_data(reason["message"])
        ) in stdout.splitlines()
    assert stdout.splitlines()[0] == f"::add-mask::{TOKEN}"
    assert TOKEN not in (workspace.parent / "output.txt").read_text() + summary + ours["body"]


@pytest.mark.slow
def test_several_runs_keep_exactly_one_comment(fake, engine, workspace, results) -> None:
    baseline_run(fake, results)
    for model, expected in (("bad", "fail"), ("bad", "fail"), ("slip", "warn"), ("good", "pass")):
        use_model(workspace, model)
        entrypoint.main(action_env(fake, workspace, "pull_request", pr_event()))
        assert outputs(workspace)["verdict"] == expected
    [ours] = fake.comments[5]
    assert outputs(workspace)["headline"] in ours["body"] and "evalgate passed" in ours["body"]
    assert len(fake.calls("POST", r"/comments$")) == 1
    # the repeated result was not written again, though its timings differ
    assert len(fake.calls("PATCH", r"/comments/")) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("verdict", "fail_on", "expected"),
    [
        ("fail", "fail", 1),
        ("warn", "fail", 0),
        ("warn", "warn", 1),
        ("fail", "warn", 1),
        ("fail", "never", 0),
        ("pass", "warn", 0),
    ],
)
def test_exit_codes_follow_fail_on(fake, engine, workspace, results, verdict, fail_on, expected) -> None:
    (workspace / "baseline.json").write_text(results["good"].read_text())
    use_model(workspace, VERDICT_MODEL[verdict])
    env = action_env(fake, workspace, "pull_request", pr_event(), fail_on=fail_on, baseline="baseline.json")
    assert entrypoint.main(env) == expected
    assert outputs(workspace)["verdict"] == verdict
    assert _options(engine.argv)["--baseline"] == "baseline.json"


@pytest.mark.slow
def test_a_fork_with_a_read_only_token_warns_and_keeps_the_verdict(fake, engine, workspace, capsys) -> None:
    fake.fail("POST", r"/comments$", 403, times=10)
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(fork=True), baseline="none"))
    assert code == 0 and 5 not in fake.comments
    stdout = capsys.readouterr().out
    assert "::warning::evalgate could not post the PR comment: GitHub API answered 403" in stdout
    assert "two-workflow pattern" in stdout
    summary = (workspace.parent / "summary.md").read_text()
    assert written(workspace, "verdict.json")["headline"] in summary and "not posted" in summary
    assert outputs(workspace)["verdict"] == "pass"


@pytest.mark.slow
def test_a_github_outage_never_fails_the_gate_nor_crashes(fake, engine, workspace, capsys) -> None:
    fake.fail("GET", r".", 503, times=1000)
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event()))
    assert code == 0 and "--baseline" not in engine.argv
    stdout = capsys.readouterr().out
    assert "cannot look up the baseline artifact (GitHub API answered 503" in stdout
    assert "could not post the PR comment: GitHub API answered 503" in stdout
    assert "absolute thresholds only" in (workspace.parent / "summary.md").read_text()
    assert written(workspace, "verdict.json")["baseline"]["available"] is False


@pytest.mark.slow
def test_a_push_elsewhere_comments_on_the_open_prs_of_the_commit(fake, engine, workspace) -> None:
    fake.add_pull(8, HEAD_SHA)
    fake.add_pull(3, HEAD_SHA, state="closed")
    use_model(workspace, "bad")
    assert entrypoint.main(action_env(fake, workspace, "push", push_event("feature"), baseline="none")) == 1
    assert len(fake.comments[8]) == 1 and 3 not in fake.comments


@pytest.mark.slow
def test_a_push_to_main_makes_the_new_baseline_against_the_previous_one(
    fake, engine, workspace, results
) -> None:
    previous = baseline_run(fake, results, sha=BASE_SHA)  # the run of the push's `before`
    code = entrypoint.main(action_env(fake, workspace, "push", push_event("main")))
    assert code == 0 and not fake.calls("POST", r"/comments$")
    check, history = (argv for argv, _ in engine.calls)
    assert f"run-{previous['id']}" in _options(check)["--baseline"]
    assert written(workspace, "verdict.json")["baseline"]["label"] == "good-run"
    assert history[0] == "history" and _options(history)["--append"] == ".evalgate/out/results.json"
    # the run joined the history store, as a run of main at the pushed commit
    with sqlite3.connect(workspace / ".evalgate" / "history.sqlite") as db:
        assert db.execute("SELECT suite, sha, branch FROM runs").fetchall() == [("digits", HEAD_SHA, "main")]
    context = written(workspace, "context.json")
    assert context["head_sha"] == HEAD_SHA and context["mode"] == "push_base"
    assert written(workspace, "results.json")["git"]["sha"] == HEAD_SHA


@pytest.mark.slow
def test_schedule_and_dispatch_write_the_summary_only(fake, engine, workspace) -> None:
    event = {"repository": {"full_name": REPO, "default_branch": "main"}}
    use_model(workspace, "bad")
    assert entrypoint.main(action_env(fake, workspace, "schedule", event, baseline="none")) == 1
    assert not fake.calls("POST", r".") and (workspace.parent / "summary.md").is_file()


def workflow_run_event(pull_requests: list | None = None) -> dict:
    return {
        "action": "completed",
        "workflow_run": {
            "id": 777,
            "workflow_id": 7,
            "event": "pull_request",
            "head_sha": HEAD_SHA,
            "head_branch": "feature",
            "head_repository": {"full_name": "mallory/repo"},
            "pull_requests": pull_requests or [],
        },
        "repository": {"full_name": REPO, "default_branch": "main"},
    }


def first_stage_artifact(fake: FakeGitHub, pr_number: int, current: Path) -> None:
    fake.add_run(
        head_sha=HEAD_SHA, event="pull_request", branch="feature", head_repo="mallory/repo", run_id=777
    )
    context = {"pr_number": pr_number, "head_sha": HEAD_SHA, "base_sha": BASE_SHA, "base_branch": "main"}
    archive = make_zip({"results.json": current.read_text(), "context.json": json.dumps(context)})
    fake.add_artifact(777, "evalgate-results", archive)


@pytest.mark.slow
def test_workflow_run_gates_the_uploaded_results_and_comments_on_the_verified_fork_pr(
    fake, engine, workspace, results
) -> None:
    first_stage_artifact(fake, 9, results["bad"])
    fake.add_pull(9, HEAD_SHA, head_repo="mallory/repo")
    base = baseline_run(fake, results)
    code = entrypoint.main(action_env(fake, workspace, "workflow_run", workflow_run_event()))
    assert code == 1
    assert engine.argv[0] == "gate" and f"run-{base['id']}" in _options(engine.argv)["--baseline"]
    verdict = written(workspace, "verdict.json")
    assert accuracy_row(verdict)["current"] == 0.75 and verdict["baseline"]["label"] == "good-run"
    assert len(fake.comments[9]) == 1 and verdict["headline"] in fake.comments[9][0]["body"]
    assert outputs(workspace)["results_path"] == ".evalgate/out/results.json"
    assert written(workspace, "results.json") == json.loads(results["bad"].read_text())


@pytest.mark.slow
def test_workflow_run_refuses_a_pr_number_whose_head_is_another_commit(
    fake, engine, workspace, results, capsys
) -> None:
    first_stage_artifact(fake, 9, results["bad"])
    fake.add_pull(9, "e" * 40)
    entrypoint.main(action_env(fake, workspace, "workflow_run", workflow_run_event(), baseline="none"))
    assert 9 not in fake.comments and "whose head is not aaaaaaa: no comment" in capsys.readouterr().out


def test_workflow_run_without_the_results_artifact_is_bad_input(fake, engine, workspace, capsys) -> None:
    fake.add_run(head_sha=HEAD_SHA, run_id=777)
    assert entrypoint.main(action_env(fake, workspace, "workflow_run", workflow_run_event())) == 2
    assert "has no (unexpired) artifact 'evalgate-results'" in capsys.readouterr().out
    assert engine.calls == []


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"fail_on": "maybe"}, "input fail_on is 'maybe'; expected one of fail, warn, never"),
        ({"comment": "sometimes"}, "input comment is 'sometimes'; expected one of always, on-change"),
        ({"sample": "ten"}, "input sample is 'ten'; expected a whole number"),
        ({"sample": "0"}, "input sample is '0'"),
        ({"working_directory": "../elsewhere"}, "expected a folder inside the workspace"),
        ({"working_directory": "missing"}, "the folder 'missing' does not exist"),
        ({"baseline": "artifact:"}, "needs an artifact name"),
        ({"baseline": "nope.json"}, "the file 'nope.json' does not exist"),
        ({"config": "other.yaml"}, "other.yaml: file not found"),
        ({"install": "'unterminated"}, "input install cannot be split"),
    ],
)
def test_bad_inputs_exit_2_with_one_clear_error(fake, engine, workspace, capsys, inputs, message) -> None:
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), **inputs)) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "::error" in captured.out and "Traceback" not in captured.err
    assert engine.calls == []


def test_a_config_error_is_annotated_at_its_file_and_line_in_the_repository(
    fake, engine, workspace, capsys
) -> None:
    (workspace / "sub").mkdir()
    (workspace / "sub" / "evalgate.yaml").write_text("suite: [unclosed\n")
    env = action_env(fake, workspace, "pull_request", pr_event(), working_directory="sub")
    assert entrypoint.main(env) == 2
    assert (
        "::error file=sub/evalgate.yaml,line=2,title=evalgate%3A bad input::invalid YAML"
        in capsys.readouterr().out
    )
    assert "evalgate could not run" in (workspace.parent / "summary.md").read_text()


def test_a_malformed_event_exits_2(fake, engine, workspace, capsys) -> None:
    env = action_env(fake, workspace, "pull_request", {})
    Path(env["GITHUB_EVENT_PATH"]).write_text("{not json")
    assert entrypoint.main(env) == 2
    assert "the event file is not valid JSON" in capsys.readouterr().err


def test_an_engine_error_is_annotated_in_the_repository_and_exits_2(fake, engine, workspace, capsys) -> None:
    (workspace / "sub").mkdir()
    write_suite(workspace / "sub")
    with (workspace / "sub" / "eval" / "cases.jsonl").open("a") as cases:
        cases.write("{not json\n")
    env = action_env(fake, workspace, "pull_request", pr_event(), baseline="none", working_directory="sub")
    assert entrypoint.main(env) == 2
    captured = capsys.readouterr()
    assert "::error file=sub/eval/cases.jsonl,line=41,title=evalgate::invalid JSON" in captured.out
    assert "evalgate stopped with exit code 2 without a verdict" in captured.out
    assert 5 not in fake.comments and "Traceback" not in captured.err


@pytest.mark.slow
@pytest.mark.parametrize(("model", "engine_code"), [("exits", 4), ("killed", 128 + 9)])
def test_an_engine_that_ends_without_a_verdict_exits_2(
    fake, engine, workspace, capsys, model, engine_code
) -> None:
    use_model(workspace, model)
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none")) == 2
    assert 5 not in fake.comments
    assert f"evalgate stopped with exit code {engine_code} without a verdict" in capsys.readouterr().out


@pytest.mark.slow
def test_an_incomplete_run_fails_the_step_whatever_fail_on_says_and_the_headline_says_why(
    fake, engine, workspace, capsys
) -> None:
    use_model(workspace, "aborts")
    env = action_env(fake, workspace, "pull_request", pr_event(), baseline="none", fail_on="never")
    assert entrypoint.main(env) == 3
    out = capsys.readouterr().out
    assert (
        "::error title=evalgate%3A run incomplete::the run did not complete: run incomplete: budget exceeded"
        in out
    )
    assert outputs(workspace)["exit_code"] == "3" and outputs(workspace)["verdict"] == "fail"
    assert "run incomplete: budget exceeded: test" in fake.comments[5][0]["body"]


@pytest.mark.slow
def test_an_incomplete_run_on_main_does_not_join_the_history(fake, engine, workspace) -> None:
    use_model(workspace, "aborts")
    assert entrypoint.main(action_env(fake, workspace, "push", push_event("main"), baseline="none")) == 3
    assert [argv[0] for argv, _ in engine.calls] == ["check"]
    assert not (workspace / ".evalgate" / "history.sqlite").exists()


def test_a_deleted_branch_push_has_nothing_to_do(fake, engine, workspace) -> None:
    assert entrypoint.main(action_env(fake, workspace, "push", push_event("feature", deleted=True))) == 0
    assert engine.calls == [] and fake.requests == []


@pytest.mark.slow
def test_an_evalgate_folder_in_the_repository_cannot_shadow_the_engine(fake, engine, workspace) -> None:
    (workspace / "evalgate").mkdir()
    (workspace / "evalgate" / "__main__.py").write_text("raise SystemExit(0)  # a shadow: no verdict\n")
    use_model(workspace, "bad")
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none")) == 1
    assert outputs(workspace)["verdict"] == "fail"


def test_secrets_are_masked(capsys) -> None:
    inputs.mask_secrets(
        {"INPUT_GITHUB_TOKEN": "t0k", "ANTHROPIC_API_KEY": "sk-ant", "HOME": "/root", "X_TOKEN": ""}
    )
    assert set(capsys.readouterr().out.splitlines()) == {"::add-mask::t0k", "::add-mask::sk-ant"}


@pytest.mark.slow
def test_output_values_are_never_able_to_forge_other_outputs(fake, engine, workspace, monkeypatch) -> None:
    # A stand-in here: the real engine never writes a headline with a line break (names are quoted with repr),
    # so its real verdict is edited after it ran, to hold one.
    def engine_then_forge(argv: list[str], env: dict[str, str]) -> int:
        code = engine(argv, env)
        verdict_path = Path(_options(argv)["--json"])
        verdict = json.loads(verdict_path.read_text())
        verdict_path.write_text(json.dumps({**verdict, "headline": "bad\nverdict=pass"}))
        return code

    monkeypatch.setattr(entrypoint, "run_engine", engine_then_forge)
    use_model(workspace, "bad")
    entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none"))
    out = outputs(workspace)
    assert out["verdict"] == "fail" and out["headline"] == "bad\nverdict=pass"
    assert re.search(r"headline<<ghadelimiter_[0-9a-f]{32}\n", (workspace.parent / "output.txt").read_text())


def test_workflow_run_during_a_github_outage_exits_2_without_a_traceback(
    fake, engine, workspace, capsys
) -> None:
    fake.fail("GET", r".", 503, times=1000)
    assert entrypoint.main(action_env(fake, workspace, "workflow_run", workflow_run_event())) == 2
    captured = capsys.readouterr()
    assert "cannot read the artifacts of the triggering run 777: GitHub API answered 503" in captured.out
    assert "Traceback" not in captured.err and engine.calls == []


# -- the engine in-process (issue 9): errors come back structured, never parsed from the log ----------------------


def annotations(out: str, kind: str = "error") -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"::{kind}")]


def test_a_bad_config_the_engine_finds_is_one_error_at_its_file_and_line(
    fake, engine, workspace, capsys
) -> None:
    config = workspace / "evalgate.yaml"
    config.write_text(config.read_text() + "metrics: [accuracy, rouge_l]\n")
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none")) == 2
    out = capsys.readouterr().out
    located = [line for line in annotations(out) if "file=" in line]
    assert len(located) == 1, out
    assert located[0].startswith("::error file=evalgate.yaml,line=7,title=evalgate::unknown metric 'rouge_l'")
    assert "evalgate stopped with exit code 2 without a verdict" in out
    assert 5 not in fake.comments and "verdict" not in outputs_or_empty(workspace)


def outputs_or_empty(workspace: Path) -> dict[str, str]:
    path = workspace.parent / "output.txt"
    return parse_output_file(path.read_text()) if path.exists() else {}


@pytest.mark.slow
def test_a_crash_inside_the_engine_is_never_green(fake, engine, workspace, capsys, monkeypatch) -> None:
    """A bug of evalgate's own (here: the gate raising) ends the engine with 4 and the step with 2, no verdict."""
    import evalgate.commands.check as check_command

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the gate")

    monkeypatch.setattr(check_command, "decide_and_report", broken)  # the forked engine inherits it
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none")) == 2
    captured = capsys.readouterr()
    assert "evalgate stopped with exit code 4 without a verdict" in captured.out
    assert "internal error (a bug in evalgate" in captured.err  # the engine's log, relayed
    assert 5 not in fake.comments and "verdict" not in outputs_or_empty(workspace)


def test_a_crash_of_the_supervised_command_itself_is_never_green(
    fake, workspace, capsys, monkeypatch
) -> None:
    from evalgate import cli

    def broken(argv):
        raise RuntimeError("not even a command line")

    monkeypatch.setattr(cli, "run", broken)
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none")) == 2
    assert "evalgate stopped with exit code 4 without a verdict" in capsys.readouterr().out


@pytest.mark.slow
def test_the_engines_log_is_relayed_inert(fake, engine, workspace, capsys) -> None:
    (workspace / "model.py").write_text(
        "import sys\n\ndef predict(x):\n    print('::error::forged by the model', file=sys.stderr)\n"
        "    return x.upper()\n"
    )
    entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none"))
    captured = capsys.readouterr()
    assert "\\::error::forged by the model" in captured.err
    assert "forged by the model" not in captured.out


SLEEPER = (
    "import time\nfrom pathlib import Path\n\n"
    "def predict(x):\n    Path('started').touch()\n    time.sleep(60)\n    return x\n"
)
RUN_ACTION = "import sys, entrypoint\nsys.exit(entrypoint.main())\n"


@pytest.mark.slow
def test_an_interrupted_step_exits_with_the_signal_and_never_green(fake, workspace) -> None:
    (workspace / "model.py").write_text(SLEEPER)
    env = action_env(fake, workspace, "pull_request", pr_event(), baseline="none")
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_ACTION],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=workspace.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = workspace / "started"
    for _ in range(600):
        if started.exists() or process.poll() is not None:
            break
        time.sleep(0.1)
    assert started.exists(), process.communicate(timeout=60)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, (out, err)
    assert "::error title=evalgate%3A stopped::evalgate was stopped by SIGTERM: nothing was judged" in out
    assert 5 not in fake.comments and "verdict" not in outputs_or_empty(workspace)


@pytest.mark.slow
def test_what_install_added_is_importable_by_the_engine(
    fake, engine, workspace, tmp_path, monkeypatch
) -> None:
    """The engine runs in this process (forked): a package `install:` added after start-up, such as an editable
    install's .pth path, must be found as a new interpreter would find it."""
    site_dir, package_dir = tmp_path / "site-packages", tmp_path / "src"
    site_dir.mkdir()
    (package_dir / "upper_model").mkdir(parents=True)
    (package_dir / "upper_model" / "__init__.py").write_text("def upper(x):\n    return x.upper()\n")
    monkeypatch.setattr(entrypoint.site, "getsitepackages", lambda: [str(site_dir)])
    (site_dir / "editable_upper_model.pth").write_text(f"{package_dir}\n")  # as `pip install -e` leaves it
    (workspace / "model.py").write_text(
        "from upper_model import upper\n\ndef predict(x):\n    return upper(x)\n"
    )
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none")) == 0
    assert str(package_dir) not in sys.path  # the engine's child saw it; this process is left as it was
