"""Hostile files and archives: each is one exit-2 message naming the file (and the line, where there is one),
quickly — never a traceback, a hang or a MemoryError (issue 8, items 15, 17 and 20).

Attacks that hung the old code run in a subprocess with a timeout, so the test fails instead of hanging.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from httpkit import LocalServer

from evalgate import cli
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.files.limits import MAX_DATA_FILE_BYTES, MAX_NESTING, MAX_TEXT_FILE_BYTES
from evalgate.github import artifacts, inputs, sources
from evalgate.github.artifacts import ArtifactError
from evalgate.github.client import ClientSettings, make_github
from evalgate.github.event import Event, load_event
from evalgate.judge.client import JudgeFormatError, parse_json_object
from tests.conftest import ROOT, write_suite

sys.path.insert(0, str(ROOT / "tests" / "github"))
from fake_github import FakeGitHub
from ghkit import REPO, TOKEN, make_zip, results_doc

QUICK = 30  # seconds: far more than any of these needs; the old code hung or took minutes

CONFIG = """
suite: s
datasets: [{dataset}]
provider: {{type: python, target: model.py:predict}}
"""
MODEL = "def predict(x):\n    return x\n"


def suite(tmp_path: Path, lines: str | None = None, *, dataset: str = "cases.jsonl", extra: str = "") -> Path:
    files = {"model.py": MODEL}
    if lines is not None:
        files[dataset] = lines
    return write_suite(tmp_path, CONFIG.format(dataset=dataset) + extra, files)


def evalgate(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    """`evalgate ARGV` in this process: the exit code and what it wrote to stderr."""
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def evalgate_process(*argv: str | Path, cwd: Path) -> tuple[int, str]:
    """`evalgate ARGV` as a process that must end within QUICK seconds (the old code hung on these)."""
    done = subprocess.run(
        [sys.executable, "-m", "evalgate", *map(str, argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=QUICK,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return done.returncode, done.stderr


def one_message(err: str) -> str:
    """The single `evalgate: error:` line the CLI printed (no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("evalgate: error:")]
    assert len(lines) == 1, err
    return lines[0]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- datasets ----------------------------------------------------------------------------------------------------


DATASET_VALUES = {  # what the old code did
    "950 levels deep": (
        nested(950),
        f"nested more than {MAX_NESTING} levels deep",
    ),  # ran; every later step crashed
    "5,000 levels deep": (nested(5000), f"nested more than {MAX_NESTING} levels deep"),  # RecursionError
    "a lone surrogate": (
        '"a\\ud800b"',
        "half of a UTF-16 surrogate pair",
    ),  # UnicodeEncodeError hashing the case
    "1e400": (
        "1e400",
        "beyond the range of a float",
    ),  # became infinity; the results write crashed after the run
    "-1e400": ("-1e400", "beyond the range of a float"),
    "a 401-digit integer": ("1" + "0" * 400, "has more than 308 digits"),  # no float can hold it
}


@pytest.mark.parametrize(("value", "problem"), DATASET_VALUES.values(), ids=DATASET_VALUES.keys())
def test_a_hostile_dataset_line_is_one_message_naming_its_line(tmp_path, capsys, value, problem) -> None:
    config = suite(tmp_path, f'{{"input": 1, "expected": 1}}\n{{"input": {value}, "expected": 1}}\n')
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 2 and not (tmp_path / "r.json").exists()
    assert re.search(rf"cases\.jsonl:2: .*{re.escape(problem)}", one_message(err))


def test_a_valid_surrogate_pair_and_a_literal_backslash_u_are_fine(tmp_path, capsys) -> None:
    lines = '{"input": "\\ud83d\\ude00", "expected": "\\ud83d\\ude00"}\n{"input": "\\\\ud800", "expected": "\\\\ud800"}\n'
    config = suite(tmp_path, lines)
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 0, err
    cases = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert [c["output"] for c in cases] == ["\U0001f600", "\\ud800"]


def test_a_symlink_loop_named_as_a_dataset_is_one_message(tmp_path, capsys) -> None:
    config = suite(tmp_path, dataset="loop")
    (tmp_path / "loop").symlink_to("loop")  # RuntimeError: Symlink loop (a traceback)
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 2 and "dataset 'loop' is a symbolic link loop" in one_message(err)


