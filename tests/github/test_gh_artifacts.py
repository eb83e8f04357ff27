"""The baseline artifact: which run it is taken from, expiry, forks, the redirect without the token, safe unzip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_github import FakeGitHub
from ghkit import REPO, TOKEN, make_zip, results_doc, results_zip

from evalgate.errors import InputError
from evalgate.github import artifacts
from evalgate.github.artifacts import ArtifactError
from evalgate.github.client import ClientSettings, make_github

BASE_SHA = "b" * 40


def fetch(
    fake: FakeGitHub, tmp_path: Path, prefer: str | None = BASE_SHA, workflow: int | str | None = 7, **kw
):
    gh = make_github(TOKEN, fake.url, ClientSettings(retries=2, backoff=0))
    args = {
        "repository": REPO,
        "workflow_id": workflow,
        "branch": "main",
        "prefer_sha": prefer,
        "artifact_name": "evalgate-baseline",
        "suite": "digits",
        "dest": tmp_path,
    } | kw
    return artifacts.fetch_baseline(gh, TOKEN, **args)


def accuracy_of(found: artifacts.Baseline) -> float:
    return json.loads(found.path.read_text())["metrics"]["accuracy"]["value"]


def test_the_run_of_the_base_commit_is_preferred_over_newer_runs(fake: FakeGitHub, tmp_path: Path) -> None:
    base_run = fake.add_run(head_sha=BASE_SHA, created_at="2026-11-20T10:00:00Z")
    newer = fake.add_run(head_sha="c" * 40, created_at="2026-11-21T10:00:00Z")
    fake.add_artifact(base_run["id"], "evalgate-baseline", results_zip(accuracy=0.91))
    fake.add_artifact(newer["id"], "evalgate-baseline", results_zip(accuracy=0.95))
    found, _ = fetch(fake, tmp_path)
    assert found.run_id == base_run["id"] and accuracy_of(found) == 0.91 and found.note == ""
    # the blob host got no token: it answers 400 when it does, so a download proves it
    assert fake.blob_requests and all("authorization" not in r.headers for r in fake.blob_requests)


def test_without_a_run_of_the_base_commit_the_newest_is_taken(fake: FakeGitHub, tmp_path: Path) -> None:
    old = fake.add_run(head_sha="1" * 40, created_at="2026-11-01T10:00:00Z")
    new = fake.add_run(head_sha="2" * 40, created_at="2026-11-22T10:00:00Z")
    fake.add_artifact(old["id"], "evalgate-baseline", results_zip(accuracy=0.80))
    fake.add_artifact(new["id"], "evalgate-baseline", results_zip(accuracy=0.93))
    found, _ = fetch(fake, tmp_path)
    assert found.run_id == new["id"] and "took the newest" in found.note


def test_expired_artifacts_are_skipped(fake: FakeGitHub, tmp_path: Path) -> None:
    base_run = fake.add_run(head_sha=BASE_SHA, created_at="2026-11-22T10:00:00Z")
    older = fake.add_run(head_sha="3" * 40, created_at="2026-11-10T10:00:00Z")
    fake.add_artifact(base_run["id"], "evalgate-baseline", results_zip(accuracy=0.99), expired=True)
    fake.add_artifact(older["id"], "evalgate-baseline", results_zip(accuracy=0.88))
    found, notes = fetch(fake, tmp_path)
    assert found.run_id == older["id"] and any("expired" in n for n in notes)
    assert not fake.calls("GET", rf"/artifacts/{fake.artifacts[base_run['id']][0]['id']}/zip")


def test_runs_of_forks_failures_pull_requests_and_other_branches_are_never_used(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    untrusted = [
        fake.add_run(head_sha=BASE_SHA, head_repo="mallory/repo", created_at="2026-11-25T10:00:00Z"),
        fake.add_run(head_sha=BASE_SHA, conclusion="failure", created_at="2026-11-25T10:00:00Z"),
        fake.add_run(head_sha=BASE_SHA, event="pull_request", created_at="2026-11-25T10:00:00Z"),
        fake.add_run(head_sha=BASE_SHA, branch="dev", created_at="2026-11-25T10:00:00Z"),
        fake.add_run(head_sha=BASE_SHA, workflow_id=99, created_at="2026-11-25T10:00:00Z"),
    ]
    for run in untrusted:
        fake.add_artifact(run["id"], "evalgate-baseline", results_zip(accuracy=0.01))
    good = fake.add_run(head_sha="4" * 40, event="schedule", created_at="2026-11-01T10:00:00Z")
    fake.add_artifact(good["id"], "evalgate-baseline", results_zip(accuracy=0.9))
    found, _ = fetch(fake, tmp_path)
    assert found.run_id == good["id"] and accuracy_of(found) == 0.9


def test_no_baseline_at_all_is_none_with_reasons(fake: FakeGitHub, tmp_path: Path) -> None:
    found, notes = fetch(fake, tmp_path)
    assert found is None and notes == ["no successful push run on main of octo/repo"]
    run = fake.add_run(head_sha=BASE_SHA)
    fake.add_artifact(run["id"], "other-artifact", results_zip())
    found, notes = fetch(fake, tmp_path)
    assert found is None and "no artifact named 'evalgate-baseline'" in notes[0]


def test_the_current_run_and_another_suite_are_passed_over(fake: FakeGitHub, tmp_path: Path) -> None:
    mine = fake.add_run(head_sha=BASE_SHA, created_at="2026-11-25T10:00:00Z")
    other_suite = fake.add_run(head_sha="5" * 40, created_at="2026-11-24T10:00:00Z")
    fake.add_artifact(mine["id"], "evalgate-baseline", results_zip())
    fake.add_artifact(other_suite["id"], "evalgate-baseline", results_zip(suite="summaries"))
    found, notes = fetch(fake, tmp_path, exclude_run_id=mine["id"])
    assert found is None and "suite 'summaries', not 'digits'" in notes[0]


def test_the_workflow_given_by_file_name(fake: FakeGitHub, tmp_path: Path) -> None:
    fake.workflows["evalgate.yml"] = 7
    run = fake.add_run(head_sha=BASE_SHA)
    fake.add_artifact(run["id"], "evalgate-baseline", results_zip())
    assert fetch(fake, tmp_path, workflow="evalgate.yml")[0].run_id == run["id"]
    assert fake.calls("GET", r"/actions/workflows/evalgate\.yml/runs$")


def test_results_are_found_inside_folders_and_by_shape(tmp_path: Path) -> None:
    archive = make_zip(
        {"out/report.md": "# r", "out/verdict.json": "{}", "out/run-results.json": json.dumps(results_doc())}
    )
    files = artifacts.safe_extract(archive, tmp_path)
    assert artifacts.find_results(files).name == "run-results.json"
    with pytest.raises(ArtifactError, match="no results file"):
        artifacts.find_results(artifacts.safe_extract(make_zip({"a.json": "[]"}), tmp_path / "b"))


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (make_zip({"../evil.json": "{}"}), "unsafe path"),
        (make_zip({"ok/../../evil.json": "{}"}), "unsafe path"),
        (make_zip({"/etc/evil.json": "{}"}), "unsafe path"),
        (make_zip({"C:/evil.json": "{}"}), "unsafe path"),
        (make_zip({"results.json": "{}"}, links={"link": "/etc/passwd"}), "symbolic link"),
        (b"not a zip at all", "not a zip"),
    ],
    # named, not shown: an archive's bytes hold the time it was made, and pytest-xdist's workers must collect
    # the same test ids
    ids=["parent", "parent-inside", "absolute", "drive", "symlink", "not-a-zip"],
)
def test_unsafe_archives_are_refused_before_anything_is_written(
    tmp_path: Path, archive: bytes, message: str
) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ArtifactError, match=message):
        artifacts.safe_extract(archive, dest)
    assert not (tmp_path / "evil.json").exists() and not list(tmp_path.rglob("evil.json"))
    assert not dest.exists() or not any(dest.iterdir())


def test_size_and_count_caps_are_counted_while_unpacking(tmp_path: Path) -> None:
    bomb = make_zip({"big.json": "0" * 200_000})  # compresses to a few hundred bytes
    with pytest.raises(ArtifactError, match="more than 100000 bytes"):
        artifacts.safe_extract(bomb, tmp_path / "a", max_bytes=100_000)
    many = make_zip({f"f{i}.txt": "x" for i in range(11)})
    with pytest.raises(ArtifactError, match="11 files, more than 10"):
        artifacts.safe_extract(many, tmp_path / "b", max_files=10)


def test_an_unsafe_artifact_is_passed_over_for_the_next_run(fake: FakeGitHub, tmp_path: Path) -> None:
    bad = fake.add_run(head_sha=BASE_SHA, created_at="2026-11-25T10:00:00Z")
    good = fake.add_run(head_sha="6" * 40, created_at="2026-11-20T10:00:00Z")
    fake.add_artifact(
        bad["id"], "evalgate-baseline", make_zip({"../results.json": json.dumps(results_doc())})
    )
    fake.add_artifact(good["id"], "evalgate-baseline", results_zip())
    found, notes = fetch(fake, tmp_path)
    assert found.run_id == good["id"] and "unsafe path" in notes[0]
    assert not (tmp_path / "results.json").exists()


def test_baseline_input_forms() -> None:
    assert artifacts.parse_baseline_input("artifact:evalgate-baseline") == ("artifact", "evalgate-baseline")
    assert artifacts.parse_baseline_input("None") == ("none", None)
    assert artifacts.parse_baseline_input("baselines/main.json") == ("path", "baselines/main.json")
    with pytest.raises(InputError, match="needs an artifact name"):
        artifacts.parse_baseline_input("artifact:")


def test_a_failed_download_names_no_signed_url(fake: FakeGitHub, tmp_path: Path) -> None:
    """The blob URL's query string is a credential (a signed URL): an error about it must not show it in the log."""
    run = fake.add_run(head_sha=BASE_SHA)
    fake.add_artifact(run["id"], "evalgate-baseline", results_zip())
    fake.blob.shutdown()
    fake.blob.server_close()  # the storage host is unreachable
    found, notes = fetch(fake, tmp_path)
    assert found is None and f"run {run['id']}: the artifact download failed (ConnectionError)" in notes
    assert not any("sig=" in note for note in notes)
