"""error_rate: the fraction of cases that errored (raised, timed out, were aborted). Lower is better."""

from __future__ import annotations

from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseMetric, CaseRecord


class ErrorRate(CaseMetric):
    family = "error_rate"
    FACTS = (KeyFacts("error_rate", "rate", higher_is_better=False, shown="always"),)
    ERROR_SCORE = 1.0
    DESCRIPTION = "fraction of cases whose run errored (exception, timeout, abort); 1 per errored case"

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        return {self.instance: 0.0}
