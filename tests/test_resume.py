"""Issue 10 #4: a run stopped (SIGTERM) or killed (SIGKILL) mid-way keeps its finished cases in the journal;
`evalgate run --resume` completes it without calling the model again for them; `--retry-errors` reruns only the
cases that errored or are missing. Each test runs the real `evalgate` process (the supervisor included) and
counts the calls the model under test received: a python target logging each call to a file, or the fake
Anthropic server of tests/providers/llm counting its requests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from evalgate.process.exitcodes import ExitCode, for_signal
from tests.attacks.test_run_attacks import Endpoint, evalgate, http_suite, results_of, suite
from tests.conftest import ROOT
from tests.providers.llm.conftest import ANTHROPIC_KEY
from tests.providers.llm.fake_servers import FakeLLMServer

# every test runs, stops and resumes whole evalgate processes: the full suite only (tests/test_journal.py keeps
# the journal's unit tests in the everyday loop)
pytestmark = pytest.mark.slow

JOURNAL = "results.json.journal.jsonl"

# each call is logged (the truth the test counts), then takes 0.3 s; c3 fails while the file `flaky` exists
COUNTED = """\
import os, time
def predict(x):
    with open('calls.log', 'a') as log:
        log.write(x + '\\n')
    time.sleep(0.3)
    if x == 'c3' and os.path.exists('flaky'):
        raise RuntimeError('flaky backend')
    return x.upper()
"""


def calls(tmp_path: Path) -> Counter:
    """The calls the target received since the last look (the log is emptied)."""
    log = tmp_path / "calls.log"
    seen = Counter(log.read_text().split()) if log.exists() else Counter()
    log.write_text("")
    return seen


def journaled(tmp_path: Path) -> dict[tuple[str, int], dict]:
    lines = (tmp_path / JOURNAL).read_text().splitlines()
    assert json.loads(lines[0])["evalgate_journal"] == 1
    return {(entry["id"], entry["repeat"]): entry for entry in map(json.loads, lines[1:])}


def start_run(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evalgate", "run", "--quiet", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: SIGKILL reaches the supervisor and the command
    )


def stop_when(tmp_path: Path, process: subprocess.Popen, finished: int, signum: int) -> str:
    """Send `signum` once the journal holds `finished` case runs; the run's stderr."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        path = tmp_path / JOURNAL
        if path.exists() and path.read_text().count("\n") > finished:
            break
        time.sleep(0.05)
    if signum == signal.SIGKILL:
        os.killpg(process.pid, signum)  # evalgate and its command, at once: no clean-up of any kind
    else:
        process.send_signal(signum)  # a CI runner's cancel, `docker stop`
    _, stderr = process.communicate(timeout=60)
    return stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_run_resumes_without_calling_the_model_again_for_finished_cases(
    tmp_path: Path, signum: int
) -> None:
    suite(tmp_path, COUNTED, cases=16, concurrency=2)
    (tmp_path / "flaky").touch()
    process = start_run(tmp_path)
    stderr = stop_when(tmp_path, process, 5, signum)
    # SIGTERM: evalgate stops cleanly and says so (143); SIGKILL: the process is gone, the shell sees -9
    assert process.returncode == (for_signal(signum) if signum == signal.SIGTERM else -signum), stderr
    kept = journaled(tmp_path)
    first = calls(tmp_path)
    assert 5 <= len(kept) < 16 and all(first[case_id] == 1 for case_id, _ in kept)
    assert kept["c3", 0]["error"] == "RuntimeError: flaky backend"  # an error is a finished case run
    if signum == signal.SIGTERM:  # a clean stop: the results so far, marked incomplete, and the journal kept
        assert results_of(tmp_path)["run"]["complete"] is False
        assert f"kept in {JOURNAL}: `evalgate run --resume`" in stderr
    else:
        assert not (tmp_path / "results.json").exists()
    (tmp_path / "flaky").unlink()

    done = evalgate("run", "--quiet", "--resume", cwd=tmp_path)

    assert done.returncode == ExitCode.PASS, done.stderr
    again = calls(tmp_path)
    assert set(again) == {f"c{i}" for i in range(16)} - {
        case_id for case_id, _ in kept
    }  # no finished case twice
    assert all(count == 1 for count in again.values())
    results = results_of(tmp_path)
    assert results["run"]["complete"] is True and len(results["cases"]) == 16
    assert results["signature"]["assembled"] == {"resumed_from": JOURNAL, "cases_reused": len(kept)}
    by_id = {case["id"]: case for case in results["cases"]}
    assert by_id["c3"]["error"] == "RuntimeError: flaky backend"  # kept as it was: the run that was stopped
    for (case_id, _), line in kept.items():  # a reused case keeps the latency measured when it ran
        assert by_id[case_id]["latency_ms"] == line["latency_ms"] and by_id[case_id]["cached"] is False
    assert not (tmp_path / JOURNAL).exists()  # the results file holds it all now


