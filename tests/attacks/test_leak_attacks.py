"""Leaks and log injection (issue 8, items 18 and 19).

Secrets: a server on 127.0.0.1 echoes back everything a request carried — the key in the header and in the URL —
in its error bodies and in its answers, through the real http provider (httpx) and the real anthropic and openai
SDKs. No part of any secret may reach a file evalgate writes, nor what it prints, nor the Action's outputs and
summary; the Action masks every variable the config reads.

Log injection: text from a results file or a dataset (a key holding `\\n::error ...::`, `::add-mask::`, `##[`,
ANSI escapes) must never reach the Actions log as a workflow command, nor a terminal as a control sequence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from httpkit import LocalServer
from hypothesis import given
from hypothesis import strategies as st

import entrypoint
from evalgate import cli, outbound
from evalgate.github import actions_io as gha
from evalgate.github.annotations import read_config_facts
from evalgate.github.inputs import mask_secrets
from tests.conftest import ROOT, write_suite

HEADER_SECRET = 'hdr-"q"-S3CR3T-Hx7Pz2Wm'  # JSON-escaped when a server quotes it back in JSON
QUERY_SECRET = "qk-S3CR3T-Tn4Rb8Vc"
ANTHROPIC_KEY = "sk-ant-S3CR3T-Zq8wYv2KpL"
GATEWAY_KEY = "gw-S3CR3T-Jf93kLq0Xa"  # an openai key under a name no heuristic knows (api_key_env)
SECRETS = (HEADER_SECRET, QUERY_SECRET, ANTHROPIC_KEY, GATEWAY_KEY)
PAD = 160  # the http provider keeps 200 characters of an error body: the echoed key straddles the cut


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every request by quoting what it carried: a 200 answer for inputs starting with "ok", else an
    error in the vendor's own format (anthropic, openai) or a plain-text 401 (http)."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        carried = (
            f"authorization={self.headers.get('authorization')} x-api-key={self.headers.get('x-api-key')}"
        )
        carried += f" url={self.path}"
        if self.path.startswith("/v1/messages"):
            self._send(401, {"type": "error", "error": {"type": "authentication_error", "message": carried}})
        elif self.path.startswith("/v1/chat/completions"):
            self._send(
                401, {"error": {"type": "invalid_request_error", "message": f"Incorrect key: {carried}"}}
            )
        elif str(body.get("input", "")).startswith("ok"):
            self._send(200, {"answer": f"you sent {carried}"})
        else:
            self._send(401, "x" * PAD + " denied " + carried)

    def _send(self, status: int, payload: object) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain" if isinstance(payload, str) else "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    with LocalServer(EchoHandler) as server:
        yield server.base_url


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EG_HEADER_SECRET", HEADER_SECRET)
    monkeypatch.setenv("EG_QUERY_KEY", QUERY_SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("MY_GATEWAY", GATEWAY_KEY)


CASES = "".join(
    json.dumps({"id": f"c{i}", "input": text, "expected": "x"}) + "\n"
    for i, text in enumerate(["ok-1", "fail-1", "ok-2", "fail-2"])
)
PROVIDERS = """
providers:
  http:
    type: http
    url: "{url}/answer?key=${{EG_QUERY_KEY}}"
    headers: {{Authorization: "Bearer ${{EG_HEADER_SECRET}}"}}
    output_path: answer
    max_attempts: 1
  anthropic: {{type: anthropic, model: claude-haiku-4-5, base_url: "{url}", max_attempts: 1}}
  openai: {{type: openai, model: gpt-4o-mini, base_url: "{url}/v1", api_key_env: MY_GATEWAY, max_attempts: 1}}
