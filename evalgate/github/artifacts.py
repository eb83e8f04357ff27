"""The baseline from a workflow artifact: the results file uploaded by the last good run on the base branch.

Trust rules (forks share a repository's artifact namespace, and a fork's run can be on a branch called main):
only successful runs of the same workflow, triggered by push/schedule/workflow_dispatch on the base branch, whose
head repository is this repository. The run of the PR's base commit is preferred, else the newest. Expired
artifacts are skipped. The zip is downloaded through its redirect without sending the token to the blob host, and
extracted with checks on paths, links, sizes and file count.
"""

from __future__ import annotations

import io
import itertools
import json
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin

import requests
from github import Github
from github.WorkflowRun import WorkflowRun

from evalgate.errors import InputError

# events of the base branch whose results may serve as a baseline
TRUSTED_EVENTS = ("push", "schedule", "workflow_dispatch")
MAX_RUNS_SCANNED = 100
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
MAX_EXTRACTED_BYTES = 1024 * 1024 * 1024
MAX_FILES = 2000
RESULTS_NAMES = ("results.json", "baseline.json")


class ArtifactError(Exception):
    """The artifact could not be used (missing, unsafe, unreadable): evalgate proceeds without that baseline."""


@dataclass(frozen=True)
class Baseline:
    """A results file found in an artifact, and where it came from."""

    path: Path
    run_id: int
    head_sha: str
    note: str = ""


def trusted_runs(runs: Iterable[WorkflowRun], repository: str, branch: str) -> list[WorkflowRun]:
    """The runs that may give a baseline: successful, of a trusted event, on `branch`, of this very repository."""
    kept = []
    for run in runs:
        head_repo = run.raw_data.get("head_repository") or {}
        if (
            run.conclusion == "success"
            and run.event in TRUSTED_EVENTS
            and run.head_branch == branch
            and head_repo.get("full_name") == repository
        ):
            kept.append(run)
    return kept


def order_candidates(runs: list[WorkflowRun], prefer_sha: str | None) -> list[WorkflowRun]:
    """The run of the preferred commit first (its newest attempt), then the others newest first."""
    newest_first = sorted(runs, key=lambda r: (r.raw_data.get("created_at") or "", r.id), reverse=True)
    return [r for r in newest_first if prefer_sha and r.head_sha == prefer_sha] + [
        r for r in newest_first if not (prefer_sha and r.head_sha == prefer_sha)
    ]


def list_runs(gh: Github, repository: str, workflow_id: int | str | None, branch: str) -> list[WorkflowRun]:
    """Successful runs on the branch of the workflow (of any workflow of the repository when it is unknown)."""
    repo = gh.get_repo(repository)
    if workflow_id:
        runs = repo.get_workflow(workflow_id).get_runs(branch=branch, status="success")
    else:
        runs = repo.get_workflow_runs(branch=branch, status="success")
    return list(itertools.islice(runs, MAX_RUNS_SCANNED))


def download(url: str, token: str, *, timeout: float = 60, max_bytes: int = MAX_ARCHIVE_BYTES) -> bytes:
    """GET an artifact archive: the API answers 302 to a blob URL on another host, fetched WITHOUT the token.

    A network failure is an ArtifactError naming only its kind: the blob URL's query string is a credential
    (a signed URL), and requests' messages quote the URL."""
    try:
        return _download(url, token, timeout=timeout, max_bytes=max_bytes)
    except requests.RequestException as exc:
        raise ArtifactError(f"the artifact download failed ({type(exc).__name__})") from None


def _download(url: str, token: str, *, timeout: float, max_bytes: int) -> bytes:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    response = session.get(url, headers=headers, allow_redirects=False, timeout=timeout, stream=True)
    for _ in range(5):
        if response.status_code not in (301, 302, 303, 307, 308):
            break
        location = urljoin(response.url, response.headers["Location"])
        response.close()
        # a signed URL: no Authorization header to a host that is not the API
        response = session.get(location, allow_redirects=False, timeout=timeout, stream=True)
    if response.status_code == 410:
        raise ArtifactError("the artifact has expired (410 Gone)")
    if response.status_code != 200:
        raise ArtifactError(f"the artifact download answered {response.status_code}")
    data = bytearray()
    for chunk in response.iter_content(1 << 16):
        data += chunk
        if len(data) > max_bytes:
            raise ArtifactError(f"the artifact archive is larger than {max_bytes} bytes")
    return bytes(data)


