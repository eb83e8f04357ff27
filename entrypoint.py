"""evalgate's GitHub Action: turns the action's inputs into an engine call, then reports back to GitHub.

Inputs come as INPUT_* variables; the engine is `python -m evalgate check` (or `gate`, in the fork-safe second
stage); the GitHub side (outputs, step summary, annotations, the sticky comment) lives in evalgate.github.
Exit codes: 0 the gate passed (or fail_on allowed it), 1 it failed, 2 bad input (nothing was judged).
A GitHub API failure (a fork's read-only token, an outage) is a warning, never a failed gate.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from github import GithubException

from evalgate.errors import InputError
from evalgate.github import actions_io as gha
from evalgate.github import artifacts, comment
from evalgate.github.annotations import annotate, read_config_facts
from evalgate.github.client import ClientSettings, api_url, describe, is_forbidden, is_transient, make_github
from evalgate.github.event import Event, load_event

COMMENT_POLICIES = comment.POLICIES
FAIL_ON = ("fail", "warn", "never")
DEFAULT_RESULTS_ARTIFACT = "evalgate-results"
CONTEXT_FILE = "context.json"
# engine messages look like `evalgate: error: path:line: message`
_ENGINE_ERROR = re.compile(r"^evalgate: error: (?:(?P<file>[^:\n]+?):(?:(?P<line>\d+):)? )?(?P<message>.+)$")
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Settings:
    """The action's inputs, checked once."""

    config: str
    baseline: str
    token: str
    comment: str
    fail_on: str
    working_directory: str
    sample: int | None
    label: str | None
    output_dir: str
    install: list[str]
    results_artifact: str
    workspace: Path
    env: Mapping[str, str] = field(repr=False, compare=False, default_factory=dict)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = gha.get_input(name, env, default).lower()
    if value not in choices:
        raise InputError(f"input {name} is {value!r}; expected one of {', '.join(choices)}")
    return value


def read_settings(env: Mapping[str, str]) -> Settings:
    """Every input checked: the runner does not enforce `required` nor any value; a bad one is an InputError."""
    sample_text = gha.get_input("sample", env)
    sample = None
    if sample_text:
        if not sample_text.isdigit() or int(sample_text) < 1:
            raise InputError(f"input sample is {sample_text!r}; expected a whole number of cases above 0")
        sample = int(sample_text)
    config = gha.get_input("config", env, "evalgate.yaml")
    baseline = gha.get_input("baseline", env, "artifact:evalgate-baseline")
    artifacts.parse_baseline_input(baseline)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    working_directory = gha.get_input("working_directory", env, ".")
    if Path(working_directory).is_absolute() or ".." in Path(working_directory).parts:
        raise InputError(
            f"input working_directory is {working_directory!r}; expected a folder inside the workspace"
        )
    if not (workspace / working_directory).is_dir():
        raise InputError(
            f"input working_directory: the folder {working_directory!r} does not exist in the workspace"
        )
    return Settings(
        config=config,
        baseline=baseline,
        token=gha.get_input("github_token", env),
        comment=_choice(env, "comment", "on-change", COMMENT_POLICIES),
        fail_on=_choice(env, "fail_on", "fail", FAIL_ON),
        working_directory=working_directory,
        sample=sample,
        label=gha.get_input("label", env) or None,
        output_dir=gha.get_input("output_dir", env, ".evalgate/out"),
        install=_split(gha.get_input("install", env), "install"),
        results_artifact=gha.get_input("results_artifact", env, DEFAULT_RESULTS_ARTIFACT),
        workspace=workspace,
        env=env,
    )


