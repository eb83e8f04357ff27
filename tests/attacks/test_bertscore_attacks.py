"""Hostile inputs to the bertscore metric, kept as regression tests: empty and huge texts, text that is not
valid Unicode, NaN, missing expected values, broken model folders and config files.

Whatever the input, a case gets the score bert_score.score gives it (to 1e-6) or a documented failure score
with a note, and a broken setup is an InputError (exit 2), never a traceback or a model error.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil

import pytest
from extrakit import packaged_model, records_of, reference, requires_embeddings, scored, triples

from evalgate.errors import InputError
from evalgate.metrics import prepare_metrics, score_results
from evalgate.metrics.bertscore import NOT_PREPARED
from tests.metrics.metricskit import build, record

pytestmark = requires_embeddings

LONG = " ".join(["refund", "password", "order", "shipped", "café"] * 1200)  # far beyond 512 tokens


@pytest.fixture(scope="module")
def metric_yaml():
    return "metrics:\n  - bertscore\n"


def assert_like_bert_score(records, cands, refs, **options):
    for row, (mine, theirs) in enumerate(
        zip(triples(records), reference(cands, refs, **options), strict=True)
    ):
        assert mine == pytest.approx(theirs, abs=1e-6), (row, cands[row][:40], refs[row])


def test_empty_blank_and_huge_texts_score_as_bert_score_does(tmp_path, metric_yaml):
    cands = ["", "   \n\t ", "a cat", LONG, "a cat", LONG]
    refs = [["a cat"], ["a cat"], [""], ["a cat"], [LONG], [LONG]]
    records = records_of(cands, refs)
    scored(build(tmp_path, metric_yaml), records)
    assert_like_bert_score(records, cands, refs)
    assert triples(records[:3]) == [(0.0, 0.0, 0.0)] * 3
    assert records[0]["notes"] == ["bertscore: the output is empty (BERTScore 0 before rescaling)"]
    assert records[5]["scores"]["bertscore_f1"] == pytest.approx(1.0, abs=1e-6)  # the same truncated text


def test_text_that_is_not_valid_unicode_or_full_of_control_characters(tmp_path, metric_yaml):
    cands = [
        "caf\udce9 r\udcfcckerstattung",  # bytes that were not UTF-8, decoded with surrogateescape
        "\ud800 lone high surrogate",
        "\x00\x1b[31mred\x1b[0m \u200b\u200d\u202e reversed",
        "\ufffd\ufffd replacement characters",
        "🙂" * 600,
    ]
    refs = [["café rückerstattung"], ["a surrogate"], ["red reversed"], ["replacement"], ["smile"]]
    records = records_of(cands, refs)
    scored(build(tmp_path, metric_yaml), records)
    assert_like_bert_score(records, cands, refs)
    assert all(math.isfinite(value) for triple in triples(records) for value in triple)


def test_nan_numbers_and_structured_values_are_read_as_text(tmp_path, metric_yaml):
    outputs = [math.nan, math.inf, 17, None, {"text": "a cat sat"}, {"deep": [[[{"x": "refund"}]]]}]
    expected = ["nan", "inf", 17.0, "empty", "a cat sat", {"deep": "refund"}]
    records = records_of(outputs, expected)
    scored(build(tmp_path, metric_yaml), records)
    cands = ["nan", "inf", "17", "", "a cat sat", json.dumps({"deep": [[[{"x": "refund"}]]]}, sort_keys=True)]
    refs = [["nan"], ["inf"], ["17"], ["empty"], ["a cat sat"], [json.dumps({"deep": "refund"})]]
    assert_like_bert_score(records, cands, refs)
    assert records[0]["scores"]["bertscore_f1"] == pytest.approx(1.0, abs=1e-6)


def test_missing_expected_values_errors_and_unprepared_cases_score_zero_with_a_reason(tmp_path, metric_yaml):
    metrics = build(tmp_path, metric_yaml)
    records = [
        record("an answer", None, id="none"),
        record("an answer", [], id="empty-list"),
        record("an answer", "an answer", id="errored", error="TimeoutError"),
    ]
    overall = scored(metrics, records)
    assert triples(records) == [(0.0, 0.0, 0.0)] * 3
    assert records[0]["notes"] == ["bertscore: the case has no expected value to compare with"]
    assert "notes" not in records[2]
    assert overall["bertscore_f1"] == pytest.approx({**overall["bertscore_f1"], "value": 0.0, "n": 3})
    late = record("never prepared", "never prepared", id="late")
    score_results(metrics, [late])
    assert late["scores"]["bertscore_f1"] == 0.0 and late["notes"] == [f"bertscore: {NOT_PREPARED}"]


def test_batch_size_one_and_huge_give_the_same_scores(tmp_path):
    cands = ["a cat sat", "refund please", "", LONG[:300]]
    refs = [["the cat sat"], ["refunds"], ["x"], ["order"]]
    got = []
    for size in (1, 10**9):
        records = records_of(cands, refs)
        scored(build(tmp_path, f"metrics:\n  - bertscore: {{batch_size: {size}}}\n"), records)
        got.append(triples(records))
    for one, huge in zip(*got, strict=True):
        assert one == pytest.approx(huge, abs=1e-6)


def test_a_model_folder_without_weights_is_an_input_error_not_a_model_error(tmp_path):
    folder = tmp_path / "half-model"
    folder.mkdir()
    shutil.copy(f"{packaged_model()}/config.json", folder / "config.json")
    metrics = build(tmp_path, "metrics:\n  - bertscore: {model: half-model}\n")
    with pytest.raises(InputError, match=r"bertscore: scoring with the model in .*half-model failed"):
        asyncio.run(prepare_metrics(metrics, [record("a", "b")], None))


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ("{not json", "cannot read the model's config.json"),
        ("[1, 2]", "config.json is not a JSON object"),
        ('{"model_type": "bert"}', "gives no layer count; set num_layers"),
        (b"\xff\xfe\x00garbage", "cannot read the model's config.json"),
    ],
)
def test_broken_model_configs_are_input_errors_naming_the_file(tmp_path, config, problem):
    folder = tmp_path / "model"
    folder.mkdir()
    target = folder / "config.json"
    target.write_bytes(config) if isinstance(config, bytes) else target.write_text(config)
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - bertscore: {model: model}\n")
    assert problem in info.value.message
    if "num_layers" not in problem:
        assert info.value.file.endswith("config.json") and info.value.line is None


def test_a_model_path_that_is_a_file_or_escapes_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 10)
    for value in ("weights.bin", "../../../../../../etc", "''"):
        with pytest.raises(InputError, match="is not a local model directory"):
            build(tmp_path, f"metrics:\n  - bertscore: {{model: {value}}}\n")
