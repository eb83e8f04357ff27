"""The quality ratchet: proposals from history, edits that change only the numbers, `evalgate thresholds`."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from test_history import make_results

from evalgate.cli import main
from evalgate.config import Rule
from evalgate.errors import InputError
from evalgate.history import ratchet
from evalgate.history.store import HistoryStore
from evalgate.yamlio import load_yaml

CONFIG = """\
suite: support-bot
gate:
  accuracy: {min: 0.90, max_drop: 0.02}   # the floor
  latency_p95_ms:
    max: 500   # the SLO, in ms
  categories:
    edge:
      accuracy: {min: 0.80}
"""


def rules_for(path):
    return [
        Rule("accuracy", None, min=0.90, max_drop=0.02, file=str(path), line=3),
        Rule("latency_p95_ms", None, max=500.0, file=str(path), line=4),
        Rule("accuracy", "edge", min=0.80, file=str(path), line=8),
    ]


@pytest.fixture
def history(tmp_path):
    accuracy = [0.93, 0.94, 0.935, 0.945, 0.94]
    latency = [400.0, 410.0, 420.0, 405.0, 415.0]
    edge = [0.82, 0.81, 0.83, 0.80, 0.84]
    with HistoryStore(tmp_path / "history.sqlite", create=True) as store:
        for day in range(1, 5):  # older runs on another dataset: not evidence
            store.append(make_results(day, 0.5, latency=900.0, edge=0.2, datasets="sha256:v0"))
        for day, values in enumerate(zip(accuracy, latency, edge, strict=True), start=10):
            store.append(make_results(day, values[0], latency=values[1], edge=values[2]))
        yield store


def test_a_rate_floor_is_the_predictive_quantile_rounded_down():
    from scipy.stats import betabinom, norm

    values = [0.93, 0.94, 0.935, 0.945, 0.94]
    action, proposed, text, evidence = ratchet.propose_bound(values, [500] * 5, "min", 0.90, kind="binary")
    count = sum(round(v * 500) for v in values)  # 2,346 of 2,500 (two halves round to even)
    # the rate a run of 500 stays at or above 97.7% of the time: Jeffreys posterior, beta-binomial predictive
    quantile = betabinom(500, count + 0.5, 2500 - count + 0.5).ppf(norm.cdf(-2)) / 500
    assert evidence["method"] == "predictive quantile"
    assert evidence["margin"] == pytest.approx(np.mean(values) - quantile, rel=1e-12)
    assert quantile == pytest.approx(0.914)  # rounded down to the margin's step, 0.01
    assert (action, proposed, text) == ("tighten", 0.91, "0.91")


def test_an_error_rate_that_was_always_0_gets_a_ceiling_one_stray_error_does_not_breach():
    action, proposed, _, evidence = ratchet.propose_bound([0.0] * 10, [500] * 10, "max", 0.05, kind="binary")
    assert evidence["mean"] == 0.0 and evidence["spread"] > 0
    assert action == "tighten" and proposed == pytest.approx(1 / 500)  # before: a maximum of 0


def test_a_ceiling_is_the_mean_plus_z_sd_rounded_up():
    values = [400.0, 410.0, 420.0, 405.0, 415.0]
    action, proposed, text, evidence = ratchet.propose_bound(values, [500] * 5, "max", 500.0, kind="corpus")
    sd = float(np.std(values, ddof=1))
    assert evidence["sd"] == evidence["spread"] == pytest.approx(sd)
    assert 410 + 2 * sd == pytest.approx(425.81, abs=0.01)  # step 10 -> 430
    assert (action, proposed, text) == ("tighten", 430.0, "430")


def test_a_floor_never_exceeds_the_worst_recent_run():
    values = [0.95, 0.95, 0.95, 0.95, 0.90]  # a wide spread; the worst run bounds the floor
    action, proposed, _, _ = ratchet.propose_bound(values, [10_000] * 5, "min", 0.5, z=0.1)
    assert proposed <= 0.90
    assert action == "tighten"


def test_never_loosens_unless_asked():
    values = [0.91, 0.92, 0.915, 0.91, 0.92]
    assert ratchet.propose_bound(values, [500] * 5, "min", 0.95, kind="binary")[:2] == ("keep", None)
    action, proposed, text, _ = ratchet.propose_bound(
        values, [500] * 5, "min", 0.95, kind="binary", allow_loosen=True
    )
    assert action == "loosen" and proposed < 0.95 and text == f"{proposed:.2f}"
    assert ratchet.propose_bound([400.0] * 5, [9] * 5, "max", 300.0)[:2] == ("keep", None)


def test_suggest_uses_comparable_runs_and_every_min_and_max(history, tmp_path):
    config = tmp_path / "evalgate.yaml"
    config.write_text(CONFIG)
    proposals = ratchet.suggest(history, "support-bot", rules_for(config))
    summary = [(p.where, p.action, p.text) for p in proposals]
    assert summary == [
        ("gate.accuracy.min", "tighten", "0.91"),
        ("gate.latency_p95_ms.max", "tighten", "430"),
        ("gate.categories.edge.accuracy.min", "keep", None),  # 0.82 - 2*0.0349 < 0.80
    ]
    assert all(p.evidence["runs"] == 5 for p in proposals)  # the v0 runs are not evidence
    assert "5 runs, mean 0.938" in proposals[0].reason
    assert "history supports no tighter min" in proposals[2].reason
    text = ratchet.render(proposals)
    assert "gate.accuracy.min" in text and "0.9 -> 0.91" in text and "500 -> 430" in text


def test_a_slice_rule_gets_no_proposal_from_the_overall_history(history, tmp_path):
    """The history records no slice: a slice's `min` was once proposed from the overall accuracy's runs."""
    sliced = Rule("accuracy", min=0.5, slice="length=long", file=str(tmp_path / "c.yaml"), line=9)
    proposals = ratchet.suggest(history, "support-bot", [*rules_for(tmp_path / "c.yaml"), sliced])
    assert [p.where for p in proposals] == [
        "gate.accuracy.min",
        "gate.latency_p95_ms.max",
        "gate.categories.edge.accuracy.min",
    ]


def test_too_little_history_says_so(history, tmp_path):
    proposals = ratchet.suggest(history, "support-bot", rules_for(tmp_path / "c.yaml"), min_runs=6)
    assert {p.action for p in proposals} == {"insufficient"}
    assert proposals[0].reason == "too little history: 5 comparable runs, need at least 6"
    assert ratchet.edited_files(proposals, tmp_path / "c.yaml") == {}
    assert {p.action for p in ratchet.suggest(history, "nobody", rules_for(tmp_path / "c.yaml"))} == {
        "insufficient"
    }


def test_write_changes_only_the_numbers_atomically(history, tmp_path):
    config = tmp_path / "evalgate.yaml"
    config.write_bytes(CONFIG.replace("\n", "\r\n").encode())  # CRLF line endings are kept
    os.chmod(config, 0o640)
    proposals = ratchet.suggest(history, "support-bot", rules_for(config))
    files = ratchet.edited_files(proposals, config)
    diff = ratchet.diff(files)
    assert "-  accuracy: {min: 0.90, max_drop: 0.02}   # the floor" in diff
    assert "+  accuracy: {min: 0.91, max_drop: 0.02}   # the floor" in diff
    assert "+    max: 430   # the SLO, in ms" in diff
    assert config.read_bytes() == CONFIG.replace("\n", "\r\n").encode()  # nothing written yet
    assert ratchet.write(files) == [config.resolve()]
    expected = CONFIG.replace("min: 0.90,", "min: 0.91,").replace("max: 500", "max: 430")
    assert config.read_bytes() == expected.replace("\n", "\r\n").encode()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    gate = load_yaml(config)["gate"]
    assert gate["accuracy"] == {"min": 0.91, "max_drop": 0.02}
    assert gate["latency_p95_ms"] == {"max": 430}


def test_a_separate_thresholds_file_is_edited_in_place(history, tmp_path):
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text("accuracy:\n  min: 0.9\n  max: 1.0\n")
    rule = Rule("accuracy", None, min=0.9, max=1.0, file=str(thresholds), line=1)
    proposals = ratchet.suggest(history, "support-bot", [rule])
    assert [(p.bound, p.action) for p in proposals] == [("min", "tighten"), ("max", "keep")]
    assert "sanity bound" in proposals[1].reason
    files = ratchet.edited_files(proposals, tmp_path / "evalgate.yaml")
    ratchet.write(files)
    assert (
        thresholds.read_text() == "accuracy:\n  min: 0.91\n  max: 1.0\n"
    )  # a max on accuracy is not ratcheted


def test_a_rule_that_cannot_be_found_is_an_input_error(history, tmp_path):
    config = tmp_path / "evalgate.yaml"
    config.write_text("suite: support-bot\ngate:\n  recall: {min: 0.5}\n")
    proposals = ratchet.suggest(
        history, "support-bot", [Rule("accuracy", None, min=0.5, file=str(config), line=3)]
    )
    with pytest.raises(InputError, match=r"cannot find gate.accuracy.min"):
        ratchet.edited_files(proposals, config)


def test_thresholds_suggest_command(history, tmp_path, capsys):
    (tmp_path / "data.jsonl").write_text('{"id": "c-1", "input": "a", "expected": "a"}\n')
    (tmp_path / "model.py").write_text("def predict(x):\n    return x\n")
    config = tmp_path / "evalgate.yaml"
    config.write_text(
        "suite: support-bot\ndatasets: [data.jsonl]\nprovider: {type: python, target: model.py:predict}\n"
        "metrics: [accuracy, latency]\ngate:\n  accuracy: {min: 0.90}\n  latency_p95_ms: {max: 500}\n"
        "history: {path: history.sqlite}\n"
    )
    assert main(["thresholds", "suggest", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "+  accuracy: {min: 0.91}" in out and "apply with --write" in out
    assert "min: 0.90" in config.read_text()
    assert main(["thresholds", "suggest", "--config", str(config), "--write"]) == 0
    assert (
        "accuracy: {min: 0.91}" in config.read_text() and "latency_p95_ms: {max: 430}" in config.read_text()
    )
    assert main(["thresholds", "suggest", "--config", str(config), "--history", str(tmp_path / "none")]) == 2


def test_thresholds_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse usage errors exit directly
        main(["thresholds", "suggest", "--z", "0"])
    assert exit_info.value.code == 2
    assert "--z: expected a positive number, got '0'" in capsys.readouterr().err
    assert main(["thresholds", "suggest", "--runs", "3"]) == 2
    assert "--runs 3 is below --min-runs 5" in capsys.readouterr().err
    assert main(["thresholds"]) == 2  # no action: the usage
    assert "suggest" in capsys.readouterr().out
