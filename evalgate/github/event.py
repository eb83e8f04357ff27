"""What triggered the workflow: the event payload at GITHUB_EVENT_PATH, read into one plain object.

The modes the Action acts on:
- `pull_request`: gate a PR's head against the base branch's baseline and comment on the PR.
- `push_base`: a push to the base (default) branch: the run becomes the new baseline.
- `push_other`: a push to another branch: comment on the open PRs of that commit, if any.
- `workflow_run`: the fork-safe second stage: gate the results uploaded by the triggering run, comment on its PR.
- `other` (schedule, workflow_dispatch, ...): the step summary only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.files.jsonio import load_json

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
ZERO_SHA = "0" * 40
_KIND_NAMES = {str: "string", int: "whole number", dict: "JSON object"}


@dataclass(frozen=True)
class Event:
    """The parts of an event evalgate needs; `mode` says what the Action does with it."""

    name: str
    mode: str
    repository: str
    default_branch: str
    head_sha: str
    base_branch: str | None = None
    base_sha: str | None = None
    branch: str | None = None
    pr_number: int | None = None
    is_fork: bool = False
    deleted: bool = False
    workflow_run_id: int | None = None
    workflow_id: int | None = None
    pr_numbers: tuple[int, ...] = field(default_factory=tuple)


def _get(
    payload: Any, path: str, file: str, *, kind: type | tuple[type, ...] = str, optional: bool = False
) -> Any:
    value = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            if optional:
                return None
            raise InputError(f"the {path} field is missing from the event payload", file=file)
        value = value[part]
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        kinds = (kind,) if isinstance(kind, type) else kind
        expected = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise InputError(f"the event field {path} should be a {expected}, got {value!r}", file=file)
    return value


def read_payload(path: str | Path | None) -> dict[str, Any]:
    """The JSON payload of the event; InputError when it is missing, unreadable or not an object."""
    if not path:
        raise InputError(
            "GITHUB_EVENT_PATH is not set; run evalgate's action inside a GitHub Actions workflow"
        )
    payload = load_json(path, what="event file")
    if not isinstance(payload, dict):
        raise InputError("the event file should hold a JSON object", file=path)
    return payload


def parse_event(
    name: str, payload: Mapping[str, Any], *, file: str = "GITHUB_EVENT_PATH", sha: str = ""
) -> Event:
    """Read an event payload of the named type (GITHUB_EVENT_NAME); `sha` is GITHUB_SHA, used when nothing better."""
    repository = _get(payload, "repository.full_name", file)
    default_branch = _get(payload, "repository.default_branch", file, optional=True) or "main"
    common = {"name": name, "repository": repository, "default_branch": default_branch}
    if name in PULL_REQUEST_EVENTS:
        return _pull_request_event(payload, file, common)
    if name == "push":
        return _push_event(payload, file, sha, common)
    if name == "workflow_run":
        return _workflow_run_event(payload, file, common)
    return Event(mode="other", head_sha=sha, base_branch=default_branch, **common)


def _pull_request_event(payload: Mapping[str, Any], file: str, common: dict[str, Any]) -> Event:
    repository = common["repository"]
    head_repo = _get(payload, "pull_request.head.repo.full_name", file, optional=True)
    base_repo = _get(payload, "pull_request.base.repo.full_name", file, optional=True) or repository
    return Event(
        mode="pull_request",
        # GITHUB_SHA is the test merge commit here: the PR's head is what was changed
        head_sha=_get(payload, "pull_request.head.sha", file),
        branch=_get(payload, "pull_request.head.ref", file, optional=True),
        base_branch=_get(payload, "pull_request.base.ref", file),
        base_sha=_get(payload, "pull_request.base.sha", file),
        pr_number=_get(payload, "pull_request.number", file, kind=int),
        # a fork's PR; a deleted fork has head.repo null, so it is not this repository either
        is_fork=head_repo != base_repo,
        **common,
    )


def _push_event(payload: Mapping[str, Any], file: str, sha: str, common: dict[str, Any]) -> Event:
    default_branch = common["default_branch"]
    ref = _get(payload, "ref", file)
    deleted = bool(payload.get("deleted")) or _get(payload, "after", file, optional=True) == ZERO_SHA
    after = _get(payload, "after", file, optional=True) or sha
    head_commit = _get(payload, "head_commit.id", file, optional=True)
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    mode = "push_base" if branch == default_branch else "push_other" if branch else "other"
    return Event(
        mode=mode,
        head_sha=head_commit or after,
        branch=branch,
        base_branch=default_branch,
        # the previous tip of the branch: on the base branch, the run whose results are the baseline
        base_sha=_get(payload, "before", file, optional=True),
        deleted=deleted,
        **common,
    )


def _workflow_run_event(payload: Mapping[str, Any], file: str, common: dict[str, Any]) -> Event:
    repository = common["repository"]
    run = _get(payload, "workflow_run", file, kind=dict)
    pulls = run.get("pull_requests") or []
    numbers = tuple(p["number"] for p in pulls if isinstance(p, Mapping) and isinstance(p.get("number"), int))
    base = pulls[0].get("base", {}) if pulls and isinstance(pulls[0], Mapping) else {}
    return Event(
        mode="workflow_run",
        head_sha=_get(run, "head_sha", file),
        branch=_get(run, "head_branch", file, optional=True),
        base_branch=base.get("ref") if isinstance(base, Mapping) else None,
        base_sha=base.get("sha") if isinstance(base, Mapping) else None,
        is_fork=_get(run, "head_repository.full_name", file, optional=True) not in (None, repository),
        workflow_run_id=_get(run, "id", file, kind=int),
        workflow_id=_get(run, "workflow_id", file, kind=int, optional=True),
        pr_numbers=numbers,
        **common,
    )


def load_event(name: str | None, path: str | Path | None, *, sha: str = "") -> Event:
    """The event of this workflow run, from GITHUB_EVENT_NAME and GITHUB_EVENT_PATH."""
    if not name:
        raise InputError(
            "GITHUB_EVENT_NAME is not set; run evalgate's action inside a GitHub Actions workflow"
        )
    return parse_event(name, read_payload(path), file=str(path), sha=sha)