def test_a_symlink_loop_inside_a_dataset_folder_is_one_message(tmp_path, capsys) -> None:
    config = suite(tmp_path, dataset="data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text('{"input": 1}\n')
    (tmp_path / "data" / "b.jsonl").symlink_to("b.jsonl")
    (tmp_path / "data" / "up").symlink_to("..")  # a folder loop: not followed
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 2 and re.search(r"b\.jsonl: cannot read the dataset \(.*symbolic links", one_message(err))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_fifo_or_a_device_in_a_dataset_folder_is_refused_not_read(tmp_path, kind) -> None:
    config = suite(tmp_path, dataset="data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text('{"input": 1}\n')
    if kind == "fifo":
        os.mkfifo(tmp_path / "data" / "b.jsonl")  # reading it waits for a writer forever
        expected = "the dataset is a named pipe (FIFO), not a regular file"
    else:
        (tmp_path / "data" / "b.jsonl").symlink_to("/dev/zero")  # reading it never ends
        expected = "the dataset is a character device, not a regular file"
    code, err = evalgate_process("run", "-q", "-c", config, "-o", tmp_path / "r.json", cwd=tmp_path)
    assert code == 2 and f"b.jsonl: {expected}" in one_message(err)


def test_a_fifo_named_as_the_dataset_is_called_what_it_is(tmp_path, capsys) -> None:
    config = suite(tmp_path, dataset="cases.jsonl")
    os.mkfifo(tmp_path / "cases.jsonl")  # was "dataset not found"
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 2 and "cases.jsonl: the dataset is a named pipe (FIFO)" in one_message(err)


def test_a_dataset_file_beyond_the_size_limit_is_refused_before_reading(tmp_path, capsys) -> None:
    config = suite(tmp_path, "")
    os.truncate(tmp_path / "cases.jsonl", MAX_DATA_FILE_BYTES + 1)  # sparse: no disk, no memory
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 2 and "cases.jsonl: the dataset is larger than 1024 MiB" in one_message(err)


# -- answers of the model under test and of the judge -------------------------------------------------------------


def test_an_answer_nested_too_deep_is_invalid_json_not_a_crash_after_the_run(tmp_path, capsys) -> None:
    """json_valid/json_schema parsed a 5,000-level answer with json.loads: RecursionError after the whole run."""
    config = suite(tmp_path, '{"id": "deep", "input": 5000}\n{"id": "flat", "input": 1}\n')
    (tmp_path / "model.py").write_text("def predict(n):\n    return '[' * n + ']' * n\n")
    (tmp_path / "schema.json").write_text('{"type": "array"}')
    with config.open("a") as handle:
        handle.write("metrics: [json_valid, {json_schema: {schema: schema.json}}]\n")
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 0, err
    cases = {case["id"]: case["scores"] for case in json.loads((tmp_path / "r.json").read_text())["cases"]}
    assert [cases["deep"][key] for key in ("json_valid", "json_schema")] == [0.0, 0.0]
    assert [cases["flat"][key] for key in ("json_valid", "json_schema")] == [1.0, 1.0]


@pytest.mark.parametrize("reply", ['{"score": ' + nested(5000) + "}", '{"score": 1e400}'])
def test_a_hostile_judge_reply_is_a_format_error_not_a_crash(reply) -> None:
    with pytest.raises(JudgeFormatError, match="not valid JSON"):
        parse_json_object(reply)


# -- configs, thresholds and other YAML ----------------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> list[str]:
    """Nine anchors, each a list of nine aliases of the one before: 9^9 (387 million) values once expanded."""
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return lines


@pytest.mark.slow
def test_a_yaml_alias_bomb_in_the_config_is_refused_at_once(tmp_path) -> None:
    """It was a MemoryError after about a minute (the message about `description` quoted the expanded value)."""
    suite(tmp_path, '{"input": 1}\n')
    bomb = "\n".join("    " + line.strip() for line in alias_bomb())
    config = tmp_path / "evalgate.yaml"
    config.write_text(
        "suite: s\ndatasets: [cases.jsonl]\n"
        f"provider:\n  type: python\n  target: model.py:predict\n  kwargs:\n{bomb}\ndescription: *a8\n"
    )
    code, err = evalgate_process("run", "-q", "-c", config, "-o", tmp_path / "r.json", cwd=tmp_path)
    assert code == 2 and re.search(
        r"evalgate\.yaml:1: the YAML holds more than 100,000 values", one_message(err)
    )


def test_a_yaml_alias_bomb_in_a_thresholds_file_is_refused(tmp_path) -> None:
    config = suite(tmp_path, '{"input": 1}\n', extra="thresholds: limits.yaml\n")
    (tmp_path / "limits.yaml").write_text("anchors:\n" + "\n".join(alias_bomb()) + "\naccuracy: {min: 0.5}\n")
    with pytest.raises(InputError, match="more than 100,000 values") as caught:
        load_config(config)
    assert caught.value.file.endswith("limits.yaml")


@pytest.mark.slow
def test_a_yaml_alias_bomb_as_a_json_schema_is_refused(tmp_path) -> None:
    """yaml.safe_load built it cheaply; checking the schema then walked all 9^9 values (a hang)."""
    config = suite(tmp_path, '{"input": 1}\n', extra="metrics: [{json_schema: {schema: schema.yaml}}]\n")
    (tmp_path / "schema.yaml").write_text("anchors:\n" + "\n".join(alias_bomb()) + "\ntype: object\n")
    code, err = evalgate_process("run", "-q", "-c", config, "-o", tmp_path / "r.json", cwd=tmp_path)
    assert code == 2 and "schema.yaml:1: the YAML holds more than 100,000 values" in one_message(err)


@pytest.mark.parametrize(
    "text",
    [
        "suite: s\ndeep: " + nested(3000) + "\n",  # flow style: RecursionError in the composer
        "suite: s\n"
        + "".join("  " * i + f"k{i}:\n" for i in range(400))
        + "  " * 400
        + "x: 1\n",  # block style
    ],
)
def test_yaml_nested_too_deep_is_one_message_with_its_line(tmp_path, capsys, text) -> None:
    (tmp_path / "evalgate.yaml").write_text(text)
    code, err = evalgate(capsys, "run", "-q", "-c", tmp_path / "evalgate.yaml")
    assert code == 2 and re.search(
        rf"evalgate\.yaml:\d+: nested more than {MAX_NESTING} levels", one_message(err)
    )


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (
            "seed: 1" + "0" * 5000,
            "the integer 100000000000... has more than 308 digits",
        ),  # ValueError traceback
        ("timeout: 1.0e+400", "the number 1.0e+400 is beyond the range of a float"),  # silently infinite
    ],
    ids=["a 5,001-digit integer", "1.0e+400"],
)
def test_a_yaml_number_out_of_range_is_one_message_with_its_line(tmp_path, capsys, setting, problem) -> None:
    config = suite(tmp_path, '{"input": 1}\n', extra=setting + "\n")
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 2 and f"evalgate.yaml:4: {problem}" in one_message(err)


