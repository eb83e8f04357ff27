"""Hostile runs, as a user's code can make them: every path ends in a verdict, a documented non-zero code, or a
per-case error, and a finished run is never lost.

Each test runs the real `evalgate` command in its own process (`python -m evalgate`, the supervisor included).
Issue 8: #4 (no verdict, no green), #9 (a run that stopped early), #13 (outputs JSON cannot hold), #14 (output
paths), #16 (a target that blocks the event loop).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
from httpkit import LocalServer

from evalgate.process.exitcodes import ExitCode, for_signal
from tests.conftest import ROOT

# every test runs whole evalgate processes against hostile targets (signals, hangs, forks): the full suite only
pytestmark = pytest.mark.slow

CASES = 4


def evalgate(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evalgate", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def suite(
    tmp_path: Path,
    model: str,
    *,
    extra: str = "",
    cases: int = CASES,
    timeout: float = 2,
    concurrency: int = 2,
) -> Path:
    """A suite of `cases` cases (input "c<i>", expected "C<i>") whose python target is `model`'s `target`."""
    (tmp_path / "model.py").write_text(textwrap.dedent(model))
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    lines = [json.dumps({"id": f"c{i}", "input": f"c{i}", "expected": f"C{i}"}) for i in range(cases)]
    (data / "typical.jsonl").write_text("\n".join(lines) + "\n")
    config = tmp_path / "evalgate.yaml"
    config.write_text(
        "suite: attacks\ndatasets: [data]\nprovider: {type: python, target: 'model.py:predict'}\n"
        f"concurrency: {concurrency}\ntimeout: {timeout}\n{extra}"
    )
    return config


CHECK = ("check", "--config", "evalgate.yaml", "--output", "results.json")


def check(tmp_path: Path, *more: str, **kwargs) -> subprocess.CompletedProcess:
    return evalgate(*CHECK, "--quiet", *more, cwd=tmp_path, **kwargs)


def results_of(tmp_path: Path, name: str = "results.json") -> dict:
    return json.loads((tmp_path / name).read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN


def errors_of(results: dict) -> dict[str, str | None]:
    return {case["id"]: case["error"] for case in results["cases"]}


# -- #4: a process that ends without a verdict is never exit 0 ------------------------------------------------


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("import os\ndef predict(x):\n    os._exit(0)\n", ExitCode.NO_RESULT),
        (  # from a thread of the target, while the call itself returns normally
            "import os, threading, time\n"
            "def predict(x):\n    threading.Thread(target=os._exit, args=(0,)).start()\n    time.sleep(1)\n"
            "    return x.upper()\n",
            ExitCode.NO_RESULT,
        ),
        # C exit() from a worker thread: the process ends, or crashes while the main thread still runs
        (
            "import ctypes\ndef predict(x):\n    ctypes.CDLL(None).exit(0)\n",
            (ExitCode.NO_RESULT, for_signal(11)),
        ),
        ("import os, signal\ndef predict(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n", for_signal(9)),
        ("import os, signal\ndef predict(x):\n    os.kill(os.getpid(), signal.SIGSEGV)\n", for_signal(11)),
        ("import os\ndef predict(x):\n    return x.upper()\nos._exit(0)\n", ExitCode.NO_RESULT),  # at import
    ],
    ids=["os._exit", "os._exit-in-a-thread", "c-exit", "sigkill", "sigsegv", "exit-at-import"],
)
def test_a_target_that_ends_the_process_is_never_a_pass(tmp_path: Path, model: str, code) -> None:
    suite(tmp_path, model)
    result = check(tmp_path, "--json", "verdict.json")
    assert result.returncode in (code if isinstance(code, tuple) else (code,)), result.stderr
    assert "nothing was judged" in result.stderr
    assert not (tmp_path / "verdict.json").exists()


def test_sys_exit_from_a_target_is_that_case_s_error(tmp_path: Path) -> None:
    suite(
        tmp_path,
        "import sys\ndef predict(x):\n    if x == 'c1':\n        sys.exit(0)\n    return x.upper()\n",
    )
    result = check(tmp_path)
    assert result.returncode == ExitCode.FAIL, result.stderr  # 1 error in 4 cases: too many to trust
    assert errors_of(results_of(tmp_path))["c1"].startswith("SystemExit")


