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
from typing import Any, ClassVar, Literal

import numpy as np

from evalgate.metrics.values import add_note, has_expected
from evalgate.options import Option

# A case record is one entry of results.json "cases" (a plain dict): id, category, input, expected,
# output, error, latency_ms, tokens_in, tokens_out, cost, scores (filled by score_case), plus optional
# metadata/cluster.
CaseRecord = dict[str, Any]

Kind = Literal["binary", "continuous", "corpus"]


@dataclass(frozen=True)
class MetricKey:
    """One aggregated number a metric produces.

    kind: "binary" = mean of per-case 0/1 scores (paired test: exact McNemar);
          "continuous" = mean of per-case real scores (paired bootstrap of the mean difference);
          "corpus" = computed from the whole set (F1, AUC, BLEU, percentiles): resample case indices.
    quantile: for a percentile key, its level in (0, 1) (0.99 for a p99): the gate notes when few cases lie
          beyond it (a tail percentile of a few hundred values rests on a handful of cases).
    """

    name: str
    kind: Kind
    higher_is_better: bool = True
    description: str = ""
    quantile: float | None = None


class Metric(ABC):
    """A family of related metric keys computed together (rouge -> rouge1, rouge2, rougeL, rougeLsum)."""

    family: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Option]] = {}
    # The option (a list of key names) that a config naming one of the family's keys adds that key to,
    # for families that compute only the keys asked for (rouge: `types`). None: it computes all its keys.
    KEY_OPTION: ClassVar[str | None] = None

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


class CaseMetric(Metric):
    """A family whose keys are means of per-case scores (binary or continuous).

    Subclasses implement `score_ok` for cases that did not error; an errored case scores `ERROR_SCORE`
    on every key (0: errors are never passes). A family that compares with the expected value
    (`NEEDS_EXPECTED`) scores a case without one as a failure too, with a note: it cannot pass.
    """

    KIND: ClassVar[Kind] = "binary"
    HIGHER_IS_BETTER: ClassVar[bool] = True
    DESCRIPTION: ClassVar[str] = ""
    ERROR_SCORE: ClassVar[float] = 0.0
    NEEDS_EXPECTED: ClassVar[bool] = False

    def description(self) -> str:
        return self.DESCRIPTION

    def keys(self) -> list[MetricKey]:
        return [MetricKey(self.instance, self.KIND, self.HIGHER_IS_BETTER, self.description())]

    @abstractmethod
    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        """Scores of a case that ran without error."""

    def needs_expected(self) -> bool:
        return self.NEEDS_EXPECTED

    def error_score(self) -> float:
        """What a failed case scores: the worst value of the family's keys."""
        return self.ERROR_SCORE

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        failed = dict.fromkeys((key.name for key in self.keys()), self.error_score())
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
    The aggregate is the resample that takes every case once."""

    @abstractmethod
    def encode(self, records: list[CaseRecord]) -> Any:
        """What `resample` needs of the records, read once."""

    @abstractmethod
    def resample(self, encoded: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Each key's value on each row of case `indices` (resamples x size): {key: array of resamples}."""

    def resampled(self, records: list[CaseRecord], indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.resample(self.encode(records), indices)

    def resampler(self, records: list[CaseRecord]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        """`resampled` for one set of records and many chunks of indices."""
        return functools.partial(self.resample, self.encode(records))

    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        arrays = self.resampled(records, np.arange(len(records))[None, :])
        return {name: nan_to_none(values[0]) for name, values in arrays.items()}


def case_scores(records: list[CaseRecord], key: str) -> list[float]:
    """The per-case scores of `key` (cases without it, or with None, are left out)."""
    return [score for record in records if (score := (record.get("scores") or {}).get(key)) is not None]


def mean_score(records: list[CaseRecord], key: str) -> float | None:
    values = case_scores(records, key)
    return math.fsum(values) / len(values) if values else None


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of n cases appears in each resample: (resamples, n) from (resamples, size) indices."""
    indices = np.asarray(indices, dtype=np.int64)
    rows = indices.shape[0]
    flat = (indices + np.arange(rows, dtype=np.int64)[:, None] * n).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n)


def nan_to_none(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
