"""The metric interface: per-case scores, then aggregates overall and per category.

A family is configured once (`__init__(options, base_dir)`) and then asked for per-case scores
(`score_case`) and aggregates (`aggregate`). Corpus families derive from ResampledMetric, the fast path

    resampled(records, indices: np.ndarray[int, (resamples, n)]) -> dict[key, np.ndarray[float, (resamples,)]]
    (= resample(encode(records), indices); resampler(records) encodes once for many chunks of indices)

whose row r equals `aggregate([records[i] for i in indices[r]])` (NaN where that is None; a sum may differ in
its last bits: aggregates sum exactly, with math.fsum, so the case order cannot change them). The statistics
module uses it for ResampledMetric families and falls back to `aggregate` on subsets otherwise.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from evalgate.facts import UNITS, KeyFacts, Quantity, Shown, Unit
from evalgate.metrics.values import add_note, has_expected
from evalgate.options import Option

if TYPE_CHECKING:  # numpy is imported where scores are computed, not before a run's calls (issue 11)
    import numpy as np

# A case record is one entry of results.json "cases" (a plain dict): id, category, input, expected,
# output, error, latency_ms, tokens_in, tokens_out, cost, cached, scores (filled by score_case), plus optional
# metadata/cluster. With `repeats: K` a case entry keeps its K runs under "repeats", each with RUN_FIELDS.
CaseRecord = dict[str, Any]

# What one run of a case records (results.merge_repeats keeps these per run; expand_runs restores them).
RUN_FIELDS = (
    "output",
    "error",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost",
    "cached",
    "scores",
    "notes",
    "extra",
    "ttft_ms",
)

# A timing value (latency, tokens per second) is measured when at least this share of its values come from
# fresh calls; the rest are the recorded timings of cached answers (docs/metrics.md, "Timing").
MIN_FRESH_SHARE = 0.5

Kind = Literal["binary", "continuous", "corpus"]


@dataclass(frozen=True)
class MetricKey:
    """One aggregated number a metric produces.

    kind: "binary" = mean of per-case 0/1 scores (paired test: exact McNemar);
          "continuous" = mean of per-case real scores (paired bootstrap of the mean difference);
          "corpus" = computed from the whole set (F1, AUC, BLEU, percentiles): resample case indices.
    quantile: for a percentile key, its level in (0, 1) (0.99 for a p99): the gate notes when few cases lie
          beyond it (a tail percentile of a few hundred values rests on a handful of cases).
    timing: the key is computed from call latencies; `fresh_sizes` counts its values from fresh calls.
    quantity, shown: the declared facts (evalgate.facts); a family builds its keys from its `FACTS`
          with `Metric.declared_key`, so direction, timing, quantity and unit are the declaration's.
    """

    name: str
    kind: Kind
    higher_is_better: bool = True
    description: str = ""
    quantile: float | None = None
    timing: bool = False  # computed from latencies: a measurement only from fresh calls (timing_measured)
    quantity: Quantity = "score"
    shown: Shown = "asked"

    @property
    def unit(self) -> Unit:
        return UNITS[self.quantity]


class Metric(ABC):
    """A family of related metric keys computed together (rouge -> rouge1, rouge2, rougeL, rougeLsum)."""

    family: ClassVar[str]
    # The keys the family can write, with their facts (evalgate.facts): the registry reads them.
    FACTS: ClassVar[tuple[KeyFacts, ...]] = ()
    # Other config names for the whole family (classification: precision, recall, f1).
    ALIASES: ClassVar[tuple[str, ...]] = ()
    OPTIONS: ClassVar[dict[str, Option]] = {}
    # The option (a list of key names) that a config naming one of the family's keys adds that key to,
    # for families that compute only the keys asked for (rouge: `types`). None: it computes all its keys.
    KEY_OPTION: ClassVar[str | None] = None
    # modules its aggregates need that building it does not import: a run imports them while its calls are in
    # flight (evalgate.pipeline, evalgate.preload), not after them
    SCORING_MODULES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: dict[str, Any], base_dir: Path) -> None:
        self.options = options
        self.base_dir = base_dir

    @property
    def instance(self) -> str:
        """What tells two configured metrics of one family apart (the `name` option where there is one)."""
        return str(self.options.get("name") or self.family)

    @abstractmethod
    def keys(self) -> list[MetricKey]:
        """The aggregate keys this metric writes (fixed once configured)."""

    @classmethod
    def facts_of(cls, name: str) -> KeyFacts:
        """The declared facts of key `name` (the first of FACTS whose name or pattern matches it)."""
        for facts in cls.FACTS:
            if facts.matches(name):
                return facts
        raise LookupError(f"{cls.__name__} declares no key {name!r} in FACTS")

    def declared_key(
        self,
        name: str,
        kind: Kind,
        description: str,
        *,
        quantile: float | None = None,
        facts: KeyFacts | None = None,
    ) -> MetricKey:
        """The MetricKey `name` with its declared facts (`facts` for a key named from the options)."""
        facts = facts or self.facts_of(name)
        return MetricKey(
            name,
            kind,
            facts.higher_is_better,
            description,
            quantile,
            timing=facts.timing,
            quantity=facts.quantity,
            shown=facts.shown,
        )

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:  # noqa: B027 - optional hook
        """Optional async work before scoring (LLM-as-judge calls, embeddings), done for all records at once.

        `context` is the SuiteConfig (judge provider, concurrency, cache, prices). Keep what score_case
        needs.
        """

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        """Per-case scores for binary/continuous keys. An errored case must score as a failure (0)."""
        return {}

    @abstractmethod
    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        """Aggregate values over `records` (already scored). None when undefined (for example no cases)."""

    def sizes(self, records: list[CaseRecord]) -> dict[str, int]:
        """How many of `records` each aggregate key is computed from (the `n` of the results file)."""
        return {key.name: len(records) for key in self.keys()}

    def fresh_sizes(self, records: list[CaseRecord], sizes: dict[str, int] | None = None) -> dict[str, int]:
        """For each timing key: how many of its values come from fresh calls (runs not answered by the cache).
        `sizes`, the records' own sizes when known, are the answer when no run was cached (no second count)."""
        timing = [key.name for key in self.keys() if key.timing]
        if not timing:
            return {}
        runs = expand_runs(records)
        fresh = [run for run in runs if not run.get("cached")]
        if sizes is None or len(fresh) < len(runs):
            sizes = self.sizes(fresh)
        return {name: int(sizes.get(name, 0)) for name in timing}

    def summary(
        self, records: list[CaseRecord]
    ) -> tuple[dict[str, float | None], dict[str, int], dict[str, int]]:
        """`aggregate`, `sizes` and `fresh_sizes` of `records` at once (what a summary of them reports)."""
        sizes = self.sizes(records)
        return self.aggregate(records), sizes, self.fresh_sizes(records, sizes)


