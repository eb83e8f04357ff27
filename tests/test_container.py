"""The Action as GitHub runs it: the Docker image built with the machine's container tool
(EVALGATE_CONTAINER_TOOL), run with a fake event against the fake GitHub API on 127.0.0.1 (the container shares the host network), and the workflow run by act.

Marked `container`; skipped unless EVALGATE_CONTAINER_TESTS=1 (the first build takes minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "github"))

from fake_github import FakeGitHub  # noqa: E402
from ghkit import ACCURACY_LINE, MODELS, write_suite  # noqa: E402
from test_gh_actions_io import parse_output_file  # noqa: E402

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        os.environ.get("EVALGATE_CONTAINER_TESTS") != "1",
        reason="container test: builds the image with podman and runs act through the container tool; "
        "set EVALGATE_CONTAINER_TESTS=1 and EVALGATE_CONTAINER_TOOL to run it (.ci/run does)",
    ),
    pytest.mark.timeout(1800),
    # one image and one act at a time: under xdist all of them run on one worker (--dist loadgroup)
    pytest.mark.xdist_group("container"),
]

REPO = "octo/repo"
TOKEN = "ghs_containertoken"
# EVALGATE_TEST_IMAGE: another tag, so that this run does not overwrite a parallel run's image
IMAGE = os.environ.get("EVALGATE_TEST_IMAGE", "localhost/evalgate:test")
BASE_SHA = "b" * 40
HEAD_SHA = "a" * 40


def find_tool() -> Path:
    """The machine's container tool, named by EVALGATE_CONTAINER_TOOL (.ci/run sets it): the tests read nothing
    outside the repository by themselves. They were asked for (EVALGATE_CONTAINER_TESTS=1): no tool is a failure,
    never a silent skip."""
    tool = os.environ.get("EVALGATE_CONTAINER_TOOL")
    if not tool or not Path(tool).is_file():
        pytest.fail(f"EVALGATE_CONTAINER_TESTS=1 but EVALGATE_CONTAINER_TOOL ({tool!r}) names no file")
    return Path(tool)


@pytest.fixture(scope="module")
def tool() -> Path:
    return find_tool()


@pytest.fixture(scope="module")
def image(tool: Path) -> str:
    build = subprocess.run(
        [str(tool), "build", str(ROOT), IMAGE], capture_output=True, text=True, timeout=1800
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


@pytest.fixture
def fake() -> FakeGitHub:
    with FakeGitHub(REPO, TOKEN) as server:
        yield server


def workspace(tmp_path: Path) -> Path:
    """The suite the entrypoint's tests run too (ghkit.write_suite), with the good model."""
    return write_suite(tmp_path / "workspace")


def pr_event(fork: bool = False) -> dict:
    return {
        "number": 5,
        "pull_request": {
            "number": 5,
            "head": {
                "sha": HEAD_SHA,
                "ref": "feature",
                "repo": {"full_name": "mallory/repo" if fork else REPO},
            },
            "base": {"sha": BASE_SHA, "ref": "main", "repo": {"full_name": REPO}},
        },
        "repository": {"full_name": REPO, "default_branch": "main"},
    }


def push_event(sha: str, before: str = "0" * 39 + "1") -> dict:
    return {"ref": "refs/heads/main", "before": before, "after": sha, "head_commit": {"id": sha},
            "repository": {"full_name": REPO, "default_branch": "main"}}  # fmt: skip


def run_action(
    tool: Path, image: str, ws: Path, fake: FakeGitHub, event_name: str, event: dict, **inputs: str
):
    """`docker run` the way the runner does: workspace, event and file-command files mounted, INPUT_* set."""
    files = ws.parent / "files"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir()
    (files / "event.json").write_text(json.dumps(event))
    env = {
        "GITHUB_API_URL": fake.url, "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": REPO,
        "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_WORKSPACE": "/github/workspace", "GITHUB_RUN_ID": "4242", "GITHUB_SHA": "f" * 40,
        "GITHUB_OUTPUT": "/github/file_commands/output", "GITHUB_STEP_SUMMARY": "/github/file_commands/summary",
        "EVALGATE_GITHUB_BACKOFF": "0", "INPUT_GITHUB_TOKEN": TOKEN,
        **{f"INPUT_{name.upper()}": value for name, value in inputs.items()},
    }  # fmt: skip
    args = ["-v", f"{ws}:/github/workspace", "-v", f"{files}:/github/file_commands",
            "-v", f"{files / 'event.json'}:/github/workflow/event.json:ro", "--workdir", "/github/workspace"]  # fmt: skip
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    result = subprocess.run([str(tool), "run", image, *args], capture_output=True, text=True, timeout=900)
    output = files / "output"
    result.outputs = parse_output_file(output.read_text()) if output.exists() else {}
    result.summary = (files / "summary").read_text() if (files / "summary").exists() else ""
    return result


