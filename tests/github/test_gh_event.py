"""Event payloads: the real octokit examples, and fork, deleted-branch and malformed variants made from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalgate.errors import InputError
from evalgate.github.event import load_event, parse_event


def payload(events_dir: Path, name: str) -> dict:
    return json.loads((events_dir / name).read_text())


def test_pull_request_takes_the_head_sha_not_the_merge_commit(events_dir: Path) -> None:
    event = load_event("pull_request", events_dir / "pull_request.opened.json", sha="f" * 40)
    assert event.mode == "pull_request"
    assert event.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert (event.base_branch, event.base_sha) == ("master", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
    assert event.pr_number == 2 and not event.is_fork
    assert event.repository == "Codertocat/Hello-World"


@pytest.mark.parametrize(
    "name",
    [
        "pull_request.reopened.json",
        "pull_request.synchronize.json",
        "pull_request.opened.with-null-body.json",
    ],
)
def test_other_pull_request_payloads_parse(events_dir: Path, name: str) -> None:
    event = load_event("pull_request", events_dir / name)
    assert event.mode == "pull_request" and event.pr_number and len(event.head_sha) == 40


def test_a_fork_pull_request_is_recognised(events_dir: Path) -> None:
    data = payload(events_dir, "pull_request.opened.json")
    data["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    assert parse_event("pull_request", data).is_fork
    data["pull_request"]["head"]["repo"] = None  # the fork was deleted
    assert parse_event("pull_request", data).is_fork


def test_push_to_the_default_branch_makes_the_baseline(events_dir: Path) -> None:
    data = payload(events_dir, "push.with-new-branch.json")
    data["ref"] = f"refs/heads/{data['repository']['default_branch']}"
    event = parse_event("push", data)
    assert event.mode == "push_base"
    assert event.base_sha == data["before"] and event.head_sha == data["head_commit"]["id"]


def test_push_to_another_branch_and_a_deleted_branch(events_dir: Path) -> None:
    data = payload(events_dir, "push.with-new-branch.json")
    data["ref"] = "refs/heads/feature"
    assert parse_event("push", data).mode == "push_other"
    data["head_commit"], data["deleted"], data["after"] = None, True, "0" * 40
    event = parse_event("push", data, sha="c" * 40)
    assert event.deleted


def test_a_tag_push_is_not_a_branch(events_dir: Path) -> None:
    event = load_event("push", events_dir / "push.json")  # refs/tags/simple-tag, deleted
    assert event.mode == "other" and event.deleted


def test_workflow_run_with_and_without_pull_requests(events_dir: Path) -> None:
    event = load_event("workflow_run", events_dir / "workflow_run.completed.with-pull-requests.json")
    assert event.mode == "workflow_run"
    assert event.pr_numbers == (2,) and event.workflow_run_id == 289782451 and event.workflow_id == 2823525
    assert event.base_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    bare = load_event("workflow_run", events_dir / "workflow_run.completed.json")
    assert bare.pr_numbers == () and bare.base_sha is None


def test_schedule_and_dispatch_are_summary_only(events_dir: Path) -> None:
    data = {"repository": {"full_name": "o/r", "default_branch": "main"}}
    assert parse_event("schedule", data, sha="d" * 40).mode == "other"
    assert parse_event("workflow_dispatch", data, sha="d" * 40).head_sha == "d" * 40


def test_malformed_missing_and_incomplete_events_are_input_errors(tmp_path: Path, events_dir: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text('{"repository": {\n  "full_name": }\n')
    with pytest.raises(InputError, match="not valid JSON") as caught:
        load_event("pull_request", bad)
    assert caught.value.line == 2
    with pytest.raises(InputError, match="event file not found"):
        load_event("pull_request", tmp_path / "nope.json")
    with pytest.raises(InputError, match="GITHUB_EVENT_PATH is not set"):
        load_event("pull_request", None)
    data = payload(events_dir, "pull_request.opened.json")
    del data["pull_request"]["head"]["sha"]
    with pytest.raises(InputError, match=r"pull_request\.head\.sha"):
        parse_event("pull_request", data)
    data = payload(events_dir, "pull_request.opened.json")
    data["pull_request"]["number"] = "2"
    with pytest.raises(InputError, match="should be a whole number"):
        parse_event("pull_request", data)
    bad.write_text("[]")
    with pytest.raises(InputError, match="JSON object"):
        load_event("push", bad)
