"""The sharded workflow under act: a matrix of three shard jobs running the action (`uses: ./`, input `shard`),
then the merge job (`needs:` the matrix, `if: always()`, input `merge`) that gates once and comments once.

act cannot run actions/upload-artifact (it needs the Actions runtime service), so the hand-off goes through the
fake GitHub API: the shard jobs run with the workspace bound (`--bind`), and the test uploads each shard's output
folder as the artifact `evalgate-shard-N` of the run, as upload-artifact would; then act runs the merge job.
Marked `container`; skipped unless EVALGATE_CONTAINER_TESTS=1.
"""
# ruff: noqa: F811 - the fixtures of tests/test_container.py, imported by name, are the test's parameters

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "github")]

from ghkit import MODELS, make_zip  # noqa: E402
from test_container import (  # noqa: E402, F401 - fixtures and the act helpers of the container tests
    HEAD_SHA,
    TOKEN,
    act_repo,
    act_service,
    fake,
    pr_event,
    pytestmark,
    tool,
)

MATRIX_WORKFLOW = """\
name: act-matrix
on: [pull_request]
permissions: {contents: read, pull-requests: write, actions: read}
jobs:
  shard:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      max-parallel: 1
      matrix:
        shard: [1, 2, 3]
    steps:
      - uses: actions/checkout@v4
      - id: shard
        uses: ./
        with:
          working_directory: suite
          shard: ${{ matrix.shard }}/3
          output_dir: out-${{ matrix.shard }}
  evalgate:
    needs: shard
    if: always()
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: gate
        uses: ./
        with:
          working_directory: suite
          merge: "true"
          baseline: none
      - if: always()
        run: echo "OUTPUTS verdict=${{ steps.gate.outputs.verdict }} accuracy=${{ steps.gate.outputs.accuracy }}"
"""
RUN_ID = 1  # act's github.run_id


def act(tool: Path, repo: Path, fake, job: str) -> subprocess.CompletedProcess:
    event_file = repo.parent / "pull_request.json"
    event_file.write_text(json.dumps(pr_event()))
    return subprocess.run(
        [str(tool), "act", "pull_request", "-e", str(event_file), "-W", ".github/workflows/act-matrix.yml",
         "-j", job, "--bind", "--env", f"GITHUB_API_URL={fake.url}", "--env", "EVALGATE_GITHUB_BACKOFF=0",
         "-s", f"GITHUB_TOKEN={TOKEN}"],
        cwd=repo, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip


def test_three_shards_under_act_merge_into_one_verdict(tool, fake, disk_tmp_path, act_service) -> None:
    repo = act_repo(disk_tmp_path)
    (repo / ".github" / "workflows" / "act-matrix.yml").write_text(MATRIX_WORKFLOW)
    (repo / "suite" / "model.py").write_text(MODELS["bad"])
    shards = act(tool, repo, fake, "shard")
    assert shards.returncode == 0, shards.stdout[-4000:] + shards.stderr[-2000:]
    fake.add_run(head_sha=HEAD_SHA, event="pull_request", branch="feature", run_id=RUN_ID)
    sizes = []
    for index in (1, 3):  # shard 2's upload is lost: the merge must fail naming it
        results = (repo / "suite" / f"out-{index}" / "results.json").read_text()
        sizes.append(len(json.loads(results)["cases"]))
        fake.add_artifact(RUN_ID, f"evalgate-shard-{index}", make_zip({"results.json": results}))
    missing = act(tool, repo, fake, "evalgate")
    assert missing.returncode != 0 and "shard 2/3 is missing" in missing.stdout, missing.stdout[-4000:]
    [failed] = fake.comments[5]  # the one comment says the shards could not be merged
    assert "FAIL: the shards could not be merged" in failed["body"]

    results = (repo / "suite" / "out-2" / "results.json").read_text()
    fake.add_artifact(RUN_ID, "evalgate-shard-2", make_zip({"results.json": results}))
    merged = act(tool, repo, fake, "evalgate")
    assert merged.returncode != 0 and "OUTPUTS verdict=fail accuracy=0.75" in merged.stdout, merged.stdout[
        -4000:
    ]
    assert sorted([*sizes, len(json.loads(results)["cases"])]) == [13, 13, 14]
    assert len(fake.comments[5]) == 1 and fake.comments[5][0]["body"].startswith("<!-- evalgate:digits -->")
    assert "could not be merged" not in fake.comments[5][0]["body"]  # the same comment, now the verdict
