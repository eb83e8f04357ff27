"""Attacks on what evalgate measures (issue 8, items 5, 6, 7, 10 and 11), kept as regression tests.

Each test checks a measurement against a truth the test itself knows: the local HTTP server's own count of calls
and its real sleep, a target that counts its calls, a history whose drift the test wrote. They run the real
command line (`evalgate.cli.main`) on suites written to a temporary folder, with the real anthropic SDK talking
HTTP to a fake Messages API on 127.0.0.1 (tests/providers/llm/fake_servers.py).
"""

# ruff: noqa: F811
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import f1_score, recall_score

from evalgate.cli import main
from evalgate.providers import cache as cache_module
from evalgate.providers.cache import CACHE_FILE

# the fake vendor server and the test API keys: the fixtures of tests/providers/llm, used as test arguments (F811)
from tests.providers.llm.conftest import keys, server  # noqa: F401
from tests.providers.llm.fake_servers import FakeLLMServer, answer_for

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Q: {{ input }}"


def write_suite(tmp_path: Path, cases: list[dict[str, Any]], config: str) -> Path:
    """cases.jsonl and evalgate.yaml in `tmp_path`; returns the config's path."""
    (tmp_path / "cases.jsonl").write_text(
        "".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8"
    )
    path = tmp_path / "evalgate.yaml"
    path.write_text(config, encoding="utf-8")
    return path


def llm_suite(tmp_path: Path, server: FakeLLMServer, n: int, *, gate: str = "", extra: str = "") -> Path:
    """A suite of n cases answered by the fake Messages API (the right answer is the server's echo)."""
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "p.j2").write_text(PROMPT, encoding="utf-8")
    cases = [
        {"id": f"c{i:03d}", "input": f"question {i}", "expected": answer_for(f"Q: question {i}")}
        for i in range(n)
    ]
    return write_suite(
        tmp_path,
        cases,
        f"""\
suite: measure
datasets: [cases.jsonl]
provider:
  type: anthropic
  model: claude-haiku-4-5
  prompt: prompts/p.j2
  base_url: {server.url}
  max_attempts: 1
concurrency: 8
metrics: [exact_match]
cache: {{dir: cache}}
{extra}gate:
  exact_match: {{min: 0.5}}
{gate}""",
    )


