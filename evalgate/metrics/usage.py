"""Token and cost usage, from what the provider reported per case (None when no case reports it).

Every run counts (with `repeats: K`, each of a case's K calls). tokens_in / tokens_out: totals;
tokens_in_per_case / tokens_out_per_case: means over the runs reporting them (per request); tokens_per_s: output
tokens per second of latency, over the runs that did not error, report tokens_out and were timed (a timing key:
a cached answer counts with its recorded latency, docs/metrics.md "Timing"); cost_total: USD summed;
cost_per_1k_requests: the mean cost of a reporting run times 1,000. Errored runs count when they report usage
(a failed call may still be billed).

Fast path: `resampled(records, indices)` computes every key from per-resample weighted sums (matrix products);
the aggregate uses exact sums (math.fsum) instead, so the recorded values do not depend on the order of the cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseRecord, MetricKey, ResampledMetric, nan_to_none, resample_counts
from evalgate.metrics.values import as_number

if TYPE_CHECKING:  # numpy is imported where values are computed, not before a run's calls (issue 11)
    import numpy as np

_DESCRIPTIONS = {
    "tokens_in": "input tokens, total over the calls that report them",
    "tokens_out": "output tokens, total over the calls that report them",
    "tokens_in_per_case": "input tokens per request (mean over the calls that report them)",
    "tokens_out_per_case": "output tokens per request (mean over the calls that report them)",
    "tokens_per_s": "output tokens per second of latency (timed calls without error that report tokens_out)",
    "cost_total": "cost in USD, total over the calls that report it",
    "cost_per_1k_requests": "cost in USD of 1,000 requests (mean cost per reporting call x 1000)",
}


class Usage(ResampledMetric):
    family = "usage"
    SCORING_MODULES = ("numpy",)
    # shown when the provider reported them; tokens_per_s is computed from latencies (a timing)
    FACTS = (
        *(
            KeyFacts(name, "count", higher_is_better=False, shown="measured")
            for name in ("tokens_in", "tokens_out", "tokens_in_per_case", "tokens_out_per_case")
        ),
        KeyFacts("tokens_per_s", "count", higher_is_better=True, timing=True, shown="measured"),
        *(
            KeyFacts(name, "money", higher_is_better=False, shown="measured")
            for name in ("cost_total", "cost_per_1k_requests")
        ),
    )

    def keys(self) -> list[MetricKey]:
        return [self.declared_key(facts.name, "corpus", _DESCRIPTIONS[facts.name]) for facts in self.FACTS]

    def encode(self, records: list[CaseRecord]) -> dict[str, np.ndarray]:
        """Per case: tokens_in, tokens_out, cost (NaN when not reported) and latency_s for tokens_per_s."""
        import numpy as np

        def column(field: str) -> np.ndarray:
            values = [as_number(record.get(field)) for record in records]
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        latency = column("latency_ms") / 1000.0
        ok = np.array([record.get("error") is None for record in records], dtype=bool)
        tokens_out = column("tokens_out")
        throughput = ok & ~np.isnan(tokens_out) & ~np.isnan(latency) & (latency > 0)
        return {
            "tokens_in": column("tokens_in"),
            "tokens_out": tokens_out,
            "cost": column("cost"),
            "rate_tokens": np.where(throughput, tokens_out, np.nan),
            "rate_seconds": np.where(throughput, latency, np.nan),
        }

    def resample(self, encoded: dict[str, np.ndarray], indices: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np

        counts = resample_counts(indices, len(encoded["cost"])).astype(np.float64)

        def total(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Weighted sum and weighted count of the reported values, per resample."""
            reported = ~np.isnan(values)
            return counts @ np.where(reported, values, 0.0), counts @ reported.astype(np.float64)

        return _from_totals(encoded, total)

    def aggregate_runs(self, records: list[CaseRecord]) -> dict[str, float | None]:
        return self.summary_runs(records)[0]

    def sizes_runs(self, records: list[CaseRecord]) -> dict[str, int]:
        return self.summary_runs(records)[1]

    def summary_runs(self, runs: list[CaseRecord]) -> tuple[dict[str, float | None], dict[str, int]]:
        """The aggregates, with exact sums (math.fsum) so the recorded values cannot change with the order of
        the cases, and how many runs reported each, from one reading of the runs."""
        import numpy as np

        columns = self.encode(runs)

        def total(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            reported = values[~np.isnan(values)]
            return np.array([math.fsum(reported)]), np.array([float(len(reported))])

        aggregates = {name: nan_to_none(values[0]) for name, values in _from_totals(columns, total).items()}
        reported = {name: int((~np.isnan(values)).sum()) for name, values in columns.items()}
        sizes = {
            "tokens_in": reported["tokens_in"],
            "tokens_out": reported["tokens_out"],
            "tokens_in_per_case": reported["tokens_in"],
            "tokens_out_per_case": reported["tokens_out"],
            "tokens_per_s": reported["rate_tokens"],
            "cost_total": reported["cost"],
            "cost_per_1k_requests": reported["cost"],
        }
        return aggregates, sizes


def _from_totals(
    columns: dict[str, np.ndarray], total: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Every key from `total(column)`: the sum and the count of a column's reported values (sum NaN when none)."""
    import numpy as np

    def summed(name: str) -> tuple[np.ndarray, np.ndarray]:
        sums, n = total(columns[name])
        return np.where(n > 0, sums, np.nan), n

    tokens_in, n_in = summed("tokens_in")
    tokens_out, n_out = summed("tokens_out")
    cost, n_cost = summed("cost")
    rate_tokens, _ = summed("rate_tokens")
    rate_seconds, _ = summed("rate_seconds")
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "tokens_in_per_case": tokens_in / n_in,
            "tokens_out_per_case": tokens_out / n_out,
            "tokens_per_s": rate_tokens / rate_seconds,
            "cost_total": cost,
            "cost_per_1k_requests": cost / n_cost * 1000.0,
        }
