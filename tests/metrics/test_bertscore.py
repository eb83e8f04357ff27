"""bertscore equals bert_score.score on the same model (to 1e-6), reads its options, and fails clearly.

The reference tests need the embeddings extra and skip without it (the missing-extra message is tested in
tests/test_embeddings_extra.py, which runs either way).
"""

from __future__ import annotations

import pytest
from extrakit import random_pairs, records_of, reference, requires_embeddings, scored, triples

from evalgate.errors import InputError
from evalgate.metrics import metric_keys

from .metricskit import build, only, record

pytestmark = requires_embeddings
TOLERANCE = 1e-6


def assert_close(got, want):
    assert len(got) == len(want)
    for row, (mine, theirs) in enumerate(zip(got, want, strict=True)):
        assert mine == pytest.approx(theirs, abs=TOLERANCE), row


@pytest.mark.parametrize("idf", [False, True])
def test_equals_bert_score_on_random_pairs(tmp_path, idf):
    cands, refs = random_pairs(seed=12 + idf, n=80)
    metrics = build(tmp_path, f"metrics:\n  - bertscore: {{idf: {str(idf).lower()}, batch_size: 16}}\n")
    records = records_of(cands, refs)
    for index, rec in enumerate(records):
        rec["category"] = "ab"[index % 2]
    overall = scored(metrics, records)
    want = reference(cands, refs, idf=idf)
    assert_close(triples(records), want)
    assert overall["bertscore_f1"]["value"] == pytest.approx(sum(f for *_, f in want) / len(want), abs=1e-6)
    assert overall["bertscore_f1"]["n"] == 80
    if not idf:  # the default layer is the model's last (6); another gives other numbers: this test can fail
        other = reference(cands, refs, num_layers=5)
        assert max(abs(a[2] - b[2]) for a, b in zip(triples(records), other, strict=True)) > 1e-3


def test_idf_is_over_the_suites_references_once_per_case(tmp_path):
    """Errored cases' references count, a repeated case counts once: the idf is a fact of the dataset."""
    cands, refs = random_pairs(seed=5, n=30)
    metrics = build(tmp_path, "metrics:\n  - bertscore: {idf: true}\n")
    records = records_of(cands, refs)
    records[3]["error"] = "timeout"
    records.append(dict(records[0], scores={}))  # a second repeat of c0
    scored(metrics, records)
    from bert_score.utils import get_idf_dict  # the idf bert_score.score would use over these references

    ok = [i for i in range(30) if i != 3]
    metric = only(metrics, "bertscore")
    idf = get_idf_dict(refs, _tokenizer(), nthreads=0)
    want = reference([cands[i] for i in ok], [refs[i] for i in ok], idf=idf)
    assert_close(triples([records[i] for i in ok]), want)
    assert triples([records[3]]) == [(0.0, 0.0, 0.0)]
    assert triples([records[30]]) == triples([records[0]])
    assert metric.options["idf"] is True


def _tokenizer():
    from bert_score.utils import get_tokenizer
    from extrakit import packaged_model

    return get_tokenizer(packaged_model())


def test_several_references_score_the_best_per_key(tmp_path):
    cands, refs = random_pairs(seed=9, n=20)
    groups = [[refs[i], refs[(i + 7) % 20], "a cat sat on the mat"] for i in range(20)]
    metrics = build(tmp_path, "metrics: [bertscore_f1]\n")
    records = records_of(cands, groups)
    scored(metrics, records)
    assert_close(triples(records), reference(cands, groups))


