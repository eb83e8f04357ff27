"""The gate with `judge.calibration`: judge-based rules gate only while the judge is trusted (calibrated, same
fingerprint, enough agreement, steady canary); otherwise they warn, with the reason in the verdict and report."""

from __future__ import annotations

import json

import pytest

from evalgate.cli import main
from evalgate.gate import Reason, only_warn

from .calibrationkit import rubric_gold, write_jsonl, write_suite
from .fake_judge import FakeJudge

# every case's answer is of quality 2, below the gate's minimum judge_score
GATE = "gate:\n  judge_score: {min: 4.5}\n"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    for name in ("EVALGATE_HEAD_REF", "GITHUB_HEAD_REF", "GITHUB_REF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")


def suite(tmp_path, stub, *, min_agreement=0.8, **extra):
    calibration = {"min_agreement": min_agreement, "min_items": 30, **extra}
    return write_suite(
        tmp_path,
        stub.url,
        gold=rubric_gold(60),
        calibration=calibration,
        gate=GATE,
        metrics="[{judge: {criteria: [relevance, accuracy]}}]",
    )


def check(config, capsys):
    """`evalgate check`: exit code, verdict JSON, markdown report, stored results."""
    folder = config.parent
    code = main(
        [
            "check",
            "--config",
            str(config),
            "--output",
            str(folder / "results.json"),
            "--json",
            str(folder / "verdict.json"),
            "--report",
            str(folder / "report.md"),
            "--quiet",
        ]
    )
    capsys.readouterr()
    verdict = json.loads((folder / "verdict.json").read_text())
    results = json.loads((folder / "results.json").read_text())
    return code, verdict, (folder / "report.md").read_text(), results


def calibrate(config, expect):
    assert main(["judge", "calibrate", "--config", str(config), "--resamples", "200"]) == expect


@pytest.mark.slow
def test_a_trusted_judge_fails_the_gate(tmp_path, stub, capsys):
    stub.responder = FakeJudge()
    config = suite(tmp_path, stub)
    calibrate(config, expect=0)
    assert (tmp_path / "gold.calibration.json").is_file()  # the default place: next to the gold file
    code, verdict, report, results = check(config, capsys)
    assert code == 1 and verdict["verdict"] == "fail"
    reason = next(r for r in verdict["reasons"] if r["metric"] == "judge_score")
    assert reason["severity"] == "fail" and "only a warning" not in reason["message"]
    assert verdict["judge_calibration"]["status"] == "trusted"
    assert results["judge_calibration"]["metrics"]["judge_relevance"]["agreement"] == pytest.approx(1.0)
    assert "**Judge**: trusted to gate" in report


@pytest.mark.slow
def test_a_judge_below_the_minimum_agreement_only_warns(tmp_path, stub, capsys):
    stub.responder = FakeJudge(bias=1, noise=0.5, seed=3)
    config = suite(tmp_path, stub, min_agreement=0.9)
    calibrate(config, expect=1)  # calibrate itself says the judge is not good enough
    code, verdict, report, _ = check(config, capsys)
    assert code == 0 and verdict["verdict"] == "warn"
    reason = next(r for r in verdict["reasons"] if r["metric"] == "judge_score")
    assert reason["severity"] == "warn"
    assert "only a warning: the judge agrees too little with people" in reason["message"]
    assert "minimum kappa 0.9" in reason["message"]
    assert verdict["judge_calibration"]["status"] == "untrusted"
    assert any("judge_score gated as warnings only" in w for w in verdict["warnings"])
    assert "**Judge**: not trusted for judge_relevance, judge_accuracy, judge_score" in report.replace(
        "\\_", "_"
    )
    assert "agrees too little" in report