def test_sys_exit_from_a_scorer_is_no_result(tmp_path: Path) -> None:
    (tmp_path / "scorer.py").write_text("import sys\ndef score(output, expected, case):\n    sys.exit(0)\n")
    suite(
        tmp_path,
        "def predict(x):\n    return x.upper()\n",
        extra="metrics: [accuracy, {custom: {function: 'scorer.py:score'}}]\n",
    )
    result = check(tmp_path)
    assert result.returncode == ExitCode.NO_RESULT, result.stderr
    assert "sys.exit(0)" in result.stderr


def test_a_target_that_forks_workers_which_os_exit_still_runs(tmp_path: Path) -> None:
    """multiprocessing's fork workers end with os._exit: legitimate, and the supervisor must not mind.

    Each call forks one multiprocessing.Process that answers through a Pipe. A fork Pool was used before, and hung
    a case now and then under load (CI): forking a process while another of its threads holds a lock (the Pool's
    own handler threads hold its queues' locks) leaves the child waiting on that lock forever, a hazard of the
    target's, not of the supervisor's."""
    suite(
        tmp_path,
        """
        import multiprocessing

        def answer(connection, x):
            connection.send(x.upper())
            connection.close()

        def predict(x):
            context = multiprocessing.get_context("fork")
            receiving, sending = context.Pipe(duplex=False)
            worker = context.Process(target=answer, args=(sending, x))
            worker.start()
            sending.close()
            value = receiving.recv()
            worker.join()
            return value
        """,
        timeout=60,  # starting a process takes seconds on a loaded machine
    )
    result = check(tmp_path)
    assert result.returncode == ExitCode.PASS, result.stderr
    assert results_of(tmp_path)["metrics"]["accuracy"]["value"] == 1.0


def test_a_thread_that_never_ends_does_not_hold_the_verdict(tmp_path: Path) -> None:
    """A non-daemon thread keeps the interpreter from exiting; the command has finished and reported."""
    suite(
        tmp_path,
        """
        import threading, time

        def predict(x):
            threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
            return x.upper()
        """,
    )
    began = time.monotonic()
    result = check(tmp_path, timeout=60)
    assert result.returncode == ExitCode.PASS, result.stderr
    assert "still running" in result.stderr
    assert time.monotonic() - began < 40


# -- stop signals: the results so far are written, marked incomplete, and the code says which signal -----------


SLOW = (  # each case leaves a mark, so the test knows the run is under way
    "import time\nfrom pathlib import Path\ndef predict(x):\n    time.sleep(0.4)\n    Path('done-' + x).touch()\n"
    "    return x.upper()\n"
)


