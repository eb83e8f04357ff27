"""bertscore: BERTScore precision, recall and F1 (Zhang et al., 2020) through the bert-score package.

Every token of the output and of the reference gets a contextual embedding (layer `num_layers` of a local
transformer model); each output token is matched greedily with its most cosine-similar reference token
(precision: the mean of those similarities), each reference token with its most similar output token (recall),
and F1 is their harmonic mean. With `idf: true` the means are weighted by inverse document frequency computed
over the suite's references (one document per reference of each case, errored cases included, as
`bert_score.score(..., idf=True)` computes it over the references it is given). Baseline rescaling is off
unless `rescale_with_baseline: true` names a `baseline_path` (bert-score's TSV format: a row per layer, columns
P, R, F). With a list of references a case scores its best reference, per key (as bert_score does).

The model is a local directory, by default the all-MiniLM-L6-v2 that the embeddings extra packages, with all its
layers; nothing is downloaded. All cases are scored in `prepare`, in one `BERTScorer.score` call (batches of
`batch_size`), off the event loop. Errored cases and cases without an expected value score what an empty
output scores (0, rescaled when rescaling is on). Keys `<name>_precision`, `<name>_recall`, `<name>_f1`
(name `bertscore` by default), continuous, higher is better.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import warnings
from pathlib import Path
from typing import Any, ClassVar

from evalgate.errors import InputError
from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseMetric, CaseRecord, MetricKey
from evalgate.metrics.offline_models import (
    PACKAGED_MODEL,
    go_offline,
    layer_count,
    model_dir,
    require_extra,
)
from evalgate.metrics.values import add_note, as_text, has_expected, references
from evalgate.options import Option, positive

MODULES = ("bert_score", "transformers", "torch")
PARTS = ("precision", "recall", "f1")
NOT_PREPARED = "not scored: prepare_metrics was not run before score_results"

Pair = tuple[str, tuple[str, ...]]  # (output text, reference texts)


class BertScore(CaseMetric):
    family = "bertscore"
    # the keys are {name}_precision/_recall/_f1; the `name` option (default bertscore) sets the prefix
    FACTS = tuple(
        KeyFacts(f"{prefix}_{part}", "score") for prefix in ("bertscore", "{name}") for part in PARTS
    )
    KIND = "continuous"
    NEEDS_EXPECTED = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "model": Option(
            (str,),
            default=PACKAGED_MODEL,
            help=f"{PACKAGED_MODEL} (packaged in the embeddings extra) or a local model folder",
        ),
        "num_layers": Option((int,), check=positive, help="the layer whose embeddings are matched"),
        "idf": Option((bool,), default=False, help="weight tokens by idf over the suite's references"),
        "rescale_with_baseline": Option((bool,), default=False, help="rescale with baseline_path"),
        "baseline_path": Option((str,), help="bert-score baseline TSV (LAYER,P,R,F), relative to the config"),
        "batch_size": Option((int,), default=64, check=positive, help="texts embedded per batch"),
        "name": Option((str,), help="the key prefix (default bertscore)"),
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        require_extra(self.family, MODULES)
        self.model_dir = model_dir(options["model"], Path(base_dir), self.family)
        layers = layer_count(self.model_dir, self.family)
        num_layers: int | None = options["num_layers"] or layers
        if num_layers is None:
            raise InputError("bertscore: the model's config.json gives no layer count; set num_layers")
        self.num_layers = num_layers
        if layers is not None and self.num_layers > layers:
            raise InputError(f"bertscore.num_layers is {self.num_layers}, but the model has {layers} layers")
        self.baseline = self._baseline(options, Path(base_dir))
        self.scores: dict[Pair, tuple[float, float, float]] = {}
        self._keys = self._describe_keys()

    def _baseline(self, options: dict[str, Any], base_dir: Path) -> tuple[Path, tuple[float, ...]] | None:
        """The baseline file and its (P, R, F) row for the layer, checked now (bert-score reads it later)."""
        if not options["rescale_with_baseline"]:
            if options["baseline_path"]:
                raise InputError("bertscore.baseline_path is only used with rescale_with_baseline: true")
            return None
        if not options["baseline_path"]:
            raise InputError(
                "bertscore.rescale_with_baseline needs baseline_path: a local baseline file "
                "(bert-score's rescale_baseline format: a header LAYER,P,R,F and a row per layer)"
            )
        path = (base_dir / options["baseline_path"]).resolve()
        import csv

        try:
            rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the baseline file ({exc})", file=path) from None
        line = self.num_layers + 2  # a header, then layer 0 (the embeddings), 1, 2, ...
        if len(rows) < line:
            raise InputError(
                f"the baseline file has no row for layer {self.num_layers} (expected a header LAYER,P,R,F "
                "and a row per layer from 0)",
                file=path,
            )
        try:
            values = tuple(float(cell) for cell in rows[line - 1][1:])
        except ValueError:
            values = ()
        if len(values) != 3 or not all(math.isfinite(v) and v < 1 for v in values):
            raise InputError(
                f"layer {self.num_layers}: expected a layer number and three baselines P, R, F below 1",
                file=path,
                line=line,
            )
        return path, values

    def keys(self) -> list[MetricKey]:
        return self._keys

    def _describe_keys(self) -> list[MetricKey]:
        """The three keys; each description says how the scores were computed, as a signature."""
        prefix = self.options["name"] or self.family
        how = f"layer {self.num_layers} of {self.options['model']}, idf {'on' if self.options['idf'] else 'off'}"
        how += ", rescaled with a baseline" if self.baseline else ", not rescaled"
        versions = f"bert-score {_version('bert-score')}, transformers {_version('transformers')}"
        return [
            self.declared_key(
                f"{prefix}_{part}",
                "continuous",
                f"BERTScore {part} of output against expected, greedy token matching ({how}; {versions})",
            )
            for part in PARTS
        ]

    def error_values(self) -> tuple[float, float, float]:
        """What an empty output scores, and so an errored case: 0, rescaled when rescaling is on."""
        if self.baseline is None:
            return (0.0, 0.0, 0.0)
        precision, recall, f1 = ((0.0 - b) / (1.0 - b) for b in self.baseline[1])
        return precision, recall, f1

    def _as_scores(self, values: tuple[float, float, float]) -> dict[str, float]:
        return {key.name: float(value) for key, value in zip(self.keys(), values, strict=True)}

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        if record.get("error") is not None:
            return self._as_scores(self.error_values())
        if not has_expected(record):
            add_note(record, f"{self.instance}: the case has no expected value to compare with")
            return self._as_scores(self.error_values())
        return self.score_ok(record)

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        values = self.scores.get(_pair(record))
        if values is None:
            add_note(record, f"{self.instance}: {NOT_PREPARED}")
            return self._as_scores(self.error_values())
        if not as_text(record.get("output")).strip():
            add_note(record, f"{self.instance}: the output is empty (BERTScore 0 before rescaling)")
        return self._as_scores(values)

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:
        pairs = list(dict.fromkeys(_pair(r) for r in records if r.get("error") is None and has_expected(r)))
        if not pairs:
            return
        documents = self._idf_documents(records) if self.options["idf"] else None
        computed = await asyncio.to_thread(self._compute, pairs, documents)
        self.scores.update(zip(pairs, computed, strict=True))

    @staticmethod
    def _idf_documents(records: list[CaseRecord]) -> list[str]:
        """The suite's references, one document each, each case once (repeats of a case count once)."""
        cases: dict[str, CaseRecord] = {}
        for record in records:
            cases.setdefault(str(record.get("id")), record)
        return [text for r in cases.values() if has_expected(r) for text in references(r["expected"])]

    def _compute(self, pairs: list[Pair], documents: list[str] | None) -> list[tuple[float, float, float]]:
        go_offline()
        from bert_score import BERTScorer

        rescale = self.baseline is not None
        try:
            scorer = BERTScorer(
                model_type=str(self.model_dir),
                num_layers=self.num_layers,
                idf=documents is not None,
                idf_sents=documents,
                nthreads=0,  # idf in this process: no worker pool forked from a threaded process
                lang="en" if rescale else None,  # bert-score asks for it; the baseline file is what is read
                rescale_with_baseline=rescale,
                baseline_path=str(self.baseline[0]) if self.baseline is not None else None,
            )
            # bert-score prints a warning for each batch with an empty text (the cases get a note instead),
            # and reading a baseline warns about a read-only numpy array: neither is the user's business
            with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                precision, recall, f1 = scorer.score(
                    [output for output, _ in pairs],
                    [list(refs) for _, refs in pairs],
                    batch_size=self.options["batch_size"],
                )
        except Exception as exc:  # a broken model folder is the setup's failure, not the model under test's
            raise InputError(
                f"bertscore: scoring with the model in {self.model_dir} failed: {type(exc).__name__}: {exc}"
            ) from None
        return list(zip(precision.tolist(), recall.tolist(), f1.tolist(), strict=True))


def _pair(record: CaseRecord) -> Pair:
    return as_text(record.get("output")), tuple(references(record.get("expected")))


def _version(distribution: str) -> str:
    from importlib import metadata  # here: the registry reads FACTS without loading it

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"
