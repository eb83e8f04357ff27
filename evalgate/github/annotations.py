"""Annotations for the gate's reasons, pointing at the threshold's line in the suite config.

Only the suite name and where each rule is written are read here (with line numbers); checking the config is
the engine's job, so this stays light and runs before the engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from evalgate.contracts.verdict import Reason
from evalgate.errors import InputError
from evalgate.github import actions_io as gha
from evalgate.providers import secret_env_names
from evalgate.yamlio import LineDict, load_yaml

RuleKey = tuple[str | None, str, str | None]  # (task, metric, category): task None outside a suite of tasks


@dataclass(frozen=True)
class ConfigFacts:
    """The suite's name, the file and line of each rule by (task, metric, category or slice), and the environment
    variables the
    providers read secrets from (masked in the log before the engine starts)."""

    path: Path
    suite: str
    rule_lines: dict[RuleKey, tuple[Path, int]] = field(default_factory=dict)
    secret_env_names: frozenset[str] = frozenset()


def read_config_facts(path: str | Path) -> ConfigFacts:
    """The suite name, rule lines and secret variables of a config (a file, or a folder holding evalgate.yaml);
    in a suite of tasks, every task's (its rules keyed by the task's name)."""
    path = Path(path)
    if path.is_dir():
        path = path / "evalgate.yaml"
    data = load_yaml(path)
    if not isinstance(data, LineDict) or not isinstance(data.get("suite"), str) or not data["suite"].strip():
        raise InputError(
            "the config needs a suite name (suite: NAME)", file=path, line=getattr(data, "line", None)
        )
    tasks = data.get("tasks")
    if not isinstance(tasks, dict):
        tasks = {}
    lines = _rule_lines(data, path, None)
    sections = _secret_sections(data)
    for name, task in tasks.items():
        if isinstance(task, LineDict):
            lines.update(_rule_lines(task, path, str(name)))
            sections += _secret_sections(task)
    secrets = frozenset(name for section in sections for name in secret_env_names(section))
    return ConfigFacts(path, data["suite"], lines, secrets)


def _rule_lines(data: LineDict, path: Path, task: str | None) -> dict[RuleKey, tuple[Path, int]]:
    """Where each rule of a config (or of one task's section) is written."""
    gate, gate_file = data.get("gate"), path
    thresholds = gate if isinstance(gate, str) else data.get("thresholds")
    if isinstance(thresholds, str):
        gate_file = path.parent / thresholds
        gate = load_yaml(gate_file)
    lines: dict[RuleKey, tuple[Path, int]] = {}
    if isinstance(gate, LineDict):
        for metric in gate:
            if metric in ("categories", "slices") and isinstance(gate[metric], LineDict):
                for category, rules in gate[metric].items():
                    if isinstance(rules, LineDict):
                        for name in rules:
                            lines[(task, name, str(category))] = (gate_file, rules.line_of(name))
            else:
                lines[(task, metric, None)] = (gate_file, gate.line_of(metric))
    return lines


def _secret_sections(data: LineDict) -> list[object]:
    """The provider and judge sections of a config (or of one task's section), whose secrets are masked."""
    providers = data.get("providers")
    return [
        data.get("provider"),
        data.get("judge"),
        *(providers.values() if isinstance(providers, dict) else ()),
    ]


def annotate(reasons: Iterable[Reason], facts: ConfigFacts, *, workspace: Path) -> int:
    """One ::error:: (fail) or ::warning:: (warn) per reason, at the rule's line; returns how many were written."""
    count = 0
    for reason in reasons:
        metric, category = reason.metric, reason.category if reason.slice is None else reason.slice
        located = facts.rule_lines.get((reason.task, metric, category))
        file, line = located if located is not None else (facts.path, None)
        where = (f"{reason.task}: " if reason.task else "") + metric + (f" [{category}]" if category else "")
        emit = gha.error if reason.severity == "fail" else gha.warning
        emit(
            reason.message or f"{where}: {reason.rule or 'threshold'} breached",
            file=workspace_relative(file, workspace),
            line=line,
            title=f"evalgate: {where}",
        )
        count += 1
    return count


def workspace_relative(file: Path, workspace: Path) -> str:
    """Annotations name files relative to the repository root (the workspace)."""
    try:
        return Path(os.path.relpath(file.resolve(), workspace.resolve())).as_posix()
    except ValueError:
        return file.as_posix()