@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_a_stop_signal_mid_run_keeps_the_results_marked_incomplete(
    tmp_path: Path, signum: int, group: bool
) -> None:
    """SIGTERM to the evalgate process (a CI runner, docker stop); SIGINT to its process group (Ctrl-C)."""
    suite(tmp_path, SLOW, cases=40, concurrency=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "evalgate", *CHECK, "--json", "verdict.json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("done-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == for_signal(signum), stderr
    assert "RUN INCOMPLETE" in stderr and "Traceback" not in stderr
    results = results_of(tmp_path)
    assert results["run"]["complete"] is False
    name = signal.Signals(signum).name
    assert results["run"]["aborted"] == f"interrupted by {name}"
    errors = errors_of(results)
    finished = [case for case, error in errors.items() if error is None]
    assert 0 < len(finished) < 40
    assert results["run"]["not_run"] == 40 - len(finished)
    assert all(error == f"aborted: interrupted by {name}" for error in errors.values() if error)
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "fail" and verdict["headline"].startswith("run incomplete")


# -- #9: a run that stopped early (a spent budget) says so and is never a pass --------------------------------


class Endpoint:
    """A team's HTTP endpoint on 127.0.0.1: answers `{"answer": ..., "usage": {"in": 10, "out": 10}}`, with
    the raw JSON bodies of `raw` for some questions (NaN, a lone surrogate). Counts its calls."""

    raw: ClassVar[dict[str, bytes]] = {
        "nan": b'{"answer": NaN}',
        "surrogate": b'{"answer": "\\ud800 broken"}',
        "inf": b'{"answer": 1e999}',
    }

    def __init__(self) -> None:
        self.calls = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                endpoint.calls += 1
                if self.path.endswith("/v1/messages"):  # the Anthropic Messages API, for the real SDK
                    data = endpoint.anthropic_answer(body)
                else:
                    question = str(body.get("input"))
                    data = (
                        endpoint.raw.get(question)
                        or json.dumps({"answer": question.upper(), "usage": {"in": 10, "out": 10}}).encode()
                    )
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = LocalServer(Handler).start()
        self.url = f"{self.server.base_url}/answer"

    @staticmethod
    def anthropic_answer(body: dict) -> bytes:
        content = body["messages"][-1]["content"]
        question = content if isinstance(content, str) else content[0]["text"]
        text = '"\\ud83d truncated"' if question == "surrogate" else json.dumps(question.upper())
        return (
            '{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", '
            f'"content": [{{"type": "text", "text": {text}}}], "stop_reason": "end_turn", '
            '"stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 5}}'
        ).encode()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


def http_suite(tmp_path: Path, endpoint: Endpoint, inputs: list[str], extra: str = "") -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = [json.dumps({"id": text, "input": text, "expected": text.upper()}) for text in inputs]
    (data / "typical.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "evalgate.yaml").write_text(
        "suite: attacks\ndatasets: [data]\nconcurrency: 1\n"
        f"provider: {{type: http, url: '{endpoint.url}', output_path: answer, tokens_in_path: usage.in, "
        f"tokens_out_path: usage.out}}\n{extra}"
    )


BUDGET = "budget: {max_tokens: 50}\n"  # 20 tokens a call: the third call crosses it, the rest are never made


def test_a_budget_stop_is_exit_3_for_run_and_loud(tmp_path: Path, endpoint: Endpoint) -> None:
    http_suite(tmp_path, endpoint, [f"q{i}" for i in range(10)], BUDGET)
    result = evalgate("run", "--config", "evalgate.yaml", "--output", "results.json", "--quiet", cwd=tmp_path)
    assert result.returncode == ExitCode.INCOMPLETE, result.stderr
    assert "RUN INCOMPLETE: budget exceeded" in result.stderr
    results = results_of(tmp_path)
    assert results["run"]["complete"] is False and results["run"]["not_run"] == 10 - endpoint.calls == 7
    # the results file of an incomplete run never passes the gate, even with no rule it breaks
    gated = evalgate("gate", "--current", "results.json", "--config", "evalgate.yaml", cwd=tmp_path)
    assert gated.returncode == ExitCode.INCOMPLETE, gated.stdout + gated.stderr
    assert "FAIL: run incomplete: budget exceeded" in gated.stdout


def test_a_budget_stop_in_check_is_exit_3_with_a_failing_verdict(tmp_path: Path, endpoint: Endpoint) -> None:
    http_suite(tmp_path, endpoint, [f"q{i}" for i in range(10)], BUDGET + "gate: {error_rate: {max: 1.0}}\n")
    result = check(tmp_path, "--json", "verdict.json")
    assert result.returncode == ExitCode.INCOMPLETE, result.stderr
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "fail" and verdict["exit_code"] == ExitCode.INCOMPLETE
    assert verdict["reasons"][0]["rule"] == "complete"
    assert "7 case runs never finished" in verdict["headline"]


# -- #13: outputs JSON cannot hold are per-case errors (or cleaned by the documented rule), never cached ------


PYTHON_OUTPUTS = """
import math, numpy

def cyclic():
    items = []
    items.append(items)
    return items

def deep():
    value = []
    for _ in range(500):
        value = [value]
    return value

OUTPUTS = {
    "nan": lambda: {"score": math.nan, "label": "x"},
    "inf": lambda: [1.0, -math.inf],
    "bytes-bad": lambda: b"\\xff\\xfe",
    "surrogate": lambda: "broken \\ud83d",
    "generator": lambda: (x for x in "ab"),
    "cycle": cyclic,
    "huge-int": lambda: 10 ** 5000,
    "deep": deep,
    "object": lambda: object(),
    "tuple-key": lambda: {(1, 2): "a"},
    "bytes-ok": lambda: "BYTES-OK".encode(),
    "set": lambda: {"b", "a"},
    "numpy": lambda: numpy.array([1.5, 2.5]),
    "fine": lambda: "FINE",
}

def predict(x):
    return OUTPUTS[x]()
"""
PYTHON_ERRORS = {
    "nan": "output.score is NaN",
    "inf": "output[1] is infinite",
    "bytes-bad": "output is bytes that are not UTF-8",
    "surrogate": "output holds a lone surrogate",
    "generator": "output is a generator",
    "cycle": "output[0] contains itself",
    "huge-int": "more than 4,300 digits",
    "deep": "nested deeper than 100 levels",
    "object": "output is a object",
    "tuple-key": "output has the key (1, 2)",
}


def test_python_outputs_json_cannot_hold_are_case_errors_and_the_results_are_written(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(PYTHON_OUTPUTS)
    (tmp_path / "data").mkdir()
    ids = [*PYTHON_ERRORS, "bytes-ok", "set", "numpy", "fine"]
    (tmp_path / "data" / "typical.jsonl").write_text(
        "".join(json.dumps({"id": i, "input": i, "expected": i.upper()}) + "\n" for i in ids)
    )
    (tmp_path / "evalgate.yaml").write_text(
        "suite: attacks\ndatasets: [data]\nprovider: {type: python, target: 'model.py:predict'}\n"
    )
    result = check(tmp_path)
    assert result.returncode == ExitCode.FAIL, result.stderr  # too many errors to trust: never a pass
    assert "Traceback" not in result.stderr
    results = results_of(tmp_path)
    errors = errors_of(results)
    for case_id, needle in PYTHON_ERRORS.items():
        assert errors[case_id] and needle in errors[case_id], (case_id, errors[case_id])
    outputs = {case["id"]: case["output"] for case in results["cases"]}
    assert (
        outputs["bytes-ok"] == "BYTES-OK" and outputs["set"] == ["a", "b"] and outputs["numpy"] == [1.5, 2.5]
    )
    assert errors["fine"] is None and errors["bytes-ok"] is None


def test_a_command_worker_answering_nan_is_a_case_error(tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(
        "import json, sys\nfor line in sys.stdin:\n    request = json.loads(line)\n"
        "    output = 'NaN' if request['input'] == 'nan' else json.dumps(request['input'].upper())\n"
        "    print('{\"id\": %s, \"output\": %s}' % (json.dumps(request['id']), output), flush=True)\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "typical.jsonl").write_text(
        "".join(json.dumps({"id": i, "input": i, "expected": i.upper()}) + "\n" for i in ("nan", "a", "b"))
    )
    (tmp_path / "evalgate.yaml").write_text(
        f"suite: attacks\ndatasets: [data]\nprovider: {{type: command, command: ['{sys.executable}', worker.py]}}\n"
    )
    result = check(tmp_path)
    assert result.returncode == ExitCode.FAIL, result.stderr
    errors = errors_of(results_of(tmp_path))
    assert "output is NaN" in errors["nan"] and errors["a"] is None


def test_an_http_answer_of_nan_is_a_case_error_and_never_cached(tmp_path: Path, endpoint: Endpoint) -> None:
    http_suite(tmp_path, endpoint, ["nan", "surrogate", "inf", "fine"])
    for attempt in (1, 2):  # the rerun asks again: nothing bad was cached, and it does not crash either
        result = check(tmp_path)
        assert result.returncode == ExitCode.FAIL, result.stderr
        errors = errors_of(results_of(tmp_path))
        assert "output is NaN" in errors["nan"]
        assert "lone surrogate" in errors["surrogate"]
        assert "output is infinite" in errors["inf"]
        assert errors["fine"] is None
        assert endpoint.calls == 4 + 3 * (attempt - 1)  # the good answer came from the cache the second time
    cache = next(tmp_path.glob(".evalgate/cache/*.sqlite"))
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 1


def test_an_anthropic_answer_with_a_lone_surrogate_is_a_case_error(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    """The real anthropic SDK against a server whose JSON answer holds an escaped lone surrogate."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "typical.jsonl").write_text(
        "".join(
            json.dumps({"id": i, "input": i, "expected": i.upper()}) + "\n" for i in ("surrogate", "fine")
        )
    )
    (tmp_path / "evalgate.yaml").write_text(
        "suite: attacks\ndatasets: [data]\n"
        f"provider: {{type: anthropic, model: claude-haiku-4-5, base_url: '{endpoint.url.rsplit('/', 1)[0]}'}}\n"
    )
    result = check(tmp_path, env={"ANTHROPIC_API_KEY": "test-key"})
    assert result.returncode == ExitCode.FAIL, result.stderr
    errors = errors_of(results_of(tmp_path))
    assert "output holds a lone surrogate" in errors["surrogate"] and errors["fine"] is None
    cache = next(tmp_path.glob(".evalgate/cache/*.sqlite"))
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 1  # only the good answer


# -- #14: output paths are checked before the run; a late failure keeps the results and says where -----------


MARKER_MODEL = "from pathlib import Path\ndef predict(x):\n    Path('called').touch()\n    return x.upper()\n"


@pytest.mark.parametrize(
    ("option", "path", "needle"),
    [
        ("--output", "", "--output is empty"),
        ("--output", "folder", "--output is a folder"),
        ("--output", "file.txt/results.json", "is a file, not a folder"),
        ("--report", "file.txt/deeper/report.md", "is a file, not a folder"),
        ("--json", "/proc/evalgate-verdict.json", "cannot be written"),  # a read-only file system
        ("--html", "loop.html", "cannot use this path"),  # a symlink loop
        ("--junit", "results.json", "--junit names the same file as --output"),
        ("--comment", "evalgate.yaml", "same file as the input --config"),
    ],
)
def test_an_unwritable_output_is_exit_2_before_the_run(
    tmp_path: Path, option: str, path: str, needle: str
) -> None:
    suite(tmp_path, MARKER_MODEL)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("a file")
    (tmp_path / "loop.html").symlink_to(tmp_path / "loop.html")
    result = check(tmp_path, option, path)
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "called").exists()  # nothing ran
    assert (tmp_path / "file.txt").read_text() == "a file"


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--from", "data/typical.jsonl", "--out", "file.txt/new.jsonl"],
        ["compare", "--a", "default", "--b", "default", "--output", "folder"],
    ],
    ids=["generate", "compare"],
)
def test_the_other_commands_check_their_outputs_before_calling_a_model(
    tmp_path: Path, argv: list[str]
) -> None:
    suite(tmp_path, MARKER_MODEL)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("a file")
    result = evalgate(*argv, cwd=tmp_path)
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert ("is a file, not a folder" in result.stderr) or ("--output is a folder" in result.stderr)
    assert not (tmp_path / "called").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_exit_2_before_the_run(tmp_path: Path) -> None:
    suite(tmp_path, MARKER_MODEL)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = check(tmp_path, "--report", "locked/report.md")
    assert result.returncode == ExitCode.BAD_INPUT and "no file can be created" in result.stderr
    assert not (tmp_path / "called").exists()


@pytest.fixture
def full_disk(tmp_path: Path) -> str:
    """A device like /dev/full (every write: ENOSPC, as a disk that filled up during the run), made in tmp_path
    so that a regression that replaces devices cannot break the machine's own /dev."""
    device = tmp_path / "full"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("cannot make a device node here (no CAP_MKNOD)")
    return str(device)


def test_a_full_disk_at_the_end_keeps_the_results_and_says_where(tmp_path: Path, full_disk: str) -> None:
    suite(tmp_path, "def predict(x):\n    return x.upper()\n")
    result = check(tmp_path, "--output", full_disk)
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert "No space left on device" in result.stderr
    kept = Path(result.stderr.split("the results were kept in ")[1].split(" ")[0])
    try:
        assert json.loads(kept.read_text())["metrics"]["accuracy"]["value"] == 1.0
    finally:
        kept.unlink()


def test_a_report_that_cannot_be_written_after_the_verdict_is_exit_2(tmp_path: Path, full_disk: str) -> None:
    suite(tmp_path, "def predict(x):\n    return x.upper()\n")
    result = check(tmp_path, "--report", full_disk)
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert "PASS" in result.stdout  # the verdict was reached and shown
    assert f"{full_disk}: cannot write this report" in result.stderr
    assert stat.S_ISCHR(os.lstat(full_disk).st_mode)
    assert results_of(tmp_path)["metrics"]["accuracy"]["value"] == 1.0


def test_a_symlinked_output_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    suite(tmp_path, "def predict(x):\n    return x.upper()\n")
    (tmp_path / "kept").mkdir()
    (tmp_path / "results.json").symlink_to(tmp_path / "kept" / "results.json")  # dangling until written
    (tmp_path / "report.md").symlink_to(tmp_path / "kept" / "report.md")
    (tmp_path / "kept" / "report.md").write_text("OLD REPORT")
    assert check(tmp_path, "--report", "report.md").returncode == ExitCode.PASS
    for name in ("results.json", "report.md"):
        assert (tmp_path / name).is_symlink()
    assert json.loads((tmp_path / "kept" / "results.json").read_text())["suite"] == "attacks"
    assert "Suite **attacks**" in (tmp_path / "kept" / "report.md").read_text()


def test_a_fifo_or_dev_stdout_as_output_is_written_to_not_replaced(tmp_path: Path) -> None:
    suite(tmp_path, "def predict(x):\n    return x.upper()\n")
    fifo = tmp_path / "verdict.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    stdout = tmp_path / "stdout"  # what /dev/stdout is, made here: a regression must not replace the real one
    stdout.symlink_to("/proc/self/fd/1")
    result = check(tmp_path, "--json", str(fifo), "--report", str(stdout))
    reader.join(timeout=60)
    assert result.returncode == ExitCode.PASS, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and stdout.is_symlink()
    assert json.loads(received[0])["verdict"] == "pass"
    assert "Suite **attacks**" in result.stdout  # the report went to stdout


# -- #16: a target that blocks the event loop, or a thread that never returns --------------------------------


@pytest.mark.parametrize(
    ("model", "error"),
    [
        (
            "import time\nasync def predict(x):\n    if x == 'c1':\n        time.sleep(3600)\n    return x.upper()\n",
            "timeout after 1s: the target blocked the event loop for 1.",
        ),
        (  # a sync call that never returns: its thread is abandoned, and does not keep the process alive
            "import time\ndef predict(x):\n    if x == 'c1':\n        time.sleep(3600)\n    return x.upper()\n",
            "timeout after 1s",
        ),
    ],
    ids=["async-blocks-the-loop", "sync-never-returns"],
)
def test_a_target_that_never_returns_times_out_and_the_run_finishes(
    tmp_path: Path, model: str, error: str
) -> None:
    suite(tmp_path, model, timeout=1)
    began = time.monotonic()
    result = check(tmp_path, timeout=60)
    assert time.monotonic() - began < 40
    assert result.returncode == ExitCode.FAIL, result.stderr
    errors = errors_of(results_of(tmp_path))
    assert errors["c1"].startswith(error) and (error != "timeout after 1s" or errors["c1"] == error)
    assert [case for case, message in errors.items() if message] == ["c1"]


def test_an_async_target_that_will_not_be_interrupted_ends_the_run_with_a_reason(tmp_path: Path) -> None:
    suite(
        tmp_path,
        """
        import time

        async def predict(x):
            while True:
                try:
                    time.sleep(3600)
                except BaseException:
                    pass
        """,
        timeout=1,
    )
    result = check(tmp_path, timeout=60)
    assert result.returncode == ExitCode.NO_RESULT, result.stderr
    assert "blocked the event loop" in result.stderr and "could not be interrupted" in result.stderr