def test_a_resumed_run_with_repeats_calls_each_missing_run_once(tmp_path: Path) -> None:
    suite(tmp_path, COUNTED, cases=5, concurrency=2, extra="repeats: 3\nmetrics: [exact_match]\n")
    process = start_run(tmp_path)
    stop_when(tmp_path, process, 6, signal.SIGKILL)
    kept = journaled(tmp_path)
    calls(tmp_path)
    done = evalgate("run", "--quiet", "--resume", cwd=tmp_path)
    assert done.returncode == ExitCode.PASS, done.stderr
    runs_kept = Counter(case_id for case_id, _ in kept)
    assert calls(tmp_path) == Counter({f"c{i}": 3 - runs_kept[f"c{i}"] for i in range(5)}) - Counter()
    results = results_of(tmp_path)
    assert results["signature"]["assembled"]["cases_reused"] == len(kept)
    assert all(len(case["repeats"]) == 3 for case in results["cases"])
    assert all(run["output"] == case["expected"] for case in results["cases"] for run in case["repeats"])
    assert results["metrics"]["exact_match"]["value"] == 1.0 and results["run"]["complete"] is True


def test_retry_errors_reruns_only_the_errored_and_missing_cases(tmp_path: Path) -> None:
    suite(tmp_path, COUNTED, cases=6, concurrency=2)
    (tmp_path / "flaky").touch()
    assert evalgate("run", "--quiet", cwd=tmp_path).returncode == ExitCode.PASS
    previous = results_of(tmp_path)
    previous["cases"] = [case for case in previous["cases"] if case["id"] != "c5"]  # a case missing
    (tmp_path / "previous.json").write_text(json.dumps(previous))
    (tmp_path / "flaky").unlink()
    calls(tmp_path)

    done = evalgate("run", "--quiet", "--retry-errors", "previous.json", cwd=tmp_path)

    assert done.returncode == ExitCode.PASS, done.stderr
    assert calls(tmp_path) == Counter({"c3": 1, "c5": 1})
    results = results_of(tmp_path)
    assert [case["error"] for case in results["cases"]] == [None] * 6
    assert results["signature"]["assembled"] == {"retried_errors_of": "previous.json", "cases_reused": 4}
    kept = {case["id"]: case for case in previous["cases"]}
    assert all(results["cases"][i]["latency_ms"] == kept[f"c{i}"]["latency_ms"] for i in (0, 1, 2, 4))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda p: p.joinpath("evalgate.yaml").write_text(
                p.joinpath("evalgate.yaml").read_text() + "seed: 9\n"
            ),
            "config",
        ),
        (
            lambda p: p.joinpath("data", "typical.jsonl").write_text('{"id": "c0", "input": "other"}\n'),
            "datasets",
        ),
        (
            lambda p: p.joinpath("evalgate.yaml").write_text(
                p.joinpath("evalgate.yaml").read_text().replace("suite: attacks", "suite: other")
            ),
            "it is of suite 'attacks', not 'other'",
        ),
    ],
    ids=["config", "datasets", "suite"],
)
def test_earlier_work_of_another_run_is_refused_naming_what_differs(
    tmp_path: Path, change, named: str
) -> None:
    suite(tmp_path, COUNTED, cases=3)
    assert evalgate("run", "--quiet", cwd=tmp_path).returncode == ExitCode.PASS
    (tmp_path / JOURNAL).write_text(
        json.dumps({"evalgate_journal": 1, **{k: results_of(tmp_path)[k] for k in ("suite", "signature")}})
        + "\n"
    )
    journal = (tmp_path / JOURNAL).read_bytes()
    change(tmp_path)
    calls(tmp_path)
    for option in (["--retry-errors", "results.json"], ["--resume"]):
        done = evalgate("run", "--quiet", *option, cwd=tmp_path)
        assert done.returncode == ExitCode.BAD_INPUT, done.stderr
        assert named in done.stderr and "Traceback" not in done.stderr
    assert calls(tmp_path) == Counter()
    assert (tmp_path / JOURNAL).read_bytes() == journal  # refused, not replaced


