"""Corpus BLEU and chrF with sacrebleu (scale 0-100, as sacrebleu reports them).

The corpus is every case with an expected value: hypotheses are the output texts (an errored case's is
empty, so it only adds reference length), references are the expected text or list of texts (cases may have
different numbers of references). Each key's description carries sacrebleu's signature (tokenizer,
smoothing, casing, version), so numbers computed differently are not mistaken for one another.

Fast path: `resampled(records, indices)` extracts sacrebleu's per-segment sufficient statistics once, sums
them per resample with one matrix product, and lets sacrebleu compute each resample's score from the sums.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from evalgate.errors import InputError
from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseRecord, MetricKey, ResampledMetric, resample_counts
from evalgate.metrics.values import as_text, has_expected, references
from evalgate.options import Option, non_negative, positive

if TYPE_CHECKING:  # sacrebleu is loaded when a family is configured, not when the registry reads FACTS
    from sacrebleu.metrics.base import Metric as SacreMetric

# Corpora whose statistics are kept: the two runs the gate compares.


class _CorpusTranslation(ResampledMetric):
    """A sacrebleu corpus metric over the cases that have an expected value."""

    DESCRIPTION: ClassVar[str]

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        self.signature = self._signature()

    @abstractmethod
    def make(self) -> SacreMetric:
        """A fresh sacrebleu metric object configured from the options."""

    def _signature(self) -> str:
        probe = self.make()
        probe.corpus_score(["a"], [["a"]])
        parts = str(probe.get_signature()).split("|")
        return "|".join(part for part in parts if not part.startswith("nrefs:"))

    def keys(self) -> list[MetricKey]:
        return [self.declared_key(self.family, "corpus", f"{self.DESCRIPTION} (sacrebleu {self.signature})")]

    def corpus(self, records: list[CaseRecord]) -> tuple[list[str], list[list[str | None]], np.ndarray]:
        """Hypotheses, reference streams (None where a case has fewer references) and which cases are used."""
        used = np.array([has_expected(r) for r in records], dtype=bool)
        hypotheses, refs = [], []
        for record, use in zip(records, used, strict=True):
            if use:
                hypotheses.append("" if record.get("error") is not None else as_text(record.get("output")))
                refs.append(references(record["expected"]))
        width = max((len(r) for r in refs), default=0)
        streams = [[r[j] if j < len(r) else None for r in refs] for j in range(width)]
        return hypotheses, streams, used

    def aggregate_runs(self, records: list[CaseRecord]) -> dict[str, float | None]:
        hypotheses, streams, _ = self.corpus(records)
        if not hypotheses:
            return {self.family: None}
        # sacrebleu takes None for a missing reference (a case with fewer references) though it annotates str
        return {self.family: float(self.make().corpus_score(hypotheses, streams).score)}  # type: ignore[arg-type]

    def sizes_runs(self, records: list[CaseRecord]) -> dict[str, int]:
        return {self.family: sum(has_expected(record) for record in records)}

    def encode(self, records: list[CaseRecord]) -> tuple[SacreMetric, np.ndarray, np.ndarray]:
        """sacrebleu's per-segment sufficient statistics of the cases with an expected value, and which they are."""
        hypotheses, streams, used = self.corpus(records)
        metric = self.make()
        if not hypotheses:
            return metric, np.zeros((0, 0), dtype=np.int64), used
        statistics = metric._extract_corpus_statistics(hypotheses, streams)  # type: ignore[arg-type]  # as above
        return metric, np.array(statistics, dtype=np.int64), used

    def resample(
        self, encoded: tuple[SacreMetric, np.ndarray, np.ndarray], indices: np.ndarray
    ) -> dict[str, np.ndarray]:
        metric, stats, used = encoded
        counts = resample_counts(indices, len(used))[:, used]
        result = np.full(counts.shape[0], np.nan)
        if len(stats):
            sums = counts @ stats
            for row, total in enumerate(sums):
                if counts[row].any():
                    result[row] = metric._compute_score_from_stats(total.tolist()).score
        return {self.family: result}


class Bleu(_CorpusTranslation):
    family = "bleu"
    FACTS = (KeyFacts("bleu", "score"),)
    DESCRIPTION = "corpus BLEU of the output texts against the expected texts, 0-100"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "tokenize": Option(
            (str,), default="13a", help="sacrebleu tokenizer (13a, intl, char, zh, ja-mecab, none...)"
        ),
        "lowercase": Option((bool,), default=False),
        "smooth_method": Option((str,), default="exp", help="exp, floor, add-k or none"),
    }

    def make(self) -> SacreMetric:
        from sacrebleu.metrics import BLEU

        try:
            return BLEU(
                tokenize=self.options["tokenize"],
                lowercase=self.options["lowercase"],
                smooth_method=self.options["smooth_method"],
            )
        except (AssertionError, ValueError, KeyError, ImportError, RuntimeError) as exc:
            raise InputError(f"bad bleu options ({exc})") from None


class Chrf(_CorpusTranslation):
    family = "chrf"
    FACTS = (KeyFacts("chrf", "score"),)
    DESCRIPTION = (
        "corpus chrF (character n-gram F-score) of the output texts against the expected texts, 0-100"
    )
    OPTIONS: ClassVar[dict[str, Option]] = {
        "char_order": Option((int,), default=6, check=positive),
        "word_order": Option((int,), default=0, check=non_negative, help="2 gives chrF++"),
        "beta": Option(
            (int,), default=2, check=positive, help="recall is beta times as important as precision"
        ),
        "lowercase": Option((bool,), default=False),
    }

    def make(self) -> SacreMetric:
        from sacrebleu.metrics import CHRF

        return CHRF(
            char_order=self.options["char_order"],
            word_order=self.options["word_order"],
            beta=self.options["beta"],
            lowercase=self.options["lowercase"],
        )
