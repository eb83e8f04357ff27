"""Run signatures: what makes two runs comparable, and in words what differs between a run and its baseline.

A signature holds hashes (`datasets`, `metrics`, `config`, `provider`) and, since results schema 2, the
normalised metric spec the `metrics` hash is computed from (`metric_spec`), so a refused baseline says which
option differs (`rouge.use_stemmer: true → false`, as sacrebleu's signatures do) instead of two sha256 values.
A baseline written before (schema 1, no spec) still compares by the hash alone.

The run path builds the spec and its hash here (no pydantic); pairing reads the typed signatures.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalgate.config import MetricConfig
    from evalgate.contracts.results import MetricSpec, Signature

# Signature fields that change what the numbers mean; the others (config, provider) are expected to change in
# a pull request and are listed for information only.
COMPARABILITY_FIELDS = ("datasets", "metrics", "sample", "repeats", "evalgate")
SPEC_FIELD = "metric_spec"  # the readable form of `metrics`: compared through it, not listed on its own


def metric_spec(metrics: Sequence[MetricConfig]) -> list[dict[str, Any]]:
    """The configured metrics as the signature records them: name and options, JSON-normalised (sorted keys,
    values JSON cannot hold as their text), in config order."""
    return [
        {
            "metric": metric.name,
            "options": json.loads(json.dumps(metric.options, sort_keys=True, default=str)),
        }
        for metric in metrics
    ]


def metric_spec_hash(spec: Sequence[dict[str, Any]]) -> str:
    """The signature's `metrics` hash of a spec (the same bytes evalgate has hashed since schema 1)."""
    text = json.dumps([[entry["metric"], entry["options"]] for entry in spec], sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def signature_diff(current: Signature, baseline: Signature) -> list[dict[str, Any]]:
    """The fields that differ, each {field, baseline, current, affects_comparison}; a `metrics` difference of
    two runs that both carry their spec is listed option by option (`field` is `metrics.rouge.use_stemmer`)."""
    now, before = current.model_dump(), baseline.model_dump()
    diff = []
    for name in sorted((set(now) | set(before)) - {SPEC_FIELD}):
        if now.get(name) == before.get(name):
            continue
        affects = name in COMPARABILITY_FIELDS
        if name == "metrics" and current.metric_spec is not None and baseline.metric_spec is not None:
            options = spec_diff(current.metric_spec, baseline.metric_spec)
            if options:
                diff += [{**item, "affects_comparison": affects} for item in options]
                continue
        diff.append(
            {
                "field": name,
                "baseline": before.get(name),
                "current": now.get(name),
                "affects_comparison": affects,
            }
        )
    return diff


def spec_diff(current: Sequence[MetricSpec], baseline: Sequence[MetricSpec]) -> list[dict[str, Any]]:
    """Option by option, what differs between two metric specs: `metrics.<name>.<option>` with both values
    (None where one side lacks the option), or `metrics.<name>` when one side lacks the metric."""
    now, before = _by_name(current), _by_name(baseline)
    diff = []
    for name in sorted(set(now) | set(before), key=lambda n: (n not in now, n)):
        if name not in now or name not in before:
            diff.append(
                {
                    "field": f"metrics.{name}",
                    "baseline": _shown(before.get(name)),
                    "current": _shown(now.get(name)),
                }
            )
            continue
        for option in sorted(set(now[name]) | set(before[name])):
            if now[name].get(option) != before[name].get(option):
                diff.append(
                    {
                        "field": f"metrics.{name}.{option}",
                        "baseline": before[name].get(option),
                        "current": now[name].get(option),
                    }
                )
    return diff


def describe(item: dict[str, Any]) -> str:
    """One difference in words: `rouge.use_stemmer: true → false` (JSON values, `absent` for a missing one)."""
    field = str(item["field"]).removeprefix("metrics.") if "." in str(item["field"]) else str(item["field"])
    return f"{field}: {_json(item['baseline'])} → {_json(item['current'])}"


def _by_name(spec: Sequence[MetricSpec]) -> dict[str, dict[str, Any]]:
    """The spec's metrics by name (a name configured twice is numbered from its second entry: `bleu#2`)."""
    named: dict[str, dict[str, Any]] = {}
    for entry in spec:
        name, count = entry.metric, 2
        while name in named:
            name, count = f"{entry.metric}#{count}", count + 1
        named[name] = entry.options
    return named


def _shown(options: dict[str, Any] | None) -> Any:
    return None if options is None else options or "configured"


def _json(value: Any) -> str:
    return "absent" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