def test_resume_without_a_journal_runs_every_case_and_a_stream_output_has_none(tmp_path: Path) -> None:
    suite(tmp_path, COUNTED, cases=3)
    done = evalgate("run", "--quiet", "--resume", cwd=tmp_path)
    assert done.returncode == ExitCode.PASS and "no journal" in done.stderr
    assert "assembled" not in results_of(tmp_path)["signature"]
    assert sum(calls(tmp_path).values()) == 3
    refused = evalgate("run", "--quiet", "--resume", "--output", "/dev/null", cwd=tmp_path)
    assert (
        refused.returncode == ExitCode.BAD_INPUT and "--resume needs --output to be a file" in refused.stderr
    )
    both = evalgate("run", "--resume", "--retry-errors", "results.json", cwd=tmp_path)
    assert both.returncode == ExitCode.BAD_INPUT and "not allowed with" in both.stderr


def test_an_assembled_run_gets_the_verdict_of_a_full_run(tmp_path: Path) -> None:
    """The gate reads the cases, never the provenance: the same outputs, the same verdict."""
    suite(
        tmp_path,
        COUNTED,
        cases=12,
        concurrency=2,
        extra="metrics: [exact_match]\ngate:\n  exact_match: {min: 0.95}\n",
    )
    assert evalgate("run", "--quiet", "--output", "baseline.json", cwd=tmp_path).returncode == ExitCode.PASS
    (tmp_path / "flaky").touch()  # the change under test breaks c3
    assert evalgate("run", "--quiet", "--output", "full.json", cwd=tmp_path).returncode == ExitCode.PASS
    process = start_run(tmp_path)
    stop_when(tmp_path, process, 4, signal.SIGKILL)
    assert evalgate("run", "--quiet", "--resume", cwd=tmp_path).returncode == ExitCode.PASS
    verdicts = [
        evalgate(
            "gate",
            "--current",
            name,
            "--baseline",
            "baseline.json",
            "--json",
            f"{name}.verdict",
            cwd=tmp_path,
        )
        for name in ("full.json", "results.json")
    ]
    assert [v.returncode for v in verdicts] == [ExitCode.FAIL, ExitCode.FAIL]
    full, assembled = (
        json.loads((tmp_path / f"{n}.verdict").read_text()) for n in ("full.json", "results.json")
    )
    for key in ("verdict", "exit_code", "headline", "reasons"):
        assert full[key] == assembled[key], key
    untimed = [  # latencies are measured anew by each run; everything else is the same
        [row for row in verdict["metrics"] if not row["metric"].startswith("latency")]
        for verdict in (full, assembled)
    ]
    assert untimed[0] == untimed[1] and len(untimed[0]) >= 2


def test_a_resumed_run_s_budget_counts_what_the_kept_cases_spent(tmp_path: Path) -> None:
    server = Endpoint()
    try:
        http_suite(tmp_path, server, [f"q{i}" for i in range(8)], extra="budget: {max_tokens: 50}\n")
        first = evalgate("run", "--quiet", cwd=tmp_path)
        assert first.returncode == ExitCode.INCOMPLETE, first.stderr
        assert server.calls == 3  # 20 tokens a call: the third crosses the cap
        assert len(journaled(tmp_path)) == 3
        again = evalgate("run", "--quiet", "--resume", cwd=tmp_path)
        assert again.returncode == ExitCode.INCOMPLETE, again.stderr
        assert server.calls == 3  # the 60 tokens the kept cases spent count: no new call
        assert "budget exceeded: spent 60 tokens" in results_of(tmp_path)["run"]["aborted"]
    finally:
        server.close()


