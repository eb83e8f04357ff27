"""action.yml, the Dockerfile, the workflows and docs/action.md agree with what the entrypoint does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ghkit import verdict_doc

from evalgate.contracts.verdict import MetricRow
from evalgate.github import inputs, publish

ROOT = Path(__file__).resolve().parents[2]

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
WORKFLOWS = sorted((ROOT / "docs" / "workflows").glob("*.yml")) + sorted(
    (ROOT / ".github" / "workflows").glob("*.yml")
)


def test_a_docker_action_built_from_the_dockerfile() -> None:
    assert ACTION["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert ACTION["branding"]["icon"] and ACTION["branding"]["color"]
    assert all("_" in name or name.isalpha() for name in ACTION["inputs"])  # underscores, never hyphens


def test_the_defaults_of_action_yml_are_the_entrypoints_own(tmp_path: Path) -> None:
    env = {"GITHUB_WORKSPACE": str(tmp_path)}
    from_yml = dict(env)
    for name, spec in ACTION["inputs"].items():
        if name != "github_token":
            from_yml[f"INPUT_{name.upper()}"] = str(spec.get("default", ""))
    assert inputs.read_settings(from_yml) == inputs.read_settings(env)
    assert ACTION["inputs"]["github_token"]["default"] == "${{ github.token }}"


def test_every_input_is_read_and_documented() -> None:
    source = (ROOT / "evalgate" / "github" / "inputs.py").read_text()
    read = set(re.findall(r'get_input\("([a-z_]+)"', source)) | set(
        re.findall(r'_choice\(env, "([a-z_]+)"', source)
    )
    assert read == set(ACTION["inputs"])
    docs = (ROOT / "docs" / "action.md").read_text()
    for name in ACTION["inputs"]:
        assert f"| `{name}` |" in docs


def test_declared_outputs_are_written(tmp_path: Path) -> None:
    verdict = verdict_doc("fail")
    verdict.metrics.append(
        MetricRow(metric="latency_p95_ms", kind="continuous", higher_is_better=False, current=120.0)
    )
    paths = {"results_path": "r", "report_path": "p", "verdict_path": "v"}
    written = publish.build_outputs(verdict, paths, "https://c")
    assert set(ACTION["outputs"]) <= set(written)


def test_the_dockerfile_follows_the_action_rules() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()]
    instructions = [line.split()[0] for line in lines if not line.startswith("#") and line[0].isupper()]
    assert "USER" not in instructions and "WORKDIR" not in instructions
    assert lines[-1] == 'ENTRYPOINT ["python", "/opt/evalgate/entrypoint.py"]'
    text = "\n".join(lines)
    assert text.index("COPY pyproject.toml constraints.txt") < text.index(
        "COPY . "
    )  # dependencies cached first
    assert "--no-deps" in text and "PYTHONUNBUFFERED=1" in text and "PYTHONDONTWRITEBYTECODE=1" in text


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_use_only_real_inputs_and_least_permissions(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text())
    permissions = workflow.get("permissions") or {}
    assert set(permissions.values()) <= {"read", "write"} and "write-all" not in str(permissions)
    writes = {scope for scope, level in permissions.items() if level == "write"}
    assert writes <= {"pull-requests", "packages"}
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses == "./" or uses.startswith(("OWNER/evalgate", "docker://ghcr.io/OWNER/evalgate")):
                assert set(step.get("with") or {}) <= set(ACTION["inputs"]), path.name


def test_the_fork_stage1_has_no_write_token_and_stage2_runs_no_pr_code() -> None:
    stage1 = yaml.safe_load((ROOT / "docs/workflows/evalgate-fork-stage1.yml").read_text())
    stage2 = yaml.safe_load((ROOT / "docs/workflows/evalgate-fork-stage2.yml").read_text())
    assert "write" not in stage1["permissions"].values()
    assert "pull_request_target" not in stage1[True]  # PyYAML reads the key `on` as True
    assert list(stage2[True]) == ["workflow_run"]
    assert stage2[True]["workflow_run"]["workflows"] == [stage1["name"]]
    for step in stage2["jobs"]["comment"]["steps"]:
        assert "ref" not in (step.get("with") or {})  # the default branch, never the PR's head


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_uploads_of_the_hidden_output_folder_include_hidden_files(path: Path) -> None:
    """upload-artifact (v4.4 and later) leaves out files under a folder starting with a dot, such as the default
    output_dir `.evalgate/out`, unless include-hidden-files is set: the baseline would silently never be kept."""
    workflow = yaml.safe_load(path.read_text())
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            options = step.get("with") or {}
            if step.get("uses", "").startswith("actions/upload-artifact"):
                hidden = ".evalgate/" in options["path"] or "outputs.results_path" in options["path"]
                assert not hidden or options.get("include-hidden-files") is True, (
                    path.name,
                    step.get("name"),
                )


def test_no_expression_in_action_yml_outside_defaults() -> None:
    """The runner (and act) refuse to load an action whose descriptions hold `${{ }}`: expressions are allowed in
    an input's default only (act: "expressions are not allowed here")."""
    for name, spec in {**ACTION["inputs"], **ACTION["outputs"]}.items():
        assert "${{" not in spec.get("description", ""), name
    assert "${{" not in ACTION["description"]
