"""The Action's sharded mode end to end: three shard steps (input `shard`), their results handed over as artifacts
of the workflow run on the fake GitHub API (real PyGithub, real HTTP), then the merge step (input `merge`) that
downloads them, merges, gates and comments once. A missing, foreign or incomplete shard never gives a pass.
"""
# ruff: noqa: F811 - the fixtures of tests/test_entrypoint.py, imported by name, are the tests' parameters

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "github")]

from ghkit import make_zip  # noqa: E402
from test_entrypoint import (  # noqa: E402, F401 - the fixtures are used by name
    HEAD_SHA,
    MODELS,
    _options,
    action_env,
    baseline_run,
    engine,
    fake,
    outputs,
    pr_event,
    results,
    use_model,
    workspace,
    written,
)

import entrypoint  # noqa: E402

RUN_ID = 4242  # action_env's GITHUB_RUN_ID: the run whose artifacts the merge step reads


def run_shards(fake, workspace: Path, count: int, skip: tuple[int, ...] = ()) -> dict[int, dict]:
    """Each shard step, then its upload (as actions/upload-artifact would) under `evalgate-shard-I`."""
    uploaded = {}
    for index in range(1, count + 1):
        if index in skip:
            continue
        env = action_env(fake, workspace, "pull_request", pr_event(), shard=f"{index}/{count}")
        assert entrypoint.main(env) == 0
        path = workspace / outputs(workspace)["results_path"]
        uploaded[index] = json.loads(path.read_text())
        fake.add_artifact(RUN_ID, f"evalgate-shard-{index}", make_zip({"results.json": path.read_text()}))
        path.unlink()
    return uploaded


@pytest.mark.slow
def test_three_shards_merge_into_one_verdict_and_one_comment(
    fake, engine, workspace, results, capsys
) -> None:
    baseline_run(fake, results)
    fake.add_artifact(
        RUN_ID, "evalgate-report", make_zip({"results.json": results["good"].read_text()})
    )  # not a shard
    use_model(workspace, "bad")
    parts = run_shards(fake, workspace, 3)
    # a shard step runs its shard only: no verdict, no comment, no other output
    assert sorted(len(part["cases"]) for part in parts.values()) == [13, 13, 14]
    assert [part["shard"]["index"] for part in parts.values()] == [1, 2, 3]
    assert all(
        argv[0] == "run" and _options(argv)["--shard"] == f"{i}/3"
        for i, (argv, _) in enumerate(engine.calls, 1)
    )
    assert not fake.calls("POST", r".") and not fake.calls("PATCH", r".")
    assert not (workspace / ".evalgate" / "out" / "verdict.json").exists()

    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), merge="true"))
    assert code == 1  # the bad model fails, as in one unsharded run
    merge, gate = (argv for argv, _ in engine.calls[3:])
    assert merge[0] == "merge" and len([a for a in merge if a.endswith("results.json")]) == 3
    assert gate[0] == "gate"
    merged = written(workspace, "results.json")
    assert len(merged["cases"]) == 40 and "shard" not in merged and len(merged["run"]["shards"]) == 3
    assert merged["git"]["sha"] == HEAD_SHA
    verdict = written(workspace, "verdict.json")
    row = next(m for m in verdict["metrics"] if m["metric"] == "accuracy" and m["category"] is None)
    assert row["current"] == 0.75 and row["baseline"] == 1.0 and verdict["verdict"] == "fail"
    assert len(fake.comments[5]) == 1 and verdict["headline"] in fake.comments[5][0]["body"]

    # the same suite run whole gives the same verdict
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event()))
    assert code == 1 and written(workspace, "verdict.json")["reasons"] == verdict["reasons"]
    assert len(fake.comments[5]) == 1  # still one comment


@pytest.mark.slow
def test_a_missing_shard_fails_the_step_naming_it(fake, engine, workspace, results, capsys) -> None:
    baseline_run(fake, results)
    run_shards(fake, workspace, 3, skip=(2,))
    capsys.readouterr()
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), merge="true"))
    assert code == 2
    stdout = capsys.readouterr().out
    assert "::error title=evalgate::shard 2/3 is missing" in stdout
    assert not (workspace / ".evalgate" / "out" / "verdict.json").exists()
    # the one comment says the run failed, never a verdict of the shards that did run
    [ours] = fake.comments[5]
    assert (
        ours["body"].startswith("<!-- evalgate:digits -->\n")
        and "FAIL: the shards could not be merged" in ours["body"]
        and "shard 2/3 is missing" in ours["body"]  # the engine's own message, carried back in-process
    )


def test_no_shard_artifact_at_all_fails_the_step(fake, engine, workspace, capsys) -> None:
    fake.add_run(head_sha=HEAD_SHA, event="pull_request", branch="feature", run_id=RUN_ID)
    code = entrypoint.main(
        action_env(fake, workspace, "pull_request", pr_event(), merge="true", baseline="none")
    )
    assert code == 2 and "no artifact named like 'evalgate-shard-*'" in capsys.readouterr().out


@pytest.mark.slow
def test_an_incomplete_shard_makes_the_merged_run_incomplete(
    fake, engine, workspace, results, capsys
) -> None:
    baseline_run(fake, results)
    use_model(workspace, "good")
    run_shards(fake, workspace, 2, skip=(2,))
    (workspace / "model.py").write_text(MODELS["aborts"])
    env = action_env(fake, workspace, "pull_request", pr_event(), shard="2/2")
    assert entrypoint.main(env) == 3  # the shard step says it did not complete
    path = workspace / outputs(workspace)["results_path"]
    fake.add_artifact(RUN_ID, "evalgate-shard-2", make_zip({"results.json": path.read_text()}))
    use_model(workspace, "good")
    code = entrypoint.main(action_env(fake, workspace, "pull_request", pr_event(), merge="true"))
    assert code == 3
    verdict = written(workspace, "verdict.json")
    assert verdict["verdict"] != "pass" and "shard 2/2" in verdict["headline"]


@pytest.mark.slow
def test_shards_from_a_folder(fake, engine, workspace, results) -> None:
    """shards_dir: the shards already downloaded (actions/download-artifact), no artifacts API needed."""
    use_model(workspace, "good")
    for index in (1, 2):
        env = action_env(
            fake, workspace, "push", {"repository": {"full_name": "octo/repo"}}, shard=f"{index}/2"
        )
        env["GITHUB_EVENT_NAME"] = "workflow_dispatch"
        assert entrypoint.main(env) == 0
        folder = workspace / "shards" / f"evalgate-shard-{index}"
        folder.mkdir(parents=True)
        (workspace / ".evalgate" / "out" / "results.json").rename(folder / "results.json")
    env = action_env(
        fake,
        workspace,
        "push",
        {"repository": {"full_name": "octo/repo"}},
        merge="true",
        shards_dir="shards",
        baseline=str(results["good"]),
    )
    env["GITHUB_EVENT_NAME"] = "workflow_dispatch"
    assert entrypoint.main(env) == 0
    assert len(written(workspace, "results.json")["cases"]) == 40 and not fake.calls("GET", r"/artifacts")
