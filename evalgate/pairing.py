"""Compare a run with its baseline: pair cases by id, then the paired statistics of every metric key.

`compare(current, baseline, config)` takes two results dicts (results.json) and returns a Comparison; the gate
(`evalgate/gate.py`) turns it into a verdict. See docs/gate.md for the methods and their defaults.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalgate import names, stats
from evalgate.config import DROP_RULES, Rule, SuiteConfig
from evalgate.errors import InputError
from evalgate.explain import explanation
from evalgate.metrics.base import (
    CaseRecord,
    Metric,
    ResampledMetric,
    mean_score,
    timing_measured,
    timing_note,
)
from evalgate.options import line_of
from evalgate.report import formatting as fmt
from evalgate.results import incomplete_reason
from evalgate.units import unit_of

# Signature fields that change what the numbers mean; the others (config, provider) are expected to change in
# a pull request and are listed for information only.
COMPARABILITY_FIELDS = ("datasets", "metrics", "sample", "repeats", "evalgate")
# Corpus metrics without a vectorized `resampled` run `aggregate` on each resample: fewer resamples.
AGGREGATE_RESAMPLES = 1000
# Most cases listed as regressed, failing or flaky (the totals are counted separately).
MAX_LISTED = 100
# A percentile with fewer cases than this beyond it (a p99 of under 1,000 cases) gets a note: it is rough.
TAIL_CASES = 10
DEFAULT_STATS = {"mode": "significance", "alpha": 0.05, "confidence": 0.95, "resamples": 10000, "power": 0.8}


@dataclass
class MetricComparison:
    """One metric, overall (category None) or in one category, compared with the baseline."""

    metric: str
    category: str | None
    kind: str
    higher_is_better: bool
    current: float | None
    baseline: float | None = None
    delta: float | None = None  # current - baseline over the paired cases
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None  # one-sided, towards worse (H0: no drop)
    p_adjusted: float | None = None  # Holm, within its family (see docs/gate.md)
    p_margin: float | None = None  # one-sided, H0: the drop is at most the margin (the strictest drop rule)
    p_margin_adjusted: float | None = None  # Holm across the family's drop rules: the gate fails on this
    mde: float | None = (
        None  # smallest true drop the test against no change detects with the configured power
    )
    mde_gate: float | None = None  # smallest true drop the gate fails on with that power (margin included)
    margin: float | None = None
    n: int = 0
    rules: dict[str, float] = field(default_factory=dict)
    status: str = "info"  # set by the gate: pass | warn | fail, or info when no rule applies
    note: str | None = None
    method: str | None = None
    se: float | None = None
    discordant: dict[str, int] | None = None  # {"worse": b, "better": c} for McNemar
    tests: dict[str, dict[str, float | None]] = field(default_factory=dict)  # per drop rule: margin, p, p_adj
    # a timing key (latency, tokens/s): per run ("current", "baseline") how its values were timed,
    # {"n", "fresh", "measured", "note"}; a rule needs measured values (gate.py: "not measured")
    timing: dict[str, dict[str, Any]] | None = None

    @property
    def drop(self) -> float | None:
        """The change for the worse (positive = worse), from the paired delta."""
        if self.delta is None:
            return None
        return -self.delta if self.higher_is_better else self.delta

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Comparison:
    """Everything the gate and the report need about current versus baseline."""

    suite: str
    stats: dict[str, Any]
    has_baseline: bool
    baseline_info: dict[str, Any]
    signature_match: bool
    signature_diff: list[dict[str, Any]]
    metrics: list[MetricComparison]
    categories: list[MetricComparison]
    added: list[str]
    removed: list[str]
    paired: int
    regressed: list[dict[str, Any]]
    regressed_total: int
    failing: list[dict[str, Any]]
    failing_total: int
    flaky: list[dict[str, Any]]
    error_rate: float
    errors: int  # runs that errored (each repeat counts)
    cases: int
    quarantined: list[str]
    warnings: list[str]
    runs: int = 0  # every case x repeat
    incomplete: str | None = None  # why the current run did not complete (the gate never passes it)

    def metric(self, name: str, category: str | None = None) -> MetricComparison | None:
        for item in self.metrics if category is None else self.categories:
            if item.metric == name and item.category == category:
                return item
        return None


def compare(
    current: dict[str, Any],
    baseline: dict[str, Any] | None,
    config: SuiteConfig,
    *,
    metrics: Sequence[Metric] | None = None,
    baseline_path: str | Path | None = None,
) -> Comparison:
    """Pair the cases of two runs by id and compute the paired statistics of every metric key.

    `metrics` are the metric objects used to recompute corpus metrics (macro-F1, AUC, BLEU, percentiles) on
    resampled cases; when None they are built from the config. Raises InputError when the baseline's signature
    differs and `stats.signature_mismatch` is "fail", when the runs or the config are of different suites, when
    a rule names a metric or a category the current run does not have (evalgate.names), or when case ids
    repeat.
    """
    settings = {**DEFAULT_STATS, "signature_mismatch": "warn", **(config.stats or {})}
    _check_suites(current, baseline, config, baseline_path)
    cur_cases = _cases_by_id(current, "current results")
    base_cases = (
        _cases_by_id(baseline, str(baseline_path or "baseline results")) if baseline is not None else {}
    )
    warnings = _check_rule_names(current, cur_cases, config)
    quarantine = set(config.quarantine or [])
    excluded = sorted(quarantine & (set(cur_cases) | set(base_cases)))
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

    diff = _signature_diff(current, baseline) if baseline is not None else []
    blocking = [item for item in diff if item["affects_comparison"]]
    if blocking and settings["signature_mismatch"] == "fail":
        what = "; ".join(f"{d['field']}: {d['baseline']!r} -> {d['current']!r}" for d in blocking)
        raise InputError(
            "the baseline was computed differently, so the gate refuses to compare "
            f"(stats.signature_mismatch: fail): {what}; re-run the baseline with the same datasets and "
            "metrics, or set signature_mismatch: warn",
            file=baseline_path,
        )
    if blocking:
        warnings.append(
            "the baseline was computed differently ("
            + ", ".join(d["field"] for d in blocking)
            + " differ); its numbers may not be comparable"
        )

    paired_ids = sorted(set(cur_cases) & set(base_cases))
    keys = _metric_keys(current)
    builder = _Builder(
        current, baseline, cur_cases, base_cases, keys, config, settings, metrics, bool(excluded)
    )
    overall = [builder.compare_key(key, None, paired_ids) for key in keys]
    categories = []
    for category in _categories(cur_cases):
        ids = [i for i in paired_ids if category_of(cur_cases[i]) == category]
        categories.extend(builder.compare_key(key, category, ids) for key in keys)
    _adjust(overall)
    _adjust(categories)
    for item in overall + categories:
        builder.finish(item, family=overall if item.category is None else categories)

    regress_keys = _listing_keys(keys, config.rules, cur_cases)
    regressed, regressed_total = (
        _regressed(cur_cases, base_cases, paired_ids, regress_keys, keys) if baseline is not None else ([], 0)
    )
    failing, failing_total = _failing(cur_cases, regress_keys, keys) if baseline is None else ([], 0)
    errors, runs = _errored_runs(cur_cases)
    error_item = next((item for item in overall if item.metric == "error_rate"), None)
    error_rate = (
        error_item.current
        if error_item and error_item.current is not None
        else (errors / runs if runs else 0.0)
    )
    if baseline is not None and incomplete_reason(baseline):
        warnings.append(
            f"the baseline run did not complete ({incomplete_reason(baseline)}): its numbers are partial"
        )
    if baseline is None:
        warnings.append(
            "no baseline: only absolute thresholds (min, max) were checked; drops against a baseline were not judged"
        )
    return Comparison(
        suite=str(current.get("suite", config.suite)),
        stats=settings,
        has_baseline=baseline is not None,
        baseline_info=_baseline_info(baseline),
        signature_match=not blocking,
        signature_diff=diff,
        metrics=overall,
        categories=categories,
        added=sorted(set(cur_cases) - set(base_cases)) if baseline is not None else [],
        removed=sorted(set(base_cases) - set(cur_cases)) if baseline is not None else [],
        paired=len(paired_ids),
        regressed=regressed,
        regressed_total=regressed_total,
        failing=failing,
        failing_total=failing_total,
        flaky=_flaky(cur_cases, base_cases, regress_keys, keys),
        error_rate=float(error_rate),
        errors=errors,
        runs=runs,
        cases=len(cur_cases),
        quarantined=excluded,
        warnings=warnings,
        incomplete=incomplete_reason(current),
    )


def _check_suites(
    current: dict[str, Any],
    baseline: dict[str, Any] | None,
    config: SuiteConfig,
    baseline_path: str | Path | None,
) -> None:
    """The config, the current run and the baseline must be of one suite: another suite's thresholds or
    baseline are never applied (stats.signature_mismatch does not relax this: a signature says how the numbers
    were computed, the suite what they are of)."""
    suite = str(current.get("suite", config.suite))
    if suite != config.suite:
        raise InputError(
            f"the results to gate are of suite {suite!r}, but this config is of suite {config.suite!r}: gate "
            "the results with the config of their suite",
            file=config.path,
            line=line_of(config.raw, "suite"),
        )
    if baseline is not None and str(baseline.get("suite", suite)) != suite:
        raise InputError(
            f"the baseline is of suite {baseline.get('suite')!r}, but this run is of suite {suite!r}; a baseline "
            f"of another suite is never compared: pass the results of suite {suite!r} on the base branch as "
            "--baseline (or omit --baseline to check only the absolute thresholds)",
            file=baseline_path or "baseline results",
        )


def _check_rule_names(
    current: dict[str, Any], cases: dict[str, CaseRecord], config: SuiteConfig
) -> list[str]:
    """The rules' metric and category names must be the current run's (a typo never disables a rule); a
    sampled run may lack a category (a warning). Returns the warnings."""
    if "metric_keys" in current:
        names.check_rule_names(
            config.rules, {names.METRIC: set(_metric_keys(current))}, source="the current results"
        )
    sampled = (current.get("signature") or {}).get("sample") is not None
    return names.check_rule_names(
        config.rules,
        {names.CATEGORY: {category_of(case) for case in cases.values()}},
        source="the cases of the current results",
        partial=sampled,
    )


class _Builder:
    """Computes one MetricComparison at a time, sharing the bootstrap resamples of a group of cases."""

    def __init__(
        self,
        current: dict[str, Any],
        baseline: dict[str, Any] | None,
        cur_cases: dict[str, CaseRecord],
        base_cases: dict[str, CaseRecord],
        keys: dict[str, tuple[str, bool]],
        config: SuiteConfig,
        settings: dict[str, Any],
        metrics: Sequence[Metric] | None,
        quarantined: bool,
    ) -> None:
        self.current, self.baseline = current, baseline
        self.cur_cases, self.base_cases = cur_cases, base_cases
        self.keys = keys
        self.config, self.rules, self.settings = config, config.rules, settings
        self.metrics = metrics
        self.quarantined = quarantined
        self._joint: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, stats.PairedStat]] = {}
        self._corpus: dict[tuple[int, tuple[str, ...]], dict[str, stats.PairedStat]] = {}
        self._objects: dict[str, Metric] | None = None
        self._timings: dict[tuple[int, str, str | None], dict[str, tuple[int, int]]] = {}
        per_case = [k for k, (kind, _) in keys.items() if kind != "corpus"]
        self.cur_table = _ScoreTable(cur_cases, per_case)
        self.base_table = _ScoreTable(base_cases, per_case)

    # -- values -------------------------------------------------------------------------------------------
    def value(
        self, results: dict[str, Any], cases: dict[str, CaseRecord], key: str, category: str | None
    ) -> float | None:
        """The run's value of `key` (overall or in a category) as recorded (None stays None: a value the run
        could not compute is not recomputed), recomputed when quarantine removed cases."""
        if not self.quarantined:
            recorded = (
                results.get("metrics", {})
                if category is None
                else results.get("categories", {}).get(category, {})
            )
            entry = recorded.get(key)
            if isinstance(entry, dict) and "value" in entry:
                return None if entry["value"] is None else float(entry["value"])
        records = [c for c in cases.values() if category is None or category_of(c) == category]
        if self.keys[key][0] != "corpus":
            return mean_score(records, key)  # as the metrics module records it (exact: math.fsum)
        metric = self.objects().get(key)
        return _aggregate(metric, key, records) if metric is not None else None

    def objects(self) -> dict[str, Metric]:
        if self._objects is None:
            metrics = self.metrics
            if metrics is None:
                try:
                    from evalgate.metrics import build_metrics
                except ImportError:
                    metrics = []
                else:
                    metrics = build_metrics(self.config)
            self._objects = {key.name: metric for metric in metrics for key in metric.keys()}
        return self._objects

    # -- statistics ---------------------------------------------------------------------------------------
    def compare_key(self, key: str, category: str | None, ids: list[str]) -> MetricComparison:
        kind, higher = self.keys[key]
        rules = _rules_for(self.rules, key, category)
        item = MetricComparison(
            metric=key,
            category=category,
            kind=kind,
            higher_is_better=higher,
            current=self.value(self.current, self.cur_cases, key, category),
            rules=rules,
            n=len(ids) if self.baseline is not None else _count(self.cur_cases, category),
        )
        item.timing = self.timing(key, category)
        if self.baseline is None:
            return item
        item.baseline = self.value(self.baseline, self.base_cases, key, category)
        if not ids:
            item.note = "no case is in both runs, so there is no paired comparison"
            return item
        margin = _margin(rules, item.baseline)
        item.margin = margin
        result = self.paired(key, category, ids, gated=bool(rules))
        if result is None:
            if item.current is not None and item.baseline is not None:
                item.delta = item.current - item.baseline
            item.note = (
                "no per-case scores to pair, so no interval or p-value; the values are compared directly"
            )
            return item
        item.n = result.n  # the pairs both runs scored
        item.delta, item.ci_low, item.ci_high = result.delta, result.ci_low, result.ci_high
        item.p_value, item.se, item.method = result.p_value, result.se, result.method
        if kind == "corpus":
            item.note = self.tail_note(key, ids)
        if result.discordant is not None:
            item.discordant = {"worse": result.discordant[0], "better": result.discordant[1]}
        measured = item.timing is None or all(side["measured"] for side in item.timing.values())
        for rule, threshold in rules.items():
            if rule in DROP_RULES and measured:  # an unmeasured timing is not tested (nor in Holm's family)
                limit = rule_margin(rule, threshold, item.baseline)
                item.tests[rule] = {
                    "margin": limit,
                    "p_value": result.p_beyond(limit),
                    "p_adjusted": None,
                }
        return item

    def timing(self, key: str, category: str | None) -> dict[str, dict[str, Any]] | None:
        """For a timing key, how each run's values were timed: how many, how many fresh (not cached answers'
        recorded timings), whether that is a measurement (metrics.base.timing_measured), and the sentence."""
        metric = self.objects().get(key)
        spec = next((k for k in metric.keys() if k.name == key), None) if metric is not None else None
        if spec is None or not spec.timing:
            return None
        runs = {"current": self.cur_cases}
        if self.baseline is not None:
            runs["baseline"] = self.base_cases
        timing = {}
        for side, cases in runs.items():
            memo = (id(metric), side, category)
            if memo not in self._timings:
                records = [c for c in cases.values() if category is None or category_of(c) == category]
                sizes, timed_now = metric.sizes(records), metric.fresh_sizes(records)
                self._timings[memo] = {name: (sizes.get(name, 0), timed_now[name]) for name in timed_now}
            n, fresh = self._timings[memo][key]
            timing[side] = {
                "n": n,
                "fresh": fresh,
                "measured": timing_measured(n, fresh),
                "note": timing_note(n, fresh),
            }
        return timing

    def paired(
        self, key: str, category: str | None, ids: list[str], *, gated: bool
    ) -> stats.PairedStat | None:
        kind, higher = self.keys[key]
        if kind != "corpus" and key in self.cur_table.columns and key in self.base_table.columns:
            # a mean metric is paired on the cases both runs scored (a metric may leave a case unscored)
            scored = ~(np.isnan(self.cur_table.raw(ids, key)) | np.isnan(self.base_table.raw(ids, key)))
            ids = [case_id for case_id, ok in zip(ids, scored, strict=True) if ok]
            if not ids:
                return None
        cur = [self.cur_cases[i] for i in ids]
        base = [self.base_cases[i] for i in ids]
        cur_scores, base_scores = self.cur_table.get(ids, key), self.base_table.get(ids, key)
        clusters = _clusters(ids, cur)
        if cur_scores is not None and base_scores is not None:
            if (
                kind == "binary"
                and clusters is None
                and stats.is_zero_one(np.concatenate([cur_scores, base_scores]))
            ):
                return stats.mcnemar_paired(
                    base_scores, cur_scores, higher_is_better=higher, confidence=self.conf
                )
            return self.joint(ids, clusters)[key]
        metric = self.objects().get(key)
        if metric is None or (category is not None and not gated and not hasattr(metric, "resampled")):
            return None
        return self.corpus(metric, key, ids, cur, base, clusters)

    @property
    def conf(self) -> float:
        return float(self.settings["confidence"])

    def joint(self, ids: list[str], clusters: np.ndarray | None) -> dict[str, stats.PairedStat]:
        """Bootstrap all mean keys of these paired cases at once (one set of resamples for all of them).

        The seed comes from the paired ids and the metric names only (common random numbers): the same cases
        always get the same resamples, and a run that is worse case by case than another gets a p-value at most
        as large on the same resamples, so a larger drop never gets a milder verdict (docs/gate.md).
        """
        columns = {
            name: (self.cur_table.get(ids, name), self.base_table.get(ids, name))
            for name in self.cur_table.keys
        }
        names = tuple(
            name for name, (now, before) in columns.items() if now is not None and before is not None
        )
        cache_key = (tuple(ids), names)
        if cache_key not in self._joint:
            cur = np.column_stack([columns[name][0] for name in names])
            base = np.column_stack([columns[name][1] for name in names])
            diffs = cur - base
            seed = stats.input_seed("\0".join(ids), "\0".join(names))
            boot = stats.bootstrap_means(
                diffs, resamples=int(self.settings["resamples"]), seed=seed, clusters=clusters
            )
            method = "cluster_bootstrap" if clusters is not None else "bootstrap"
            self._joint[cache_key] = {
                name: stats.from_bootstrap(
                    float(diffs[:, j].mean()),
                    boot[:, j],
                    higher_is_better=self.keys[name][1],
                    confidence=self.conf,
                    method=method,
                    n=len(ids),
                )
                for j, name in enumerate(names)
            }
        return self._joint[cache_key]

    def corpus(
        self,
        metric: Metric,
        key: str,
        ids: list[str],
        cur: list[CaseRecord],
        base: list[CaseRecord],
        clusters: np.ndarray | None,
    ) -> stats.PairedStat | None:
        """Resample case indices (the same for both runs) and recompute the metric on each resample.

        All keys of the metric's family are computed from the same resamples, once per set of cases.
        """
        cache_key = (id(metric), tuple(ids))
        if cache_key not in self._corpus:
            self._corpus[cache_key] = self._corpus_family(metric, ids, cur, base, clusters)
        return self._corpus[cache_key].get(key)

    def _corpus_family(
        self,
        metric: Metric,
        ids: list[str],
        cur: list[CaseRecord],
        base: list[CaseRecord],
        clusters: np.ndarray | None,
    ) -> dict[str, stats.PairedStat]:
        now, before = metric.aggregate(cur), metric.aggregate(base)
        names = [
            k.name
            for k in metric.keys()
            if k.name in self.keys and now.get(k.name) is not None and before.get(k.name) is not None
        ]
        if not names:
            return {}
        vectorized = hasattr(metric, "resampled") and clusters is None
        resamples = int(self.settings["resamples"])
        if not vectorized:
            resamples = min(resamples, AGGREGATE_RESAMPLES)

        if vectorized:  # the records are read once per run, not once per chunk
            resample_after, resample_before = _resampler(metric, cur), _resampler(metric, base)

        def statistic(chunk: np.ndarray | list[np.ndarray]) -> np.ndarray:
            if vectorized:
                after_rows, before_rows = resample_after(chunk), resample_before(chunk)
                return np.column_stack(
                    [
                        np.asarray(after_rows[k], dtype=np.float64)
                        - np.asarray(before_rows[k], dtype=np.float64)
                        for k in names
                    ]
                )
            rows = []
            for row in chunk:
                after_row = metric.aggregate([cur[i] for i in row])
                before_row = metric.aggregate([base[i] for i in row])
                rows.append([_nan(after_row.get(k)) - _nan(before_row.get(k)) for k in names])
            return np.array(rows, dtype=np.float64).reshape(len(rows), len(names))

        seed = stats.input_seed("\0".join(ids), metric.family)  # common random numbers, as in `joint`
        boot = stats.corpus_bootstrap(statistic, len(ids), resamples=resamples, seed=seed, clusters=clusters)
        method = "cluster_index_bootstrap" if clusters is not None else "index_bootstrap"
        return {
            name: stats.from_bootstrap(
                float(now[name]) - float(before[name]),
                boot[:, j],
                higher_is_better=self.keys[name][1],
                confidence=self.conf,
                method=method,
                n=len(ids),
            )
            for j, name in enumerate(names)
        }

    # -- margins, detectable effects, notes --------------------------------------------------------------
    def finish(self, item: MetricComparison, family: list[MetricComparison]) -> None:
        if item.p_value is None or item.baseline is None:
            return
        alpha = float(self.settings["alpha"])
        tests = sum(len(other.tests) for other in family)
        if item.tests:
            alpha /= tests  # what the smallest p of the family must beat under Holm
        elif not item.rules:
            return  # display only: no MDE (keeps the gate fast)
        power = float(self.settings["power"])
        margin = item.margin or 0.0
        if item.method == "mcnemar_exact" and item.discordant is not None:
            rate = stats.planning_discordance(item.discordant["worse"] + item.discordant["better"], item.n)
            item.mde_gate = stats.mde_mcnemar(item.n, rate, alpha=alpha, power=power, margin=margin)
            item.mde = stats.mde_mcnemar(item.n, rate, alpha=alpha, power=power)
        else:
            item.mde_gate, item.mde = stats.mde_normal(item.se, alpha=alpha, power=power, margin=margin)
        if item.margin is None:
            return
        if item.mde is None:
            if item.method == "mcnemar_exact":
                item.note = _join(
                    f"With {item.n} paired cases this suite is too small to detect any drop at alpha "
                    f"{alpha:g}: no number of changed cases would be significant.",
                    item.note,
                )
        elif item.mde > item.margin:
            gate = (
                f", and fails the gate on drops of about {amount(item, item.mde_gate)}"
                if item.mde_gate is not None
                else ""
            )
            item.note = _join(
                f"With {item.n} paired cases this suite is too small to detect a drop of the "
                f"{amount(item, item.margin, adjective=True)} margin: it detects drops of about "
                f"{amount(item, item.mde)} {power:.0%} of the time{gate}.",
                item.note,
            )

    def tail_note(self, key: str, ids: list[str]) -> str | None:
        """A sentence when a percentile key rests on fewer than TAIL_CASES cases beyond it, in either run."""
        metric = self.objects().get(key)
        level = next((k.quantile for k in metric.keys() if k.name == key), None) if metric else None
        if level is None:
            return None
        values = min(
            metric.sizes([runs[i] for i in ids]).get(key, len(ids))
            for runs in (self.cur_cases, self.base_cases)
        )
        share = min(level, 1 - level)
        if values * share >= TAIL_CASES:
            return None
        return (
            f"Only {values * share:.3g} of {values} values lie beyond this {level:.0%} point, so its interval "
            f"and p-value are rough (about {math.ceil(TAIL_CASES / share):,} cases would put {TAIL_CASES} beyond "
            "it); the gate judges it all the same."
        )


def _join(*sentences: str | None) -> str | None:
    return " ".join(s for s in sentences if s) or None


def amount(item: MetricComparison, value: float, *, adjective: bool = False) -> str:
    """A change in words, in the metric's unit (evalgate.units): points for rates ("2.0 points", or "2.0-point"
    before a noun), "120 ms", "$0.002", or the plain number ("0.03")."""
    unit = unit_of(item.metric, item.kind)
    if unit == "rate":
        return f"{abs(value) * 100:.1f}{'-point' if adjective else ' points'}"
    return fmt.amount(value, unit, strip=True)


def _adjust(items: list[MetricComparison]) -> None:
    """Holm within a family (the overall rules, or the category rules): across the metrics with a drop rule
    for the test of no change, and across the drop rules for the tests against their margins."""
    gated = [item for item in items if item.tests and item.p_value is not None]
    for item, adjusted in zip(gated, stats.holm([item.p_value for item in gated]), strict=True):
        item.p_adjusted = adjusted
    tests = [test for item in items for test in item.tests.values() if test["p_value"] is not None]
    for test, adjusted in zip(tests, stats.holm([test["p_value"] for test in tests]), strict=True):
        test["p_adjusted"] = adjusted
    for item in items:
        if item.tests:
            strictest = min(item.tests.values(), key=lambda test: test["margin"])
            item.p_margin, item.p_margin_adjusted = strictest["p_value"], strictest["p_adjusted"]


def rule_margin(rule: str, threshold: float, baseline: float | None) -> float:
    """max_drop is the margin itself; max_drop_pct is a percent of the baseline value."""
    return threshold if rule == "max_drop" else threshold / 100 * abs(baseline or 0.0)


def _margin(rules: dict[str, float], baseline: float | None) -> float | None:
    """The practical margin shown: the strictest of the drop rules."""
    margins = [rule_margin(rule, value, baseline) for rule, value in rules.items() if rule in DROP_RULES]
    return min(margins) if margins else None


def _rules_for(rules: Sequence[Rule], key: str, category: str | None) -> dict[str, float]:
    merged: dict[str, float] = {}
    for rule in rules:
        if rule.metric == key and rule.category == category:
            merged.update(rule.bounds())
    return merged


def _cases_by_id(results: dict[str, Any], name: str) -> dict[str, CaseRecord]:
    cases: dict[str, CaseRecord] = {}
    for index, case in enumerate(results.get("cases") or []):
        case_id = str(case.get("id"))
        if case_id in cases:
            raise InputError(
                f"case id {case_id!r} appears twice (cases[{index}]); ids must be unique to pair cases",
                file=name,
            )
        cases[case_id] = case
    return cases


def _metric_keys(current: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Every key of the current run (kind, higher_is_better); keys only the baseline has are not compared."""
    keys = {}
    for name, spec in (current.get("metric_keys") or {}).items():
        keys[name] = (str(spec.get("kind", "continuous")), bool(spec.get("higher_is_better", True)))
    return keys