def check(config: Path, name: str, *more: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """`evalgate check` -> (exit code, results, verdict)."""
    out = config.parent
    code = main(
        [
            "check",
            "--config",
            str(config),
            "--output",
            str(out / f"{name}.json"),
            "--json",
            str(out / f"{name}-v.json"),
            "--quiet",
            *more,
        ]
    )
    results = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    verdict = json.loads((out / f"{name}-v.json").read_text(encoding="utf-8"))
    return code, results, verdict


# ---- item 6: a cache read is never a latency ------------------------------------------------------------


@pytest.mark.slow
def test_a_cached_rerun_reports_the_recorded_latency_and_does_not_gate_it(server, tmp_path, capsys):
    server.state.latency = 0.06  # the server's real sleep before every answer
    config = llm_suite(
        tmp_path, server, 24, gate="  latency_p95_ms: {max: 30000}\n  tokens_per_s: {min: 0.001}\n"
    )
    code, fresh, verdict = check(config, "fresh")
    assert code == 0 and server.calls == 24
    latencies = {case["id"]: case["latency_ms"] for case in fresh["cases"]}
    assert min(latencies.values()) >= 60.0  # no call is faster than the server's sleep
    p95 = fresh["metrics"]["latency_p95_ms"]
    assert (p95["n"], p95["fresh"], p95["measured"]) == (24, 24, True)
    assert verdict["verdict"] == "pass"

    code, cached, verdict = check(config, "cached", "--baseline", str(tmp_path / "fresh.json"))
    assert server.calls == 24  # every answer came from the cache
    assert all(case["cached"] for case in cached["cases"])
    # each cached answer carries the latency its call took, never the time the cache read took
    assert {case["id"]: case["latency_ms"] for case in cached["cases"]} == latencies
    for key in ("latency_p50_ms", "latency_p95_ms", "latency_mean_ms", "tokens_per_s"):
        entry = cached["metrics"][key]
        assert (entry["fresh"], entry["measured"]) == (0, False), key
    assert cached["metrics"]["latency_p95_ms"]["value"] == pytest.approx(p95["value"])
    # the latency rule is "not measured": a warning, never a silent pass
    assert code == 0 and verdict["verdict"] == "warn"
    reasons = {reason["metric"]: reason for reason in verdict["reasons"]}
    for key in ("latency_p95_ms", "tokens_per_s"):
        assert reasons[key]["severity"] == "warn"
        assert "not measured" in reasons[key]["message"]
        assert "0 fresh calls and 24 recorded timings of cached answers" in reasons[key]["message"]
    row = next(row for row in verdict["metrics"] if row["metric"] == "latency_p95_ms")
    assert row["status"] == "warn" and row["timing"]["current"]["fresh"] == 0
    assert row["timing"]["baseline"] == {
        "n": 24,
        "fresh": 24,
        "measured": True,
        "note": "timed from 24 fresh calls",
    }
    assert not row["tests"]  # not tested, so not in Holm's family either


@pytest.mark.slow
def test_the_report_says_how_the_latency_was_timed(server, tmp_path):
    config = llm_suite(tmp_path, server, 6, gate="  latency_p95_ms: {max: 30000}\n")
    check(config, "fresh")
    report = tmp_path / "report.md"
    check(config, "cached", "--baseline", str(tmp_path / "fresh.json"), "--report", str(report))
    text = report.read_text(encoding="utf-8")
    assert "timed from 0 fresh calls and 6 recorded timings of cached answers" in text
    assert "not measured" in text


@pytest.mark.slow
def test_a_cache_without_recorded_latency_gives_no_latency(server, tmp_path):
    """An answer cached by an older evalgate has no recorded latency: its latency is unknown, not 0.03 ms."""
    config = llm_suite(tmp_path, server, 5)
    check(config, "first")
    with sqlite3.connect(tmp_path / "cache" / CACHE_FILE) as db:
        for key, value in db.execute("SELECT key, value FROM responses").fetchall():
            data = json.loads(value)
            del data["latency_ms"]
            db.execute("UPDATE responses SET value = ? WHERE key = ?", (json.dumps(data), key))
    db.close()
    _, results, _ = check(config, "second")
    assert server.calls == 5
    assert [case["latency_ms"] for case in results["cases"]] == [None] * 5
    assert results["metrics"]["latency_p50_ms"] == {"value": None, "n": 0, "fresh": 0, "measured": False}


@pytest.mark.slow
def test_history_and_the_ratchet_skip_latencies_that_were_not_measured(server, tmp_path):
    config = llm_suite(tmp_path, server, 8, gate="  latency_p95_ms: {max: 30000}\n")
    history = tmp_path / "history.sqlite"
    for run in range(6):
        server.state.latency = 0.03
        _, results, _ = check(config, f"run{run}", *(["--no-cache"] if run < 3 else []))
        results["created_at"] = f"2026-01-0{run + 1}T00:00:00Z"
        (tmp_path / f"run{run}.json").write_text(json.dumps(results), encoding="utf-8")
        assert (
            main(
                [
                    "history",
                    "--history",
                    str(history),
                    "--suite",
                    "measure",
                    "--append",
                    str(tmp_path / f"run{run}.json"),
                ]
            )
            == 0
        )
    with sqlite3.connect(history) as db:
        stored = db.execute(
            "SELECT count(*) FROM metrics WHERE key = 'latency_p95_ms' AND category IS NULL"
        ).fetchone()[0]
        accuracy = db.execute(
            "SELECT count(*) FROM metrics WHERE key = 'exact_match' AND category IS NULL"
        ).fetchone()[0]
    db.close()
    # run 3 filled the cache and runs 4 and 5 were answered from it: their latency is not a measurement of
    # this model (their accuracy is)
    assert (stored, accuracy) == (4, 6)


@pytest.mark.slow
def test_the_ratchet_uses_only_measured_latencies(server, tmp_path, capsys):
    config = llm_suite(tmp_path, server, 8, gate="  latency_p95_ms: {max: 30000}\n")
    history = tmp_path / "history.sqlite"
    for run in range(7):
        _, results, _ = check(config, f"run{run}", *(["--no-cache"] if run < 5 else []))
        results["created_at"] = f"2026-01-0{run + 1}T00:00:00Z"
        (tmp_path / "r.json").write_text(json.dumps(results), encoding="utf-8")
        main(
            ["history", "--history", str(history), "--suite", "measure", "--append", str(tmp_path / "r.json")]
        )
    capsys.readouterr()
    assert main(["thresholds", "suggest", "--config", str(config), "--history", str(history), "--json"]) == 0
    proposals = json.loads(capsys.readouterr().out)["proposals"]
    latency = next(p for p in proposals if p["metric"] == "latency_p95_ms")
    assert latency["evidence"]["runs"] == 6  # five --no-cache runs and the one that filled the cache


# ---- item 7: repeats: every metric uses every run, usage counts every call -----------------------------

REPEATING_TARGET = """\
import time

CALLS = {}  # input -> how many times it was asked: the truth the test checks the counts against
FIRST_CALL_S = 0.15  # how long a case's first call takes (the others: 5 ms)


def predict(text):
    seen = CALLS.get(text, 0)
    CALLS[text] = seen + 1
    time.sleep(FIRST_CALL_S if seen == 0 else 0.005)
    _, right, wrong = text.split("|")
    return {"label": right if seen == 0 else wrong, "tokens_in": 7, "tokens_out": 2 + seen, "cost": 0.001}
"""


def python_suite(
    tmp_path: Path, n: int, repeats: int, *, gate: str = "", first_call_s: float = 0.005
) -> Path:
    """The repeating target's suite: N cases asked REPEATS times (one at a time); a test of the latency makes
    the first call of each case slower (`first_call_s`), the others need not wait."""
    target = REPEATING_TARGET.replace("FIRST_CALL_S = 0.15", f"FIRST_CALL_S = {first_call_s}")
    (tmp_path / "target.py").write_text(target, encoding="utf-8")
    labels = ["a", "b"]
    cases = [
        {"id": f"c{i:03d}", "input": f"{i}|{labels[i % 2]}|{labels[1 - i % 2]}", "expected": labels[i % 2]}
        for i in range(n)
    ]
    return write_suite(
        tmp_path,
        cases,
        f"""\
suite: repeats
datasets: [cases.jsonl]
provider: {{type: python, target: target.py:predict}}
concurrency: 1
repeats: {repeats}
metrics: [accuracy, f1_micro, recall_micro]
gate:
  accuracy: {{min: 0.0}}
{gate}""",
    )


@pytest.mark.slow
def test_repeats_every_metric_uses_every_run(tmp_path):
    n, k = 10, 3
    config = python_suite(tmp_path, n, k, first_call_s=0.06)
    code, results, verdict = check(config, "repeated")
    file = str((tmp_path / "target.py").resolve())
    target = next(m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == file)
    assert sorted(target.CALLS.values()) == [k] * n  # the target's own count: each case asked K times
    truth, predicted = [], []
    for case in results["cases"]:
        assert len(case["repeats"]) == k
        for run in case["repeats"]:
            truth.append(case["expected"])
            predicted.append(run["output"]["label"])
    assert predicted.count("a") + predicted.count("b") == n * k
    metrics = results["metrics"]
    # one rule for every metric: computed over all K x N runs (means per case, then over cases: the same here)
    assert metrics["accuracy"]["value"] == pytest.approx(1 / k)
    assert metrics["f1_micro"]["value"] == pytest.approx(f1_score(truth, predicted, average="micro"))
    assert metrics["recall_micro"]["value"] == pytest.approx(recall_score(truth, predicted, average="micro"))
    assert metrics["f1_micro"]["value"] == pytest.approx(1 / k)
    # usage counts every call: the target reported 7 tokens in, 2 + (times asked before) out and $0.001 per call
    assert metrics["tokens_in"]["value"] == 7 * n * k and metrics["tokens_in"]["n"] == n * k
    assert metrics["tokens_out"]["value"] == n * sum(2 + seen for seen in range(k))
    assert metrics["cost_total"]["value"] == pytest.approx(0.001 * n * k)
    assert metrics["cost_per_1k_requests"]["value"] == pytest.approx(1.0)
    # latency from every call: the first of each case sleeps 60 ms, the others 5 ms (the first calls alone
    # would give a mean of 60, the later ones alone 5)
    assert metrics["latency_p50_ms"]["n"] == n * k
    assert 5.0 <= metrics["latency_p50_ms"]["value"] < 40.0
    assert metrics["latency_mean_ms"]["value"] == pytest.approx((60 + 5 * (k - 1)) / k, abs=14)
    assert code == 0 and verdict["verdict"] == "pass"


@pytest.mark.slow
def test_repeats_compare_pairs_cases_with_all_their_runs(tmp_path):
    config = python_suite(
        tmp_path, 12, 3, gate="  f1_micro: {max_drop: 0.05}\n  latency_p95_ms: {max_drop_pct: 900}\n"
    )
    _, current, _ = check(config, "base")
    base = str(tmp_path / "base.json")
    verdict_path = tmp_path / "self.json"
    code = main(
        ["gate", "--config", str(config), "--current", base, "--baseline", base, "--json", str(verdict_path)]
    )
    rows = {row["metric"]: row for row in json.loads(verdict_path.read_text(encoding="utf-8"))["metrics"]}
    assert rows["f1_micro"]["current"] == pytest.approx(current["metrics"]["f1_micro"]["value"])
    assert rows["f1_micro"]["delta"] == pytest.approx(0.0)
    assert rows["f1_micro"]["p_value"] is not None  # resampled (cases with their three runs), not skipped
    assert code == 0 and rows["f1_micro"]["status"] == "pass"


# ---- item 5: the cache's own failures are never the model's ---------------------------------------------


def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / CACHE_FILE


@pytest.mark.slow
def test_damaged_cache_rows_are_dropped_and_asked_again(server, tmp_path, capsys):
    config = llm_suite(tmp_path, server, 12)
    check(config, "first")
    assert server.calls == 12
    with sqlite3.connect(cache_file(tmp_path)) as db:
        keys = [row[0] for row in db.execute("SELECT key FROM responses ORDER BY key")]
        garbage = [
            "not json",  # not JSON at all
            '{"text": "no value field"}',  # JSON of another shape
            '{"value": "x", "tokens_in": "many"}',  # a count that is not a count
            '{"value": "x", "latency_ms": -5}',  # a latency that is no latency
            '{"value": NaN}',  # what an older evalgate could store
            "[1, 2, 3]",
        ]
        for key, value in zip(keys, garbage, strict=False):
            db.execute("UPDATE responses SET value = ? WHERE key = ?", (value, key))
        db.execute("UPDATE responses SET value = ? WHERE key = ?", (b"\xff\xfe", keys[len(garbage)]))
    db.close()
    damaged = len(garbage) + 1
    capsys.readouterr()
    code, results, verdict = check(config, "second")
    err = capsys.readouterr().err
    assert code == 0 and verdict["verdict"] == "pass"
    assert [case["error"] for case in results["cases"]] == [None] * 12  # never a model error
    assert server.calls == 12 + damaged  # the damaged ones were asked again, the others came from the cache
    assert results["run"]["cache"]["hits"] == 12 - damaged and results["run"]["cache"]["dropped"] == damaged
    assert err.count("evalgate: warning: response cache") == 1  # one warning, not one per row
    code, results, _ = check(config, "third")  # the bad rows are gone: never served again
    assert server.calls == 12 + damaged and results["run"]["cache"] == {"hits": 12, "misses": 0}


def corrupt_pages(path: Path) -> None:
    """Overwrite every page after the first (the schema) with garbage, as a torn write or a bad disk would."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for start in range(page, len(data), page):
        data[start : start + page] = bytes((i * 37 + 11) % 256 for i in range(page))
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_a_cache_with_bad_pages_runs_uncached_with_one_warning(server, tmp_path, capsys):
    config = llm_suite(tmp_path, server, 40)
    check(config, "first")
    corrupt_pages(cache_file(tmp_path))
    capsys.readouterr()
    code, results, verdict = check(config, "second")
    err = capsys.readouterr().err
    assert [case["error"] for case in results["cases"]] == [None] * 40  # answered by the model, not errors
    assert server.calls == 80
    assert code == 0 and verdict["verdict"] == "pass"
    assert err.count("evalgate: warning: response cache") == 1 and "reading it failed" in err
    assert "reading it failed" in results["run"]["cache"]["warnings"][0]
    assert all(not case["cached"] for case in results["cases"])
    assert results["metrics"]["latency_p50_ms"]["measured"] is True  # timed from fresh calls


@pytest.mark.parametrize(
    "damage",
    ["not a database", "another table shape", "a folder in its place", "under a file"],
)
def test_a_file_that_cannot_be_the_cache_stops_before_any_call(server, tmp_path, capsys, damage):
    config = llm_suite(tmp_path, server, 5)
    path = cache_file(tmp_path)
    path.parent.mkdir()
    if damage == "not a database":
        path.write_bytes(b"this is not sqlite" * 300)
    elif damage == "another table shape":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, answer TEXT)")
        db.close()
    elif damage == "a folder in its place":
        path.mkdir()
    else:
        path.parent.rmdir()
        path.parent.write_text("a file where the cache folder should be", encoding="utf-8")
    capsys.readouterr()
    code = main(["run", "--config", str(config), "--output", str(tmp_path / "r.json"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and server.calls == 0  # nothing was paid for, nothing is lost
    assert "responses.sqlite" in err and "Traceback" not in err
    assert "delete it" in err or "cache.dir" in err


@pytest.mark.slow
def test_a_locked_cache_stops_before_any_call(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cache_module, "LOCK_TIMEOUT_S", 0.2)
    config = llm_suite(tmp_path, server, 3)
    check(config, "first")
    holder = sqlite3.connect(cache_file(tmp_path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        capsys.readouterr()
        code = main(
            ["run", "--config", str(config), "--output", str(tmp_path / "r.json"), "--quiet", "--no-cache"]
        )
        assert code == 0  # --no-cache does not touch it
        code = main(["run", "--config", str(config), "--output", str(tmp_path / "r.json"), "--quiet"])
        err = capsys.readouterr().err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and "locked" in err and "responses.sqlite" in err


@pytest.mark.slow
def test_a_cache_locked_during_the_run_stops_storing_and_the_run_goes_on(server, tmp_path, monkeypatch):
    """Another process takes the cache's lock after the first answer: the answers are kept, not errors."""
    monkeypatch.setattr(cache_module, "LOCK_TIMEOUT_S", 0.2)
    from evalgate.providers.cache import ResponseCache
    from evalgate.providers.llm.budget import RunSettings
    from evalgate.runner import run_cases
    from tests.providers.llm.conftest import case, make_provider

    provider = make_provider(
        "anthropic",
        {"model": "claude-haiku-4-5", "base_url": server.url},
        tmp_path,
        settings=RunSettings(cache_dir=tmp_path / "cache"),
    )
    said: list[str] = []
    holder = None

    real_put = ResponseCache.put

    def put_then_lock(self, key, output):  # the first store succeeds, then someone else holds the file
        nonlocal holder
        real_put(self, key, output)
        if holder is None:
            holder = sqlite3.connect(self.path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")

    monkeypatch.setattr(ResponseCache, "put", put_then_lock)
    import asyncio

    async def go():
        await provider.start(1)
        provider.cache._warn = said.append
        try:
            return await run_cases([case(f"q{i}") for i in range(5)], provider, concurrency=1, timeout=30)
        finally:
            await provider.close()

    outcome = asyncio.run(go())
    holder.execute("ROLLBACK")
    holder.close()
    assert [result.error for result in outcome.results] == [None] * 5
    assert server.calls == 5
    assert len(said) == 1 and "storing an answer failed" in said[0] and "locked" in said[0]


FULL_DISK_RUN = """  # evalgate in a process no file may grow past argv[1] bytes in: a full disk
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv.pop(1)),) * 2)
from evalgate.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_full_disk_during_the_run_is_never_a_model_error(server, tmp_path):
    """No file may grow past 48 KiB (RLIMIT_FSIZE): the cache's write-ahead log fills up during the run."""
    config = llm_suite(tmp_path, server, 40)
    limit = 48 * 1024
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FULL_DISK_RUN,
            str(limit),
            "check",
            "--config",
            str(config),
            "--output",
            str(tmp_path / "r.json"),
            "--json",
            str(tmp_path / "v.json"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert (tmp_path / "r.json").is_file(), done.stderr
    results = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [case["error"] for case in results["cases"]] == [None] * 40
    assert server.calls == 40  # every case answered once
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("evalgate: warning: response cache") == 1
    assert "storing an answer failed" in done.stderr
    # what was stored before the disk filled up is intact and serves the next run
    code, again, _ = check(config, "again")
    stats = again["run"]["cache"]
    assert code == 0 and stats["hits"] > 0 and server.calls == 40 + stats["misses"]


# ---- items 10 and 11: drift from a constant history, flaky versus changed, the ratchet ------------------

KEYS = {
    "accuracy": {"kind": "binary", "higher_is_better": True},
    "error_rate": {"kind": "binary", "higher_is_better": False},
    "rougeL": {"kind": "continuous", "higher_is_better": True},
}


def history_run(
    day: int, *, error_rate=0.0, n=500, rouge=0.45, accuracy=0.9, cases=None, provider="python:model-a"
) -> dict:
    """A main-branch results file of one run (day 1 .. 60)."""
    cases = cases or {}
    return {
        "schema_version": 1,
        "suite": "drift",
        "created_at": f"2026-{1 + (day - 1) // 28:02d}-{1 + (day - 1) % 28:02d}T08:00:00Z",
        "signature": {"datasets": "sha256:d", "metrics": "sha256:m", "evalgate": "0.1.0", "provider": provider,
                      "sample": None, "repeats": 1},
        "git": {"sha": f"{day:040x}", "ref": "refs/heads/main"},
        "metric_keys": KEYS,
        "metrics": {"accuracy": {"value": accuracy, "n": n}, "error_rate": {"value": error_rate, "n": n},
                    "rougeL": {"value": rouge, "n": n}},
        "cases": [{"id": cid, "category": "c", "scores": {"accuracy": score}, "error": None}
                  for cid, score in cases.items()],
    }  # fmt: skip


def append_all(tmp_path: Path, runs: list[dict]) -> str:
    store = str(tmp_path / "history.sqlite")
    for results in runs:
        path = tmp_path / "run.json"
        path.write_text(json.dumps(results), encoding="utf-8")
        assert main(["history", "--suite", "drift", "--history", store, "--append", str(path), "--json"]) == 0
    return store


def overview(store: str, capsys, *more: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["history", "--suite", "drift", "--history", store, "--json", *more])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize("n", [45, 500, 2000])
def test_an_error_rate_rising_from_zero_alarms(tmp_path, capsys, n):
    errors = round(0.022 * n)  # 2.2% of the run's cases: 1 of 45, 11 of 500, 44 of 2,000
    runs = [history_run(day, n=n) for day in range(1, 25)]
    runs += [history_run(day, error_rate=errors / n, n=n) for day in range(25, 31)]
    store = append_all(tmp_path, runs)
    code, data = overview(store, capsys, "--metric", "error_rate", "--fail-on-alarm")
    [entry] = data["metrics"]
    assert entry["drift"]["reference"]["sd"] > 0  # a rate of 0 in every reference run still has a spread
    assert code == 1 and entry["alarms"], entry["drift"]
    assert all("error_rate drifted up (worse)" in alarm["message"] for alarm in entry["alarms"])


def test_one_stray_error_after_a_clean_history_is_not_a_drift(tmp_path, capsys):
    runs = [history_run(day) for day in range(1, 25)] + [history_run(25, error_rate=1 / 500)]
    code, data = overview(append_all(tmp_path, runs), capsys, "--metric", "error_rate", "--fail-on-alarm")
    assert code == 0 and data["metrics"][0]["drift"]["status"] == "ok"


def test_a_drop_from_a_constant_history_alarms(tmp_path, capsys):
    runs = [history_run(day) for day in range(1, 25)] + [history_run(day, rouge=0.40) for day in (25, 26)]
    code, data = overview(append_all(tmp_path, runs), capsys, "--metric", "rougeL", "--fail-on-alarm")
    [alarm] = data["metrics"][0]["alarms"]
    assert code == 1 and alarm["kind"] == "constant" and "0.45 in all 20 reference runs" in alarm["message"]


def test_the_ratchet_does_not_tighten_from_a_drifting_window(tmp_path, capsys):
    runs = [history_run(day, accuracy=0.95) for day in range(1, 25)]
    runs += [history_run(day, accuracy=0.92) for day in range(25, 31)]  # sliding: a drift alarm
    store = append_all(tmp_path, runs)
    (tmp_path / "x.jsonl").write_text('{"input": 1}\n', encoding="utf-8")
    config = tmp_path / "evalgate.yaml"
    config.write_text("suite: drift\ndatasets: [x.jsonl]\nprovider: {type: python, target: m.py:f}\n"
                      "gate:\n  accuracy: {min: 0.5}\n", encoding="utf-8")  # fmt: skip
    assert overview(store, capsys, "--metric", "accuracy")[1]["alarm"]
    assert main(["thresholds", "suggest", "--config", str(config), "--history", store, "--json"]) == 0
    [proposal] = json.loads(capsys.readouterr().out)["proposals"]
    assert proposal["action"] == "keep" and proposal["proposed"] is None  # the window alone says 0.5 -> 0.9
    assert "drift alarm is active" in proposal["reason"]


def test_a_case_broken_since_a_change_is_not_proposed_for_quarantine(tmp_path, capsys):
    runs = []
    for day in range(1, 21):
        flaky = float(day % 2)  # alternates all along: flaky
        broken = float(day % 2) if day <= 8 else 0.0  # alternated, then failed in every run since day 9
        runs.append(history_run(day, cases={"flaky": flaky, "broken": broken, "steady": 1.0}))
    store = append_all(tmp_path, runs)
    code, data = overview(store, capsys)
    assert code == 0 and [case["id"] for case in data["flaky"]["accuracy"]] == ["flaky"]
    [changed] = data["changed"]["accuracy"]
    assert (changed["id"], changed["state"], changed["streak"]) == ("broken", "failing", 13)  # days 8 to 20
    capsys.readouterr()
    assert main(["history", "--suite", "drift", "--history", store]) == 0
    out = capsys.readouterr().out
    assert 'quarantine: ["flaky"]' in out
    assert "broken failing (a regression) since run" in out


def test_flips_across_a_change_of_model_are_not_flakiness(tmp_path, capsys):
    runs = []
    for day in range(1, 21):
        provider = "python:model-a" if day <= 10 else "python:model-b"
        runs.append(history_run(day, provider=provider, cases={"c": float(day % 2) if day <= 10 else 0.0}))
    _, data = overview(append_all(tmp_path, runs), capsys)
    assert data["flaky"] == {} and data["changed"] == {}  # model-b failed it every time: no flip at all


def repeated_results(suite: str, runs_by_case: dict[str, list[float]]) -> dict:
    cases = []
    for cid, runs in runs_by_case.items():
        cases.append(
            {"id": cid, "category": "c", "scores": {"accuracy": sum(runs) / len(runs), "error_rate": 0.0},
             "error": None, "output": "x",
             "repeats": [{"output": "x", "error": None, "scores": {"accuracy": r, "error_rate": 0.0}} for r in runs]}
        )  # fmt: skip
    return {
        "schema_version": 1, "suite": suite, "created_at": "2026-01-01T00:00:00Z",
        "signature": {"datasets": "d", "metrics": "m", "evalgate": "0.1.0", "repeats": 3},
        "metric_keys": {"accuracy": {"kind": "binary", "higher_is_better": True},
                        "error_rate": {"kind": "binary", "higher_is_better": False}},
        "metrics": {"accuracy": {"value": sum(c["scores"]["accuracy"] for c in cases) / len(cases), "n": len(cases)},
                    "error_rate": {"value": 0.0, "n": len(cases)}},
        "cases": cases,
    }  # fmt: skip


def test_a_case_the_change_made_unstable_is_a_regression_not_flaky(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"input": 1}\n', encoding="utf-8")
    baseline = {"stable": [1.0, 1.0, 1.0], "was-flaky": [1.0, 0.0, 1.0], "fine": [1.0, 1.0, 1.0]}
    current = {"stable": [1.0, 0.0, 1.0], "was-flaky": [0.0, 1.0, 1.0], "fine": [1.0, 1.0, 1.0]}
    for name, runs in (("base", baseline), ("cur", current)):
        (tmp_path / f"{name}.json").write_text(json.dumps(repeated_results("s", runs)), encoding="utf-8")
    (tmp_path / "evalgate.yaml").write_text(
        "suite: s\ndatasets: [x.jsonl]\nprovider: {type: python, target: m.py:f}\nmetrics: [accuracy]\n"
        "gate:\n  accuracy: {max_drop: 0.5}\n", encoding="utf-8"
    )  # fmt: skip
    main(["gate", "--config", str(tmp_path / "evalgate.yaml"), "--current", str(tmp_path / "cur.json"),
          "--baseline", str(tmp_path / "base.json"), "--json", str(tmp_path / "v.json")])  # fmt: skip
    cases = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))["cases"]
    assert [item["id"] for item in cases["flaky"]] == ["was-flaky"]
    assert "stable" in [item["id"] for item in cases["regressed"]]


# ---- item 5 for the history store: its faults are exit 2 naming them, never a lost verdict ----------------


def test_an_unreadable_history_store_leaves_out_the_trend_not_the_verdict(server, tmp_path, capsys):
    config = llm_suite(tmp_path, server, 4, extra="history: {path: history.sqlite}\n")
    (tmp_path / "history.sqlite").write_bytes(b"not a database at all" * 100)
    capsys.readouterr()
    code, _, verdict = check(config, "run", "--report", str(tmp_path / "report.md"))
    err = capsys.readouterr().err
    assert code == 0 and verdict["verdict"] == "pass"
    assert any("trend chart is left out" in warning for warning in verdict["warnings"])
    assert "history.sqlite" in err and (tmp_path / "report.md").is_file()


@pytest.mark.slow
def test_a_locked_history_store_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("evalgate.history.store.LOCK_TIMEOUT_S", 0.2)
    store = append_all(tmp_path, [history_run(1)])
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        path = tmp_path / "run.json"
        path.write_text(json.dumps(history_run(2)), encoding="utf-8")
        capsys.readouterr()
        code = main(["history", "--suite", "drift", "--history", store, "--append", str(path)])
        err = capsys.readouterr().err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and "locked by another process" in err and "history.sqlite" in err
    assert "not a readable" not in err


@pytest.mark.slow
def test_a_full_disk_while_appending_to_the_history_is_exit_2_and_changes_nothing(tmp_path):
    store = append_all(tmp_path, [history_run(1)])
    size = Path(store).stat().st_size
    big = history_run(2, cases={f"case-{i:05d}": float(i % 2) for i in range(3000)})  # about 100 KB of rows
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK_RUN, str(size + 8192), "history", "--suite", "drift", "--history", store,
         "--append", str(path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot write the history store" in done.stderr or "I/O error" in done.stderr, done.stderr
    assert "the store was not changed" in done.stderr and "Traceback" not in done.stderr
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # the append rolled back whole
    db.close()


def test_a_head_to_head_pays_for_no_repeat_it_does_not_use(tmp_path):
    """`evalgate compare` judges one answer per case: with repeats: 3 it used to make 3 calls and keep one."""
    import asyncio

    from evalgate.config import load_config
    from evalgate.datasets import load_cases
    from evalgate.judge.headtohead import run_provider

    config = load_config(python_suite(tmp_path, 6, 3))
    answers, aborted = asyncio.run(run_provider(config, config.provider, load_cases(config.datasets)))
    file = str((tmp_path / "target.py").resolve())
    target = next(m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == file)
    assert sorted(target.CALLS.values()) == [1] * 6  # the target's own count: one call per case
    assert len(answers) == 6 and all(answer["error"] is None for answer in answers.values())
    assert aborted is None


@pytest.mark.slow
def test_repeats_errors_are_counted_per_call(tmp_path):
    """Two of the three calls of one case fail: 2 of 30 calls errored, not '0 of 10 cases'."""
    config = python_suite(tmp_path, 10, 3)
    target = tmp_path / "target.py"
    target.write_text(
        target.read_text(encoding="utf-8").replace(
            "    time.sleep(",
            '    if text.startswith("0|") and seen:\n        raise RuntimeError("down")\n    time.sleep(',
        ),
        encoding="utf-8",
    )
    code, results, verdict = check(config, "errors")
    assert results["metrics"]["error_rate"]["value"] == pytest.approx(2 / 30)
    assert (verdict["cases"]["errors"], verdict["cases"]["runs"]) == (2, 30)
    [reason] = [r for r in verdict["reasons"] if r["metric"] == "error_rate"]
    assert code == 1 and "(2 of 30 runs)" in reason["message"]