def recalibrated_then_changed(config, capsys, old: str, new: str) -> None:
    """Calibrate the judge (trusted: its rule fails the gate), edit the config, and see the judge only warn."""
    calibrate(config, expect=0)
    assert check(config, capsys)[0] == 1
    config.write_text(config.read_text().replace(old, new))
    code, verdict, _, _ = check(config, capsys)
    assert code == 0 and verdict["verdict"] == "warn"
    assert "fingerprint differs" in verdict["judge_calibration"]["reasons"][0]


@pytest.mark.slow
def test_a_changed_judge_model_only_warns_until_recalibrated(tmp_path, stub, capsys):
    stub.responder = FakeJudge()
    config = suite(tmp_path, stub)
    recalibrated_then_changed(config, capsys, "model: claude-haiku-4-5", "model: claude-sonnet-4-6")
    # a changed rubric too
    recalibrated_then_changed(
        config, capsys, "criteria: [relevance, accuracy]", "criteria: [accuracy, relevance]"
    )


@pytest.mark.slow
def test_without_a_calibration_the_judge_does_not_gate(tmp_path, stub, capsys):
    stub.responder = FakeJudge()
    config = suite(tmp_path, stub)
    code, verdict, _, _ = check(config, capsys)
    assert code == 0 and verdict["judge_calibration"]["status"] == "uncalibrated"
    assert "run `evalgate judge calibrate" in verdict["judge_calibration"]["reasons"][0]


@pytest.mark.slow
def test_too_few_labels_are_not_trusted(tmp_path, stub, capsys):
    stub.responder = FakeJudge()
    config = suite(tmp_path, stub, min_items=100)
    calibrate(config, expect=1)
    code, verdict, _, _ = check(config, capsys)
    assert code == 0 and "fewer than the 100" in verdict["judge_calibration"]["reasons"][0]


@pytest.mark.slow
def test_the_gate_command_reassesses_stored_results(tmp_path, stub, capsys):
    """`evalgate gate` on results of a trusted judge: with a stricter minimum in the config it only warns."""
    stub.responder = FakeJudge(noise=0.3, seed=1)
    config = suite(tmp_path, stub, min_agreement=0.5)
    calibrate(config, expect=0)
    code, _, _, _ = check(config, capsys)
    assert code == 1
    config.write_text(config.read_text().replace('"min_agreement": 0.5', '"min_agreement": 0.99'))
    code = main(["gate", "--current", str(tmp_path / "results.json"), "--config", str(config)])
    assert code == 0
    assert "agrees too little" in capsys.readouterr().out


def test_only_the_advisory_metrics_are_downgraded():
    def reason(metric):
        return Reason(metric, None, "min", 1.0, 0.5, None, None, "fail", f"{metric} is low")

    reasons = only_warn([reason("judge_score"), reason("accuracy")], {"judge_score": "not calibrated"})
    assert [r.severity for r in reasons] == ["warn", "fail"]
    assert reasons[0].message == "judge_score is low (only a warning: not calibrated)"