class CaseMetric(Metric):
    """A family whose keys are means of per-case scores (binary or continuous).

    Subclasses implement `score_ok` for cases that did not error; an errored case scores `ERROR_SCORE`
    on every key (0: errors are never passes). A family that compares with the expected value
    (`NEEDS_EXPECTED`) scores a case without one as a failure too, with a note: it cannot pass.
    Its one key is named by its instance (the `name` option, else the family) and has the facts of FACTS[0].
    """

    KIND: ClassVar[Kind] = "binary"
    DESCRIPTION: ClassVar[str] = ""
    ERROR_SCORE: ClassVar[float] = 0.0
    NEEDS_EXPECTED: ClassVar[bool] = False

    def description(self) -> str:
        return self.DESCRIPTION

    def keys(self) -> list[MetricKey]:
        return [self.declared_key(self.instance, self.KIND, self.description(), facts=self.FACTS[0])]

    @abstractmethod
    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        """Scores of a case that ran without error."""

    def needs_expected(self) -> bool:
        return self.NEEDS_EXPECTED

    def error_score(self) -> float:
        """What a failed case scores: the worst value of the family's keys."""
        return self.ERROR_SCORE

    @functools.cached_property
    def key_names(self) -> tuple[str, ...]:
        """The names of `keys()` (fixed once configured), read for every case scored."""
        return tuple(key.name for key in self.keys())

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        failed = dict.fromkeys(self.key_names, self.error_score())
        if record.get("error") is not None:
            return failed
        if not has_expected(record) and self.needs_expected():
            add_note(record, f"{self.instance}: the case has no expected value to compare with")
            return failed
        return self.score_ok(record)

    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        return {key.name: mean_score(records, key.name) for key in self.keys()}

    def sizes(self, records: list[CaseRecord]) -> dict[str, int]:
        return {key.name: len(case_scores(records, key.name)) for key in self.keys()}


