"""Where the results to judge come from: the baseline (an artifact, a file or none) and, in the fork-safe second
stage, the current results uploaded by the triggering run."""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from github import Github, GithubException

from evalgate.errors import InputError
from evalgate.github import actions_io as gha
from evalgate.github import artifacts
from evalgate.github.client import describe
from evalgate.github.event import Event
from evalgate.github.inputs import Settings
from evalgate.outbound import echo

CONTEXT_FILE = "context.json"


def resolve_baseline(
    settings: Settings, event: Event, suite: str, gh: Github | None, scratch: Path
) -> tuple[Path | None, str]:
    """The baseline results file, and a sentence about where it came from (or why there is none)."""
    kind, value = artifacts.parse_baseline_input(settings.baseline)
    if kind == "none" or value is None:  # a value comes with every kind but none
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
        echo(f"evalgate: baseline: {note}", file=sys.stdout)
    if found is None:
        return None, f"no baseline artifact {value!r} on {branch}: absolute thresholds only"
    where = f"baseline from artifact {value!r} of run {found.run_id} ({found.head_sha[:7]} on {branch})"
    return found.path, where + (f"; {found.note}" if found.note else "")


def current_workflow_id(gh: Github, env: Mapping[str, str]) -> int | str | None:
    """This run's workflow: its id from the run, else the file named in GITHUB_WORKFLOW_REF."""
    repository, run_id = env.get("GITHUB_REPOSITORY"), _int(env.get("GITHUB_RUN_ID"))
    if repository and run_id:
        try:
            return gh.get_repo(repository).get_workflow_run(run_id).workflow_id
        except GithubException as exc:
            echo(
                f"evalgate: cannot read run {run_id} ({describe(exc)}); using GITHUB_WORKFLOW_REF",
                file=sys.stdout,
            )
    ref = env.get("GITHUB_WORKFLOW_REF", "")
    match = re.search(r"/\.github/workflows/([^@/]+)@", ref)
    return match.group(1) if match else None


def _int(text: str | None) -> int | None:
    return int(text) if text and re.fullmatch(r"[0-9]{1,18}", text) else None


def fetch_triggering_results(
    settings: Settings, event: Event, gh: Github | None, scratch: Path
) -> tuple[Path, dict[str, Any]]:
    """workflow_run: the results and context uploaded by the triggering run (data only: no code of it runs here)."""
    if gh is None:
        raise InputError("input github_token is empty: the workflow_run stage needs it to read the artifacts")
    if event.workflow_run_id is None:  # Event.load requires it for a workflow_run event
        raise InputError("the workflow_run stage runs only on a workflow_run event")
    try:
        run = gh.get_repo(event.repository).get_workflow_run(event.workflow_run_id)
        wanted = [a for a in run.get_artifacts() if a.name == settings.results_artifact]
        if not wanted or wanted[0].expired:
            raise InputError(
                f"the triggering run {event.workflow_run_id} has no (unexpired) artifact "
                f"{settings.results_artifact!r}; upload the evalgate output folder under that name in the first "
                "workflow"
            )
        archive = artifacts.download(wanted[0].archive_download_url, settings.token)
        files = artifacts.safe_extract(archive, scratch / "current")
        results = artifacts.find_results(files)
        context_files = [f for f in files if f.name == CONTEXT_FILE]
        context = artifacts.read_artifact_json(context_files[0], what=CONTEXT_FILE) if context_files else {}
    except artifacts.ArtifactError as exc:
        raise InputError(
            f"the artifact {settings.results_artifact!r} of run {event.workflow_run_id}: {exc}"
        ) from None
    except (GithubException, requests.RequestException) as exc:  # no results to judge: nothing can be gated
        raise InputError(
            f"cannot read the artifacts of the triggering run {event.workflow_run_id}: {describe(exc)}"
        ) from None
    return results, context if isinstance(context, dict) else {}


def collect_shard_results(settings: Settings, gh: Github | None, scratch: Path) -> list[Path]:
    """Merge mode: each shard's results file, from `shards_dir` or from this workflow run's artifacts named by
    `shard_artifacts` (data only). None at all is an InputError; which ones are missing, `evalgate merge` says."""
    if settings.shards_dir:
        found = sorted(Path(settings.shards_dir).rglob("results.json"))
        if not found:
            raise InputError(
                f"input shards_dir: no results.json below {settings.shards_dir!r}; no shard to merge"
            )
        return found
    if gh is None:
        raise InputError(
            "input github_token is empty: merging the shards needs it to read this run's artifacts"
        )
    repository, run_id = settings.env.get("GITHUB_REPOSITORY"), _int(settings.env.get("GITHUB_RUN_ID"))
    if not repository or not run_id:
        raise InputError(
            "merge: GITHUB_REPOSITORY and GITHUB_RUN_ID are not set; give the shards in shards_dir"
        )
    pattern = settings.shard_artifacts
    try:
        run = gh.get_repo(repository).get_workflow_run(run_id)
        wanted = sorted((a for a in run.get_artifacts() if fnmatch.fnmatchcase(a.name, pattern)), key=_name)
        if not wanted:
            raise InputError(
                f"run {run_id} has no artifact named like {pattern!r}: no shard uploaded its results (every shard "
                "failed, or the upload step names them otherwise); nothing to merge"
            )
        paths = []
        for artifact in wanted:
            if artifact.expired:
                raise InputError(f"the shard artifact {artifact.name!r} of run {run_id} has expired")
            try:
                archive = artifacts.download(artifact.archive_download_url, settings.token)
                files = artifacts.safe_extract(archive, scratch / "shards" / f"{artifact.id}")
                paths.append(artifacts.find_results(files))
            except artifacts.ArtifactError as exc:
                raise InputError(f"the shard artifact {artifact.name!r} of run {run_id}: {exc}") from None
    except (GithubException, requests.RequestException) as exc:
        raise InputError(f"cannot read the shard artifacts of run {run_id}: {describe(exc)}") from None
    return paths


def _name(artifact: Any) -> str:
    return artifact.name
