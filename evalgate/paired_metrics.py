"""The paired statistics of every metric key: one run against its baseline on the cases both have.

`MetricPairing.compare_key` fills one MetricComparison (overall, in one category or in one slice) with the paired delta, its
interval and p-values (stats.py: McNemar for binary keys, a bootstrap for means, case-index resampling for
corpus metrics), `adjust` applies Holm within a family of rules, `MetricPairing.finish` adds the smallest
detectable drop and its note. See docs/gate.md for the methods and their defaults.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalgate import stats
from evalgate.case_scores import ScoreTable, clusters_of
from evalgate.config import DROP_RULES, SuiteConfig
from evalgate.contracts.comparison import MetricComparison
from evalgate.contracts.results import CaseRecord, Results
from evalgate.corpus_deltas import Vectorized, aggregated_delta, vectorized_delta
from evalgate.margins import rule_margin, rules_for, strictest_margin
from evalgate.metrics.base import Metric, mean_score, timing_measured, timing_note

# Corpus metrics without a vectorized `resampled` run `aggregate` on each resample: fewer resamples.
AGGREGATE_RESAMPLES = 1000
# A corpus family no rule gates (overall, or on a category or slice) is resampled for its interval alone (shown,
# never tested): this many at most. Latency percentiles nobody gates took 1.4 s of a 1.8 s gate of 2,000 cases at
# 10,000 resamples (2.5 s of 3.6 s with 23 slices); the interval's Monte Carlo error at 1,000 is a small part of
# its width.
DISPLAY_RESAMPLES = 1000
# A percentile with fewer cases than this beyond it (a p99 of under 1,000 cases) gets a note: it is rough.
TAIL_CASES = 10

Record = dict[str, Any]  # a case as the metric objects read it (evalgate.metrics.base.CaseRecord)


@dataclass
class Side:
    """One run of the pair: its results, and its cases by id (quarantined cases left out), typed for pairing
    and, for the metric objects that recompute corpus values, as the plain records they read."""

    results: Results
    cases: dict[str, CaseRecord]
    slices: dict[str, set[str]] = field(default_factory=dict)  # each slice's case ids (evalgate.slices)

    @functools.cached_property
    def records(self) -> dict[str, Record]:
        return {case_id: case.model_dump(exclude_unset=True) for case_id, case in self.cases.items()}

    def records_in(self, category: str | None, slice: str | None = None) -> list[Record]:
        """The records of one category or one slice (all of them when both are None)."""
        members = self.slices.get(slice, set()) if slice is not None else None
        return [
            self.records[case_id]
            for case_id, case in self.cases.items()
            if (category is None or category_of(case) == category) and (members is None or case_id in members)
        ]


def category_of(case: CaseRecord) -> str:
    """A case's category as the metrics module groups it (no category is "default")."""
    return case.category or "default"


