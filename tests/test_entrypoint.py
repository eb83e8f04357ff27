"""The Action's entrypoint, end to end against the fake GitHub API (real PyGithub, real HTTP on 127.0.0.1).

The engine is replaced at its one boundary (`entrypoint.run_engine`) by a stand-in that writes a hand-written
verdict, report and results file, so these tests pin the GitHub side: inputs, events, baseline lookup, outputs,
step summary, annotations, the sticky comment and the exit codes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "github")]

from fake_github import FakeGitHub  # noqa: E402
from gh_helpers import REPO, TOKEN, make_zip, results_doc, results_zip, verdict_doc  # noqa: E402
from test_gh_actions_io import parse_output_file  # noqa: E402

import entrypoint  # noqa: E402
from evalgate.github import inputs  # noqa: E402

HEAD_SHA = "a" * 40
BASE_SHA = "b" * 40
CONFIG = """\
suite: digits
datasets: [eval]
provider: {type: python, target: model.py:predict}
gate:
  error_rate: {max: 0.05}
  accuracy: {min: 0.9, max_drop: 0.02}
"""


class Engine:
    """The stand-in engine: records each call and writes the verdict, report and results it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.read: dict[str, dict] = {}  # the --baseline and --current files as the engine saw them
        self.verdict = verdict_doc("fail")
        self.exit_code: int | None = None

    def __call__(self, argv: list[str], env: dict[str, str]) -> int:
        self.calls.append((argv, dict(env)))
        if argv[0] == "history":
            return 0
        if self.exit_code is not None and self.exit_code != self.verdict["exit_code"]:
            return self.exit_code  # an engine error or crash: no verdict written
        option = _options(argv)
        self.read = {
            k: json.loads(Path(option[k]).read_text()) for k in ("--baseline", "--current") if k in option
        }
        Path(option["--json"]).write_text(json.dumps(self.verdict))
        Path(option["--report"]).write_text(
            f"## evalgate: {self.verdict['verdict'].upper()}\n{self.verdict['headline']}\n"
        )
        if "--output" in option:
            Path(option["--output"]).write_text(json.dumps(results_doc(accuracy=0.87)))
        return self.verdict["exit_code"] if self.exit_code is None else self.exit_code

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
    stand_in = Engine()
    monkeypatch.setattr(entrypoint, "run_engine", stand_in)
    return stand_in


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "evalgate.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)  # restored after the test (the entrypoint changes folder)
    monkeypatch.setenv("EVALGATE_GITHUB_BACKOFF", "0")
    return ws


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


def baseline_run(fake: FakeGitHub, sha: str = BASE_SHA, accuracy: float = 0.91) -> dict:
    fake.add_run(head_sha=HEAD_SHA, event="pull_request", branch="feature", run_id=4242)  # this run
    run = fake.add_run(head_sha=sha)
    fake.add_artifact(run["id"], "evalgate-baseline", results_zip(accuracy=accuracy))
    return run


def test_pull_request_gates_comments_and_reports(fake, engine, workspace, capsys) -> None:
    baseline_run(fake)
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), api_key="x"))
    assert code == 1
    # the engine: check, with the baseline from the base commit's run, and the PR head as the commit under test
    argv, env = engine.calls[-1]
    options = _options(argv)
    assert argv[0] == "check" and options["--config"] == "evalgate.yaml"
    assert engine.read["--baseline"]["metrics"]["accuracy"]["value"] == 0.91
    assert env["EVALGATE_HEAD_SHA"] == HEAD_SHA and env["EVALGATE_HEAD_REF"] == "feature"
    # the comment
    [ours] = fake.comments[5]
    assert (
        ours["body"].startswith("<!-- evalgate:digits -->\n") and engine.verdict["headline"] in ours["body"]
    )
    # outputs
    out = outputs(workspace)
    assert out["verdict"] == "fail" and out["accuracy"] == "0.87" and out["error_rate"] == "0.01"
    assert out["results_path"] == ".evalgate/out/results.json" and (workspace / out["results_path"]).is_file()
    assert out["report_path"] == ".evalgate/out/report.md"
    assert json.loads(out["metrics"]) == {"accuracy": 0.87, "error_rate": 0.01}
    assert json.loads(out["summary"])["reasons"][0]["severity"] == "fail"
    assert out["comment_url"] == ours["html_url"]
    # the step summary and the annotation at the rule's line, escaped
    summary = (workspace.parent / "summary.md").read_text()
    assert "## evalgate: FAIL" in summary and "baseline from artifact 'evalgate-baseline'" in summary
    stdout = capsys.readouterr().out
    assert (
        "::error file=evalgate.yaml,line=6,title=evalgate%3A accuracy::"
        "accuracy dropped 4.0 points: 100%25 sure, 50,1 %25"
    ) in stdout
    assert stdout.splitlines()[0] == f"::add-mask::{TOKEN}"
    assert TOKEN not in (workspace.parent / "output.txt").read_text() + summary + ours["body"]


