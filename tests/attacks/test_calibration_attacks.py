"""Hostile gold files, calibrations and judges: each is one clear message (file, line, what is expected) and exit
code 2, or a statistic reported as undefined, never a traceback and never a number that would pass a gate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from judge.calibrationkit import rubric_gold, write_jsonl, write_suite
from judge.fake_anthropic import AnthropicStub
from judge.fake_judge import FakeJudge
from sklearn.metrics import cohen_kappa_score

from evalgate.cli import main
from evalgate.errors import InputError
from evalgate.judge.agreement import LabelledItem, agreement, interval
from evalgate.judge.gold import MAX_ITEMS, load_gold

GOOD = '{"id": "g1", "input": "q", "output": "a [q=3]", "scores": {"relevance": 3}}'


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with AnthropicStub() as server:
        yield server


def gold_file(tmp_path, *lines: str | bytes):
    path = tmp_path / "gold.jsonl"
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "output": "a", "scores": {"relevance": NaN}}', "NaN is not valid JSON"),
        ('{"id": "x", "output": "a", "scores": {"relevance": Infinity}}', "Infinity is not valid JSON"),
        ('{"id": "x", "output": "a", "scores": {"relevance": 1e999}}', "beyond the range of a float"),
        ('{"id": "x", "output": "a", "scores": {"relevance": 4.5}}', "must be an integer score"),
        ('{"id": "x", "output": "a", "scores": {"relevance": true}}', "must be an integer score"),
        ('{"id": "x", "output": "a", "scores": {"relevance": []}}', "is an empty list"),
        ('{"id": "x", "output": "a", "scores": {}}', "'scores' must be an object"),
        ('{"id": "x", "output": "a", "scores": {"relevance": 3}, "winner": "a"}', "mixes labels"),
        ('{"id": "x", "output": "a"}', "the item has no label"),
        ('{"id": "x", "a": "1", "b": "2"}', "needs 'winner'"),
        ('{"id": "x", "a": "1", "winner": "a"}', "'b' is missing"),
        ('{"id": "x", "a": "1", "b": "2", "winner": "left"}', 'must be \\"a\\", \\"b\\" or \\"tie\\"'),
        ('{"id": "x", "output": "a", "hallucinated": "yes"}', "must be true or false"),
        (
            '{"id": "x", "output": "a", "hallucinated": true, "claims": []}',
            "either 'claims' or 'hallucinated'",
        ),
        ('{"id": "x", "output": "a", "claims": [{"claim": "c"}]}', r"claims\[0\] must be"),
        ('{"output": "a", "scores": {"relevance": 3}}', "has no 'id'"),
        ('{"id": "", "output": "a", "scores": {"relevance": 3}}', "'id' must be a non-empty"),
        ('{"id": "x", "scores": {"relevance": 3}}', "needs the judged answer as 'output'"),
        ('{"id": "x", "output": "a", "scores": {"relevance": 3}, "rating": 3}', "unknown key 'rating'"),
        ('{"id": "x", "id": "y", "output": "a", "scores": {"relevance": 3}}', "duplicate key 'id'"),
        ("[1, 2]", "must be a JSON object"),
        ('{"id": "x",', "invalid JSON"),
    ],
)
def test_a_bad_line_is_named_with_its_file_and_line(tmp_path, line, message):
    path = gold_file(tmp_path, GOOD, "", line)
    with pytest.raises(InputError, match=message) as error:
        load_gold(path)
    assert error.value.line == 3 and str(path) in str(error.value)


def test_duplicate_ids_name_both_lines(tmp_path):
    path = gold_file(tmp_path, GOOD, GOOD.replace("a [q=3]", "other"))
    with pytest.raises(InputError, match="duplicate id 'g1': line 1 has it too") as error:
        load_gold(path)
    assert error.value.line == 2


def test_non_utf8_is_named_by_line(tmp_path):
    path = gold_file(tmp_path, GOOD, b'{"id": "x", "output": "caf\xe9", "scores": {"relevance": 3}}')
    with pytest.raises(InputError, match="not valid UTF-8") as error:
        load_gold(path)
    assert error.value.line == 2


def test_a_bom_and_blank_lines_are_fine(tmp_path):
    path = gold_file(tmp_path, b"\xef\xbb\xbf" + GOOD.encode(), b"", b"   ")
    assert [item.id for item in load_gold(path).items] == ["g1"]


@pytest.mark.slow
def test_empty_and_huge_gold_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="has no items"):
        load_gold(gold_file(tmp_path, ""))
    lines = [GOOD.replace('"g1"', f'"g{i}"') for i in range(MAX_ITEMS + 1)]
    with pytest.raises(InputError, match="more than 10,000 items") as error:
        load_gold(gold_file(tmp_path, *lines))
    assert error.value.line == MAX_ITEMS + 1


def test_a_missing_or_unreadable_gold_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read the gold file"):
        load_gold(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="cannot read the gold file"):
        load_gold(tmp_path)  # a folder


def test_all_equal_labels_leave_kappa_undefined():
    items = [LabelledItem(str(i), (2,), 2) for i in range(30)]
    result = agreement(items, [1, 2, 3, 4, 5], resamples=100)
    assert result["kappa"] == {"value": None, "ci_low": None, "ci_high": None}
    assert result["spearman"]["value"] is None
    assert result["exact"]["value"] == 1.0  # they do agree; kappa just cannot say it is beyond chance


def test_one_item_gives_no_correlation_and_a_kappa_of_zero():
    result = agreement([LabelledItem("only", (3,), 4)], [1, 2, 3, 4, 5], resamples=200)
    # one pair is all the chance agreement there is: kappa 0, as scikit-learn says; never a pass
    assert (
        result["kappa"]["value"]
        == cohen_kappa_score([3], [4], weights="quadratic", labels=[0, 1, 2, 3, 4])
        == 0
    )
    assert result["spearman"]["value"] is None
    assert result["exact"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_an_interval_of_mostly_undefined_resamples_is_none():
    assert interval(np.array([np.nan] * 50 + [0.5] * 50), 0.95) == (None, None)
    assert interval(np.array([]), 0.95) == (None, None)


def test_out_of_scale_scores_and_unknown_criteria_exit_2_with_the_line(tmp_path, stub, capsys):
    rows = rubric_gold(5)
    rows[3]["scores"]["relevance"] = 9
    config = write_suite(tmp_path, stub.url, gold=rows)
    assert main(["judge", "calibrate", "--config", str(config), "--gold", str(tmp_path / "gold.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "gold.jsonl:4:" in err and "outside the judge's scale 1 to 5" in err and "Traceback" not in err
    rows[3]["scores"] = {"tone": 3}
    write_jsonl(tmp_path / "gold.jsonl", rows)
    assert main(["judge", "calibrate", "--config", str(config), "--gold", str(tmp_path / "gold.jsonl")]) == 2
    assert "gold.jsonl:4:" in capsys.readouterr().err


def test_gold_kinds_the_suite_does_not_judge_exit_2(tmp_path, stub, capsys):
    config = write_suite(tmp_path, stub.url, gold=rubric_gold(3), metrics="[rougeL]")
    assert main(["judge", "calibrate", "--config", str(config), "--gold", str(tmp_path / "gold.jsonl")]) == 2
    assert "computes no judge metric" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--consistency", "1"], "--consistency must be 0"),
        (["--resamples", "-1"], "--resamples must be 0 or more"),
        (["--margin", "2"], "--margin must be from 0 to 1"),
        ([], "name the gold labels with --gold"),
    ],
)
def test_usage_errors_exit_2(tmp_path, stub, capsys, args, message):
    config = write_suite(tmp_path, stub.url)
    assert main(["judge", "calibrate", "--config", str(config), *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_judge_that_always_fails_is_never_trusted(tmp_path, stub, capsys):
    stub.responder = lambda request: "I refuse to answer in JSON."
    config = write_suite(
        tmp_path, stub.url, gold=rubric_gold(40), calibration={"min_items": 30}, metrics="[judge]"
    )
    config.write_text(
        config.read_text().replace(
            "metrics: [judge]", "metrics: [{judge: {criteria: [relevance, accuracy]}}]"
        )
    )
    assert main(["judge", "calibrate", "--config", str(config), "--resamples", "50"]) == 1
    calibration = json.loads((tmp_path / "gold.calibration.json").read_text())
    assert calibration["rubric"]["judge_errors"] == 40 and calibration["rubric"]["judged"] == 0
    assert calibration["rubric"]["criteria"]["relevance"]["kappa"]["value"] is None
    assert "fewer than the 30" in capsys.readouterr().out


@pytest.mark.slow
def test_a_damaged_calibration_file_is_exit_2_naming_it(tmp_path, stub, capsys):
    stub.responder = FakeJudge()
    config = write_suite(tmp_path, stub.url, gold=rubric_gold(5), calibration={})
    results = tmp_path / "results.json"
    assert main(["run", "--config", str(config), "--output", str(results), "-q"]) == 0
    calibration = tmp_path / "gold.calibration.json"
    for text, message in (
        ("{not json", "not valid JSON"),
        ('{"kind": "something else"}', "not a judge calibration file"),
        ('{"kind": "judge_calibration", "schema_version": 99}', "schema_version 99 is not supported"),
    ):
        calibration.write_text(text)
        assert main(["gate", "--current", str(results), "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert "gold.calibration.json" in err and message in err and "Traceback" not in err


def test_a_missing_gold_or_canary_in_the_config_names_the_line(tmp_path, stub, capsys):
    config = write_suite(tmp_path, stub.url, gold=rubric_gold(5), calibration={"canary": "canary.jsonl"})
    assert main(["run", "--config", str(config), "-q"]) == 2
    err = capsys.readouterr().err
    assert "judge.calibration.canary 'canary.jsonl' not found" in err and "evalgate.yaml:" in err
    config = write_suite(tmp_path, stub.url, gold=rubric_gold(5), calibration={"gold": "missing.jsonl"})
    assert main(["run", "--config", str(config), "-q"]) == 2
    assert "judge.calibration.gold 'missing.jsonl' not found" in capsys.readouterr().err
    config = write_suite(tmp_path, stub.url, gold=rubric_gold(5), calibration={"min_agreement": 1.5})
    assert main(["run", "--config", str(config), "-q"]) == 2


def test_a_canary_of_pairs_is_refused(tmp_path, stub, capsys):
    stub.responder = FakeJudge()
    write_jsonl(tmp_path / "canary.jsonl", [{"id": "k", "a": "x", "b": "y"}])
    config = write_suite(tmp_path, stub.url, gold=rubric_gold(5), calibration={"canary": "canary.jsonl"})
    assert main(["judge", "calibrate", "--config", str(config)]) == 2
    assert "not pairs of answers" in capsys.readouterr().err


def test_hostile_text_in_gold_items_stays_inert_in_the_report(tmp_path, stub, capsys):
    stub.responder = FakeJudge(bias=2)
    rows = rubric_gold(3)
    rows[0]["id"] = "x|<img src=x onerror=alert(1)>"
    rows[0]["output"] = "::error::owned\n| a | b |\n[q=1]"
    config = write_suite(
        tmp_path, stub.url, gold=rows, metrics="[{judge: {criteria: [relevance, accuracy]}}]"
    )
    report = tmp_path / "cal.md"
    main(
        [
            "judge",
            "calibrate",
            "--config",
            str(config),
            "--gold",
            str(tmp_path / "gold.jsonl"),
            "--report",
            str(report),
        ]
    )
    text = report.read_text()
    assert "<img" not in text and "\n::error::" not in text