def add_baseline(fake: FakeGitHub, ws: Path, sha: str, created_at: str) -> dict:
    """A successful push run on main whose artifact holds the results file the action just wrote."""
    run = fake.add_run(head_sha=sha, created_at=created_at)
    archive = ws.parent / f"baseline-{sha[:4]}.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(ws / ".evalgate/out/results.json", "results.json")
    fake.add_artifact(run["id"], "evalgate-baseline", archive.read_bytes())
    return run


def test_bad_input_is_exit_2_with_an_annotation(tool, image, fake, tmp_path) -> None:
    result = run_action(tool, image, workspace(tmp_path), fake, "pull_request", pr_event(), fail_on="maybe")
    assert result.returncode == 2, result.stderr
    assert "::error title=evalgate%3A bad input::input fail_on is 'maybe'" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_malformed_event_is_exit_2(tool, image, fake, tmp_path) -> None:
    ws = workspace(tmp_path)
    result = run_action(tool, image, ws, fake, "pull_request", {"pull_request": {}})
    assert result.returncode == 2 and "repository.full_name field is missing" in result.stderr


def test_push_then_pull_requests_baseline_comment_outputs_and_exit_codes(tool, image, fake, tmp_path) -> None:
    ws = workspace(tmp_path)
    # main: the baseline run (of the PR's base commit), and a newer run of another commit with another label
    first = run_action(tool, image, ws, fake, "push", push_event(BASE_SHA), label="base-run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.outputs["verdict"] == "pass" and first.outputs["accuracy"] == "1.0"
    assert (ws / ".evalgate" / "history.sqlite").is_file()  # a run on main joins the history
    base_run = add_baseline(fake, ws, BASE_SHA, "2026-11-20T10:00:00Z")
    other = run_action(tool, image, ws, fake, "push", push_event("c" * 40), label="newer-run")
    assert other.returncode == 0, other.stdout + other.stderr
    add_baseline(fake, ws, "c" * 40, "2026-11-21T10:00:00Z")
    assert not fake.calls("POST", r"/comments$")

    # the PR, run three times: a regression (exit 1), the same again, then fixed
    (ws / "model.py").write_text(MODELS["bad"])
    for _ in range(2):
        pr = run_action(tool, image, ws, fake, "pull_request", pr_event())
        assert pr.returncode == 1, pr.stdout + pr.stderr
    assert f"baseline from artifact 'evalgate-baseline' of run {base_run['id']}" in pr.summary
    assert pr.outputs["verdict"] == "fail" and float(pr.outputs["accuracy"]) < 0.9
    assert f"::error file=evalgate.yaml,line={ACCURACY_LINE}" in pr.stdout
    verdict = json.loads((ws / pr.outputs["verdict_path"]).read_text())
    assert verdict["baseline"]["available"] is True
    (ws / "model.py").write_text(MODELS["good"])
    fixed = run_action(tool, image, ws, fake, "pull_request", pr_event())
    assert fixed.returncode == 0 and fixed.outputs["verdict"] == "pass"
    [comment] = fake.comments[5]
    assert (
        comment["body"].startswith("<!-- evalgate:digits -->") and len(fake.calls("POST", r"/comments$")) == 1
    )
    assert TOKEN not in comment["body"] + fixed.summary + json.dumps(fixed.outputs)


def test_fork_and_outage_warn_and_keep_the_verdict(tool, image, fake, tmp_path) -> None:
    ws = workspace(tmp_path)
    fake.fail("POST", r"/comments$", 403, times=10)
    fork = run_action(tool, image, ws, fake, "pull_request", pr_event(fork=True), baseline="none")
    assert fork.returncode == 0, fork.stdout + fork.stderr
    assert "::warning::evalgate could not post the PR comment: GitHub API answered 403" in fork.stdout
    assert "Resource not accessible by integration" in fork.stdout and fork.summary
    fake.fail("GET", r".", 503, times=10_000)
    outage = run_action(tool, image, ws, fake, "pull_request", pr_event())
    assert outage.returncode == 0, outage.stdout + outage.stderr
    assert "answered 503" in outage.stdout and outage.outputs["verdict"] == "pass"
    assert 5 not in fake.comments


def hand_built_wheel(folder: Path) -> Path:
    """A pure-Python wheel of one module (`shouting.shout`), made without a build backend or any index."""
    files = {
        "shouting/__init__.py": "def shout(x):\n    return x.upper()\n",
        "shouting-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: shouting\nVersion: 1.0\n",
        "shouting-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "shouting-1.0.dist-info/RECORD,,\n"
    wheel = folder / "shouting-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as bundle:
        for name, text in {**files, "shouting-1.0.dist-info/RECORD": record}.items():
            bundle.writestr(name, text)
    return wheel


def test_install_puts_the_models_own_dependency_in_the_container(tool, image, fake, tmp_path) -> None:
    ws = workspace(tmp_path)
    (ws / "model.py").write_text("from shouting import shout as predict\n")
    hand_built_wheel(ws)
    missing = run_action(tool, image, ws, fake, "pull_request", pr_event(), baseline="none")
    assert missing.returncode == 2, missing.stdout + missing.stderr  # the model cannot be imported
    installed = run_action(
        tool, image, ws, fake, "pull_request", pr_event(), baseline="none",
        install="--no-index ./shouting-1.0-py3-none-any.whl",
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Successfully installed shouting-1.0" in installed.stdout
    assert installed.outputs["verdict"] == "pass" and installed.outputs["accuracy"] == "1.0"


SHIPPED_HEADERS_PROBE = """
import json, os
from pathlib import Path
from evalgate.providers import PROVIDER_CLASSES, provider_class
from evalgate.providers.llm import wire
from evalgate.providers.llm.options import CALL_OPTIONS
from evalgate.providers.llm.sdk import SDKChatProvider
folder = Path(os.environ[wire.SHIPPED_PROFILES_ENV])
timeout = CALL_OPTIONS["timeout"].default
found = {}
for name in PROVIDER_CLASSES:
    if issubclass(cls := provider_class(name), SDKChatProvider):
        found[name] = wire.read_profile(folder / wire.profile_name(cls.endpoint_call(set()), timeout)) is not None
print(json.dumps(found))
"""


def kept_sdk_headers(tool: Path, image: str) -> dict[str, bool]:
    result = subprocess.run(
        [str(tool), "run", image, "--entrypoint", "python", "--", "-c", SHIPPED_HEADERS_PROBE],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_prebuilt_image_keeps_the_sdks_headers_so_a_run_in_a_fresh_checkout_imports_no_sdk(
    tool, image
) -> None:
    """release.yml builds with EVALGATE_PRIME_SDK_HEADERS=1; the Dockerfile action (rebuilt each run) does not."""
    primed = image + "-primed"
    build = subprocess.run(
        [str(tool), "podman", "build", "--pull=never", "--build-arg", "EVALGATE_PRIME_SDK_HEADERS=1",
         "-t", primed, str(ROOT)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert kept_sdk_headers(tool, primed) == {"anthropic": True, "openai": True}
    assert kept_sdk_headers(tool, image) == {"anthropic": False, "openai": False}


# ---------------------------------------------------------------- act


def act_repo(tmp_path: Path) -> Path:
    """A git repository holding this checkout's action and a small suite, with a workflow that uses `./`."""
    repo = tmp_path / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split("\n")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    suite = workspace(tmp_path / "suite")
    shutil.copytree(suite, repo / "suite")
    workflow = repo / ".github" / "workflows" / "act-gate.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(ACT_WORKFLOW)
    for command in (
        ["git", "init", "-q"],
        ["git", "remote", "add", "origin", f"https://github.com/{REPO}.git"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "t"],
    ):
        subprocess.run(command, cwd=repo, check=True, capture_output=True)  # fmt: skip
    return repo


ACT_WORKFLOW = """\
name: act-gate
on: [pull_request, push, workflow_run]
permissions: {contents: read, pull-requests: write, actions: read}
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: gate
        uses: ./
        with:
          working_directory: suite
          baseline: none
      - if: always()
        run: echo "OUTPUTS verdict=${{ steps.gate.outputs.verdict }} accuracy=${{ steps.gate.outputs.accuracy }}"
"""


def stop_stale_podman_services() -> None:
    """The container tool's `act` leaves its podman API service running after it exits; one left by an earlier
    session answers pings but fails to start containers ("write child: broken pipe"). Stop it, so this run's
    first `act` starts a fresh one."""
    home = Path(os.environ.get("EVALGATE_CONTAINER_HOME", "/var/cache/evalgate-container"))
    socket = home / "podman.sock"
    found = subprocess.run(["pgrep", "-f", f"system service .*{socket}"], capture_output=True, text=True)
    for pid in found.stdout.split():
        subprocess.run(["kill", pid], check=False)
    socket.unlink(missing_ok=True)


def run_act(
    tool: Path, repo: Path, fake: FakeGitHub, event_name: str, event: dict
) -> subprocess.CompletedProcess:
    event_file = repo.parent / f"{event_name}.json"
    event_file.write_text(json.dumps(event))
    return subprocess.run(
        [str(tool), "act", event_name, "-e", str(event_file), "-W", ".github/workflows/act-gate.yml",
         "--env", f"GITHUB_API_URL={fake.url}", "--env", "EVALGATE_GITHUB_BACKOFF=0", "-s", f"GITHUB_TOKEN={TOKEN}"],
        cwd=repo, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip


def remove_act_job_containers(tool: Path) -> None:
    """act leaves each job's container running after the job (`act-<workflow>-<job>-<hash>`, idle)."""
    found = subprocess.run(
        [str(tool), "podman", "ps", "-aq", "--filter", "name=^act-"], capture_output=True, text=True
    )
    if ids := found.stdout.split():
        subprocess.run([str(tool), "podman", "rm", "-f", *ids], capture_output=True, check=False)


@pytest.fixture
def act_service(tool: Path):
    """No podman service or job container left from earlier act runs before, none left behind after."""
    stop_stale_podman_services()
    remove_act_job_containers(tool)
    yield
    remove_act_job_containers(tool)
    stop_stale_podman_services()


def test_the_workflow_under_act_on_pull_request_push_and_workflow_run(
    tool, image, fake, disk_tmp_path, act_service
) -> None:
    repo = act_repo(disk_tmp_path)
    for _ in range(2):
        pr = run_act(tool, repo, fake, "pull_request", pr_event())
        assert pr.returncode == 0, pr.stdout[-4000:] + pr.stderr[-2000:]
        assert "OUTPUTS verdict=pass accuracy=1.0" in pr.stdout
    assert len(fake.comments[5]) == 1 and fake.comments[5][0]["body"].startswith("<!-- evalgate:digits -->")

    push = run_act(tool, repo, fake, "push", push_event(BASE_SHA))
    assert push.returncode == 0 and "OUTPUTS verdict=pass" in push.stdout, push.stdout[-4000:]
    assert len(fake.comments[5]) == 1

    fake.add_pull(9, HEAD_SHA, head_repo="mallory/repo")
    fake.add_run(
        head_sha=HEAD_SHA, event="pull_request", branch="feature", head_repo="mallory/repo", run_id=777
    )
    # stage 1's results: the image run on the PR's code with a read-only view (no comment)
    ws = workspace(disk_tmp_path / "stage1")
    stage1 = run_action(
        tool, image, ws, fake, "pull_request", pr_event(fork=True), comment="never", baseline="none"
    )
    assert stage1.returncode == 0, stage1.stdout + stage1.stderr
    with zipfile.ZipFile(repo.parent / "stage1.zip", "w") as bundle:
        bundle.write(ws / ".evalgate/out/results.json", "results.json")
        bundle.writestr(
            "context.json", json.dumps({"pr_number": 9, "head_sha": HEAD_SHA, "base_sha": BASE_SHA})
        )
    fake.add_artifact(777, "evalgate-results", (repo.parent / "stage1.zip").read_bytes())
    stage2 = run_act(tool, repo, fake, "workflow_run", {
        "action": "completed", "repository": {"full_name": REPO, "default_branch": "main"},
        "workflow_run": {"id": 777, "workflow_id": 7, "event": "pull_request", "head_sha": HEAD_SHA,
                         "head_branch": "feature", "head_repository": {"full_name": "mallory/repo"},
                         "pull_requests": []}})  # fmt: skip
    assert stage2.returncode == 0, stage2.stdout[-4000:]
    assert len(fake.comments[9]) == 1

    # a regression fails the job under act too, and the comment is updated, not duplicated
    passing_body = fake.comments[5][0]["body"]
    (repo / "suite" / "model.py").write_text(MODELS["bad"])
    regressed = run_act(tool, repo, fake, "pull_request", pr_event())
    assert regressed.returncode != 0 and "OUTPUTS verdict=fail" in regressed.stdout, regressed.stdout[-4000:]
    assert len(fake.comments[5]) == 1 and fake.comments[5][0]["body"] != passing_body