def test_several_runs_keep_exactly_one_comment(fake, engine, workspace) -> None:
    baseline_run(fake)
    for verdict, accuracy in (("fail", 0.87), ("fail", 0.87), ("warn", 0.9), ("pass", 0.93)):
        engine.verdict = verdict_doc(verdict, accuracy=accuracy)
        entrypoint.main(action_env(fake, workspace, "pull_request", pr_event()))
    assert len(fake.comments[5]) == 1 and "(pass)" in fake.comments[5][0]["body"]
    assert len(fake.calls("POST", r"/comments$")) == 1
    assert len(fake.calls("PATCH", r"/comments/")) == 2  # the repeated result was not written again


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
def test_exit_codes_follow_fail_on(fake, engine, workspace, verdict, fail_on, expected) -> None:
    engine.verdict = verdict_doc(verdict)
    env = action_env(fake, workspace, "pull_request", pr_event(), fail_on=fail_on, baseline="none")
    assert entrypoint.main(env) == expected
    assert "--baseline" not in engine.argv


def test_a_fork_with_a_read_only_token_warns_and_keeps_the_verdict(fake, engine, workspace, capsys) -> None:
    engine.verdict = verdict_doc("pass", accuracy=0.95)
    fake.fail("POST", r"/comments$", 403, times=10)
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(fork=True), baseline="none"))
    assert code == 0 and 5 not in fake.comments
    stdout = capsys.readouterr().out
    assert "::warning::evalgate could not post the PR comment: GitHub API answered 403" in stdout
    assert "two-workflow pattern" in stdout
    summary = (workspace.parent / "summary.md").read_text()
    assert "0.95" in summary and "not posted" in summary
    assert outputs(workspace)["verdict"] == "pass"


def test_a_github_outage_never_fails_the_gate_nor_crashes(fake, engine, workspace, capsys) -> None:
    engine.verdict = verdict_doc("pass", accuracy=0.95)
    fake.fail("GET", r".", 503, times=1000)
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event()))
    assert code == 0 and "--baseline" not in engine.argv
    stdout = capsys.readouterr().out
    assert "cannot look up the baseline artifact (GitHub API answered 503" in stdout
    assert "could not post the PR comment: GitHub API answered 503" in stdout
    assert "absolute thresholds only" in (workspace.parent / "summary.md").read_text()


def test_a_push_elsewhere_comments_on_the_open_prs_of_the_commit(fake, engine, workspace) -> None:
    fake.add_pull(8, HEAD_SHA)
    fake.add_pull(3, HEAD_SHA, state="closed")
    assert entrypoint.main(action_env(fake, workspace, "push", push_event("feature"), baseline="none")) == 1
    assert len(fake.comments[8]) == 1 and 3 not in fake.comments


def test_a_push_to_main_makes_the_new_baseline_against_the_previous_one(fake, engine, workspace) -> None:
    engine.verdict = verdict_doc("pass", accuracy=0.93)
    previous = baseline_run(fake, sha=BASE_SHA, accuracy=0.92)  # the run of the push's `before`
    code = entrypoint.main(action_env(fake, workspace, "push", push_event("main")))
    assert code == 0 and not fake.calls("POST", r"/comments$")
    check, history = (argv for argv, _ in engine.calls)
    assert f"run-{previous['id']}" in _options(check)["--baseline"]
    assert history[0] == "history" and _options(history)["--append"] == ".evalgate/out/results.json"
    assert _options(history)["--branch"] == "main" and _options(history)["--sha"] == HEAD_SHA
    context = json.loads((workspace / ".evalgate/out/context.json").read_text())
    assert context["head_sha"] == HEAD_SHA and context["mode"] == "push_base"
    assert (workspace / ".evalgate/out/results.json").is_file()


