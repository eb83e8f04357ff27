"""The action's inputs (INPUT_* variables), checked once into a plain object, and what fail_on means.

The runner enforces neither `required` nor any value: every input is checked here, and a bad one is an
InputError naming the input, its value and what is expected (exit code 2).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evalgate.errors import InputError
from evalgate.files.fileio import real_path
from evalgate.github import actions_io as gha
from evalgate.github import artifacts
from evalgate.github.comment import POLICIES as COMMENT_POLICIES
from evalgate.outbound import add_env_secrets
from evalgate.shards import parse_shard

FAIL_ON = ("fail", "warn", "never")
DEFAULT_RESULTS_ARTIFACT = "evalgate-results"
DEFAULT_SHARD_ARTIFACTS = "evalgate-shard-*"
BOOLEAN = ("false", "true")


@dataclass(frozen=True)
class Settings:
    """The action's inputs, checked once."""

    config: str
    baseline: str
    token: str
    comment: str
    fail_on: str
    working_directory: str
    sample: int | None
    label: str | None
    output_dir: str
    install: list[str]
    results_artifact: str
    workspace: Path
    shard: str | None = None  # run this shard only (I/N) and write its results for upload: no gate
    merge: bool = False  # merge the shards' results (artifacts of this run, or shards_dir), then gate
    shard_artifacts: str = DEFAULT_SHARD_ARTIFACTS
    shards_dir: str | None = None
    env: Mapping[str, str] = field(repr=False, compare=False, default_factory=dict)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = gha.get_input(name, env, default).lower()
    if value not in choices:
        raise InputError(f"input {name} is {value!r}; expected one of {', '.join(choices)}")
    return value


def read_settings(env: Mapping[str, str]) -> Settings:
    """Every input checked: the runner does not enforce `required` nor any value; a bad one is an InputError."""
    sample_text = gha.get_input("sample", env)
    sample = None
    if sample_text:
        if not re.fullmatch(r"[0-9]{1,9}", sample_text) or int(sample_text) < 1:
            raise InputError(
                f"input sample is {sample_text!r}; expected a whole number of cases from 1 to 999,999,999"
            )
        sample = int(sample_text)
    config = gha.get_input("config", env, "evalgate.yaml")
    baseline = gha.get_input("baseline", env, "artifact:evalgate-baseline")
    artifacts.parse_baseline_input(baseline)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    working_directory = gha.get_input("working_directory", env, ".")
    if Path(working_directory).is_absolute() or ".." in Path(working_directory).parts:
        raise InputError(
            f"input working_directory is {working_directory!r}; expected a folder inside the workspace"
        )
    _check_inside(workspace, "working_directory", working_directory, workspace)
    if not (workspace / working_directory).is_dir():
        raise InputError(
            f"input working_directory: the folder {working_directory!r} does not exist in the workspace"
        )
    output_dir = gha.get_input("output_dir", env, ".evalgate/out")
    _check_inside(workspace, "output_dir", output_dir, workspace / working_directory)
    shard = gha.get_input("shard", env) or None
    if shard:
        shard = str(parse_shard(shard, what="input shard"))
    merge = _choice(env, "merge", "false", BOOLEAN) == "true"
    if shard and merge:
        raise InputError("inputs shard and merge are both set; a step runs one shard or merges them all")
    shards_dir = gha.get_input("shards_dir", env) or None
    if shards_dir:
        _check_inside(workspace, "shards_dir", shards_dir, workspace / working_directory)
    return Settings(
        config=config,
        baseline=baseline,
        token=gha.get_input("github_token", env),
        comment=_choice(env, "comment", "on-change", COMMENT_POLICIES),
        fail_on=_choice(env, "fail_on", "fail", FAIL_ON),
        working_directory=working_directory,
        sample=sample,
        label=gha.get_input("label", env) or None,
        output_dir=output_dir,
        install=_split(gha.get_input("install", env), "install"),
        results_artifact=gha.get_input("results_artifact", env, DEFAULT_RESULTS_ARTIFACT),
        workspace=workspace,
        shard=shard,
        merge=merge,
        shard_artifacts=gha.get_input("shard_artifacts", env, DEFAULT_SHARD_ARTIFACTS),
        shards_dir=shards_dir,
        env=env,
    )


def _check_inside(workspace: Path, name: str, value: str, base: Path) -> None:
    """A folder input must stay inside the workspace once `..` and symbolic links are followed: the container's
    files elsewhere vanish when the step ends, and a later step finds the outputs' paths in the workspace."""
    if not real_path(base / value).is_relative_to(real_path(workspace)):
        raise InputError(
            f"input {name} is {value!r}, which is outside the workspace; expected a folder inside it "
            f"(relative to {'the working directory' if base != workspace else 'the workspace'})"
        )


def _split(text: str, name: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InputError(f"input {name} cannot be split into arguments: {exc}") from None


def mask_secrets(env: Mapping[str, str], names: Iterable[str] = ()) -> None:
    """Mask in the log, and redact from all output, the token, every variable whose name says it holds a secret
    (*_API_KEY, *_TOKEN, ...) and the variables `names` (those the config reads), before anything is printed."""
    for value in add_env_secrets(env, names):
        gha.add_mask(value)


def gate_exit(verdict: str, fail_on: str) -> int:
    """The step's exit code: fail_on=fail fails on fail, warn also on warn, never never."""
    if fail_on == "never":
        return 0
    return 1 if verdict == "fail" or (verdict == "warn" and fail_on == "warn") else 0