def test_a_written_yaml_infinity_is_read_as_one_and_refused_as_a_timeout(tmp_path, capsys) -> None:
    """`.inf` is a number to YAML, but no timeout may be infinite (a hung case would hang the run): the
    config's numbers must be finite (issue 8 #2; tests/attacks/test_gate_attacks.py has the others)."""
    config = suite(tmp_path, '{"input": 1}\n', extra="timeout: .inf\n")
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "r.json")
    assert code == 2 and "evalgate.yaml:4: the config.timeout must be a finite number, got .inf" in err


@pytest.mark.slow
def test_a_fifo_config_is_refused_not_waited_on(tmp_path) -> None:
    os.mkfifo(tmp_path / "evalgate.yaml")
    code, err = evalgate_process("run", "-q", "-c", tmp_path / "evalgate.yaml", cwd=tmp_path)
    assert code == 2 and "evalgate.yaml: the config file is a named pipe (FIFO)" in one_message(err)


@pytest.mark.slow
def test_a_fifo_thresholds_file_is_refused(tmp_path) -> None:
    config = suite(tmp_path, '{"input": 1}\n', extra="thresholds: limits.yaml\n")
    os.mkfifo(tmp_path / "limits.yaml")
    code, err = evalgate_process("run", "-q", "-c", config, cwd=tmp_path)
    assert code == 2 and "limits.yaml: the thresholds file is a named pipe (FIFO)" in one_message(err)


