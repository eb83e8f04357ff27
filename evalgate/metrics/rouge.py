"""ROUGE F-measures per case (rouge-score's RougeScorer), averaged over cases.

Keys rouge1, rouge2 (unigram, bigram overlap), rougeL (longest common subsequence) and rougeLsum
(summary-level LCS over sentences split on newlines only). The option `types` lists the keys to compute;
naming a key in the config (`rougeL`) adds it. With a list of expected references, a case scores its best
reference (`RougeScorer.score_multi`). rouge-score tokenizes ASCII letters and digits only: non-ASCII text
scores 0.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseMetric, CaseRecord, MetricKey
from evalgate.metrics.values import as_text, references
from evalgate.options import Option

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_DESCRIPTIONS = {
    "rouge1": "ROUGE-1 F-measure: unigram overlap of output and expected text",
    "rouge2": "ROUGE-2 F-measure: bigram overlap of output and expected text",
    "rougeL": "ROUGE-L F-measure: longest common subsequence of output and expected text",
    "rougeLsum": "ROUGE-Lsum F-measure: summary-level LCS, sentences split on newlines",
}


def _check_types(value: list[Any]) -> str | None:
    unknown = [item for item in value if item not in ROUGE_TYPES]
    if unknown or not value:
        return "must list some of " + ", ".join(ROUGE_TYPES)
    return None


class Rouge(CaseMetric):
    family = "rouge"
    FACTS = tuple(KeyFacts(name, "score") for name in ROUGE_TYPES)
    NEEDS_EXPECTED = True
    KEY_OPTION = "types"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "types": Option((list,), check=_check_types, help="the ROUGE keys to compute (default: all four)"),
        "use_stemmer": Option((bool,), default=True, help="Porter-stem words before matching"),
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        from rouge_score import rouge_scorer  # here: the registry reads FACTS without loading it (nltk)

        super().__init__(options, base_dir)
        wanted = set(options["types"] or ROUGE_TYPES)
        self.types = [name for name in ROUGE_TYPES if name in wanted]
        self.scorer = rouge_scorer.RougeScorer(self.types, use_stemmer=options["use_stemmer"])

    def keys(self) -> list[MetricKey]:
        stem = " (Porter stemmer)" if self.options["use_stemmer"] else ""
        return [self.declared_key(name, "continuous", _DESCRIPTIONS[name] + stem) for name in self.types]

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        targets = references(record.get("expected"))
        prediction = as_text(record.get("output"))
        if len(targets) == 1:
            scores = self.scorer.score(targets[0], prediction)
        else:
            scores = self.scorer.score_multi(targets, prediction)
        return {name: float(scores[name].fmeasure) for name in self.types}