def _categories(cur: dict[str, CaseRecord]) -> list[str]:
    return sorted({category_of(c) for c in cur.values()})


def category_of(case: CaseRecord) -> str:
    """A case's category as the metrics module groups it (no category is "default")."""
    return str(case.get("category") or "default")


class _ScoreTable:
    """One run's per-case scores as arrays (NaN where a case has no score), looked up by case ids."""

    def __init__(self, cases: dict[str, CaseRecord], keys: list[str]) -> None:
        self.keys = keys
        self.row = {case_id: i for i, case_id in enumerate(cases)}
        self.columns = {
            key: np.array([_score_or_nan(case, key) for case in cases.values()], dtype=np.float64)
            for key in keys
        }
        self._rows: dict[tuple[str, ...], np.ndarray] = {}

    def raw(self, ids: list[str], key: str) -> np.ndarray:
        """The scores of `key` for these cases, in this order, NaN where a case has none."""
        rows = self._rows.get(tuple(ids))
        if rows is None:
            rows = self._rows.setdefault(tuple(ids), np.array([self.row[i] for i in ids], dtype=np.intp))
        return self.columns[key][rows]

    def get(self, ids: list[str], key: str) -> np.ndarray | None:
        """The scores of `key` for these cases, in this order; None when any of them lacks one."""
        if key not in self.columns:
            return None
        values = self.raw(ids, key)
        return None if np.isnan(values).any() else values


