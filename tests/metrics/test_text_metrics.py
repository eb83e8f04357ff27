"""ROUGE, BLEU and chrF against rouge-score and sacrebleu on random text (several seeds)."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from evalgate.metrics import score_results

from .metricskit import build, only, record

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "roof",
    "quickly",
    "slowly",
    "barked",
    "meowed",
    "big",
    "small",
    "runs",
    "running",
]


def sentence(rng: np.random.Generator, low: int = 1, high: int = 14) -> str:
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=rng.integers(low, high))]
    text = " ".join(words)
    return text.capitalize() + "." if rng.random() < 0.5 else text


def text(rng: np.random.Generator) -> str:
    """One to three sentences, sometimes on separate lines (for rougeLsum)."""
    return "\n".join(sentence(rng) for _ in range(rng.integers(1, 4)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("stemmer", [True, False])
def test_rouge_equals_rouge_score(tmp_path, seed, stemmer):
    rng = np.random.default_rng(seed)
    metrics = build(tmp_path, f"metrics:\n  - rouge: {{use_stemmer: {str(stemmer).lower()}}}\n")
    rows = [record(text(rng), text(rng), id=str(i)) for i in range(60)]
    rows[3]["expected"] = [text(rng), text(rng)]  # several references: the best one counts
    rows[7]["error"] = "ValueError: no answer"
    overall, _ = score_results(metrics, rows)
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=stemmer)
    for name in types:
        expected = []
        for row in rows:
            if row["error"]:
                expected.append(0.0)
            elif isinstance(row["expected"], list):
                expected.append(scorer.score_multi(row["expected"], row["output"])[name].fmeasure)
            else:
                expected.append(scorer.score(row["expected"], row["output"])[name].fmeasure)
        assert [row["scores"][name] for row in rows] == pytest.approx(expected, abs=1e-12)
        assert overall[name]["value"] == pytest.approx(float(np.mean(expected)), abs=1e-9)
        assert overall[name]["n"] == len(rows)


def test_rouge_key_name_computes_only_what_is_asked(tmp_path):
    metrics = build(tmp_path, "metrics: [rougeL, rouge1]\n")
    names = [key.name for key in only(metrics, "rouge").keys()]
    assert names == ["rouge1", "rougeL"]
    metrics = build(tmp_path, "metrics: [rougeL, rouge]\n")
    assert len(only(metrics, "rouge").keys()) == 4


def corpus(seed: int, n: int = 40) -> list[dict]:
    """Hypotheses against one to three references each; some errors; one case without a reference."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        refs = [sentence(rng, 3) for _ in range(rng.integers(1, 4))]
        rows.append(record(sentence(rng, 3), refs if len(refs) > 1 else refs[0], id=f"t{i}"))
    rows[2]["error"] = "TimeoutError"
    rows[5]["expected"] = None
    rows[6]["expected"] = []  # no reference either
    return rows


def sacrebleu_inputs(rows: list[dict]) -> tuple[list[str], list[list[str | None]]]:
    used = [r for r in rows if r["expected"] not in (None, [])]
    hyps = ["" if r["error"] else r["output"] for r in used]
    refs = [r["expected"] if isinstance(r["expected"], list) else [r["expected"]] for r in used]
    width = max(len(r) for r in refs)
    return hyps, [[r[j] if j < len(r) else None for r in refs] for j in range(width)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bleu_and_chrf_equal_sacrebleu(tmp_path, seed):
    metrics = build(tmp_path, "metrics: [bleu, chrf]\n")
    rows = corpus(seed)
    overall, _ = score_results(metrics, rows)
    hyps, streams = sacrebleu_inputs(rows)
    assert overall["bleu"]["value"] == pytest.approx(sacrebleu.corpus_bleu(hyps, streams).score, abs=1e-9)
    assert overall["chrf"]["value"] == pytest.approx(sacrebleu.corpus_chrf(hyps, streams).score, abs=1e-9)
    assert overall["bleu"]["n"] == len(rows) - 2


def test_bleu_options_and_signature(tmp_path):
    metrics = build(tmp_path, "metrics:\n  - bleu: {tokenize: char, lowercase: true}\n")
    rows = corpus(4)
    overall, _ = score_results(metrics, rows)
    hyps, streams = sacrebleu_inputs(rows)
    reference = sacrebleu.BLEU(tokenize="char", lowercase=True).corpus_score(hyps, streams).score
    assert overall["bleu"]["value"] == pytest.approx(reference, abs=1e-9)
    description = only(metrics, "bleu").keys()[0].description
    assert (
        "tok:char" in description
        and "case:lc" in description
        and f"version:{sacrebleu.__version__}" in description
    )


@pytest.mark.parametrize("family", ["bleu", "chrf"])
def test_translation_resampled_equals_corpus_score_of_each_resample(tmp_path, family):
    metric = only(build(tmp_path, f"metrics: [{family}]\n"), family)
    rows = corpus(9, n=25)
    indices = np.random.default_rng(3).integers(0, len(rows), size=(20, len(rows)))
    fast = metric.resampled(rows, indices)[family]
    for r, row in enumerate(indices):
        assert fast[r] == pytest.approx(metric.aggregate([rows[i] for i in row])[family], abs=1e-9)
    other = corpus(10, n=25)  # another corpus: its own statistics, not the last one's
    assert metric.resampled(other, np.arange(25)[None, :])[family][0] == pytest.approx(
        metric.aggregate(other)[family], abs=1e-9
    )


def test_translation_statistics_are_extracted_once_per_run_while_two_runs_alternate(tmp_path):
    """The gate resamples the current and the baseline run chunk by chunk, one after the other."""
    metric = only(build(tmp_path, "metrics: [bleu]\n"), "bleu")
    made = []
    make = metric.make
    metric.make = lambda: made.append(1) or make()
    runs = corpus(11, n=25), corpus(12, n=25)
    resamplers = [metric.resampler(rows) for rows in runs]  # as the gate does: one per run
    for seed in range(3):
        chunk = np.random.default_rng(seed).integers(0, 25, size=(5, 25))
        for rows, resample in zip(runs, resamplers, strict=True):
            assert resample(chunk)["bleu"][0] == pytest.approx(
                metric.aggregate([rows[i] for i in chunk[0]])["bleu"], abs=1e-9
            )
    assert len(made) == 2 + 2 * 3  # the statistics of each run once; each aggregate makes its own


def test_bad_bleu_tokenizer_is_an_input_error(tmp_path):
    from evalgate.errors import InputError

    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - bleu: {tokenize: nonsense}\n")
    assert info.value.line == 2
