"""Compare a run with its baseline: pair the cases by id, then build the Comparison the gate decides on.

`compare(current, baseline, config)` takes two typed results (evalgate/contracts/results.py: a loaded file, or
`Results.model_validate` of a fresh run) and returns a Comparison (evalgate/contracts/comparison.py); the gate
(evalgate/gate.py) turns it into a verdict. The statistics of each metric key are evalgate/paired_metrics.py,
the margins and Holm's adjustment evalgate/margins.py, the listed cases evalgate/case_lists.py, the signature
check evalgate/contracts/signature.py. See docs/gate.md for the methods and their defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate import case_lists, names, slices
from evalgate.config import SuiteConfig
from evalgate.contracts.comparison import Comparison, MetricComparison
from evalgate.contracts.results import CaseRecord, Results
from evalgate.contracts.signature import describe, signature_diff
from evalgate.errors import InputError
from evalgate.facts import Unit
from evalgate.margins import adjust, finish
from evalgate.metrics.base import Metric
from evalgate.options import line_of
from evalgate.paired_metrics import MetricPairing, Side, category_of


@dataclass
class _Quarantine:
    """The quarantined cases left out of both runs, and the warnings about them."""

    excluded: list[str]
    warnings: list[str]
    slices: dict[str, set[str]]  # the current run's slices without the quarantined cases


def compare(
    current: Results,
    baseline: Results | None,
    config: SuiteConfig,
    *,
    metrics: Sequence[Metric] | None = None,
    baseline_path: str | Path | None = None,
) -> Comparison:
    """Pair the cases of two runs by id and compute the paired statistics of every metric key.

    `metrics` are the metric objects used to recompute corpus metrics (macro-F1, AUC, BLEU, percentiles) on
    resampled cases; when None they are built from the config. Raises InputError when the baseline's signature
    differs and `stats.signature_mismatch` is "fail", when the runs or the config are of different suites, or
    when a rule names a metric or a category the current run does not have (evalgate.names).
    """
    settings = dict(config.stats)  # every option set: the config fills in STATS_OPTIONS' defaults
    _check_suites(current, baseline, config, baseline_path)
    cur_cases = {case.id: case for case in current.cases}
    base_cases = {case.id: case for case in baseline.cases} if baseline is not None else {}
    cur_slices = _slices(cur_cases, config)
    warnings = _check_rule_names(current, cur_cases, set(cur_slices), config)
    quarantine = _quarantine(cur_cases, base_cases, cur_slices, config)
    warnings += quarantine.warnings
    diff, blocking = _check_signature(current, baseline, settings, baseline_path)
    keys = _metric_keys(current)
    cur_side = Side(current, cur_cases, quarantine.slices)
    base_side = Side(baseline, base_cases, _slices(base_cases, config)) if baseline is not None else None
    pairing = MetricPairing(cur_side, base_side, keys, config, settings, metrics, bool(quarantine.excluded))
    paired_ids = sorted(set(cur_cases) & set(base_cases))
    overall, categories, slice_rows = _compare_keys(pairing, keys, paired_ids, cur_cases, settings)
    warnings += _baseline_warnings(baseline, blocking)
    errors, runs = case_lists.errored_runs(cur_cases)
    error_item = next((item for item in overall if item.metric == "error_rate"), None)
    error_rate = error_item.current if error_item is not None else None
    return Comparison(
        suite=current.suite,
        stats=settings,
        has_baseline=baseline is not None,
        baseline_info=_baseline_info(baseline),
        signature_match=not blocking,
        signature_diff=diff,
        metrics=overall,
        categories=categories,
        **_case_changes(cur_cases, base_cases, paired_ids, keys, config, has_baseline=baseline is not None),
        error_rate=float(error_rate if error_rate is not None else (errors / runs if runs else 0.0)),
        errors=errors,
        runs=runs,
        cases=len(cur_cases),
        quarantined=quarantine.excluded,
        warnings=warnings,
        incomplete=current.incomplete_reason(),
        slices=slice_rows,
    )


def _baseline_warnings(baseline: Results | None, blocking: list[dict[str, Any]]) -> list[str]:
    """What the reader must know about the baseline: computed differently, partial, or absent."""
    warnings = []
    if blocking:
        warnings.append(
            "the baseline was computed differently ("
            + ", ".join(d["field"] for d in blocking)
            + " differ); its numbers may not be comparable"
        )
    if baseline is not None and baseline.incomplete_reason():
        warnings.append(
            f"the baseline run did not complete ({baseline.incomplete_reason()}): its numbers are partial"
        )
    if baseline is None:
        warnings.append(
            "no baseline: only absolute thresholds (min, max) were checked; drops against a baseline were not judged"
        )
    return warnings


def _compare_keys(
    pairing: MetricPairing,
    keys: dict[str, tuple[str, bool]],
    paired_ids: list[str],
    cur_cases: dict[str, CaseRecord],
    settings: dict[str, Any],
) -> tuple[list[MetricComparison], list[MetricComparison], list[MetricComparison]]:
    """Every key overall, in every category and in every slice (a slice's cases are the current run's members
    of it), Holm-adjusted within each family (the overall rules; the category and slice rules together), with
    its detectable drop."""
    overall = [pairing.compare_key(key, None, paired_ids) for key in keys]
    categories: list[MetricComparison] = []
    for category in _categories(cur_cases):
        ids = [i for i in paired_ids if category_of(cur_cases[i]) == category]
        categories.extend(pairing.compare_key(key, category, ids) for key in keys)
    slice_rows: list[MetricComparison] = []
    for name, members in pairing.current.slices.items():
        ids = [i for i in paired_ids if i in members]
        slice_rows.extend(pairing.compare_key(key, None, ids, slice=name) for key in keys)
    units = key_units(pairing.current.results)
    grouped = categories + slice_rows
    for item in overall + grouped:
        item.unit = units[item.metric]
    adjust(overall)
    adjust(grouped)
    for item in overall + grouped:
        finish(item, overall if item.category is None and item.slice is None else grouped, settings)
    return overall, categories, slice_rows


def _case_changes(
    cur_cases: dict[str, CaseRecord],
    base_cases: dict[str, CaseRecord],
    paired_ids: list[str],
    keys: dict[str, tuple[str, bool]],
    config: SuiteConfig,
    *,
    has_baseline: bool,
) -> dict[str, Any]:
    """The cases added and removed, and those listed by name: regressed (or failing, without a baseline) and
    flaky."""
    listing = case_lists.listing_keys(keys, config.rules, cur_cases)
    regressed, regressed_total = (
        case_lists.regressed(cur_cases, base_cases, paired_ids, listing, keys, config.slices)
        if has_baseline
        else ([], 0)
    )
    failing, failing_total = (
        case_lists.failing(cur_cases, listing, keys, config.slices) if not has_baseline else ([], 0)
    )
    return {
        "added": sorted(set(cur_cases) - set(base_cases)) if has_baseline else [],
        "removed": sorted(set(base_cases) - set(cur_cases)) if has_baseline else [],
        "paired": len(paired_ids),
        "regressed": regressed,
        "regressed_total": regressed_total,
        "failing": failing,
        "failing_total": failing_total,
        "flaky": case_lists.flaky(cur_cases, base_cases, listing, keys),
    }


def _quarantine(
    cur_cases: dict[str, CaseRecord],
    base_cases: dict[str, CaseRecord],
    cur_slices: dict[str, set[str]],
    config: SuiteConfig,
) -> _Quarantine:
    """Leave the quarantined cases out of both runs (in place) and out of the current run's slices
    (`cur_slices`); warn about ids that match no case and about category and slice rules left with no case to
    judge."""
    quarantine = set(config.quarantine or [])
    excluded = sorted(quarantine & (set(cur_cases) | set(base_cases)))
    warnings = []
    if excluded:
        warnings.append(
            f"{len(excluded)} quarantined case(s) left out of the gate: {', '.join(excluded[:10])}"
        )
    unmatched = sorted(quarantine - set(cur_cases) - set(base_cases))
    if unmatched:
        warnings.append(
            f"{len(unmatched)} quarantined id(s) match no case of either run (a typo, or a case since "
            f"removed): {', '.join(unmatched[:10])}{' ...' if len(unmatched) > 10 else ''}"
        )
    present = set(_categories(cur_cases))
    for case_id in excluded:
        cur_cases.pop(case_id, None)
        base_cases.pop(case_id, None)
    emptied = present - set(_categories(cur_cases))
    warnings += [
        f"{rule.where}: not judged: every case of category {rule.category!r} is quarantined"
        for rule in config.rules
        if rule.category in emptied
    ]
    kept = {name: ids - set(excluded) for name, ids in cur_slices.items()}
    emptied = {name for name, ids in kept.items() if not ids}
    warnings += [
        f"{rule.where}: not judged: every case of slice {rule.slice!r} is quarantined"
        for rule in config.rules
        if rule.slice in emptied
    ]
    return _Quarantine(excluded, warnings, {name: ids for name, ids in kept.items() if ids})


def _check_signature(
    current: Results, baseline: Results | None, settings: dict[str, Any], baseline_path: str | Path | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The signature differences, and those that change what the numbers mean; with
    `stats.signature_mismatch: fail` those refuse the comparison, saying which option differs."""
    diff = signature_diff(current.signature, baseline.signature) if baseline is not None else []
    blocking = [item for item in diff if item["affects_comparison"]]
    if blocking and settings["signature_mismatch"] == "fail":
        raise InputError(
            "the baseline was computed differently, so the gate refuses to compare "
            f"(stats.signature_mismatch: fail): {'; '.join(describe(item) for item in blocking)}; re-run the "
            "baseline with the same datasets and metrics, or set signature_mismatch: warn",
            file=baseline_path,
        )
    return diff, blocking