def test_a_config_beyond_the_size_limit_is_refused(tmp_path, capsys) -> None:
    config = suite(tmp_path, '{"input": 1}\n')
    os.truncate(config, MAX_TEXT_FILE_BYTES + 1)
    code, err = evalgate(capsys, "run", "-q", "-c", config)
    assert code == 2 and "the config file is larger than 16 MiB" in one_message(err)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("concurrency: 100000000", "concurrency must be from 1 to 1,024"),
        ("repeats: 1000000000", "repeats must be from 1 to 1,000"),  # a list of 10^9 jobs: MemoryError
        ("stats: {resamples: 1000000000000}", "resamples must be from 100 to 1,000,000"),
        (
            "provider: {type: python, target: model.py:predict, threads: 100000}",
            "threads must be from 1 to 1,024",  # started 100,000 threads: "can't start new thread"
        ),
        (
            "provider: {type: http, url: 'http://127.0.0.1:9', max_attempts: 1000000000}",
            "max_attempts must be from 1 to 100",
        ),
    ],
)
def test_absurd_sizes_are_refused_when_the_config_is_read(tmp_path, setting, message) -> None:
    config = write_suite(tmp_path, f"suite: s\ndatasets: [cases.jsonl]\n{setting}\n", {"cases.jsonl": "{}\n"})
    if "provider" not in setting:
        config.write_text(config.read_text() + "provider: {type: python, target: model.py:predict}\n")
    (tmp_path / "model.py").write_text(MODEL)
    with pytest.raises(InputError, match=re.escape(message)):
        load_config(config)


# -- results files, baselines, the history store ----------------------------------------------------------------


def results_with(tmp_path: Path, capsys) -> tuple[Path, Path]:
    """A real results file (evalgate run) and its config."""
    config = suite(
        tmp_path, '{"id": "a", "input": 1, "expected": 1}\n{"id": "b", "input": 2, "expected": 2}\n'
    )
    code, err = evalgate(capsys, "run", "-q", "-c", config, "-o", tmp_path / "results.json")
    assert code == 0, err
    return config, tmp_path / "results.json"


RESULTS_EDITS = {
    "990 levels deep": (
        lambda text: text.replace('"metadata": null', '"metadata": {"a": ' + nested(990) + "}", 1),
        "nested",
    ),
    "1e400": (
        lambda text: re.sub(r'"latency_ms": [0-9.]+', '"latency_ms": 1e400', text, count=1),
        "beyond the range",
    ),
    "a lone surrogate": (
        lambda text: text.replace('"id": "a"', '"id": "a\\udfff"', 1),
        "half of a UTF-16 surrogate pair",
    ),
}


@pytest.mark.parametrize("which", ["--current", "--baseline"])
@pytest.mark.parametrize(("edit", "problem"), RESULTS_EDITS.values(), ids=RESULTS_EDITS.keys())
def test_a_hostile_results_file_is_one_message_naming_it(tmp_path, capsys, which, edit, problem) -> None:
    config, results = results_with(tmp_path, capsys)
    hostile = tmp_path / "hostile.json"
    hostile.write_text(edit(results.read_text()))
    other = "--baseline" if which == "--current" else "--current"
    code, err = evalgate(capsys, "gate", "-c", config, which, hostile, other, results)
    assert code == 2
    assert re.search(rf"hostile\.json:\d+: .*{problem}", one_message(err))


@pytest.mark.slow
@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_as_a_results_file_is_refused_not_read(tmp_path, capsys, device) -> None:
    config, results = results_with(tmp_path, capsys)
    if device == "fifo":
        os.mkfifo(tmp_path / "baseline.json")
        device = tmp_path / "baseline.json"
    code, err = evalgate_process(
        "gate", "-c", config, "--current", results, "--baseline", device, cwd=tmp_path
    )
    assert code == 2 and re.search(r"the results file is a (character device|named pipe)", one_message(err))


@pytest.mark.slow
def test_a_fifo_as_the_history_store_is_refused(tmp_path) -> None:
    os.mkfifo(tmp_path / "history.sqlite")
    code, err = evalgate_process(
        "history", "--suite", "s", "--history", tmp_path / "history.sqlite", cwd=tmp_path
    )
    assert code == 2 and "the history store is a named pipe (FIFO)" in one_message(err)