def test_rescaling_with_a_baseline_file(tmp_path):
    rows = ["LAYER,P,R,F"] + [f"{layer},{0.3 + layer / 100},{0.35 + layer / 100},0.4" for layer in range(7)]
    (tmp_path / "baseline.tsv").write_text("\n".join(rows) + "\n")
    cands, refs = random_pairs(seed=3, n=25)
    metrics = build(
        tmp_path,
        "metrics:\n  - bertscore: {rescale_with_baseline: true, baseline_path: baseline.tsv}\n",
    )
    records = records_of(cands, refs)
    records.append(record("anything", "else", id="err", error="boom"))
    scored(metrics, records)
    want = reference(
        cands, refs, rescale_with_baseline=True, lang="en", baseline_path=str(tmp_path / "baseline.tsv")
    )
    assert_close(triples(records[:-1]), want)
    # an errored case scores what an empty output scores: 0, rescaled
    assert triples(records[-1:]) == [
        pytest.approx(((0 - 0.36) / 0.64, (0 - 0.41) / 0.59, (0 - 0.4) / 0.6), abs=1e-12)
    ]


def test_keys_are_continuous_and_say_how_they_were_computed(tmp_path):
    metrics = build(tmp_path, "metrics:\n  - bertscore_recall\n  - bertscore: {name: bs, idf: true}\n")
    keys = metric_keys(metrics)
    assert {name for name in keys if "_" in name and name.split("_")[0] in ("bertscore", "bs")} == {
        "bertscore_precision",
        "bertscore_recall",
        "bertscore_f1",
        "bs_precision",
        "bs_recall",
        "bs_f1",
    }
    assert keys["bs_f1"]["kind"] == "continuous" and keys["bs_f1"]["higher_is_better"] is True
    assert (
        "layer 6 of all-MiniLM-L6-v2, idf on, not rescaled; bert-score 0.3.13" in keys["bs_f1"]["description"]
    )
    assert "idf off" in keys["bertscore_f1"]["description"]


def test_a_local_model_directory_relative_to_the_config(tmp_path):
    from extrakit import packaged_model

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "minilm").symlink_to(packaged_model())
    metrics = build(tmp_path, "metrics:\n  - bertscore: {model: models/minilm, num_layers: 3}\n")
    cands, refs = random_pairs(seed=1, n=10)
    records = records_of(cands, refs)
    scored(metrics, records)
    assert_close(triples(records), reference(cands, refs, num_layers=3))
    assert "layer 3 of models/minilm" in metric_keys(metrics)["bertscore_f1"]["description"]


@pytest.mark.parametrize(
    ("options", "problem", "line"),
    [
        ("{model: no/such/folder}", "is not a local model directory (no config.json there)", 3),
        ("{num_layers: 7}", "bertscore.num_layers is 7, but the model has 6 layers", 3),
        ("{num_layers: 0}", "must be greater than 0", 3),
        ("{rescale_with_baseline: true}", "needs baseline_path", 3),
        ("{baseline_path: b.tsv}", "only used with rescale_with_baseline: true", 3),
        ("{rescale_with_baseline: true, baseline_path: missing.tsv}", "cannot read the baseline file", None),
        ("{idf: maybe}", "bertscore.idf must be true or false", 3),
        ("{device: cuda}", "unknown key 'device'", 3),
    ],
)
def test_bad_options_are_input_errors_at_config_time(tmp_path, options, problem, line):
    with pytest.raises(InputError) as info:
        build(tmp_path, f"metrics:\n  - accuracy\n  - bertscore: {options}\n")
    assert problem in info.value.message
    if line:
        assert info.value.line == line


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("LAYER,P,R,F\n0,0.1,0.1,0.1\n", "no row for layer 6"),
        ("LAYER,P,R,F\n" + "".join(f"{i},0.1,0.1,0.1\n" for i in range(6)) + "6,nan,0.1,0.1\n", "line 8"),
        ("LAYER,P,R,F\n" + "".join(f"{i},0.1,0.1,1.0\n" for i in range(7)), "below 1"),
        ("LAYER,P,R,F\n" + "".join(f"{i},0.1,0.1\n" for i in range(7)), "three baselines"),
    ],
)
def test_bad_baseline_files_name_the_file_and_line(tmp_path, text, where):
    (tmp_path / "b.tsv").write_text(text)
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - bertscore: {rescale_with_baseline: true, baseline_path: b.tsv}\n")
    rendered = f"{info.value.message} line {info.value.line}"
    assert where in rendered and info.value.file is not None and str(info.value.file).endswith("b.tsv")
