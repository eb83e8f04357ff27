"""evalgate's GitHub Action: turns the action's inputs into an engine call, then reports back to GitHub.

Inputs come as INPUT_* variables (evalgate.github.inputs); the engine is the command `evalgate check` (or `gate`,
in the fork-safe second stage, on results uploaded by the first), called in-process under the engine's own
supervisor (evalgate.process.supervisor.run_supervised: a forked child runs it, so code under test that ends
the process, or crashes it, ends a child that never reported, never this step with a green status); its exit
code and bad input (message, file, line) come back structured, never parsed from its log. The GitHub side
(baseline artifacts, outputs, step summary, annotations, the sticky comment) lives in evalgate.github.
Exit codes (evalgate.process.exitcodes): 0 the gate passed (or fail_on allowed it), 1 it failed, 2 bad input or the engine
stopped without a verdict (nothing was judged), 3 the run did not complete (whatever fail_on says).
A GitHub API failure (a fork's read-only token, an outage) is a warning, never a failed gate.
"""

from __future__ import annotations

import importlib
import os
import shlex
import site
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from github import Github

from evalgate.contracts.verdict import VerdictDocument
from evalgate.errors import InputError
from evalgate.files.fileio import real_path, write_text_atomic
from evalgate.github import actions_io as gha
from evalgate.github import comment, publish, sources
from evalgate.github.annotations import ConfigFacts, annotate, read_config_facts, workspace_relative
from evalgate.github.client import ClientSettings, api_url, make_github
from evalgate.github.event import Event, load_event
from evalgate.github.inputs import Settings, gate_exit, mask_secrets, read_settings
from evalgate.outbound import echo
from evalgate.process.exitcodes import ExitCode, for_signal, signal_name
from evalgate.process.supervisor import Ending, run_supervised
from evalgate.report.render import comment_marker

ENGINE_FILES = ("results.json", "report.md", "verdict.json", "comment.md")
VERDICT_CODES = (
    ExitCode.PASS,
    ExitCode.FAIL,
    ExitCode.INCOMPLETE,
)  # the engine's codes that come with a verdict


def run_engine(argv: list[str], env: Mapping[str, str]) -> Ending:
    """Run the engine's command line ARGV in-process, supervised, with `env` as its environment; its bad input
    becomes one ::error:: annotation at its file and line (relative to the repository root, as GitHub wants it;
    the engine names files as it opened them), and an ending without a report (killed, exited) one more.

    The engine's stderr (progress, the target's own output) is echoed line by line as it comes, made inert: it
    can carry data from results files and the code under test, never a workflow command. The engine is the
    evalgate this entrypoint imported, never a folder named `evalgate` in the user's repository."""

    def command() -> tuple[int, dict[str, Any] | None]:
        """In the forked child: the engine's environment, then the command line."""
        from evalgate import cli

        os.environ.clear()
        os.environ.update(env)
        see_installed_packages()
        return cli.run(argv)

    ending = run_supervised(command, stderr=echo)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    if ending.error is not None:
        file = ending.error["file"]
        where = workspace_relative(Path(file), workspace) if file else None
        gha.error(ending.error["message"], file=where, line=ending.error["line"], title="evalgate")
    if ending.reason is not None:
        gha.error(ending.reason, title="evalgate")
    return ending


def see_installed_packages() -> None:
    """What `install:` put in site-packages since this process started, as a new interpreter would see it: the
    .pth files read again (an editable install's path) and the import system's folder caches dropped."""
    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        if os.path.isdir(folder):
            site.addsitedir(folder)
    importlib.invalidate_caches()


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
    reports = ["--report", str(out / "report.md"), "--json", str(out / "verdict.json")]
    return [*argv, *reports, "--comment", str(out / "comment.md")]


def append_history(settings: Settings, results: Path, branch: str, sha: str, env: Mapping[str, str]) -> None:
    """A run on the base branch joins the history (trends, drift alarms): `evalgate history --append`, which keeps
    only runs of the config's history branch. Keep the store between runs with actions/cache (docs/workflows.md)."""
    gha.issue_command("group", "evalgate history")
    argv = [
        "history",
        "--config",
        settings.config,
        "--append",
        str(results),
        "--branch",
        branch,
        "--sha",
        sha,
    ]
    ending = run_engine(argv, env)
    gha.issue_command("endgroup", "")
    stopped(ending)
    code = ending.code
    if code != 0:
        gha.warning(
            f"evalgate history --append stopped with exit code {code}: this run is not in the history"
        )


def install_requirements(args: list[str], env: Mapping[str, str]) -> None:
    """`pip install ARGS` (the model's own dependencies), within the image's pinned versions."""
    constraints = env.get("EVALGATE_CONSTRAINTS")
    command = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check"]
    command += ["-c", constraints] if constraints and Path(constraints).is_file() else []
    gha.issue_command("group", f"pip install {shlex.join(args)}")
    code = subprocess.run([*command, *args], env=dict(env), check=False).returncode
    gha.issue_command("endgroup", "")
    if code != 0:
        raise InputError(f"input install: pip install {shlex.join(args)} failed (exit code {code})")