class MetricPairing:
    """Computes one MetricComparison at a time, sharing the bootstrap resamples of a group of cases."""

    def __init__(
        self,
        current: Side,
        baseline: Side | None,
        keys: dict[str, tuple[str, bool]],
        config: SuiteConfig,
        settings: dict[str, Any],
        metrics: Sequence[Metric] | None,
        quarantined: bool,
    ) -> None:
        self.current, self.baseline = current, baseline
        self.keys = keys
        self.config, self.rules, self.settings = config, config.rules, settings
        self.metrics = metrics
        self.quarantined = quarantined
        self._joint: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, stats.PairedStat]] = {}
        self._corpus: dict[tuple[int, tuple[str, ...], int], dict[str, stats.PairedStat]] = {}
        self._objects: dict[str, Metric] | None = None
        self._timings: dict[tuple[int, str, str | None, str | None], dict[str, tuple[int, int]]] = {}
        per_case = [k for k, (kind, _) in keys.items() if kind != "corpus"]
        self.cur_table = ScoreTable(current.cases, per_case)
        self.base_table = ScoreTable(baseline.cases if baseline is not None else {}, per_case)

    # -- values -------------------------------------------------------------------------------------------
    def value(self, side: Side, key: str, category: str | None, slice: str | None = None) -> float | None:
        """The run's value of `key` (overall, in a category or a slice) as recorded (None stays None: a value the
        run could not compute is not recomputed), recomputed when quarantine removed cases or the run recorded no
        such slice (a results file written before slices, or with other `slices:`)."""
        if not self.quarantined:
            results = side.results
            recorded = (
                results.slices.get(slice, {})
                if slice is not None
                else results.metrics
                if category is None
                else results.categories.get(category, {})
            )
            entry = recorded.get(key)
            if entry is not None:
                return entry.value
        records = side.records_in(category, slice)
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
    def compare_key(
        self, key: str, category: str | None, ids: list[str], slice: str | None = None
    ) -> MetricComparison:
        kind, higher = self.keys[key]
        rules = rules_for(self.rules, key, category, slice)
        item = MetricComparison(
            metric=key,
            category=category,
            slice=slice,
            kind=kind,
            higher_is_better=higher,
            current=self.value(self.current, key, category, slice),
            rules=rules,
            n=len(ids) if self.baseline is not None else len(self.current.records_in(category, slice)),
        )
        item.timing = self.timing(key, category, slice)
        if self.baseline is None:
            return item
        item.baseline = self.value(self.baseline, key, category, slice)
        if not ids:
            item.note = "no case is in both runs, so there is no paired comparison"
            return item
        margin = strictest_margin(rules, item.baseline)
        item.margin = margin
        result = self.paired(
            key,
            ids,
            subset=category is not None or slice is not None,
            gated=bool(rules),
            display_only=not self.family_gated(key, category, slice),
        )
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

    def timing(
        self, key: str, category: str | None, slice: str | None = None
    ) -> dict[str, dict[str, Any]] | None:
        """For a timing key, how each run's values were timed: how many, how many fresh (not cached answers'
        recorded timings), whether that is a measurement (metrics.base.timing_measured), and the sentence."""
        metric = self.objects().get(key)
        if metric is None:
            return None
        spec = next((k for k in metric.keys() if k.name == key), None)
        if spec is None or not spec.timing:
            return None
        runs = {"current": self.current}
        if self.baseline is not None:
            runs["baseline"] = self.baseline
        timing = {}
        for side, run in runs.items():
            memo = (id(metric), side, category, slice)
            if memo not in self._timings:
                records = run.records_in(category, slice)
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

    def family_gated(self, key: str, category: str | None, slice: str | None) -> bool:
        """Whether a rule gates `key`, or another key of its metric family, on this category or slice."""
        metric = self.objects().get(key)
        names = [k.name for k in metric.keys()] if metric is not None else [key]
        return any(rules_for(self.rules, name, category, slice) for name in names)

    def paired(
        self, key: str, ids: list[str], *, subset: bool, gated: bool, display_only: bool = False
    ) -> stats.PairedStat | None:
        """The paired statistic of `key` on these cases; a corpus key of a subset (a category, a slice) that no
        rule gates is resampled only when its family is vectorized, and a corpus family no rule gates on these
        cases with at most DISPLAY_RESAMPLES (`display_only`: an interval to show, kept fast)."""
        kind, higher = self.keys[key]
        if kind != "corpus" and key in self.cur_table.columns and key in self.base_table.columns:
            # a mean metric is paired on the cases both runs scored (a metric may leave a case unscored)
            scored = ~(np.isnan(self.cur_table.raw(ids, key)) | np.isnan(self.base_table.raw(ids, key)))
            ids = [case_id for case_id, ok in zip(ids, scored, strict=True) if ok]
            if not ids:
                return None
        cur_scores, base_scores = self.cur_table.get(ids, key), self.base_table.get(ids, key)
        clusters = clusters_of(ids, [self.current.cases[i] for i in ids])
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
        if metric is None or (subset and not gated and not isinstance(metric, Vectorized)):
            return None
        assert self.baseline is not None  # paired only against a baseline
        cur = [self.current.records[i] for i in ids]
        base = [self.baseline.records[i] for i in ids]
        return self.corpus(metric, key, ids, cur, base, clusters, display_only=display_only)

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
            name: (now, before)
            for name in self.cur_table.keys
            if (now := self.cur_table.get(ids, name)) is not None
            and (before := self.base_table.get(ids, name)) is not None
        }
        names = tuple(columns)
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
            deltas = [float(diffs[:, j].mean()) for j in range(len(names))]
            self._joint[cache_key] = self._from_bootstrap(names, deltas, boot, method, len(ids))
        return self._joint[cache_key]

    def _from_bootstrap(
        self, names: Sequence[str], deltas: Sequence[float], boot: np.ndarray, method: str, n: int
    ) -> dict[str, stats.PairedStat]:
        """Each key's paired statistic from its observed delta and its column of bootstrap deltas."""
        return {
            name: stats.from_bootstrap(
                delta,
                boot[:, j],
                higher_is_better=self.keys[name][1],
                confidence=self.conf,
                method=method,
                n=n,
            )
            for j, (name, delta) in enumerate(zip(names, deltas, strict=True))
        }

    def corpus(
        self,
        metric: Metric,
        key: str,
        ids: list[str],
        cur: list[Record],
        base: list[Record],
        clusters: np.ndarray | None,
        *,
        display_only: bool = False,
    ) -> stats.PairedStat | None:
        """Resample case indices (the same for both runs) and recompute the metric on each resample.

        All keys of the metric's family are computed from the same resamples, once per set of cases (and
        number of resamples: a set of cases may be a gated category and an ungated slice at once).
        """
        resamples = int(self.settings["resamples"])
        if display_only:
            resamples = min(resamples, DISPLAY_RESAMPLES)
        cache_key = (id(metric), tuple(ids), resamples)
        if cache_key not in self._corpus:
            self._corpus[cache_key] = self._corpus_family(metric, ids, cur, base, clusters, resamples)
        return self._corpus[cache_key].get(key)

    def _corpus_family(
        self,
        metric: Metric,
        ids: list[str],
        cur: list[Record],
        base: list[Record],
        clusters: np.ndarray | None,
        resamples: int,
    ) -> dict[str, stats.PairedStat]:
        now, before = metric.aggregate(cur), metric.aggregate(base)
        deltas = {
            k.name: float(after) - float(prior)
            for k in metric.keys()
            if k.name in self.keys
            and (after := now.get(k.name)) is not None
            and (prior := before.get(k.name)) is not None
        }
        names = list(deltas)
        if not names:
            return {}
        if isinstance(metric, Vectorized) and clusters is None:
            statistic = vectorized_delta(metric, cur, base, names)
        else:
            statistic = aggregated_delta(metric, cur, base, names)
            resamples = min(resamples, AGGREGATE_RESAMPLES)
        seed = stats.input_seed("\0".join(ids), metric.family)  # common random numbers, as in `joint`
        boot = stats.corpus_bootstrap(statistic, len(ids), resamples=resamples, seed=seed, clusters=clusters)
        method = "cluster_index_bootstrap" if clusters is not None else "index_bootstrap"
        return self._from_bootstrap(names, list(deltas.values()), boot, method, len(ids))

    def tail_note(self, key: str, ids: list[str]) -> str | None:
        """A sentence when a percentile key rests on fewer than TAIL_CASES cases beyond it, in either run."""
        metric = self.objects().get(key)
        if metric is None:
            return None
        level = next((k.quantile for k in metric.keys() if k.name == key), None)
        if level is None:
            return None
        values = min(
            metric.sizes([side.records[i] for i in ids]).get(key, len(ids))
            for side in (self.current, self.baseline)
            if side is not None
        )
        share = min(level, 1 - level)
        if values * share >= TAIL_CASES:
            return None
        return (
            f"Only {values * share:.3g} of {values} values lie beyond this {level:.0%} point, so its interval "
            f"and p-value are rough (about {math.ceil(TAIL_CASES / share):,} cases would put {TAIL_CASES} beyond "
            "it); the gate judges it all the same."
        )


def _aggregate(metric: Metric | None, key: str, records: list[Record]) -> float | None:
    if metric is None or not records:
        return None
    value = metric.aggregate(records).get(key)
    return None if value is None else float(value)