def test_a_deep_event_payload_is_an_input_error(tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"repository": {"full_name": "o/r"}, "pad": ' + nested(5000) + "}")
    with pytest.raises(InputError, match="nested more than"):
        load_event("push", event)


# -- the Action: artifacts and folders ----------------------------------------------------------------------------


def raw_zip(
    entries: list[tuple[str, bytes]], *, encrypted: str | None = None, bad_crc: str | None = None
) -> bytes:
    """A zip with entries written as given (names unchecked), optionally one flagged encrypted or with a bad CRC."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the point of one of them
        for name, data in entries:
            bundle.writestr(zipfile.ZipInfo(name), data)
    archive = bytearray(buffer.getvalue())
    for name in filter(None, (encrypted, bad_crc)):
        with zipfile.ZipFile(io.BytesIO(bytes(archive))) as bundle:
            offset = bundle.getinfo(name).header_offset
        if name == encrypted:  # general purpose flag bit 0, in the local header and in the central directory
            archive[offset + 6] |= 1
            archive[bytes(archive).rfind(b"PK\x01\x02") + 8] |= 1
        else:  # one byte of the data flipped: the CRC no longer matches
            archive[offset + 30 + len(name.encode())] ^= 0xFF
    return bytes(archive)


RESULTS = json.dumps(results_doc())

ARCHIVES = {  # what the old code did instead of an ArtifactError
    "folder then file x": (
        raw_zip([("x/", b""), ("x", b"{}")]),
        "both a file and a folder named 'x'",
    ),  # IsADirectory
    "file then folder x": (
        raw_zip([("x", b"{}"), ("x/", b"")]),
        "both a file and a folder named 'x'",
    ),  # FileExists
    "file x, then x/y": (raw_zip([("x", b"{}"), ("x/y.json", b"{}")]), "both a file and a folder named 'x'"),
    "a file twice": (
        raw_zip([("a.json", b"1"), ("a.json", b"2")]),
        "holds 'a.json' twice",
    ),  # silently overwritten
    "1,200 folders deep": (raw_zip([("a/" * 1200 + "results.json", RESULTS.encode())]), "1201 folders deep"),
    "a name too long": (raw_zip([("a" * 300 + ".json", b"{}")]), "cannot be unpacked"),  # ENAMETOOLONG
    "an empty name": (raw_zip([("", b"{}")]), "unsafe path"),  # IsADirectoryError: the folder itself
    "encrypted": (
        raw_zip([("results.json", RESULTS.encode())], encrypted="results.json"),
        "cannot be unpacked",
    ),
    "a bad CRC": (
        raw_zip([("results.json", RESULTS.encode())], bad_crc="results.json"),
        "cannot be unpacked",
    ),
}


@pytest.mark.parametrize(("archive", "message"), ARCHIVES.values(), ids=ARCHIVES.keys())
def test_a_hostile_archive_is_one_artifact_error(tmp_path, archive, message) -> None:
    with pytest.raises(ArtifactError, match=re.escape(message)):
        artifacts.safe_extract(archive, tmp_path / "dest")


def test_an_archive_whose_headers_lie_about_its_size_is_still_stopped(tmp_path) -> None:
    archive = bytearray(make_zip({"big.json": "0" * 200_000}))
    central = bytes(archive).rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")  # claims 10 bytes unpacked
    with pytest.raises(ArtifactError, match=r"unpacks to more than 100000 bytes|cannot be unpacked"):
        artifacts.safe_extract(bytes(archive), tmp_path / "dest", max_bytes=100_000)


def test_a_deep_results_file_in_an_artifact_is_an_artifact_error(tmp_path) -> None:
    extracted = artifacts.safe_extract(make_zip({"results.json": nested(2000)}), tmp_path / "dest")
    with pytest.raises(ArtifactError, match=f"results.json: nested more than {MAX_NESTING} levels"):
        artifacts.find_results(extracted)


@pytest.mark.parametrize("name", ["results.json", "context.json"])
def test_the_second_stage_refuses_a_deep_results_or_context_file_with_exit_2(tmp_path, name) -> None:
    """The fork-safe second stage reads both from the first stage's artifact: a RecursionError traceback before."""
    files = {"results.json": RESULTS, "context.json": "{}", name: '{"a": ' + nested(2000) + "}"}
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_GITHUB_TOKEN": TOKEN}
    event = Event(
        name="workflow_run",
        mode="workflow_run",
        repository=REPO,
        default_branch="main",
        head_sha="a" * 40,
        workflow_run_id=777,
    )
    with FakeGitHub(REPO, TOKEN) as fake:
        fake.add_run(
            head_sha="a" * 40, event="pull_request", branch="feature", head_repo="mallory/repo", run_id=777
        )
        fake.add_artifact(777, "evalgate-results", make_zip(files))
        gh = make_github(TOKEN, fake.url, ClientSettings(retries=1, backoff=0))
        with pytest.raises(InputError, match=f"{name}: nested more than {MAX_NESTING} levels"):
            sources.fetch_triggering_results(inputs.read_settings(env), event, gh, tmp_path / "scratch")


def test_a_redirect_without_a_location_is_an_artifact_error(tmp_path) -> None:
    """requests' headers["Location"] was a KeyError traceback."""

    class NoLocation(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with LocalServer(NoLocation) as server, pytest.raises(ArtifactError, match="302 without a Location"):
        artifacts.download(f"{server.base_url}/zip", TOKEN)


@pytest.mark.parametrize("output_dir", ["/abs/out", "../..", "../outside", "escape"])
def test_an_output_dir_outside_the_workspace_is_refused(tmp_path, output_dir) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "escape").symlink_to(tmp_path)  # a folder of the PR that links out of the workspace
    env = {
        "GITHUB_WORKSPACE": str(workspace),
        "INPUT_OUTPUT_DIR": output_dir,
        "INPUT_WORKING_DIRECTORY": "sub" if output_dir == "../outside" else ".",
    }
    if output_dir == "../outside":
        env["INPUT_OUTPUT_DIR"] = "../../outside"
    with pytest.raises(InputError, match=r"input output_dir is .* outside the workspace"):
        inputs.read_settings(env)


def test_an_output_dir_inside_the_workspace_is_accepted_in_any_spelling(tmp_path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "sub").mkdir(parents=True)
    for value in (".evalgate/out", str(workspace / "out"), "../sub-sibling-out"):
        env = {
            "GITHUB_WORKSPACE": str(workspace),
            "INPUT_OUTPUT_DIR": value,
            "INPUT_WORKING_DIRECTORY": "sub",
        }
        assert inputs.read_settings(env).output_dir == value


def test_an_absurd_sample_input_is_an_input_error_not_a_traceback(tmp_path) -> None:
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_SAMPLE": "9" * 5000}  # int() refuses 4,300+ digits
    with pytest.raises(InputError, match="input sample"):
        inputs.read_settings(env)
    with pytest.raises(InputError, match="input sample"):
        inputs.read_settings({**env, "INPUT_SAMPLE": "²"})  # a digit to str.isdigit, not to int()


# -- the test suite itself (item 20) ------------------------------------------------------------------------------

FIXTURE_READERS = [
    "tests/test_stats.py",
    "tests/history/test_drift.py",
    "tests/judge/test_ratings.py",
    "tests/metrics/test_reference_vectors.py",
    "tests/github/test_gh_event.py",
]


def test_no_test_reads_a_file_outside_the_repository() -> None:
    """A fresh clone has nothing beside it: no test names /work or a shared folder beside the checkout (the
    container tests take their tool from EVALGATE_CONTAINER_TOOL, which .ci/run sets)."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path == Path(__file__):
            continue
        text = path.read_text()
        if re.search(r"/work/|\.\./shared|shared/(fixtures|tools)|find_shared|shared_dir", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.slow
def test_the_fixture_readers_pass_in_a_copy_of_the_repository_with_nothing_beside_it(tmp_path) -> None:
    """The tests that read published reference values and event payloads, run from a copy of the tracked files
    (as a clone would have them) in a folder with no shared/ anywhere above it."""
    copy = tmp_path / "clone"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            target = copy / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    assert not any((parent / "shared").exists() for parent in copy.parents)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FIXTURE_READERS],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