def head_env(env: Mapping[str, str], event: Any) -> dict[str, str]:
    """The engine's environment with the commit under test: the PR's head, not GitHub's merge commit."""
    return {**env, "EVALGATE_HEAD_SHA": event.head_sha, "EVALGATE_HEAD_REF": event.branch or ""}


def run_shard(settings: Settings, shard: str, event: Any, out: Path, env: Mapping[str, str]) -> int:
    """Shard mode (input shard: I/N): run that shard only and leave its results in output_dir for the upload; the
    merge job judges them. The run's own code (3 when it did not complete, which the merge reports too)."""
    argv = [
        "run",
        "--config",
        settings.config,
        "--shard",
        shard,
        "--output",
        str(out / "results.json"),
    ]
    argv += ["--sample", str(settings.sample)] if settings.sample else []
    argv += ["--label", settings.label] if settings.label else []
    ending = run_engine(argv, head_env(env, event))
    stopped(ending)
    code = ending.code
    if code not in (ExitCode.PASS, ExitCode.INCOMPLETE) or not (out / "results.json").is_file():
        gha.error(
            f"shard {settings.shard} stopped with exit code {code} without results: the merge will miss it"
        )
        return ExitCode.BAD_INPUT
    workspace = real_path(settings.workspace)
    path = os.path.relpath(real_path(out / "results.json"), workspace)
    gha.write_outputs(env.get("GITHUB_OUTPUT"), {"results_path": path})
    echo(
        f"evalgate: shard {settings.shard}: results in {path}; upload them for the merge job", file=sys.stdout
    )
    return code


def merge_shards(
    settings: Settings, gh: Any, scratch: Path, env: Mapping[str, str], event: Any, suite: str
) -> Path:
    """Merge mode: `evalgate merge` of the shards' results into one results file, the gate's current run. A
    missing, foreign or overlapping shard is an InputError naming it (exit 2): never a verdict of the rest; the
    sticky comment says so, so an earlier run's comment is not left standing as this run's."""
    try:
        paths = sources.collect_shard_results(settings, gh, scratch)
        merged = scratch / "merged.json"
        argv = ["merge", *map(str, paths), "--config", settings.config, "--output", str(merged)]
        ending = run_engine(argv, env)
        stopped(ending)
        if ending.code not in (ExitCode.PASS, ExitCode.INCOMPLETE) or not merged.is_file():
            if ending.error is not None:  # `evalgate merge`'s one message, naming the shard and the cases
                raise InputError(ending.error["message"])
            raise InputError(
                f"the results of {len(paths)} shards could not be merged (`evalgate merge` exit code "
                f"{ending.code}; the step's log says why)"
            )
    except InputError as exc:
        body = MERGE_FAILED.format(why=exc.message, run=gha.run_url(env) or "the workflow run")
        marker = comment_marker(suite)
        publish.post_comments(gh, event, {}, comment.fit_body(body, marker), marker, settings.comment, "fail")
        raise
    return merged


MERGE_FAILED = """### evalgate: FAIL: the shards could not be merged

Nothing was judged: {why}. A sharded run passes only when the results of every shard merge into one run (a shard
that failed before uploading its results is missing). See {run}.
"""