def _safe_member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ArtifactError(f"unsafe path in the artifact: {name!r}")
    return path


def safe_extract(
    archive: bytes, dest: Path, *, max_bytes: int = MAX_EXTRACTED_BYTES, max_files: int = MAX_FILES
) -> list[Path]:
    """Extract a zip into dest, refusing absolute or `..` paths, links, more than max_files files or max_bytes bytes
    (counted while decompressing, not trusted from the headers). Returns the files written."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"the artifact is not a zip file ({exc})") from None
    members = bundle.infolist()
    if len(members) > max_files:
        raise ArtifactError(f"the artifact holds {len(members)} files, more than {max_files}")
    for info in members:  # check everything before writing anything
        _safe_member_path(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArtifactError(f"the artifact holds a symbolic link: {info.filename!r}")
    written, total = [], 0
    root = dest.resolve()
    for info in members:
        target = (root / _safe_member_path(info.filename)).resolve()
        if root not in target.parents and target != root:
            raise ArtifactError(f"unsafe path in the artifact: {info.filename!r}")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with bundle.open(info) as source, open(target, "wb") as sink:
            while chunk := source.read(1 << 16):
                total += len(chunk)
                if total > max_bytes:
                    raise ArtifactError(f"the artifact unpacks to more than {max_bytes} bytes")
                sink.write(chunk)
        written.append(target)
    return written


def find_results(files: list[Path]) -> Path:
    """The results file among extracted files: results.json (or baseline.json) first, else any results-shaped JSON."""
    by_name = sorted(
        (f for f in files if f.name in RESULTS_NAMES),
        key=lambda f: (len(f.parts), RESULTS_NAMES.index(f.name)),
    )
    for candidate in by_name + sorted(f for f in files if f.suffix == ".json" and f not in by_name):
        if _looks_like_results(candidate):
            return candidate
    raise ArtifactError("no results file (results.json) in the artifact")


def _looks_like_results(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "suite" in data and "metrics" in data and "schema_version" in data


def check_signature(path: Path, suite: str) -> dict[str, Any]:
    """The results must be of the same suite; the gate compares the detailed signature."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("suite") != suite:
        raise ArtifactError(f"the artifact's results are of suite {data.get('suite')!r}, not {suite!r}")
    return data


def fetch_baseline(
    gh: Github,
    token: str,
    *,
    repository: str,
    workflow_id: int | str | None,
    branch: str,
    prefer_sha: str | None,
    artifact_name: str,
    suite: str,
    dest: Path,
    exclude_run_id: int | None = None,
) -> tuple[Baseline | None, list[str]]:
    """The newest usable baseline, and notes on every candidate passed over (for the log and the summary)."""
    notes: list[str] = []
    runs = trusted_runs(list_runs(gh, repository, workflow_id, branch), repository, branch)
    runs = [r for r in runs if r.id != exclude_run_id]
    if not runs:
        notes.append(f"no successful push run on {branch} of {repository}")
    for run in order_candidates(runs, prefer_sha):
        artifacts = [a for a in run.get_artifacts() if a.name == artifact_name]
        if not artifacts:
            notes.append(f"run {run.id}: no artifact named {artifact_name!r}")
            continue
        artifact = artifacts[0]
        if artifact.expired:
            notes.append(f"run {run.id}: artifact {artifact_name!r} has expired")
            continue
        target = dest / f"run-{run.id}"
        try:
            files = safe_extract(download(artifact.archive_download_url, token), target)
            results = find_results(files)
            check_signature(results, suite)
        except ArtifactError as exc:
            notes.append(f"run {run.id}: {exc}")
            continue
        except (OSError, json.JSONDecodeError) as exc:
            notes.append(f"run {run.id}: {type(exc).__name__}: {exc}")
            continue
        note = (
            ""
            if not prefer_sha or run.head_sha == prefer_sha
            else f"no run of {prefer_sha[:7]}; took the newest"
        )
        return Baseline(results, run.id, run.head_sha, note), notes
    return None, notes


def parse_baseline_input(value: str) -> tuple[str, str | None]:
    """`artifact:NAME` -> ("artifact", NAME); `none` -> ("none", None); anything else -> ("path", value)."""
    if value.lower() == "none":
        return "none", None
    if value.startswith("artifact:"):
        name = value.removeprefix("artifact:").strip()
        if not name:
            raise InputError("baseline: artifact: needs an artifact name, e.g. artifact:evalgate-baseline")
        return "artifact", name
    return "path", value