def _split(text: str, name: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InputError(f"input {name} cannot be split into arguments: {exc}") from None


def install_requirements(args: list[str], env: Mapping[str, str]) -> None:
    """`pip install ARGS` (the model's own dependencies), within the image's pinned versions."""
    constraints = env.get("EVALGATE_CONSTRAINTS")
    command = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check"]
    command += ["-c", constraints] if constraints and Path(constraints).is_file() else []
    print(f"::group::pip install {shlex.join(args)}", flush=True)
    code = subprocess.run([*command, *args], env=dict(env), check=False).returncode
    print("::endgroup::", flush=True)
    if code != 0:
        raise InputError(f"input install: pip install {shlex.join(args)} failed (exit code {code})")


def mask_secrets(env: Mapping[str, str]) -> None:
    """Mask the token and every *_API_KEY / *_TOKEN present, before anything else is printed."""
    for name, value in env.items():
        if value and (
            name in ("INPUT_GITHUB_TOKEN", "GITHUB_TOKEN") or name.endswith(("_API_KEY", "_TOKEN"))
        ):
            gha.add_mask(value)


# ---------------------------------------------------------------- the engine boundary


@dataclass(frozen=True)
class EngineRun:
    exit_code: int
    verdict_path: Path
    report_path: Path
    results_path: Path


def run_engine(argv: list[str], env: Mapping[str, str]) -> int:
    """Run `python -P -m evalgate ARGV` and return its exit code; its error lines become ::error:: annotations.

    -P: the workspace (the current folder) is not put on sys.path, so a folder named `evalgate` in the user's
    repository cannot shadow the installed engine."""
    command = [sys.executable, "-P", "-m", "evalgate", *argv]
    with subprocess.Popen(
        command, env=dict(env), stderr=subprocess.PIPE, text=True, errors="replace"
    ) as process:
        for line in process.stderr:  # streamed: progress shows as it happens
            print(line, end="", file=sys.stderr, flush=True)
            match = _ENGINE_ERROR.match(line.rstrip("\n"))
            if match:
                gha.error(match["message"], file=match["file"], line=match["line"], title="evalgate")
    return process.returncode


def engine_argv(
    command: str, settings: Settings, out: Path, *, current: Path | None, baseline: Path | None
) -> list[str]:
    argv = [command, "--config", settings.config]
    if command == "check":
        argv += ["--output", str(out / "results.json")]
        if settings.sample:
            argv += ["--sample", str(settings.sample)]
        if settings.label:
            argv += ["--label", settings.label]
    else:
        argv += ["--current", str(current)]
    if baseline is not None:
        argv += ["--baseline", str(baseline)]
    return [*argv, "--report", str(out / "report.md"), "--json", str(out / "verdict.json")]


# ---------------------------------------------------------------- baseline


def resolve_baseline(
    settings: Settings, event: Event, suite: str, gh: Any, scratch: Path
) -> tuple[Path | None, str]:
    """The baseline results file, and a sentence about where it came from (or why there is none)."""
    kind, value = artifacts.parse_baseline_input(settings.baseline)
    if kind == "none":
        return None, "no baseline (baseline: none): absolute thresholds only"
    if kind == "path":
        path = Path(value)
        if not path.is_file():
            raise InputError(
                f"input baseline: the file {value!r} does not exist (relative to {settings.working_directory})"
            )
        return path, f"baseline from {value}"
    if gh is None:
        gha.warning("no github_token: cannot look up the baseline artifact; absolute thresholds only")
        return None, "no baseline (no token to read artifacts): absolute thresholds only"
    branch = event.base_branch or event.default_branch
    prefer = event.base_sha if event.mode in ("pull_request", "push_base", "workflow_run") else None
    try:
        workflow_id = (
            event.workflow_id if event.mode == "workflow_run" else current_workflow_id(gh, settings.env)
        )
        found, notes = artifacts.fetch_baseline(
            gh,
            settings.token,
            repository=event.repository,
            workflow_id=workflow_id,
            branch=branch,
            prefer_sha=prefer,
            artifact_name=value,
            suite=suite,
            dest=scratch / "baseline",
            exclude_run_id=_int(settings.env.get("GITHUB_RUN_ID")),
        )
    except (GithubException, OSError) as exc:
        gha.warning(f"cannot look up the baseline artifact ({describe(exc)}); absolute thresholds only")
        return None, "no baseline (the artifact lookup failed): absolute thresholds only"
    for note in notes:
        print(f"evalgate: baseline: {note}", flush=True)
    if found is None:
        return None, f"no baseline artifact {value!r} on {branch}: absolute thresholds only"
    where = f"baseline from artifact {value!r} of run {found.run_id} ({found.head_sha[:7]} on {branch})"
    return found.path, where + (f"; {found.note}" if found.note else "")


def current_workflow_id(gh: Any, env: Mapping[str, str]) -> int | str | None:
    """This run's workflow: its id from the run, else the file named in GITHUB_WORKFLOW_REF."""
    repository, run_id = env.get("GITHUB_REPOSITORY"), _int(env.get("GITHUB_RUN_ID"))
    if repository and run_id:
        try:
            return gh.get_repo(repository).get_workflow_run(run_id).workflow_id
        except GithubException as exc:
            print(
                f"evalgate: cannot read run {run_id} ({describe(exc)}); using GITHUB_WORKFLOW_REF", flush=True
            )
    ref = env.get("GITHUB_WORKFLOW_REF", "")
    match = re.search(r"/\.github/workflows/([^@/]+)@", ref)
    return match.group(1) if match else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


# ---------------------------------------------------------------- the fork-safe second stage


def fetch_triggering_results(
    settings: Settings, event: Event, gh: Any, scratch: Path
) -> tuple[Path, dict[str, Any]]:
    """workflow_run: the results and context uploaded by the triggering run (data only: no code of it runs here)."""
    run = gh.get_repo(event.repository).get_workflow_run(event.workflow_run_id)
    wanted = [a for a in run.get_artifacts() if a.name == settings.results_artifact]
    if not wanted or wanted[0].expired:
        raise InputError(
            f"the triggering run {event.workflow_run_id} has no (unexpired) artifact {settings.results_artifact!r}; "
            "upload the evalgate output folder under that name in the first workflow"
        )
    try:
        files = artifacts.safe_extract(
            artifacts.download(wanted[0].archive_download_url, settings.token), scratch / "current"
        )
        results = artifacts.find_results(files)
    except artifacts.ArtifactError as exc:
        raise InputError(
            f"the artifact {settings.results_artifact!r} of run {event.workflow_run_id}: {exc}"
        ) from None
    context_files = [f for f in files if f.name == CONTEXT_FILE]
    context = {}
    if context_files:
        try:
            context = json.loads(context_files[0].read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            context = {}
    return results, context if isinstance(context, dict) else {}


def verified_pr_numbers(event: Event, context: Mapping[str, Any], gh: Any) -> list[int]:
    """The PRs to comment on in the second stage. The triggering run's own list (GitHub's, trusted) when it has one;
    a fork's PR is missing there, so the uploaded context names it, and it is only used when that PR's head really
    is the commit the triggering run tested."""
    if event.pr_numbers:
        return list(event.pr_numbers)
    number = context.get("pr_number")
    if not isinstance(number, int):
        return []
    pull = gh.get_repo(event.repository).get_pull(number)
    if pull.head.sha != event.head_sha:
        gha.warning(
            f"the uploaded context names PR #{number}, whose head is not {event.head_sha[:7]}: no comment"
        )
        return []
    return [number]


# ---------------------------------------------------------------- reporting


def load_verdict(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"the engine's verdict is unreadable ({exc})", file=path) from None
    if not isinstance(data, dict) or data.get("verdict") not in ("pass", "warn", "fail"):
        raise InputError("the verdict file has no verdict (pass, warn or fail)", file=path)
    return data


def overall_metrics(verdict: Mapping[str, Any]) -> dict[str, Any]:
    return {
        m["metric"]: m.get("current")
        for m in verdict.get("metrics") or []
        if isinstance(m, Mapping) and m.get("category") is None and isinstance(m.get("metric"), str)
    }


def build_outputs(
    verdict: Mapping[str, Any], paths: Mapping[str, str], comment_url: str | None
) -> dict[str, str]:
    """The step's outputs: verdict, paths, a JSON summary, and one output per overall metric (accuracy, ...)."""
    metrics = overall_metrics(verdict)
    summary = {
        "suite": verdict.get("suite"),
        "verdict": verdict.get("verdict"),
        "headline": verdict.get("headline"),
        "baseline": (verdict.get("baseline") or {}).get("available")
        if isinstance(verdict.get("baseline"), Mapping)
        else None,
        "reasons": [
            {k: r.get(k) for k in ("metric", "category", "severity", "message")}
            for r in verdict.get("reasons") or []
            if isinstance(r, Mapping)
        ],
        "metrics": metrics,
    }
    outputs = {
        "verdict": str(verdict.get("verdict")),
        "exit_code": str(verdict.get("exit_code", "")),
        "headline": str(verdict.get("headline") or ""),
        **paths,
        "summary": json.dumps(summary, sort_keys=True),
        "metrics": json.dumps(metrics, sort_keys=True),
        "comment_url": comment_url or "",
    }
    for name, value in metrics.items():
        if _OUTPUT_NAME.match(name) and name not in outputs:
            outputs[name] = "" if value is None else str(value)
    return outputs


def comment_body(
    verdict: dict[str, Any],
    report: str,
    results: Path,
    baseline: Path | None,
    marker: str,
    run_url: str | None,
) -> str:
    """The comment, rendered by the report module when it offers render_comment, else the engine's report."""
    try:
        from evalgate.report import render_comment  # the report module's comment renderer, when present
    except ImportError:
        return report
    current = json.loads(results.read_text(encoding="utf-8"))
    base = json.loads(baseline.read_text(encoding="utf-8")) if baseline else None
    return render_comment(
        verdict, current, base, marker=marker, max_length=comment.MAX_COMMENT_CHARS, run_url=run_url
    )


def comment_targets(event: Event, gh: Any, context: Mapping[str, Any]) -> list[int]:
    if event.mode == "pull_request":
        return [event.pr_number] if event.pr_number else []
    if event.mode == "push_other":
        commit = gh.get_repo(event.repository).get_commit(event.head_sha)
        return [p.number for p in commit.get_pulls() if p.state == "open"]
    if event.mode == "workflow_run":
        return verified_pr_numbers(event, context, gh)
    return []


def post_comments(
    gh: Any, event: Event, context: Mapping[str, Any], body: str, marker: str, policy: str, verdict: str
) -> tuple[list[comment.CommentResult], str]:
    """Post or update the sticky comment on every PR concerned; a GitHub failure is a warning, never a failure."""
    if policy == "never" or event.mode in ("push_base", "other"):
        return [], ""
    if gh is None:
        gha.warning("no github_token: the comment was not posted")
        return [], "not posted: no github_token"
    results = []
    try:
        numbers = comment.unique_numbers(comment_targets(event, gh, context))
        repo = gh.get_repo(event.repository)
        for number in numbers:
            results.append(
                comment.upsert_comment(
                    repo.get_issue(number), number, body, marker=marker, policy=policy, verdict=verdict
                )
            )
    except Exception as exc:  # a GitHub failure of any kind must not fail the gate
        if not (is_forbidden(exc) or is_transient(exc) or isinstance(exc, GithubException)):
            raise
        hint = (
            " The token is read-only (a pull request from a fork?): see the two-workflow pattern in docs/workflows.md."
            if is_forbidden(exc)
            else ""
        )
        gha.warning(
            f"evalgate could not post the PR comment: {describe(exc)}.{hint} The report is in the step summary."
        )
        return results, f"not posted: {describe(exc)}"
    return results, ""


def write_context(out: Path, event: Event, suite: str) -> None:
    """What the fork-safe second stage needs to know about this run (uploaded with the results)."""
    data = {
        "event": event.name,
        "mode": event.mode,
        "repository": event.repository,
        "pr_number": event.pr_number,
        "head_sha": event.head_sha,
        "base_sha": event.base_sha,
        "base_branch": event.base_branch,
        "suite": suite,
    }
    _write_atomic(out / CONTEXT_FILE, json.dumps(data, indent=2) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def gate_exit(verdict: str, fail_on: str) -> int:
    """The step's exit code: fail_on=fail fails on fail, warn also on warn, never never."""
    if fail_on == "never":
        return 0
    return 1 if verdict == "fail" or (verdict == "warn" and fail_on == "warn") else 0


def summary_markdown(
    report: str, baseline_note: str, comment_note: str, results: list[comment.CommentResult]
) -> str:
    lines = [report.rstrip(), "", f"<sub>evalgate: {baseline_note}."]
    for result in results:
        lines.append(
            f" PR #{result.number}: comment {result.action}{' (' + result.reason + ')' if result.reason else ''}."
        )
    if comment_note:
        lines.append(f" Comment {comment_note}.")
    return "\n".join(lines) + "</sub>\n"


# ---------------------------------------------------------------- main


def run(env: Mapping[str, str]) -> int:
    mask_secrets(env)
    settings = read_settings(env)
    event = load_event(
        env.get("GITHUB_EVENT_NAME"), env.get("GITHUB_EVENT_PATH"), sha=env.get("GITHUB_SHA", "")
    )
    if event.deleted:
        gha.notice(f"the push deleted {event.branch or 'a ref'}: nothing to evaluate")
        return 0
    os.chdir(settings.workspace / settings.working_directory)
    if settings.install:
        install_requirements(settings.install, env)
    config = read_config_facts(settings.config)
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    gh = make_github(settings.token, api_url(env), ClientSettings.from_env(env)) if settings.token else None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_url = (
        f"{server}/{event.repository}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ID")
        else None
    )

    with tempfile.TemporaryDirectory(prefix="evalgate-") as scratch:
        context: dict[str, Any] = {}
        if event.mode == "workflow_run":
            if gh is None:
                raise InputError(
                    "input github_token is empty: the workflow_run stage needs it to read the artifacts"
                )
            current, context = fetch_triggering_results(settings, event, gh, Path(scratch))
            if not event.base_sha and isinstance(context.get("base_sha"), str):
                event = _with_base(event, context)
        baseline, baseline_note = resolve_baseline(settings, event, config.suite, gh, Path(scratch))
        print(f"evalgate: {baseline_note}", flush=True)
        # the commit under test, for the results file: the PR's head, not GitHub's merge commit
        engine_env = {**env, "EVALGATE_HEAD_SHA": event.head_sha, "EVALGATE_HEAD_REF": event.branch or ""}
        if event.mode == "workflow_run":
            code = run_engine(
                engine_argv("gate", settings, out, current=current, baseline=baseline), engine_env
            )
            results_path = current
        else:
            code = run_engine(
                engine_argv("check", settings, out, current=None, baseline=baseline), engine_env
            )
            results_path = out / "results.json"
        if code not in (0, 1) or not (out / "verdict.json").is_file():
            gha.error(
                f"evalgate stopped with exit code {code} without a verdict: nothing was judged (see the log)"
            )
            return 2
        verdict = load_verdict(out / "verdict.json")
        report_path = out / "report.md"
        report = (
            report_path.read_text(encoding="utf-8")
            if report_path.is_file()
            else f"**{verdict.get('headline', '')}**"
        )
        write_context(out, event, config.suite)
        if event.mode == "workflow_run":  # keep the results next to the verdict for later steps
            _write_atomic(out / "results.json", results_path.read_text(encoding="utf-8"))
            results_path = out / "results.json"

        marker = comment.marker_for(config.suite)
        body = comment.fit_body(
            comment_body(verdict, report, results_path, baseline, marker, run_url),
            marker,
            digest=comment.results_digest(verdict),
            run_url=run_url,
        )
        posted, comment_note = post_comments(
            gh, event, context, body, marker, settings.comment, verdict["verdict"]
        )

    annotate(verdict.get("reasons"), config, workspace=settings.workspace)
    prefix = Path(settings.working_directory)
    paths = {
        "results_path": os.path.normpath(prefix / results_path),
        "report_path": os.path.normpath(prefix / report_path),
        "verdict_path": os.path.normpath(prefix / out / "verdict.json"),
    }
    comment_url = next((r.url for r in posted if r.url), None)
    gha.write_outputs(env.get("GITHUB_OUTPUT"), build_outputs(verdict, paths, comment_url))
    gha.write_summary(
        env.get("GITHUB_STEP_SUMMARY"), summary_markdown(report, baseline_note, comment_note, posted)
    )
    for result in posted:
        print(
            f"evalgate: PR #{result.number}: comment {result.action} {result.url or ''} {result.reason}".rstrip(),
            flush=True,
        )
    return gate_exit(verdict["verdict"], settings.fail_on)


def _with_base(event: Event, context: Mapping[str, Any]) -> Event:
    from dataclasses import replace

    return replace(
        event, base_sha=context.get("base_sha"), base_branch=event.base_branch or context.get("base_branch")
    )


def main(env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        return run(env)
    except InputError as exc:
        gha.error(exc.message, file=exc.file, line=exc.line, title="evalgate: bad input")
        print(f"evalgate: error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
