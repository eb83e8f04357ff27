"""Latency percentiles and mean (milliseconds) over the runs that did not error and were timed; with streaming,
the same of the time to the first token, and the output tokens per second of generation.

Percentiles are numpy's: `method: linear` (default, numpy's default interpolation) or `method: nearest_rank`
(numpy "inverted_cdf": the smallest value with at least q% of the values at or below it). Errored runs are
left out (a timeout's latency is the timeout, not the model's) and counted by error_rate instead. A cached
answer counts with the latency recorded when it was first answered (none when the cache has none), never with
the time the cache read took; every key is a timing key, whose `fresh` count says how many values come from
calls made in this run (docs/metrics.md, "Timing").

`streaming` (computed whenever a provider has `stream: true`): latency_ttft_p50/p95/p99/mean_ms over the runs
that report `ttft_ms`, and generation_tokens_per_s = the output tokens of those runs over their seconds of
generation (latency - ttft), summed: the decoding speed, without the queueing and prefill before the first token.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from evalgate.facts import KeyFacts, Shown
from evalgate.metrics.base import CaseRecord, MetricKey, ResampledMetric, resample_counts
from evalgate.metrics.values import as_number
from evalgate.options import Option, one_of

if TYPE_CHECKING:  # numpy is imported where values are computed, not before a run's calls (issue 11)
    import numpy as np

PERCENTILES = (50, 95, 99)
NUMPY_METHODS: dict[str, Literal["linear", "inverted_cdf"]] = {
    "linear": "linear",
    "nearest_rank": "inverted_cdf",
}


def _time_keys(prefix: str, shown: Shown) -> tuple[KeyFacts, ...]:
    """The facts of the percentile and mean keys of `prefix` (latency, latency_ttft)."""
    return tuple(
        KeyFacts(f"{prefix}_{stat}_ms", "time", higher_is_better=False, timing=True, shown=shown)
        for stat in (*(f"p{q}" for q in PERCENTILES), "mean")
    )


class Latency(ResampledMetric):
    family = "latency"
    # the percentiles are in every report; the mean when asked for
    FACTS = (*_time_keys("latency", "always")[:-1], _time_keys("latency", "asked")[-1])
    FIELD = "latency_ms"  # the run field read
    SCORING_MODULES = ("numpy", "numpy.ma")  # np.percentile imports numpy.ma on its first call
    PREFIX = "latency"  # the keys: {PREFIX}_p50_ms ... {PREFIX}_mean_ms
    WHAT = "latency"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "method": Option(
            (str,),
            default="linear",
            check=one_of(*NUMPY_METHODS),
            help="percentile method: linear interpolation or nearest_rank",
        ),
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        self.method = NUMPY_METHODS[options["method"]]

    def keys(self) -> list[MetricKey]:
        how = f"numpy.percentile method={self.method}"
        keys = [
            self.declared_key(
                f"{self.PREFIX}_p{q}_ms",
                "corpus",
                f"{q}th percentile of {self.WHAT} in ms ({how})",
                quantile=q / 100,
            )
            for q in PERCENTILES
        ]
        mean = self.declared_key(f"{self.PREFIX}_mean_ms", "corpus", f"mean {self.WHAT} in ms")
        return [*keys, mean]

    def values(self, records: list[CaseRecord]) -> np.ndarray:
        """Each run's latency (its FIELD), NaN for errored runs and runs without one."""
        import numpy as np

        values = _column(records, self.FIELD)
        values[[r.get("error") is not None for r in records]] = np.nan
        return values

    def encode(self, records: list[CaseRecord]) -> Any:
        return self.values(records)

    def aggregate_runs(self, records: list[CaseRecord]) -> dict[str, float | None]:
        return self.summary_runs(records)[0]

    def sizes_runs(self, records: list[CaseRecord]) -> dict[str, int]:
        return self.summary_runs(records)[1]

    def summary_runs(self, runs: list[CaseRecord]) -> tuple[dict[str, float | None], dict[str, int]]:
        """The percentiles and mean of the runs' latencies, and how many there are, from one reading."""
        import numpy as np

        values = self.values(runs)
        values = values[~np.isnan(values)]
        sizes = {key.name: len(values) for key in Latency.keys(self)}
        if not len(values):
            return {key.name: None for key in Latency.keys(self)}, sizes
        points = np.percentile(values, PERCENTILES, method=self.method)
        result: dict[str, float | None] = {
            f"{self.PREFIX}_p{q}_ms": float(v) for q, v in zip(PERCENTILES, points, strict=True)
        }
        result[f"{self.PREFIX}_mean_ms"] = math.fsum(values) / len(
            values
        )  # exact: the order cannot change it
        return result, sizes

    def resample(self, encoded: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Equal to np.nanpercentile / np.nanmean of each resample (tested bit for bit), several times faster.

        Sorting each row puts its NaNs (errored cases) last; rows with the same number k of latencies then
        go through one np.percentile of their first k columns, whose partitions are cheap on sorted rows."""
        import numpy as np

        values = encoded
        indices = np.asarray(indices, dtype=np.int64)
        drawn = np.sort(values[indices], axis=1)
        counts = (~np.isnan(values))[indices].sum(axis=1)
        points = np.full((len(PERCENTILES), len(indices)), np.nan)
        mean = np.full(len(indices), np.nan)
        for k in np.unique(counts[counts > 0]):
            rows = np.flatnonzero(counts == k)
            kept = drawn[rows, :k]
            points[:, rows] = np.percentile(kept, PERCENTILES, axis=1, method=self.method)
            mean[rows] = kept.mean(axis=1)
        result = {f"{self.PREFIX}_p{q}_ms": points[i] for i, q in enumerate(PERCENTILES)}
        result[f"{self.PREFIX}_mean_ms"] = mean
        return result


def _column(records: list[CaseRecord], field: str) -> np.ndarray:
    import numpy as np

    values = [as_number(record.get(field)) for record in records]
    return np.array([np.nan if value is None else value for value in values], dtype=np.float64)


class Streaming(Latency):
    """Time to the first token (percentiles, mean) and generation_tokens_per_s, from streamed calls."""

    family = "streaming"
    FIELD = "ttft_ms"
    PREFIX = "latency_ttft"
    WHAT = "the time to the first token"
    RATE = "generation_tokens_per_s"
    # shown when the run measured them (a provider streamed)
    FACTS = (
        *_time_keys(PREFIX, "measured"),
        KeyFacts(RATE, "count", higher_is_better=True, timing=True, shown="measured"),
    )

    def keys(self) -> list[MetricKey]:
        rate = self.declared_key(
            self.RATE, "corpus", "output tokens per second of generation (latency - ttft), streamed runs"
        )
        return [*super().keys(), rate]

    def encode(self, records: list[CaseRecord]) -> dict[str, np.ndarray]:
        """The ttft of each run (NaN without one), and for the rate its output tokens and generation seconds."""
        import numpy as np

        ttft = self.values(records)
        latency, tokens = (_column(records, field) for field in ("latency_ms", "tokens_out"))
        seconds = (latency - ttft) / 1000.0
        rated = ~np.isnan(ttft) & ~np.isnan(tokens) & ~np.isnan(seconds) & (seconds > 0)
        return {
            "ttft": ttft,
            "tokens": np.where(rated, tokens, 0.0),
            "seconds": np.where(rated, seconds, 0.0),
            "rated": rated,
        }

    def summary_runs(self, runs: list[CaseRecord]) -> tuple[dict[str, float | None], dict[str, int]]:
        aggregates, sizes = super().summary_runs(runs)
        encoded = self.encode(runs)
        rated = encoded["rated"]
        seconds = math.fsum(encoded["seconds"][rated])
        rate = math.fsum(encoded["tokens"][rated]) / seconds if seconds > 0 else None
        return {**aggregates, self.RATE: rate}, {**sizes, self.RATE: int(rated.sum())}

    def resample(self, encoded: dict[str, np.ndarray], indices: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np

        counts = resample_counts(indices, len(encoded["ttft"])).astype(np.float64)
        seconds = counts @ encoded["seconds"]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(seconds > 0, (counts @ encoded["tokens"]) / seconds, np.nan)
        return {**super().resample(encoded["ttft"], indices), self.RATE: rate}