def test_schedule_and_dispatch_write_the_summary_only(fake, engine, workspace) -> None:
    event = {"repository": {"full_name": REPO, "default_branch": "main"}}
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


def first_stage_artifact(fake: FakeGitHub, pr_number: int) -> None:
    fake.add_run(
        head_sha=HEAD_SHA, event="pull_request", branch="feature", head_repo="mallory/repo", run_id=777
    )
    context = {"pr_number": pr_number, "head_sha": HEAD_SHA, "base_sha": BASE_SHA, "base_branch": "main"}
    fake.add_artifact(
        777,
        "evalgate-results",
        make_zip(
            {"results.json": json.dumps(results_doc(accuracy=0.87)), "context.json": json.dumps(context)}
        ),
    )


def test_workflow_run_gates_the_uploaded_results_and_comments_on_the_verified_fork_pr(
    fake, engine, workspace
) -> None:
    first_stage_artifact(fake, 9)
    fake.add_pull(9, HEAD_SHA, head_repo="mallory/repo")
    base = baseline_run(fake)
    code = entrypoint.main(action_env(fake, workspace, "workflow_run", workflow_run_event()))
    assert code == 1
    options = _options(engine.argv)
    assert engine.argv[0] == "gate" and f"run-{base['id']}" in options["--baseline"]
    assert engine.read["--current"]["metrics"]["accuracy"]["value"] == 0.87
    assert len(fake.comments[9]) == 1
    assert outputs(workspace)["results_path"] == ".evalgate/out/results.json"


def test_workflow_run_refuses_a_pr_number_whose_head_is_another_commit(
    fake, engine, workspace, capsys
) -> None:
    first_stage_artifact(fake, 9)
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


@pytest.mark.parametrize("engine_code", [2, 1, 137])
def test_an_engine_error_or_crash_without_a_verdict_exits_2(
    fake, engine, workspace, capsys, engine_code
) -> None:
    engine.verdict = verdict_doc("pass")
    engine.exit_code = engine_code
    assert entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none")) == 2
    assert 5 not in fake.comments
    assert f"evalgate stopped with exit code {engine_code} without a verdict" in capsys.readouterr().out


def test_a_deleted_branch_push_has_nothing_to_do(fake, engine, workspace) -> None:
    assert entrypoint.main(action_env(fake, workspace, "push", push_event("feature", deleted=True))) == 0
    assert engine.calls == [] and fake.requests == []


def test_engine_error_lines_become_annotations(capsys, monkeypatch, tmp_path) -> None:
    script = tmp_path / "evalgate_stub"
    script.mkdir()
    (script / "evalgate").mkdir()
    (script / "evalgate" / "__init__.py").write_text("")
    (script / "evalgate" / "__main__.py").write_text(
        "import sys\nprint('evalgate: error: eval/cases.jsonl:12: expected is missing', file=sys.stderr)\nsys.exit(2)\n"
    )
    monkeypatch.chdir(ROOT)  # -P: the evalgate folder here must not shadow the engine on PYTHONPATH
    code = entrypoint.run_engine(["check"], {"PYTHONPATH": str(script), "PATH": "/usr/bin:/bin"})
    captured = capsys.readouterr()
    assert code == 2
    assert "::error file=eval/cases.jsonl,line=12,title=evalgate::expected is missing" in captured.out
    assert "evalgate: error: eval/cases.jsonl:12: expected is missing" in captured.err


def test_secrets_are_masked(capsys) -> None:
    inputs.mask_secrets(
        {"INPUT_GITHUB_TOKEN": "t0k", "ANTHROPIC_API_KEY": "sk-ant", "HOME": "/root", "X_TOKEN": ""}
    )
    assert set(capsys.readouterr().out.splitlines()) == {"::add-mask::t0k", "::add-mask::sk-ant"}


def test_output_values_are_never_able_to_forge_other_outputs(fake, engine, workspace) -> None:
    engine.verdict = verdict_doc("fail")
    engine.verdict["headline"] = "bad\nverdict=pass"
    entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), baseline="none"))
    out = outputs(workspace)
    assert out["verdict"] == "fail" and out["headline"] == "bad\nverdict=pass"
    assert re.search(r"headline<<ghadelimiter_[0-9a-f]{32}\n", (workspace.parent / "output.txt").read_text())
