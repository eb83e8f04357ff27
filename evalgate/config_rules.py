"""The gate's rules as the config writes them (`gate:` or a thresholds file): one Rule per metric, overall, in a
category (`gate.categories`) or in a slice (`gate.slices`, evalgate.slices), each bound checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalgate.config_schema import RULE_KEYS, RULE_OPTIONS
from evalgate.errors import InputError
from evalgate.options import check_options, line_of

GROUPS = {
    "categories": "category",
    "slices": "slice",
}  # gate sections keyed by a group of cases: Rule attribute


@dataclass
class Rule:
    """A threshold on one metric, overall (category and slice None), in one category or in one slice."""

    metric: str
    category: str | None = None
    min: float | None = None
    max: float | None = None
    max_drop: float | None = None
    max_drop_pct: float | None = None
    file: str = ""
    line: int | None = None
    lines: dict[str, int | None] = field(default_factory=dict)  # where each name and bound is written
    slice: str | None = None  # a slice's name (evalgate.slices): `length=long`

    def bounds(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in RULE_KEYS if getattr(self, key) is not None}

    @property
    def where(self) -> str:
        """The rule's place in the config: gate.accuracy, gate.categories.edge.accuracy or
        gate.slices.length=long.accuracy."""
        if self.slice is not None:
            return f"gate.slices.{self.slice}.{self.metric}"
        return (
            f"gate.{self.metric}"
            if self.category is None
            else f"gate.categories.{self.category}.{self.metric}"
        )

    def line_of(self, key: str) -> int | None:
        """The line of a name (metric, category) or a bound (min, max_drop...), else the rule's line."""
        return self.lines.get(key) or self.line


def read_gate(gate: dict[str, Any], gate_file: str) -> list[Rule]:
    """The rules of a `gate:` mapping (metric names, and the `categories` and `slices` groups)."""
    rules = []
    for metric, rule in gate.items():
        if metric not in GROUPS:
            rules.append(_rule(Rule(str(metric), file=gate_file, line=line_of(gate, metric)), rule))
            continue
        attribute = GROUPS[metric]
        _mapping(
            rule, f"gate.{metric} must map {attribute} names to thresholds", gate_file, line_of(gate, metric)
        )
        for group, per_metric in rule.items():
            _mapping(
                per_metric,
                f"gate.{metric}.{group} must map metric names to rules",
                gate_file,
                line_of(rule, group),
            )
            for name, body in per_metric.items():
                found = Rule(str(name), file=gate_file, line=line_of(per_metric, name))
                setattr(found, attribute, str(group))
                rules.append(_rule(found, body, {attribute: line_of(rule, group)}))
    return rules


def _mapping(value: Any, message: str, file: str, line: int | None) -> None:
    """An InputError saying `message` at the line when a group of the gate is not a mapping."""
    if not isinstance(value, dict):
        raise InputError(message, file=file, line=line)


def _rule(found: Rule, body: Any, lines: dict[str, int | None] | None = None) -> Rule:
    """`found` (its names and place) with the bounds of `body`; `lines` where its group's name is written."""
    file, line = found.file, found.line
    values = check_options(body, RULE_OPTIONS, file=file, context=found.where, line=line)
    if not any(values[key] is not None for key in RULE_KEYS):
        raise InputError(
            f"{found.where} sets no threshold; expected one of {', '.join(RULE_KEYS)}", file=file, line=line
        )
    if values["min"] is not None and values["max"] is not None and values["min"] > values["max"]:
        raise InputError(f"{found.where}: min is above max", file=file, line=line)
    for key, value in values.items():
        setattr(found, key, value)
    found.lines = {
        "metric": line,
        **(lines or {}),
        **{key: line_of(body, key) for key in body if key in RULE_KEYS},
    }
    return found