def test_an_llm_run_killed_mid_way_resumes_with_the_fake_anthropic_server(tmp_path: Path) -> None:
    """The real anthropic SDK over HTTP; the server counts its requests. The response cache is on: a kept case is
    neither called nor read from the cache, and keeps the latency and request count measured when it ran."""
    lines = [json.dumps({"id": f"q{i}", "input": f"question {i}", "expected": "x"}) for i in range(12)]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    with FakeLLMServer(latency=0.3) as server:
        (tmp_path / "evalgate.yaml").write_text(
            "suite: llm-resume\ndatasets: [cases.jsonl]\nconcurrency: 2\nmetrics: [exact_match]\n"
            f"provider: {{type: anthropic, model: claude-haiku-4-5, base_url: '{server.url}'}}\n"
        )
        env = {"ANTHROPIC_API_KEY": ANTHROPIC_KEY}
        process = subprocess.Popen(
            [sys.executable, "-m", "evalgate", "run", "--quiet"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        stop_when(tmp_path, process, 4, signal.SIGKILL)
        kept = journaled(tmp_path)
        time.sleep(0.5)  # a request sent just before the kill is counted by the server before we look
        before = server.calls
        done = evalgate("run", "--quiet", "--resume", cwd=tmp_path, env=env)
        assert done.returncode == ExitCode.PASS, done.stderr
        results = results_of(tmp_path)
        cache = results["run"]["cache"]
        assert server.calls - before == 12 - len(kept) - cache["hits"]  # the server's own count
        assert cache["hits"] + cache["misses"] == 12 - len(kept)  # kept cases never even read the cache
    by_id = {case["id"]: case for case in results["cases"]}
    for (case_id, _), line in kept.items():
        for field in ("latency_ms", "attempts", "wait_ms", "tokens_in", "tokens_out", "cached", "output"):
            assert by_id[case_id][field] == line[field], field
    assert (
        results["run"]["calls"]["requests"] == 12
    )  # one request per case, those made before the kill included
    assert ANTHROPIC_KEY not in (tmp_path / "results.json").read_text()


def test_retry_errors_completes_an_interrupted_run_s_results_file(tmp_path: Path) -> None:
    """A results file marked incomplete (SIGTERM): its aborted and errored case runs are rerun, the rest kept."""
    suite(tmp_path, COUNTED, cases=12, concurrency=2)
    (tmp_path / "flaky").touch()
    process = start_run(tmp_path)
    stop_when(tmp_path, process, 5, signal.SIGTERM)
    stopped = results_of(tmp_path)
    good = {case["id"] for case in stopped["cases"] if case["error"] is None}
    assert stopped["run"]["complete"] is False and "c3" not in good
    (tmp_path / "flaky").unlink()
    calls(tmp_path)

    done = evalgate(
        "check", "--quiet", "--retry-errors", "results.json", "--json", "verdict.json", cwd=tmp_path
    )

    assert done.returncode == ExitCode.PASS, done.stderr
    assert set(calls(tmp_path)) == {f"c{i}" for i in range(12)} - good
    results = results_of(tmp_path)
    assert results["run"]["complete"] is True and all(case["error"] is None for case in results["cases"])
    assert results["signature"]["assembled"]["cases_reused"] == len(good)
    assert json.loads((tmp_path / "verdict.json").read_text())["verdict"] == "pass"


def test_a_run_without_resume_replaces_a_stopped_run_s_journal_and_says_so(tmp_path: Path) -> None:
    suite(tmp_path, COUNTED, cases=8, concurrency=2)
    process = start_run(tmp_path)
    stop_when(tmp_path, process, 2, signal.SIGKILL)
    calls(tmp_path)
    done = evalgate("run", "--quiet", cwd=tmp_path)
    assert done.returncode == ExitCode.PASS
    assert "is replaced; `evalgate run --resume` would have continued it" in done.stderr
    assert sum(calls(tmp_path).values()) == 8 and "assembled" not in results_of(tmp_path)["signature"]


@pytest.mark.parametrize("repeats", [1, 2])
def test_a_run_assembled_wholly_from_a_journal_has_the_numbers_of_the_run_itself(
    tmp_path: Path, repeats: int
) -> None:
    """Every case run reused: the metrics (latency percentiles and their `measured` flags included), categories
    and case entries are those of the run that measured them, to the last bit; the model is not called."""
    from evalgate.metrics.base import runs_of

    suite(tmp_path, COUNTED, cases=10, extra=f"repeats: {repeats}\nmetrics: [exact_match, latency]\n")
    (tmp_path / "flaky").touch()
    assert evalgate("run", "--quiet", "--output", "full.json", cwd=tmp_path).returncode == ExitCode.PASS
    full = results_of(tmp_path, "full.json")
    header = {"evalgate_journal": 1, "suite": full["suite"], "signature": full["signature"]}
    lines = [header] + [
        {**run, "repeat": repeat, "scores": {}}
        for case in full["cases"]
        for repeat, run in enumerate(runs_of(case))
    ]
    (tmp_path / JOURNAL).write_text("".join(json.dumps(line) + "\n" for line in lines))
    calls(tmp_path)
    assert evalgate("run", "--quiet", "--resume", cwd=tmp_path).returncode == ExitCode.PASS
    assert calls(tmp_path) == Counter()
    assembled = results_of(tmp_path)
    assert assembled["signature"].pop("assembled") == {"resumed_from": JOURNAL, "cases_reused": 10 * repeats}
    for key in ("signature", "metric_keys", "metrics", "categories", "cases"):
        assert assembled[key] == full[key], key


def test_a_line_cut_short_by_the_kill_is_dropped_and_its_case_runs_again(tmp_path: Path) -> None:
    suite(tmp_path, COUNTED, cases=10, concurrency=2)
    process = start_run(tmp_path)
    stop_when(tmp_path, process, 3, signal.SIGKILL)
    kept = journaled(tmp_path)
    missing = sorted({f"c{i}" for i in range(10)} - {case_id for case_id, _ in kept})[0]
    line = json.dumps({"repeat": 0, **next(iter(kept.values())), "id": missing})
    with (tmp_path / JOURNAL).open("a") as journal:
        journal.write(line[: len(line) // 2])  # the kill landed in the middle of this write
    calls(tmp_path)
    done = evalgate("run", "--quiet", "--resume", cwd=tmp_path)
    assert done.returncode == ExitCode.PASS, done.stderr
    assert "the last line was cut short" in done.stderr and "Traceback" not in done.stderr
    assert missing in calls(tmp_path)
    assert results_of(tmp_path)["signature"]["assembled"]["cases_reused"] == len(kept)


def test_a_resumed_run_killed_in_its_turn_resumes_again(tmp_path: Path) -> None:
    suite(tmp_path, COUNTED, cases=16, concurrency=2)
    finished: set[str] = set()
    for args, stop_at in (((), 3), (("--resume",), 8)):
        process = start_run(tmp_path, *args)
        stop_when(tmp_path, process, stop_at, signal.SIGKILL)
        called = calls(tmp_path)
        assert not finished & set(called)  # what a journal held was never called again
        finished = {case_id for case_id, _ in journaled(tmp_path)}
    done = evalgate("run", "--quiet", "--resume", cwd=tmp_path)
    assert done.returncode == ExitCode.PASS, done.stderr
    assert set(calls(tmp_path)) == {f"c{i}" for i in range(16)} - finished
    results = results_of(tmp_path)
    assert results["run"]["complete"] is True and len(results["cases"]) == 16
    assert results["signature"]["assembled"]["cases_reused"] == len(finished)


def test_a_resumed_shard_merges_with_the_others(tmp_path: Path) -> None:
    """A shard killed and resumed is the same run's shard: `evalgate merge` takes it, and says it was assembled."""
    suite(tmp_path, COUNTED, cases=12, concurrency=2)
    assert (
        evalgate("run", "--quiet", "--shard", "1/2", "-o", "s1.json", cwd=tmp_path).returncode
        == ExitCode.PASS
    )
    process = start_run(tmp_path, "--shard", "2/2")
    stop_when(tmp_path, process, 2, signal.SIGKILL)
    assert evalgate("run", "--quiet", "--shard", "2/2", "--resume", cwd=tmp_path).returncode == ExitCode.PASS
    merged = evalgate("merge", "s1.json", "results.json", "--output", "merged.json", cwd=tmp_path)
    assert merged.returncode == ExitCode.PASS, merged.stderr
    results = results_of(tmp_path, "merged.json")
    assert len(results["cases"]) == 12 and results["run"]["complete"] is True
    assert results["signature"]["assembled"]["shards"]["results.json"]["resumed_from"] == JOURNAL
