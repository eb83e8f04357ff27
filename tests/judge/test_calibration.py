"""`evalgate judge calibrate` against the fake judge: the agreement it reports is the one the judge was given,
and equals scikit-learn's, krippendorff's and scipy's on the same labels."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from evalgate.cli import main

from .calibrationkit import factual_gold, pairwise_gold, rubric_gold, write_suite
from .fake_judge import FakeJudge


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")


def calibrate(config, *extra, expect=0):
    output = config.parent / "calibration.json"
    code = main(["judge", "calibrate", "--config", str(config), "--output", str(output), *extra])
    assert code == expect
    return json.loads(output.read_text())


@pytest.mark.slow
def test_a_perfect_judge_agrees_fully(tmp_path, stub, capsys):
    stub.responder = FakeJudge()
    gold = rubric_gold(40) + factual_gold(30) + pairwise_gold(24)
    config = write_suite(tmp_path, stub.url, gold=gold)
    result = calibrate(config, "--gold", str(tmp_path / "gold.jsonl"), "--resamples", "200")
    for name in ("relevance", "accuracy"):
        c = result["rubric"]["criteria"][name]
        assert c["kappa"]["value"] == pytest.approx(1.0)
        assert c["exact"]["value"] == 1.0 and c["within_one"]["value"] == 1.0
        assert c["spearman"]["value"] == pytest.approx(1.0)
        assert c["alpha_humans"]["value"] is None  # one rater: nothing among people to measure
        assert c["bias"] == 0
    assert result["rubric"]["disagreements"] == []
    assert result["factual"]["criteria"]["hallucinated"]["kappa"]["value"] == pytest.approx(1.0)
    pairwise = result["pairwise"]
    assert pairwise["agreement"]["value"] == 1.0
    assert pairwise["position_bias"]["value"] == 0.0
    assert pairwise["tie_rate"]["value"] == pytest.approx(6 / 24)  # every fourth pair is a tie
    assert "# Judge calibration" in capsys.readouterr().out


@pytest.mark.slow
def test_a_biased_noisy_judge_gets_the_agreement_sklearn_computes(tmp_path, stub):
    judge = FakeJudge(bias=1, noise=0.4, seed=5)
    stub.responder = judge
    gold = rubric_gold(150, seed=9)
    config = write_suite(
        tmp_path, stub.url, gold=gold, metrics="[{judge: {criteria: [relevance, accuracy]}}]"
    )
    result = calibrate(config, "--gold", str(tmp_path / "gold.jsonl"))
    human = [row["scores"]["relevance"] for row in gold]
    judged = [judge.returned[row["output"]] for row in gold]  # what the server answered, per answer
    c = result["rubric"]["criteria"]["relevance"]
    expected = cohen_kappa_score(human, judged, weights="quadratic", labels=[1, 2, 3, 4, 5])
    assert c["kappa"]["value"] == pytest.approx(expected, abs=1e-12)
    assert 0.3 < expected < 0.95  # the bias and noise really cost agreement
    assert c["kappa"]["ci_low"] < expected < c["kappa"]["ci_high"]
    assert c["spearman"]["value"] == pytest.approx(spearmanr(human, judged).statistic, abs=1e-12)
    differences = np.array(judged) - np.array(human)
    assert c["exact"]["value"] == pytest.approx(np.mean(differences == 0))
    assert c["within_one"]["value"] == pytest.approx(np.mean(abs(differences) <= 1))
    assert c["bias"] == pytest.approx(differences.mean())
    assert c["bias"] > 0.5  # the judge is lenient by about a point
    matrix = np.array(c["confusion"]["matrix"])
    assert matrix.sum() == 150 and matrix[0, 1] == sum(
        h == 1 and j == 2 for h, j in zip(human, judged, strict=True)
    )
    worst = result["rubric"]["disagreements"][0]
    assert abs(worst["gap"]) == max(abs(differences))


@pytest.mark.slow
def test_several_raters_give_krippendorffs_alpha(tmp_path, stub):
    judge = FakeJudge(noise=0.3, seed=2)
    stub.responder = judge
    gold = rubric_gold(80, raters=3, rater_noise=0.3, seed=4)
    config = write_suite(
        tmp_path, stub.url, gold=gold, metrics="[{judge: {criteria: [relevance, accuracy]}}]"
    )
    result = calibrate(config, "--gold", str(tmp_path / "gold.jsonl"), "--resamples", "300")
    c = result["rubric"]["criteria"]["accuracy"]
    people = np.array([row["scores"]["accuracy"] for row in gold], dtype=float).T  # raters x items
    judged = np.array([[judge.returned[row["output"]] for row in gold]], dtype=float)
    assert c["alpha_humans"]["value"] == pytest.approx(
        krippendorff.alpha(reliability_data=people, level_of_measurement="interval"), abs=1e-12
    )
    assert c["alpha_with_judge"]["value"] == pytest.approx(
        krippendorff.alpha(reliability_data=np.vstack([people, judged]), level_of_measurement="interval"),
        abs=1e-12,
    )
    pooled_human = people.T.ravel()
    pooled_judge = np.repeat(judged[0], 3)
    assert c["kappa"]["value"] == pytest.approx(
        cohen_kappa_score(pooled_human, pooled_judge, weights="quadratic", labels=[1, 2, 3, 4, 5]), abs=1e-12
    )
    assert c["pairs"] == 240 and c["raters"] == 3


def test_factual_kappa_is_sklearns_plain_kappa(tmp_path, stub):
    judge = FakeJudge(noise=0.25, seed=3)
    stub.responder = judge
    gold = factual_gold(120)
    config = write_suite(tmp_path, stub.url, gold=gold, metrics="[{factual_consistency: {source: metadata}}]")
    result = calibrate(config, "--gold", str(tmp_path / "gold.jsonl"), "--resamples", "200")
    human = [row["hallucinated"] for row in gold]
    judged = [judge.returned[row["output"]] for row in gold]
    h = result["factual"]["criteria"]["hallucinated"]
    assert h["kappa"]["value"] == pytest.approx(cohen_kappa_score(human, judged), abs=1e-12)
    assert h["exact"]["value"] == pytest.approx(np.mean(np.array(human) == np.array(judged)))
    assert len(result["factual"]["disagreements"]) == min(
        10, sum(a != b for a, b in zip(human, judged, strict=True))
    )


def test_a_judge_that_favours_the_first_answer_shows_its_position_bias(tmp_path, stub):
    stub.responder = FakeJudge(first_bonus=30)  # beats the 20-point gaps of the gold pairs
    gold = pairwise_gold(40, gap=20)
    config = write_suite(tmp_path, stub.url, gold=gold)
    result = calibrate(config, "--gold", str(tmp_path / "gold.jsonl"), "--resamples", "100")
    pairwise = result["pairwise"]
    assert pairwise["position_bias"]["value"] == 1.0  # every verdict flips with the order
    assert pairwise["position_bias"]["first_shown_wins"] == 40
    assert pairwise["tie_rate"]["value"] == 1.0  # both orders never agree: all ties
    assert pairwise["agreement"]["value"] == pytest.approx(10 / 40)  # right only on the human ties


@pytest.mark.slow
def test_self_consistency_lists_the_items_a_sampling_judge_cannot_decide(tmp_path, stub):
    judge = FakeJudge(noise=0.6, seed=11)
    stub.responder = judge
    gold = rubric_gold(30) + factual_gold(10) + pairwise_gold(8)
    config = write_suite(tmp_path, stub.url, gold=gold)
    result = calibrate(
        config, "--gold", str(tmp_path / "gold.jsonl"), "--consistency", "5", "--resamples", "50"
    )
    consistency = result["consistency"]
    assert consistency["runs"] == 5
    rubric = consistency["rubric"]
    assert rubric["criteria"]["relevance"]["items"] == 30
    assert rubric["criteria"]["relevance"]["mean_sd"] > 0.3
    undecidable = rubric["undecidable"]
    assert undecidable and all(max(u["values"]) - min(u["values"]) >= 2 for u in undecidable)
    assert all(len(u["values"]) == 5 for u in undecidable)
    assert consistency["factual"]["undecidable_items"] > 0
    # 1 agreement pass + 5 sampled passes, each judging every item once (pairs twice, in both orders)
    assert judge.calls == 6 * (30 + 10 + 2 * 8)


def test_a_steady_judge_is_consistent(tmp_path, stub):
    stub.responder = FakeJudge()
    config = write_suite(
        tmp_path, stub.url, gold=rubric_gold(12), metrics="[{judge: {criteria: [relevance, accuracy]}}]"
    )
    result = calibrate(
        config, "--gold", str(tmp_path / "gold.jsonl"), "--consistency", "3", "--resamples", "0"
    )
    assert result["consistency"]["rubric"]["undecidable"] == []
    assert result["consistency"]["rubric"]["criteria"]["accuracy"]["mean_sd"] == 0.0
    assert result["rubric"]["criteria"]["accuracy"]["kappa"]["ci_low"] is None  # no resamples, no interval