@pytest.mark.slow
def test_canary_on_main_catches_a_judge_that_changed(tmp_path, stub, capsys, monkeypatch):
    judge = FakeJudge()
    stub.responder = judge
    canary = [
        {"id": f"k{i}", "input": f"canary {i}", "output": f"fixed answer {i} [q={1 + i % 5}]"}
        for i in range(10)
    ]
    write_jsonl(tmp_path / "canary.jsonl", canary)
    config = suite(tmp_path, stub, canary="canary.jsonl", max_canary_changed=0.3)
    config.write_text(config.read_text() + "history: {path: history.sqlite}\n")
    calibrate(config, expect=0)
    stored = json.loads((tmp_path / "gold.calibration.json").read_text())["canary"]["verdicts"]
    assert stored["k3"] == {"judge_relevance": 4, "judge_accuracy": 4}

    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    code, verdict, _, results = check(config, capsys)
    assert code == 1 and results["judge_canary"]["fresh"] is True
    assert results["judge_canary"]["changed"] == 0 and results["judge_canary"]["compared"] == 20
    assert main(["history", "--config", str(config), "--append", str(tmp_path / "results.json")]) == 0

    judge.bias = -2  # the provider silently swapped the model behind the name: stricter scores
    code, verdict, report, results = check(config, capsys)
    canary_result = results["judge_canary"]
    assert canary_result["alarm"] is True and canary_result["changed_share"] > 0.3
    assert canary_result["shift"]["judge_accuracy"] < -1
    assert code == 0 and verdict["judge_calibration"]["status"] == "untrusted"
    assert "canary answers changed since the calibration" in verdict["judge_calibration"]["reasons"][0]
    assert "🔔 Judge canary" in report
    capsys.readouterr()
    main(["history", "--config", str(config), "--append", str(tmp_path / "results.json")])
    capsys.readouterr()
    assert main(["history", "--config", str(config), "--json", "--fail-on-alarm"]) == 1
    overview = json.loads(capsys.readouterr().out)
    entry = next(e for e in overview["metrics"] if e["metric"] == "judge_canary_changed")
    assert (
        entry["alarms"][0]["kind"] == "canary"
        and "re-run `evalgate judge calibrate`" in entry["alarms"][0]["message"]
    )


@pytest.mark.slow
def test_off_main_the_canary_comes_from_the_cache(tmp_path, stub, capsys):
    judge = FakeJudge()
    stub.responder = judge
    write_jsonl(tmp_path / "canary.jsonl", [{"id": "k1", "input": "c", "output": "fixed [q=3]"}])
    config = suite(tmp_path, stub, canary="canary.jsonl")
    config.write_text(config.read_text().replace("cache: {enabled: false}", "cache: {enabled: true}"))
    calibrate(config, expect=0)
    check(config, capsys)
    before = judge.calls
    _, _, _, results = check(config, capsys)  # a pull request: every judge answer, canary included, is cached
    assert judge.calls == before
    assert results["judge_canary"]["fresh"] is False and results["judge_canary"]["changed"] == 0


@pytest.mark.slow
def test_a_changed_task_shown_to_the_judge_only_warns_until_recalibrated(tmp_path, stub, capsys):
    """The judge's prompts show the config's `task:`: an agreement measured with one task shown is not the
    judge's agreement when it is shown another (nor none)."""
    stub.responder = FakeJudge()
    config = suite(tmp_path, stub)
    config.write_text(config.read_text() + "task: Answer customers' refund questions.\n")
    recalibrated_then_changed(config, capsys, "refund questions", "billing questions")
    recalibrated_then_changed(config, capsys, "{judge: {criteria:", "{judge: {task: false, criteria:")


def test_a_calibration_made_before_the_task_was_fingerprinted_still_matches():
    """A suite without a `task:` keeps its judge fingerprints (the digests below are those evalgate wrote before
    the task became part of them): upgrading never turns a trusted judge into a warning-only one."""
    import dataclasses

    from gatekit import make_config

    from evalgate.config import ProviderConfig
    from evalgate.judge import trust

    config = make_config(metrics=[("judge", {"criteria": ["relevance", "accuracy"]}), "factual_consistency"])
    judge = ProviderConfig(
        type="anthropic",
        name="judge",
        options={"model": "claude-haiku-4-5", "max_tokens": 512},
        file="evalgate.yaml",
    )
    config = dataclasses.replace(config, judge=judge)
    assert trust.metric_fingerprints(config) == {
        "rubric": "sha256:2a79b645eb5779c3fcfe0d8db466afd2f8063d061c48372cf93dc22275a47529",
        "factual": "sha256:fe379d68ad126c30ceff4ce8934c249068835b1ebe63cf9981ec55d4690bfd30",
    }
    shown = dataclasses.replace(config, task="Answer refund questions.")
    assert trust.metric_fingerprints(shown).keys() == {"rubric", "factual"}
    assert not set(trust.metric_fingerprints(shown).values()) & set(
        trust.metric_fingerprints(config).values()
    )
