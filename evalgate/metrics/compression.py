"""compression_ratio: words in the output / words in the input (summaries; lower = more compressed).

Words are whitespace-separated. With `input_key`, the input is that field of a mapping input. An input
without words counts as one word. An errored case scores 1.0 (no compression achieved), never a better ratio.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseMetric, CaseRecord
from evalgate.metrics.values import as_text
from evalgate.options import Option


class CompressionRatio(CaseMetric):
    family = "compression_ratio"
    KIND = "continuous"
    FACTS = (KeyFacts("compression_ratio", "score", higher_is_better=False),)
    ERROR_SCORE = 1.0
    DESCRIPTION = "output words / input words (lower is more compressed)"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "input_key": Option((str,), help="with mapping inputs, the field holding the text to summarize"),
    }

    def source_text(self, record: CaseRecord) -> str:
        value: Any = record.get("input")
        key = self.options["input_key"]
        if key is not None and isinstance(value, dict):
            value = value.get(key)
        return as_text(value)

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        output_words = len(as_text(record.get("output")).split())
        input_words = len(self.source_text(record).split())
        return {self.instance: output_words / max(input_words, 1)}
