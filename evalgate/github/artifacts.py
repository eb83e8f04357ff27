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
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin

import requests
from github import Github
from github.WorkflowRun import WorkflowRun

from evalgate.errors import InputError
from evalgate.files.jsonio import load_json
from evalgate.files.limits import (
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_FILES,
    MAX_ARCHIVE_PATH_CHARS,
    MAX_ARCHIVE_PATH_PARTS,
    MAX_EXTRACTED_BYTES,
)

# events of the base branch whose results may serve as a baseline
TRUSTED_EVENTS = ("push", "schedule", "workflow_dispatch")
MAX_RUNS_SCANNED = 100
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
        # PyGithub takes a branch name (its docs say so) though it annotates only a Branch object
        runs = repo.get_workflow_runs(branch=branch, status="success")  # type: ignore[arg-type]
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
        if not response.headers.get("Location"):
            raise ArtifactError(f"the artifact download answered {response.status_code} without a Location")
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


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """An entry's path, refused unless it is a plain relative path of a sane length below the folder."""
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if not path.parts or path.is_absolute() or ".." in path.parts or ":" in path.parts[0] or "\x00" in name:
        raise ArtifactError(f"unsafe path in the artifact: {name!r}")
    if len(path.parts) > MAX_ARCHIVE_PATH_PARTS or len(name) > MAX_ARCHIVE_PATH_CHARS:
        raise ArtifactError(
            f"the artifact holds a path {len(path.parts)} folders deep ({len(name)} characters); at most "
            f"{MAX_ARCHIVE_PATH_PARTS} folders and {MAX_ARCHIVE_PATH_CHARS} characters are unpacked"
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArtifactError(f"the artifact holds a symbolic link: {name!r}")
    return path


def _check_members(
    members: list[zipfile.ZipInfo], max_bytes: int
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every entry checked before anything is written: its path, and that no name is both a file and a folder
    (`x` and `x/`, or `x` and `x/y`) nor a file twice, so unpacking cannot fail half-way."""
    checked = [(info, _member_path(info)) for info in members]
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    for info, path in checked:
        folders.update(path.parents)
        if info.is_dir():
            folders.add(path)
        elif path in files:
            raise ArtifactError(f"the artifact holds {str(path)!r} twice")
        else:
            files.add(path)
    clash = sorted(files & folders)
    if clash:
        raise ArtifactError(f"the artifact holds both a file and a folder named {str(clash[0])!r}")
    declared = sum(info.file_size for info, _ in checked)
    if declared > max_bytes:
        raise ArtifactError(f"the artifact unpacks to more than {max_bytes} bytes")
    return checked


def safe_extract(
    archive: bytes, dest: Path, *, max_bytes: int = MAX_EXTRACTED_BYTES, max_files: int = MAX_ARCHIVE_FILES
) -> list[Path]:
    """Extract a zip into dest, refusing absolute or `..` paths, paths too deep or too long, links, a name that is
    both a file and a folder, more than max_files files or max_bytes bytes (counted while decompressing, not
    trusted from the headers). Returns the files written. Whatever is wrong with the archive is an ArtifactError.
    """
    try:
        return _extract(archive, dest, max_bytes=max_bytes, max_files=max_files)
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        RuntimeError,
        NotImplementedError,
        EOFError,
        zlib.error,
    ) as exc:
        # a corrupt entry (a bad CRC), an encrypted one, an unknown compression method
        raise ArtifactError(f"the artifact cannot be unpacked ({type(exc).__name__}: {exc})") from None


def _extract(archive: bytes, dest: Path, *, max_bytes: int, max_files: int) -> list[Path]:
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"the artifact is not a zip file ({exc})") from None
    members = bundle.infolist()
    if len(members) > max_files:
        raise ArtifactError(f"the artifact holds {len(members)} files, more than {max_files}")
    written, total = [], 0
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    for info, path in _check_members(members, max_bytes):
        target = root.joinpath(*path.parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with bundle.open(info) as source, open(target, "xb") as sink:
            while chunk := source.read(1 << 16):
                total += len(chunk)
                if total > max_bytes:
                    raise ArtifactError(f"the artifact unpacks to more than {max_bytes} bytes")
                sink.write(chunk)
        written.append(target)
    return written


def find_results(files: list[Path]) -> Path:
    """The results file among extracted files: results.json (or baseline.json) first, else any results-shaped JSON.

    A file named results.json that cannot be read (not JSON, nested too deep, ...) is an ArtifactError; another
    JSON file that cannot is passed over."""
    by_name = sorted(
        (f for f in files if f.name in RESULTS_NAMES),
        key=lambda f: (len(f.parts), RESULTS_NAMES.index(f.name)),
    )
    for candidate in by_name + sorted(f for f in files if f.suffix == ".json" and f not in by_name):
        try:
            data = read_artifact_json(candidate, what="results file")
        except ArtifactError:
            if candidate in by_name:
                raise
            continue
        if isinstance(data, dict) and "suite" in data and "metrics" in data and "schema_version" in data:
            return candidate
    raise ArtifactError("no results file (results.json) in the artifact")


def read_artifact_json(path: Path, *, what: str) -> Any:
    """A JSON file unpacked from an artifact, read as strictly as any user's file; ArtifactError when it cannot be."""
    try:
        return load_json(path, what=what)
    except InputError as exc:
        raise ArtifactError(
            f"{path.name}: {exc.message}" + (f" (line {exc.line})" if exc.line else "")
        ) from None


def check_signature(path: Path, suite: str) -> dict[str, Any]:
    """The results must be of the same suite; the gate compares the detailed signature."""
    data = read_artifact_json(path, what="results file")
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
