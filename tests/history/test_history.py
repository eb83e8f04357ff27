"""The history store, trend data for the report, and `evalgate history` end to end."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.contracts.trend import Trend
from evalgate.errors import InputError
from evalgate.history.stability import case_stability, flaky_cases
from evalgate.history.store import HistoryStore, branch_of_ref
from evalgate.history.trend import metric_history, trend_for_report

METRIC_KEYS = {
    "accuracy": {"kind": "binary", "higher_is_better": True},
    "latency_p95_ms": {"kind": "corpus", "higher_is_better": False},
}


def make_results(
    day: int,
    accuracy: float,
    *,
    latency: float = 400.0,
    cases: dict[str, float] | None = None,
    suite: str = "support-bot",
    sha: str | None = None,
    ref: str = "refs/heads/main",
    datasets: str = "sha256:v1",
    edge: float | None = None,
    hour: int = 8,
) -> dict:
    """A results file as `evalgate run` writes it (docs/internals.md), for one run on 2026-01-<day>."""
    cases = cases if cases is not None else {"c-1": 1.0, "c-2": 0.0}
    return {
        "schema_version": 1,
        "suite": suite,
        "label": None,
        "created_at": f"2026-01-{day:02d}T{hour:02d}:00:00Z",
        "signature": {"config": "sha256:c", "datasets": datasets, "provider": "python:x", "metrics": "sha256:m",
                      "evalgate": "0.1.0", "sample": None, "repeats": 1},
        "git": {"sha": sha or f"{day:02d}{hour:02d}" + "a" * 36, "ref": ref},
        "metric_keys": METRIC_KEYS,
        "metrics": {"accuracy": {"value": accuracy, "n": 500}, "latency_p95_ms": {"value": latency, "n": 500}},
        "categories": {} if edge is None else {"edge": {"accuracy": {"value": edge, "n": 120}}},
        "cases": [{"id": cid, "category": "typical", "scores": {"accuracy": score}, "error": None}
                  for cid, score in cases.items()],
    }  # fmt: skip


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "h" / "history.sqlite", create=True) as opened:
        yield opened


def test_append_stores_runs_metrics_and_categories(store):
    run_id = store.append(make_results(1, 0.9, edge=0.8))
    assert run_id == 1
    assert store.suites() == ["support-bot"]
    assert store.metric_keys("support-bot") == METRIC_KEYS
    assert store.categories("support-bot") == ["edge"]
    (point,) = store.series("support-bot", "accuracy")
    assert point == ("2026-01-01T08:00:00Z", "0108" + "a" * 36, None, 0.9, 500)
    assert point.name == "0108aaa"
    assert store.series("support-bot", "accuracy", "edge")[0].value == 0.8
    assert store.series("support-bot", "accuracy", "typical") == []
    assert store.series("other", "accuracy") == []


def test_append_is_idempotent(store):
    results = make_results(1, 0.9)
    first = store.append(results)
    assert store.append(results) == first
    assert store.append(dict(results, created_at="2026-01-01T09:00:00+01:00")) == first  # the same moment
    assert store.run_count("support-bot") == 1
    assert len(store.series("support-bot", "accuracy")) == 1
    assert store.append(make_results(2, 0.91)) != first
    assert store.run_count("support-bot") == 2


def test_series_is_in_time_order_with_limit_since_and_overrides(store):
    for day in (5, 1, 3, 2, 4):  # appended out of order
        store.append(make_results(day, 0.9 + day / 100))
    store.append(make_results(6, 0.97), sha="f" * 40, label="release-1.2")
    values = [p.value for p in store.series("support-bot", "accuracy")]
    assert values == pytest.approx([0.91, 0.92, 0.93, 0.94, 0.95, 0.97])
    assert [p.value for p in store.series("support-bot", "accuracy", limit=2)] == pytest.approx([0.95, 0.97])
    since = store.series("support-bot", "accuracy", since="2026-01-04T00:00:00Z")
    assert [p.created_at[:10] for p in since] == ["2026-01-04", "2026-01-05", "2026-01-06"]
    latest = store.series("support-bot", "accuracy")[-1]
    assert (latest.sha, latest.label, latest.name) == ("f" * 40, "release-1.2", "release-1.2")


def test_bad_results_are_input_errors_and_leave_the_store_unchanged(store):
    store.append(make_results(1, 0.9))
    duplicate = make_results(2, 0.9)
    duplicate["cases"].append(dict(duplicate["cases"][0]))
    with pytest.raises(InputError, match="case id twice"):
        store.append(duplicate)
    with pytest.raises(InputError, match="ISO 8601"):
        store.append(dict(make_results(3, 0.9), created_at="yesterday"))
    with pytest.raises(InputError, match="suite"):
        store.append(dict(make_results(3, 0.9), suite=None))
    assert store.run_count("support-bot") == 1  # the failed append rolled back whole
    assert len(store.series("support-bot", "accuracy")) == 1


def test_flaky_cases_are_those_that_flip_often(store):
    for day in range(1, 21):
        store.append(
            make_results(
                day, 0.9, cases={"steady": 1.0, "flaky": float(day % 2), "twice": float(8 <= day < 15)}
            )
        )
    flaky = flaky_cases(store, "support-bot", "accuracy", window=20, min_flips=3)
    assert flaky == [{"id": "flaky", "flips": 19, "runs": 20, "pass_rate": 0.5}]
    # "twice" broke, was fixed and broke again: its last 6 runs all failed, which a case passing half the
    # time before would do 1.6% of the time: it changed at a step (a regression), it is not flaky
    lenient, changed = case_stability(store, "support-bot", "accuracy", window=20, min_flips=2)
    assert [case["id"] for case in lenient] == ["flaky"]
    assert changed == [
        {"id": "twice", "flips": 2, "runs": 20, "pass_rate": 0.35, "state": "failing", "since": "1508aaa",
         "streak": 6}
    ]  # fmt: skip
    # only the last `window` runs count: in the last 5, "twice" never flips
    recent = flaky_cases(store, "support-bot", "accuracy", window=5, min_flips=1)
    assert [(case["id"], case["flips"]) for case in recent] == [("flaky", 4)]
    assert flaky_cases(store, "support-bot", "latency_p95_ms") == []  # not a binary key: no case rows


def test_runs_with_other_datasets_are_left_out_of_drift(store):
    for day in range(1, 6):
        store.append(make_results(day, 0.5, datasets="sha256:v1"))
    for day in range(6, 10):
        store.append(make_results(day, 0.9, datasets="sha256:v2"))
    assert store.comparable_since("support-bot") == ("2026-01-06T08:00:00Z", 5)
    points, report = metric_history(store, "support-bot", "accuracy", reference_runs=3)
    assert [p.value for p in points] == [0.9] * 4
    assert report["reference"]["mean"] == pytest.approx(0.9)


def test_trend_for_report_has_the_agreed_shape_and_reports_alarms(store):
    rng_values = [0.90, 0.91, 0.89, 0.90, 0.92, 0.88, 0.90, 0.91, 0.89, 0.90] * 2
    for day, value in enumerate(rng_values + [0.86] * 8, start=1):
        store.append(make_results(day, value, hour=8))
    trend = trend_for_report(store, "support-bot", "accuracy", last=10)
    assert isinstance(trend, Trend) and trend.metric == "accuracy"
    assert trend.values == pytest.approx([0.89, 0.90, 0.86, 0.86, 0.86, 0.86, 0.86, 0.86, 0.86, 0.86])
    assert all(isinstance(v, float) for v in trend.values)
    assert trend.labels[-1] == "2808aaa"  # day 28, short sha
    assert {alarm.kind for alarm in trend.alarms} == {"ewma", "cusum"}
    for alarm in trend.alarms:
        assert alarm.run in [f"{day:02d}08aaa" for day in range(21, 29)]
        assert "accuracy drifted down" in alarm.message
        assert f"since run {alarm.run}" in alarm.message  # the report prints the message as it is
    quiet = trend_for_report(store, "support-bot", "latency_p95_ms")
    assert quiet.alarms == [] and len(quiet.values) == 28


def test_branch_of_ref():
    assert branch_of_ref("refs/heads/main") == "main"
    assert branch_of_ref("main") == "main"  # `git rev-parse --abbrev-ref HEAD`, GITHUB_HEAD_REF
    assert branch_of_ref("refs/pull/42/merge") == "refs/pull/42/merge"
    assert branch_of_ref("HEAD") is None and branch_of_ref(None) is None


# ---- files that are not an evalgate history


def test_a_file_that_is_not_sqlite_is_an_input_error(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InputError, match="not a readable evalgate history store"):
        HistoryStore(path)


def test_a_foreign_sqlite_file_is_an_input_error(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE things (x)")
    db.close()
    with pytest.raises(InputError, match="not an evalgate history store"):
        HistoryStore(path, create=True)
    with sqlite3.connect(path) as db:  # and the foreign file was not touched
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("things",)]
    db.close()


def test_a_newer_schema_is_an_input_error(tmp_path):
    path = tmp_path / "history.sqlite"
    HistoryStore(path, create=True).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(InputError, match="schema version 7, newer"):
        HistoryStore(path)


def test_a_missing_store_is_an_input_error_unless_creating(tmp_path):
    with pytest.raises(InputError, match="no history store here yet"):
        HistoryStore(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


# ---- the command


def write_results(tmp_path: Path, results: dict, name: str) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(results))
    return str(path)


def test_history_command_appends_and_shows_trends(tmp_path, capsys):
    store = str(tmp_path / "history.sqlite")
    values = [0.90, 0.91, 0.89, 0.90, 0.92, 0.88, 0.90, 0.91, 0.89, 0.90] * 2 + [0.86] * 8
    for day, value in enumerate(values, start=1):
        path = write_results(
            tmp_path, make_results(day, value, cases={"c-1": 1.0, "c-2": float(day % 2)}), "r.json"
        )
        assert main(["history", "--suite", "support-bot", "--history", store, "--append", path]) == 0
    out = capsys.readouterr().out
    assert "appended as run 28" in out
    assert main(["history", "--suite", "support-bot", "--history", store, "--append", path]) == 0
    assert "already in the history as run 28" in capsys.readouterr().out

    assert main(["history", "--suite", "support-bot", "--history", store, "--last", "10"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("accuracy"))
    assert "▁" in line and "█" in line and "ALARM (ewma, cusum)" in line
    assert "0.8600" in line  # the latest value and the 7-run mean
    assert "accuracy drifted down (worse)" in out
    assert 'quarantine: ["c-2"]' in out

    assert (
        main(["history", "--suite", "support-bot", "--history", store, "--json", "--metric", "accuracy"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    (entry,) = data["metrics"]
    assert entry["drift"]["rolling"]["short"]["mean"] == pytest.approx(0.86)
    assert entry["drift"]["rolling"]["long"]["mean"] == pytest.approx((sum(values[-30:])) / 28)
    assert entry["values"][-1] == 0.86 and len(entry["values"]) == 28
    assert data["flaky"]["accuracy"][0]["id"] == "c-2"

    # a fixed target instead of the first 20 runs: at 0.86 +- 0.01 the latest runs are on target
    assert main(["history", "--suite", "support-bot", "--history", store, "--json", "--metric", "accuracy",
                 "--target", "0.86,0.01"]) == 0  # fmt: skip
    drift = json.loads(capsys.readouterr().out)["metrics"][0]["drift"]
    assert drift["reference"] == {"source": "target", "runs": 0, "mean": 0.86, "sd": 0.01}
    assert drift["status"] == "ok" and drift["cusum"]["value"] == 0.0
    assert main(["history", "--suite", "support-bot", "--history", store, "--target", "0.86,0.01"]) == 2
    assert "exactly one --metric" in capsys.readouterr().err

    argv = ["history", "--suite", "support-bot", "--history", store, "--fail-on-alarm"]
    assert main(argv) == 1
    assert main([*argv, "--metric", "latency_p95_ms"]) == 0


def test_history_command_skips_runs_from_other_branches_and_bad_input(tmp_path, capsys):
    store = tmp_path / "history.sqlite"
    feature = write_results(tmp_path, make_results(1, 0.9, ref="refs/heads/feature"), "f.json")
    assert main(["history", "--suite", "support-bot", "--history", str(store), "--append", feature,
                 "--branch", "feature"]) == 0  # fmt: skip
    # with --suite there is no history branch from a config, so the run is kept
    assert store.exists()
    bad = write_results(tmp_path, {"suite": "support-bot"}, "bad.json")
    assert main(["history", "--suite", "support-bot", "--history", str(store), "--append", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evalgate: error: ") and "bad.json" in err and "Traceback" not in err
    assert main(["history", "--suite", "support-bot", "--history", str(store), "--metric", "nope"]) == 2
    assert "recorded metrics: accuracy, latency_p95_ms" in capsys.readouterr().err
    assert main(["history", "--suite", "support-bot", "--history", str(store), "--reference-runs", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["history", "--suite", "support-bot", "--history", str(store), "--since", "yesterday"]) == 2
    assert "since 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
    other = write_results(tmp_path, make_results(2, 0.9, suite="other"), "o.json")
    assert main(["history", "--suite", "support-bot", "--history", str(store), "--append", other]) == 2
    assert "suite 'other'" in capsys.readouterr().err


def test_history_command_on_a_corrupt_store_exits_2(tmp_path, capsys):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"\0garbage" * 512)
    assert main(["history", "--suite", "support-bot", "--history", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a readable evalgate history store" in err and str(path) in err and "Traceback" not in err


def test_history_command_with_a_config_appends_only_the_history_branch(tmp_path, capsys):
    (tmp_path / "data.jsonl").write_text('{"id": "c-1", "input": "a", "expected": "a"}\n')
    (tmp_path / "model.py").write_text("def predict(x):\n    return x\n")
    (tmp_path / "evalgate.yaml").write_text(
        "suite: support-bot\ndatasets: [data.jsonl]\nprovider: {type: python, target: model.py:predict}\n"
        "metrics: [accuracy]\ngate:\n  accuracy: {min: 0.5}\nhistory: {path: store/h.sqlite, branch: main}\n"
    )
    config = str(tmp_path / "evalgate.yaml")
    feature = write_results(tmp_path, make_results(1, 0.9, ref="refs/heads/feature"), "f.json")
    assert main(["history", "--config", config, "--append", feature]) == 0
    assert "not appended" in capsys.readouterr().out
    assert not (tmp_path / "store/h.sqlite").exists()
    pull = write_results(tmp_path, make_results(1, 0.9, ref="refs/pull/42/merge"), "p.json")
    assert main(["history", "--config", config, "--append", pull, "--json"]) == 0
    appended = json.loads(capsys.readouterr().out)["appended"]
    assert appended["added"] is False and "not appended" in appended["message"]
    assert not (tmp_path / "store/h.sqlite").exists()
    main_run = write_results(tmp_path, make_results(2, 0.9), "m.json")
    assert main(["history", "--config", config, "--append", main_run]) == 0
    assert (tmp_path / "store/h.sqlite").exists()
    assert "appended as run 1" in capsys.readouterr().out


def test_an_incomplete_run_is_not_appended(tmp_path, capsys):
    """A run stopped by its budget has partial numbers: they would move the trends and the ratchet."""
    incomplete = {
        **make_results(1, 0.9),
        "run": {"complete": False, "aborted": "budget exceeded: x", "not_run": 3},
    }
    path = write_results(tmp_path, incomplete, "r.json")
    store = tmp_path / "h.sqlite"
    assert main(["history", "--suite", "support-bot", "--history", str(store), "--append", path]) == 0
    assert "not appended: the run did not complete (budget exceeded: x (3 case runs never finished))" in (
        capsys.readouterr().out
    )
    assert not store.exists()
