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


@dataclass(frozen=True)
class ConfigFacts:
    """The suite's name, the file and line of each rule by (metric, category or slice), and the environment variables the
    providers read secrets from (masked in the log before the engine starts)."""

    path: Path
    suite: str
    rule_lines: dict[tuple[str, str | None], tuple[Path, int]] = field(default_factory=dict)
    secret_env_names: frozenset[str] = frozenset()


def read_config_facts(path: str | Path) -> ConfigFacts:
    """The suite name and rule lines of a config (a file, or a folder holding evalgate.yaml)."""
    path = Path(path)
    if path.is_dir():
        path = path / "evalgate.yaml"
    data = load_yaml(path)
    if not isinstance(data, LineDict) or not isinstance(data.get("suite"), str) or not data["suite"].strip():
        raise InputError(
            "the config needs a suite name (suite: NAME)", file=path, line=getattr(data, "line", None)
        )
    gate, gate_file = data.get("gate"), path
    thresholds = gate if isinstance(gate, str) else data.get("thresholds")
    if isinstance(thresholds, str):
        gate_file = path.parent / thresholds
        gate = load_yaml(gate_file)
    lines: dict[tuple[str, str | None], tuple[Path, int]] = {}
    if isinstance(gate, LineDict):
        for metric in gate:
            if metric in ("categories", "slices") and isinstance(gate[metric], LineDict):
                for category, rules in gate[metric].items():
                    if isinstance(rules, LineDict):
                        for name in rules:
                            lines[(name, str(category))] = (gate_file, rules.line_of(name))
            else:
                lines[(metric, None)] = (gate_file, gate.line_of(metric))
    providers = data.get("providers")
    sections = [
        data.get("provider"),
        data.get("judge"),
        *(providers.values() if isinstance(providers, dict) else ()),
    ]
    secrets = frozenset(name for section in sections for name in secret_env_names(section))
    return ConfigFacts(path, data["suite"], lines, secrets)


def annotate(reasons: Iterable[Reason], facts: ConfigFacts, *, workspace: Path) -> int:
    """One ::error:: (fail) or ::warning:: (warn) per reason, at the rule's line; returns how many were written."""
    count = 0
    for reason in reasons:
        metric, category = reason.metric, reason.category if reason.slice is None else reason.slice
        located = facts.rule_lines.get((metric, category))
        file, line = located if located is not None else (facts.path, None)
        where = f"{metric}" + (f" [{category}]" if category else "")
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