def _score_or_nan(case: CaseRecord, key: str) -> float:
    value = (case.get("scores") or {}).get(key)
    return float("nan") if value is None else float(value)


def _clusters(ids: list[str], records: list[CaseRecord]) -> np.ndarray | None:
    keys = [record.get("cluster") for record in records]
    return stats.cluster_codes(ids, keys) if stats.has_clusters(keys) else None


def _aggregate(metric: Metric | None, key: str, records: list[CaseRecord]) -> float | None:
    if metric is None or not records:
        return None
    value = metric.aggregate(records).get(key)
    return None if value is None else float(value)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _count(cases: dict[str, CaseRecord], category: str | None) -> int:
    return sum(1 for c in cases.values() if category is None or category_of(c) == category)


def _errored_runs(cases: dict[str, CaseRecord]) -> tuple[int, int]:
    """(runs that errored, runs): each repeat counts; a case without repeats is one run."""
    runs = errored = 0
    for case in cases.values():
        repeats = case.get("repeats") or [case]
        runs += len(repeats)
        errored += sum(1 for run in repeats if run.get("error"))
    return errored, runs


def _signature_diff(current: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    now, before = current.get("signature") or {}, baseline.get("signature") or {}
    return [
        {
            "field": name,
            "baseline": before.get(name),
            "current": now.get(name),
            "affects_comparison": name in COMPARABILITY_FIELDS,
        }
        for name in sorted(set(now) | set(before))
        if now.get(name) != before.get(name)
    ]


def _baseline_info(baseline: dict[str, Any] | None) -> dict[str, Any]:
    if baseline is None:
        return {"label": None, "created_at": None}
    git = baseline.get("git") or {}
    label = baseline.get("label") or (
        f"{git.get('ref') or ''}@{str(git.get('sha'))[:7]}" if git.get("sha") else None
    )
    return {"label": label, "created_at": baseline.get("created_at")}


def _listing_keys(
    keys: dict[str, tuple[str, bool]], rules: Sequence[Rule], cases: dict[str, CaseRecord]
) -> list[str]:
    """Keys whose per-case scores decide which cases are listed: the gated ones, else the binary ones (a key
    that scores only some cases, such as assertions, lists among those)."""
    records = list(cases.values())
    per_case = [
        k
        for k, (kind, _) in keys.items()
        if kind != "corpus" and any(not np.isnan(_score_or_nan(record, k)) for record in records)
    ]
    gated = [k for k in per_case if any(rule.metric == k for rule in rules) and k != "error_rate"]
    if gated:
        return gated
    binary = [k for k in per_case if keys[k][0] == "binary" and k != "error_rate"]
    return binary or [k for k in per_case if k != "error_rate"]


def _case_entry(case: CaseRecord, key: str | None, before: CaseRecord | None) -> dict[str, Any]:
    return {
        "id": str(case.get("id")),
        "category": case.get("category"),
        "metric": key,
        "baseline": (before.get("scores") or {}).get(key) if before is not None and key else None,
        "current": (case.get("scores") or {}).get(key) if key else None,
        "input": case.get("input"),
        "expected": case.get("expected"),
        "output": case.get("output"),
        "baseline_output": before.get("output") if before is not None else None,
        "error": case.get("error"),
        **explanation(case),
    }


def _regressed(
    cur: dict[str, CaseRecord],
    base: dict[str, CaseRecord],
    ids: list[str],
    listing: list[str],
    keys: dict[str, tuple[str, bool]],
) -> tuple[list[dict[str, Any]], int]:
    """Cases worse now on a listing key, by key order, then the largest drop first (pass -> fail is 1.0)."""
    found = []
    for order, key in enumerate(listing):
        sign = 1.0 if keys[key][1] else -1.0
        for case_id in ids:
            now = (cur[case_id].get("scores") or {}).get(key)
            before = (base[case_id].get("scores") or {}).get(key)
            if now is None or before is None:
                continue
            loss = sign * (float(before) - float(now))
            if loss > 0:
                found.append((order, -loss, case_id, key))
    found.sort()
    listed = [_case_entry(cur[case_id], key, base[case_id]) for _, _, case_id, key in found[:MAX_LISTED]]
    return listed, len(found)


def _failing(
    cur: dict[str, CaseRecord], listing: list[str], keys: dict[str, tuple[str, bool]]
) -> tuple[list[dict[str, Any]], int]:
    """Without a baseline: errored cases, then cases at the bad value of a binary listing key (the first
    MAX_LISTED, and how many there are)."""
    found: list[tuple[int, str, str | None]] = []
    for case_id in sorted(cur):
        if cur[case_id].get("error"):
            found.append((0, case_id, None))
    for order, key in enumerate(listing, 1):
        if keys[key][0] != "binary":
            continue
        bad = 0.0 if keys[key][1] else 1.0
        for case_id in sorted(cur):
            score = (cur[case_id].get("scores") or {}).get(key)
            if score is not None and float(score) == bad and not cur[case_id].get("error"):
                found.append((order, case_id, key))
    listed = [_case_entry(cur[case_id], key, None) for _, case_id, key in found[:MAX_LISTED]]
    return listed, len(found)


def _flaky(
    cur: dict[str, CaseRecord],
    base: dict[str, CaseRecord],
    listing: list[str],
    keys: dict[str, tuple[str, bool]],
) -> list[dict[str, Any]]:
    """Cases whose repeats alternate under this run's code and config: a pass rate strictly between 0 and 1.

    A run passes when it has no error and scores the good value on the first binary listing key (or, without
    one, when it has no error). A case whose runs all passed in the baseline (two or more of them) was not
    flaky before: the change made it fail sometimes, a regression (listed under regressed), not flakiness.
    """
    binary = next((k for k in listing if keys[k][0] == "binary"), None)
    good = 1.0 if binary is None or keys[binary][1] else 0.0

    def passes(case: CaseRecord) -> list[bool]:
        return [
            not run.get("error") and (binary is None or (run.get("scores") or {}).get(binary) == good)
            for run in case.get("repeats") or []
        ]

    flaky = []
    for case_id in sorted(cur):
        passed = passes(cur[case_id])
        if len(passed) < 2:
            continue
        rate = sum(passed) / len(passed)
        before = passes(base[case_id]) if case_id in base else []
        if 0.0 < rate < 1.0 and not (len(before) >= 2 and all(before)):
            flaky.append(
                {
                    "id": case_id,
                    "category": cur[case_id].get("category"),
                    "pass_rate": rate,
                    "runs": len(passed),
                    "metric": binary,
                }
            )
    return flaky[:MAX_LISTED]


def _resampler(
    metric: Metric, records: list[dict[str, Any]]
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The metric's vectorized resampling of `records`, encoded once (ResampledMetric), or its plain
    `resampled` for a metric that only offers that."""
    if isinstance(metric, ResampledMetric):
        return metric.resampler(records)
    return functools.partial(metric.resampled, records)