"""


def leak_suite(tmp_path: Path, url: str) -> Path:
    config = "suite: leak\ndatasets: [cases.jsonl]\ncache: {enabled: false}\n" + PROVIDERS.format(url=url)
    return write_suite(tmp_path, config, {"cases.jsonl": CASES})


def leaked(text: str) -> list[str]:
    """Every piece of a secret (8 characters or more, raw or JSON-escaped) found in `text`."""
    found = []
    for secret in SECRETS:
        for form in {secret, json.dumps(secret)[1:-1]}:
            pieces = {form[i : i + 8] for i in range(len(form) - 7)}
            found += sorted(piece for piece in pieces if piece in text)
    return found


def written_files(folder: Path) -> dict[str, str]:
    return {
        path.name: path.read_text(errors="replace")
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in (".json", ".md", ".html", ".xml", ".txt")
    }


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["http", "anthropic", "openai"])
def test_a_secret_echoed_by_the_server_reaches_no_output(
    tmp_path, capsys, echo_server, secret_env, provider
) -> None:
    config = leak_suite(tmp_path, echo_server)
    out = tmp_path / "out"
    argv = ["check", "-q", "-c", str(config), "--provider", provider, "--output", str(out / "results.json")]
    argv += ["--report", str(out / "report.md"), "--json", str(out / "verdict.json")]
    argv += ["--html", str(out / "report.html"), "--comment", str(out / "comment.md")]
    argv += ["--junit", str(out / "junit.xml")]
    code = cli.main(argv)
    printed = capsys.readouterr()
    assert code in (0, 1), printed.err
    results = json.loads((out / "results.json").read_text())
    errors = [case["error"] for case in results["cases"] if case["error"]]
    assert errors and all("[redacted]" in error for error in errors), errors  # the server did echo them
    files = written_files(out)
    assert set(files) == {
        "results.json",
        "report.md",
        "verdict.json",
        "report.html",
        "comment.md",
        "junit.xml",
    }
    for name, text in {**files, "stdout": printed.out, "stderr": printed.err}.items():
        assert leaked(text) == [], name


def test_the_http_error_excerpt_is_cut_after_redaction_so_no_half_secret_survives(
    tmp_path, capsys, echo_server, secret_env
) -> None:
    config = leak_suite(tmp_path, echo_server)
    cli.main(["run", "-q", "-c", str(config), "--provider", "http", "-o", str(tmp_path / "r.json")])
    capsys.readouterr()
    error = json.loads((tmp_path / "r.json").read_text())["cases"][1]["error"]
    assert error.startswith(
        "ProviderError: HTTP 401: " + "x" * PAD + " denied authorization=Bearer [redacted]"
    )


@pytest.mark.slow
def test_the_action_masks_every_variable_the_config_reads_and_writes_no_secret(
    tmp_path, echo_server, secret_env, capsys
) -> None:
    workspace = tmp_path / "workspace"
    leak_suite(workspace, echo_server)
    facts = read_config_facts(workspace / "evalgate.yaml")  # the Action runs the first provider: http
    assert facts.secret_env_names == {"EG_QUERY_KEY", "EG_HEADER_SECRET", "MY_GATEWAY", "ANTHROPIC_API_KEY"}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"full_name": "octo/repo", "default_branch": "main"}}))
    env = {
        "PYTHONPATH": str(ROOT),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GITHUB_EVENT_NAME": "schedule",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "INPUT_BASELINE": "none",
        "INPUT_FAIL_ON": "never",
        **{name: os.environ[name] for name in ("EG_HEADER_SECRET", "EG_QUERY_KEY", "MY_GATEWAY")},
    }
    cwd = Path.cwd()
    try:
        code = entrypoint.main(env)
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    lines = printed.out.splitlines()
    masked = {line.removeprefix("::add-mask::") for line in lines if line.startswith("::add-mask::")}
    assert {HEADER_SECRET, QUERY_SECRET, GATEWAY_KEY} <= masked
    unmasked = "\n".join(line for line in lines if not line.startswith("::add-mask::"))
    files = {**written_files(workspace / ".evalgate" / "out"), **written_files(tmp_path)}
    assert {"results.json", "report.md", "verdict.json", "comment.md", "summary.md", "output.txt"} <= set(
        files
    )
    for name, text in {**files, "stdout": unmasked, "stderr": printed.err}.items():
        assert leaked(text) == [], name


def test_mask_secrets_masks_the_named_variables_and_those_whose_name_says_secret(capsys) -> None:
    env = {
        "GITHUB_TOKEN": "ghs_tokenvalue1",
        "DB_PASSWORD": "pw-value-22",
        "PLAIN": "not-a-secret",
        "MINE": "mine-value-3",
    }
    mask_secrets(env, ["MINE"])
    masked = {line.removeprefix("::add-mask::") for line in capsys.readouterr().out.splitlines()}
    assert masked == {"ghs_tokenvalue1", "pw-value-22", "mine-value-3"}
    assert (
        outbound.redact("a ghs_tokenvalue1 b mine-value-3 c not-a-secret")
        == "a [redacted] b [redacted] c not-a-secret"
    )


def test_the_github_token_is_redacted_from_a_command_message_and_the_step_outputs(tmp_path, capsys) -> None:
    outbound.add_env_secrets({"GITHUB_TOKEN": "ghs_0123456789abcdef"})
    gha.error("the API said: bad credentials ghs_0123456789abcdef", file="evalgate.yaml", line=3)
    gha.write_outputs(tmp_path / "out.txt", {"headline": "token ghs_0123456789abcdef"})
    gha.write_summary(tmp_path / "summary.md", "token ghs_0123456789abcdef")
    texts = [capsys.readouterr().out, *(p.read_text() for p in tmp_path.iterdir())]
    assert all("ghs_0123456789abcdef" not in text and "[redacted]" in text for text in texts)


# -- log injection --------------------------------------------------------------------------------------------------

INJECTIONS = [
    "\n::error title=pwned::the gate passed",
    "\r\n::add-mask::accuracy",
    "\n   ::warning::indented",
    "\n\u2003::notice::after a unicode space",
    " ##[error]old-style command",
    "\x1b[2J\x1b[31mred",
    "\n::stop-commands::token",
]


def workflow_commands(text: str) -> list[str]:
    """Lines the Actions runner would take as workflow commands: `::` after leading blanks (C#'s TrimStart, which
    Python's lstrip covers), or `##[` anywhere (the old syntax)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if line.lstrip().startswith("::") or "##[" in line]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_log_text_leaves_no_workflow_command_and_no_control_character(payload) -> None:
    safe = outbound.log_text("evalgate: error: x.json: case " + payload + " is bad")
    assert workflow_commands(safe) == [] and "\x1b" not in safe and "\r" not in safe


@given(st.text())
def test_log_text_never_leaves_a_workflow_command(text: str) -> None:
    safe = outbound.log_text(text)
    assert workflow_commands(safe) == []
    assert not any((0 <= ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F for c in safe)


def real_results(tmp_path: Path, cases: str) -> tuple[Path, dict]:
    """A one-provider suite of these cases, run by `evalgate run`: its config and its results."""
    config = write_suite(
        tmp_path,
        "suite: s\ndatasets: [cases.jsonl]\nprovider: {type: python, target: m.py:f}\n",
        {"cases.jsonl": cases, "m.py": "def f(x):\n    return x\n"},
    )
    assert cli.main(["run", "-q", "-c", str(config), "-o", str(tmp_path / "run.json")]) == 0
    return config, json.loads((tmp_path / "run.json").read_text())


def test_the_entrypoint_copies_engine_stderr_without_letting_a_results_file_issue_commands(
    tmp_path, capsys
) -> None:
    """A metric key of a results file lands in the engine's error message (the schema path) and the entrypoint
    copied that stderr line by line into the log: the key's second line became a workflow command."""
    config, doc = real_results(tmp_path, '{"input": 1}\n')
    doc["metrics"] = {"accuracy" + "".join(INJECTIONS): "not an object"}
    hostile = tmp_path / "results.json"
    hostile.write_text(json.dumps(doc))
    capsys.readouterr()
    env = {
        "PYTHONPATH": str(ROOT),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }
    ending = entrypoint.run_engine(["gate", "--config", str(config), "--current", str(hostile)], env)
    printed = capsys.readouterr()
    assert ending.code == 2 and "not a valid evalgate results file: metrics.accuracy" in printed.err
    commands = workflow_commands(printed.out + "\n" + printed.err)
    assert commands and all(
        line.startswith("::error file=results.json,title=evalgate::") for line in commands
    )
    assert "\x1b" not in printed.out + printed.err


@pytest.mark.slow
def test_history_shows_hostile_case_ids_and_metric_names_inert(tmp_path, capsys) -> None:
    """Case ids and metric names come from results files; `evalgate history` printed them raw (ANSI escapes,
    `::` lines) in the flaky-case list and the metric table."""
    config, base = real_results(tmp_path, '{"id": "ok", "input": 1, "expected": 1}\n')
    hostile_id = "c1" + "".join(INJECTIONS)
    store = tmp_path / "history.sqlite"
    for run in range(8):
        doc = json.loads(json.dumps(base))
        doc["cases"].append({**doc["cases"][0], "id": hostile_id, "scores": {"accuracy": float(run % 2)}})
        doc["metrics"]["acc ##[error]x\x1b[31m"] = dict(doc["metrics"]["accuracy"])
        doc["metric_keys"]["acc ##[error]x\x1b[31m"] = dict(doc["metric_keys"]["accuracy"])
        doc["created_at"] = f"2026-01-0{run + 1}T00:00:00.000000Z"
        path = tmp_path / f"run{run}.json"
        path.write_text(json.dumps(doc))
        argv = ["history", "--config", str(config), "--history", str(store), "--append", str(path)]
        assert cli.main([*argv, "--branch", "main", "--sha", f"{run:040d}"]) == 0
    capsys.readouterr()
    assert cli.main(["history", "--config", str(config), "--history", str(store)]) == 0
    shown = capsys.readouterr().out
    assert "flaky cases" in shown and "c1" in shown and "acc" in shown
    assert workflow_commands(shown) == [] and "\x1b" not in shown
    assert cli.main(["history", "--config", str(config), "--history", str(store), "--json"]) == 0
    data = capsys.readouterr().out
    assert workflow_commands(data) == [] and "\x1b" not in data
    flaky = json.loads(data)["flaky"]["accuracy"]
    assert [case["id"] for case in flaky] == [hostile_id]  # the JSON still holds the exact id


@pytest.mark.slow
def test_a_dataset_error_quoting_hostile_text_prints_inert(tmp_path) -> None:
    config = write_suite(
        tmp_path,
        "suite: s\ndatasets: [cases.jsonl]\nprovider: {type: python, target: m.py:f}\n",
        {"cases.jsonl": json.dumps({"id": "a", "input": 1, "bad ##[error]key\x1b[0m": 1}) + "\n", "m.py": ""},
    )
    done = subprocess.run(
        [sys.executable, "-m", "evalgate", "run", "-q", "-c", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 2 and "unknown key" in done.stderr
    assert workflow_commands(done.stderr) == [] and "\x1b" not in done.stderr


def test_a_report_or_results_written_to_a_stream_never_issue_a_workflow_command(tmp_path) -> None:
    """`--report /dev/stdout` (or `--output /dev/stdout`) in a workflow step lands in the runner's log: a model
    output or judge reasoning holding `::error::` or `##[` inside a code block must stay text there."""
    from evalgate.commands._outputs import save_results
    from evalgate.files.fileio import write_text_atomic

    hostile = "answer:\n::error file=x::forged\n  ::set-output name=verdict::pass\n##[error]old syntax\n"
    results = {"suite": "s", "cases": [{"id": "c", "output": hostile}]}
    for write in (
        lambda p: write_text_atomic(p, "```text\n" + hostile + "```\n"),
        lambda p: save_results(p, results),
    ):
        read, written = os.pipe()
        write(f"/dev/fd/{written}")
        os.close(written)
        with os.fdopen(read, encoding="utf-8") as pipe:
            text = pipe.read()
        assert not [line for line in text.splitlines() if line.lstrip().startswith("::")], text
        assert "##[" not in text and "forged" in text
    assert json.loads(text) == results  # the JSON is the same value, only escaped
    write_text_atomic(tmp_path / "report.md", hostile)  # a file keeps the text as it is
    assert (tmp_path / "report.md").read_text() == hostile