def _check_suites(
    current: Results, baseline: Results | None, config: SuiteConfig, baseline_path: str | Path | None
) -> None:
    """The config, the current run and the baseline must be of one suite: another suite's thresholds or
    baseline are never applied (stats.signature_mismatch does not relax this: a signature says how the numbers
    were computed, the suite what they are of)."""
    suite = current.suite
    if suite != config.suite:
        raise InputError(
            f"the results to gate are of suite {suite!r}, but this config is of suite {config.suite!r}: gate "
            "the results with the config of their suite",
            file=config.path,
            line=line_of(config.raw, "suite"),
        )
    if baseline is not None and baseline.suite != suite:
        raise InputError(
            f"the baseline is of suite {baseline.suite!r}, but this run is of suite {suite!r}; a baseline "
            f"of another suite is never compared: pass the results of suite {suite!r} on the base branch as "
            "--baseline (or omit --baseline to check only the absolute thresholds)",
            file=baseline_path or "baseline results",
        )


def _check_rule_names(
    current: Results, cases: dict[str, CaseRecord], slice_names: set[str], config: SuiteConfig
) -> list[str]:
    """The rules' metric, category and slice names must be the current run's (a typo never disables a rule); a
    sampled run may lack a category or a slice (a warning). Returns the warnings."""
    if "metric_keys" in current.model_fields_set:
        names.check_rule_names(
            config.rules, {names.METRIC: set(_metric_keys(current))}, source="the current results"
        )
    return names.check_rule_names(
        config.rules,
        {
            names.CATEGORY: {category_of(case) for case in cases.values()},
            names.SLICE: slice_names,
        },
        source="the cases of the current results",
        partial=current.signature.sample is not None,
    )


