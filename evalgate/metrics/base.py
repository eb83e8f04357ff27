"""The metric interface: per-case scores, then aggregates overall and per category."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from evalgate.options import Option

# A case record is one entry of results.json "cases" (a plain dict): id, category, input, expected, output,
# error, latency_ms, tokens_in, tokens_out, cost, scores (filled by score_case), plus optional metadata/cluster.
CaseRecord = dict[str, Any]

Kind = Literal["binary", "continuous", "corpus"]


@dataclass(frozen=True)
class MetricKey:
    """One aggregated number a metric produces.

    kind: "binary" = mean of per-case 0/1 scores (paired test: exact McNemar);
          "continuous" = mean of per-case real scores (paired bootstrap of the mean difference);
          "corpus" = computed from the whole set (F1, AUC, BLEU, percentiles): resample case indices.
    """

    name: str
    kind: Kind
    higher_is_better: bool = True
    description: str = ""


class Metric(ABC):
    """A family of related metric keys computed together (for example rouge -> rouge1, rouge2, rougeL, rougeLsum)."""

    family: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, options: dict[str, Any], base_dir: Path) -> None:
        self.options = options
        self.base_dir = base_dir

    @abstractmethod
    def keys(self) -> list[MetricKey]:
        """The aggregate keys this metric writes (fixed once configured)."""

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:  # noqa: B027 - optional hook
        """Optional async work before scoring (LLM-as-judge calls, embeddings), done for all records at once.

        `context` is the SuiteConfig (judge provider, concurrency, cache, prices). Store what score_case needs.
        """

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        """Per-case scores for binary/continuous keys. An errored case must score as a failure (0)."""
        return {}

    @abstractmethod
    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        """Aggregate values over `records` (already scored). None when undefined (for example no cases)."""