class ResampledMetric(Metric):
    """A corpus metric computed for many resamples at once: `encode` reads the records into arrays once,
    `resample` computes every key on each row of case indices from them. The gate's index resampling takes a
    `resampler(records)` and calls it chunk after chunk, so the records are read once per run, not per chunk.
    The aggregate is the resample that takes every case once.

    Repeats: a corpus value is computed over every run of every case (K x N runs with `repeats: K`), and a
    resample that draws a case takes all its runs (docs/gate.md, "Repeats"). The public methods take case
    entries and expand them; subclasses implement `encode`, `resample`, `aggregate_runs` and `sizes_runs` on runs.
    """

    @abstractmethod
    def encode(self, runs: list[CaseRecord]) -> Any:
        """What `resample` needs of the runs, read once."""

    @abstractmethod
    def resample(self, encoded: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Each key's value on each row of run `indices` (resamples x size): {key: array of resamples}."""

    def resampled(self, records: list[CaseRecord], indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.resampler(records)(indices)

    def resampler(self, records: list[CaseRecord]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        """`resampled` for one set of records and many chunks of case indices."""
        runs = expand_runs(records)
        return functools.partial(self._resample_cases, self.encode(runs), run_counts(records))

    def _resample_cases(self, encoded: Any, counts: np.ndarray, indices: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np

        indices = np.asarray(indices, dtype=np.int64)
        if len(counts) == 0 or (counts == counts[0]).all():  # K runs per case: case i's runs are iK .. iK+K-1
            k = int(counts[0]) if len(counts) else 1
            if k == 1:
                return self.resample(encoded, indices)
            runs = (indices[:, :, None] * k + np.arange(k)).reshape(indices.shape[0], -1)
            return self.resample(encoded, runs)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rows = [  # cases with different numbers of runs: one resample at a time
            self.resample(
                encoded, np.concatenate([np.arange(starts[i], starts[i] + counts[i]) for i in row])[None]
            )
            for row in indices
        ]
        return {key: np.concatenate([row[key] for row in rows]) for key in rows[0]} if rows else {}

    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        return self.aggregate_runs(expand_runs(records))

    def sizes(self, records: list[CaseRecord]) -> dict[str, int]:
        return self.sizes_runs(expand_runs(records))

    def summary(
        self, records: list[CaseRecord]
    ) -> tuple[dict[str, float | None], dict[str, int], dict[str, int]]:
        aggregates, sizes = self.summary_runs(expand_runs(records))
        return aggregates, sizes, self.fresh_sizes(records, sizes)

    def summary_runs(self, runs: list[CaseRecord]) -> tuple[dict[str, float | None], dict[str, int]]:
        """`aggregate_runs` and `sizes_runs` at once: a family that reads both from the same arrays overrides it
        to read them once (a summary of 2,000 runs read the latencies and the usage three times)."""
        return self.aggregate_runs(runs), self.sizes_runs(runs)

    def aggregate_runs(self, runs: list[CaseRecord]) -> dict[str, float | None]:
        """Every key over these runs: the resample that takes each run once."""
        import numpy as np

        arrays = self.resample(self.encode(runs), np.arange(len(runs))[None, :])
        return {name: nan_to_none(values[0]) for name, values in arrays.items()}

    def sizes_runs(self, runs: list[CaseRecord]) -> dict[str, int]:
        return {key.name: len(runs) for key in self.keys()}


def runs_of(record: CaseRecord) -> list[CaseRecord]:
    """The runs of a case entry: each of its `repeats` with the case's other fields (a run's own fields are
    RUN_FIELDS; one it lacks is None, never the case's), or the entry itself when it was run once."""
    repeats = record.get("repeats")
    if not repeats:
        return [record]
    case = {key: value for key, value in record.items() if key != "repeats"}
    return [{**case, **{field: run.get(field) for field in RUN_FIELDS}} for run in repeats]


def expand_runs(records: list[CaseRecord]) -> list[CaseRecord]:
    """Every run of every case entry, case after case."""
    return [run for record in records for run in runs_of(record)]


def run_counts(records: list[CaseRecord]) -> np.ndarray:
    import numpy as np

    return np.array([len(record.get("repeats") or [None]) for record in records], dtype=np.int64)


def timing_measured(n: int, fresh: int) -> bool:
    """Whether a timing value of `n` values, `fresh` of them from fresh calls, is a measurement of this run."""
    return fresh > 0 and fresh >= MIN_FRESH_SHARE * n


def timing_source(n: int, fresh: int) -> str:
    """Where a timing value's values come from, in words: "timed from 3 fresh calls and 5 recorded timings of
    cached answers"."""
    recorded = n - fresh
    return f"timed from {fresh:,} fresh call{'' if fresh == 1 else 's'}" + (
        f" and {recorded:,} recorded timing{'' if recorded == 1 else 's'} of cached answers"
        if recorded
        else ""
    )


UNMEASURED = f"at least {MIN_FRESH_SHARE:.0%} must be fresh calls (run with --no-cache to measure it)"


def timing_note(n: int, fresh: int) -> str:
    """How a timing value was timed, and whether that is a measurement (the report's note of its row)."""
    source = timing_source(n, fresh)
    return source if not n or timing_measured(n, fresh) else f"{source}: not measured, {UNMEASURED}"


def case_scores(records: list[CaseRecord], key: str) -> list[float]:
    """The per-case scores of `key` (cases without it, or with None, are left out)."""
    return [score for record in records if (score := (record.get("scores") or {}).get(key)) is not None]


def mean_score(records: list[CaseRecord], key: str) -> float | None:
    values = case_scores(records, key)
    return math.fsum(values) / len(values) if values else None


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of n cases appears in each resample: (resamples, n) from (resamples, size) indices."""
    import numpy as np

    indices = np.asarray(indices, dtype=np.int64)
    rows = indices.shape[0]
    flat = (indices + np.arange(rows, dtype=np.int64)[:, None] * n).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n)


def nan_to_none(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