def key_units(current: Results) -> dict[str, Unit]:
    """Every key's unit as the results file recorded it from the key's declared facts; for a file written
    before the facts were recorded, the registry's unit of the key (evalgate.metrics.registry.unit_of)."""
    units: dict[str, Unit] = {}
    for name, info in current.metric_keys.items():
        if info.unit is not None:
            units[name] = info.unit
        else:
            from evalgate.metrics.registry import unit_of

            units[name] = unit_of(name, info.kind)
    return units


def _metric_keys(current: Results) -> dict[str, tuple[str, bool]]:
    """Every key of the current run (kind, higher_is_better); keys only the baseline has are not compared."""
    return {name: (info.kind, info.higher_is_better) for name, info in current.metric_keys.items()}


def _slices(cases: dict[str, CaseRecord], config: SuiteConfig) -> dict[str, set[str]]:
    """Each slice's case ids, from the cases' own metadata and tags (evalgate.slices, the config's `slices:`)."""
    ids = list(cases)
    return {
        name: {ids[i] for i in members}
        for name, members in slices.groups(cases.values(), config.slices).items()
    }


def _categories(cur: dict[str, CaseRecord]) -> list[str]:
    return sorted({category_of(c) for c in cur.values()})


def _baseline_info(baseline: Results | None) -> dict[str, Any]:
    if baseline is None:
        return {"label": None, "created_at": None}
    git = baseline.git
    label = baseline.label or (
        f"{git.get('ref') or ''}@{str(git.get('sha'))[:7]}" if git.get("sha") else None
    )
    return {"label": label, "created_at": baseline.created_at}