def run(env: Mapping[str, str]) -> int:
    """The whole action; returns the step's exit code. Bad input raises InputError."""
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
    mask_secrets(env, config.secret_env_names)  # what the config's providers read: ${NAME}, api_key_env
    out = Path(settings.output_dir)
    for name in ENGINE_FILES:  # a verdict left by an earlier run must never pass for this one's
        (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if settings.shard:
        return run_shard(settings, settings.shard, event, out, env)
    gh = make_github(settings.token, api_url(env), ClientSettings.from_env(env)) if settings.token else None
    with tempfile.TemporaryDirectory(prefix="evalgate-") as scratch:
        judged = judge_and_comment(settings, event, config, gh, Path(scratch), env)
    if judged is None:
        return ExitCode.BAD_INPUT
    publish_step(judged, settings, config, env)
    return ExitCode.INCOMPLETE if judged.incomplete else gate_exit(judged.verdict.verdict, settings.fail_on)


@dataclass(frozen=True)
class Judged:
    """What the step publishes once the engine has judged the run and the comments are posted."""

    verdict: VerdictDocument
    incomplete: bool
    report: str
    baseline_note: str
    comment_note: str
    posted: list[comment.CommentResult]


def judge_and_comment(
    settings: Settings,
    event: Event,
    config: ConfigFacts,
    gh: Github | None,
    scratch: Path,
    env: Mapping[str, str],
) -> Judged | None:
    """Run the engine on this run (or the fetched or merged one) against the baseline, keep its files and post the
    comment; None (after an error annotation) when the engine ended without a verdict."""
    out = Path(settings.output_dir)
    context: dict[str, Any] = {}
    current = None
    if event.mode == "workflow_run":
        current, context = sources.fetch_triggering_results(settings, event, gh, scratch)
        if not event.base_sha and isinstance(context.get("base_sha"), str):
            event = replace(event, base_sha=context["base_sha"])
    elif settings.merge:
        current = merge_shards(settings, gh, scratch, env, event, config.suite)
    baseline, baseline_note = sources.resolve_baseline(settings, event, config.suite, gh, scratch)
    echo(f"evalgate: {baseline_note}", file=sys.stdout)
    # the commit under test, for the results file: the PR's head, not GitHub's merge commit
    engine_env = head_env(env, event)
    command = "gate" if current else "check"
    ending = run_engine(engine_argv(command, settings, out, current=current, baseline=baseline), engine_env)
    stopped(ending)
    code = ending.code
    if code not in VERDICT_CODES or not (out / "verdict.json").is_file():
        gha.error(
            f"evalgate stopped with exit code {code} without a verdict: nothing was judged (see the log)"
        )
        return None
    verdict = publish.load_verdict(out / "verdict.json")
    incomplete = ExitCode.INCOMPLETE in (code, verdict.exit_code)
    if incomplete:  # the headline says why (a spent budget); such a run never passes nor joins the history
        gha.error(f"the run did not complete: {verdict.headline}", title="evalgate: run incomplete")
    branch = event.branch or env.get("GITHUB_REF_NAME", "")
    ran_here = not current or settings.merge  # a merged run is this workflow's own run
    if event.mode in ("push_base", "other") and branch and ran_here and not incomplete:
        append_history(settings, out / "results.json", branch, event.head_sha, engine_env)
    if current:  # keep the judged results next to the verdict, for later steps
        write_text_atomic(out / "results.json", current.read_text(encoding="utf-8"))
    # the engine writes report.md and comment.md before verdict.json (and stale ones were removed above)
    report = (out / "report.md").read_text(encoding="utf-8")
    publish.write_context(out, event, config.suite)
    marker = comment_marker(config.suite)
    rendered = (out / "comment.md").read_text(encoding="utf-8")
    body = comment.fit_body(
        rendered, marker, digest=comment.results_digest(verdict), run_url=gha.run_url(env)
    )
    posted, comment_note = publish.post_comments(
        gh, event, context, body, marker, settings.comment, verdict.verdict
    )
    return Judged(verdict, incomplete, report, baseline_note, comment_note, posted)


def publish_step(judged: Judged, settings: Settings, config: ConfigFacts, env: Mapping[str, str]) -> None:
    """The step's annotations, outputs and summary, and a log line per comment posted."""
    out = Path(settings.output_dir)
    annotate(judged.verdict.reasons, config, workspace=settings.workspace)
    workspace = real_path(settings.workspace)
    paths = {  # relative to the workspace, where later steps find them (output_dir is inside it)
        name: os.path.relpath(real_path(out / file), workspace)
        for name, file in (
            ("results_path", "results.json"),
            ("report_path", "report.md"),
            ("verdict_path", "verdict.json"),
        )
    }
    comment_url = next((r.url for r in judged.posted if r.url), None)
    gha.write_outputs(env.get("GITHUB_OUTPUT"), publish.build_outputs(judged.verdict, paths, comment_url))
    summary = publish.summary_markdown(
        judged.report, judged.baseline_note, judged.comment_note, judged.posted
    )
    gha.write_summary(env.get("GITHUB_STEP_SUMMARY"), summary)
    for result in judged.posted:
        echo(
            f"evalgate: PR #{result.number}: comment {result.action} {result.url or ''} {result.reason}",
            file=sys.stdout,
        )


class Stopped(Exception):
    """A stop signal (the runner cancelling the job) reached this step while the engine ran: nothing was judged."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def stopped(ending: Ending) -> None:
    """Raise Stopped when the engine ended because this step received a stop signal (passed on to it)."""
    if ending.signal is not None:
        raise Stopped(ending.signal)


def main(env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    gha.start_step()
    try:
        return _main(env)
    finally:  # the annotations beyond GitHub's limit: named in the last one of their type
        gha.end_step()


def _main(env: dict[str, str]) -> int:
    try:
        return run(env)
    except Stopped as exc:
        gha.error(f"evalgate was stopped by {exc}: nothing was judged", title="evalgate: stopped")
        return for_signal(exc.signum)
    except InputError as exc:
        workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
        file = workspace_relative(Path(exc.file), workspace) if exc.file else None
        gha.error(exc.message, file=file, line=exc.line, title="evalgate: bad input")
        echo(f"evalgate: error: {exc}")
        gha.write_summary(env.get("GITHUB_STEP_SUMMARY"), f"### evalgate could not run\n\n`{exc}`\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
