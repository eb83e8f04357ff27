"""The run's journal (evalgate/journal.py): what a line holds, what a torn or foreign journal does, and the lock.

The end-to-end runs that are stopped, killed and resumed are in tests/test_resume.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evalgate.contracts.cases import CallTiming, Case, CaseResult, Output
from evalgate.errors import InputError
from evalgate.journal import Journal, RunJournal, read_journal, result_of
from evalgate.results import case_record

CASES = [Case(id=f"c{i}", input=f"c{i}", expected=f"C{i}") for i in range(3)]
HEADER = {"evalgate_journal": 1, "suite": "s", "signature": {"config": "sha256:1"}}


def runs_of(case_id: str) -> int | None:
    return 2 if case_id in {case.id for case in CASES} else None


def plan(path: Path, **more) -> RunJournal:
    return RunJournal(
        path=path,
        suite="s",
        cases=CASES,
        repeats=2,
        signature_for=lambda fp: {"datasets": "sha256:d", "metrics": "sha256:m", "provider": fp},
        **more,
    )


RESULTS = [
    CaseResult(
        CASES[0], Output("C0", 3, 4, 0.25, extra={"id": "m1"}), None, 12.5, 0, CallTiming(2, 40.0, 3.5)
    ),
    CaseResult(CASES[0], None, "RuntimeError: boom", 7.25, 1),
    CaseResult(
        CASES[1], Output("C1", cached=True, latency_ms=None), None, None, 0
    ),  # a cache read: no latency
    CaseResult(CASES[1], Output({"label": "x", "score": 0.5}, latency_ms=99.0), None, 99.0, 1),
]


@pytest.mark.parametrize("result", RESULTS, ids=["timed", "error", "cached", "structured"])
def test_a_journal_line_gives_back_the_case_run_it_was_made_from(tmp_path: Path, result: CaseResult) -> None:
    path = tmp_path / "r.journal.jsonl"
    journal = Journal.open(path, truncate_to=0, header=HEADER)
    journal.record(result)
    journal.close()
    earlier = read_journal(path, runs_of)
    assert earlier.header == HEADER
    (key, line), *_ = earlier.runs.items()
    assert key == (result.case.id, result.repeat)
    again = result_of(line, result.case, result.repeat)
    assert case_record(again) == case_record(result)  # output, usage, error, latency, cached, timing, extra
    assert again.latency_ms == result.latency_ms and again.timing == result.timing


def test_an_aborted_case_run_is_not_journaled(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path, truncate_to=0, header=HEADER)
    journal.record(CaseResult(CASES[2], None, "aborted: interrupted by SIGTERM", None, 0))
    journal.close()
    assert read_journal(path, runs_of).runs == {}


def write_lines(path: Path, *lines: str, tail: str = "") -> None:
    path.write_text("".join(line + "\n" for line in lines) + tail, encoding="utf-8")


LINE = json.dumps({"repeat": 0, **case_record(RESULTS[0])})


def test_a_torn_last_line_is_dropped_with_a_warning_and_cut_before_appending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j"
    write_lines(path, json.dumps(HEADER), LINE, tail=LINE[:40])  # killed in the middle of the second case
    earlier = read_journal(path, runs_of)
    assert list(earlier.runs) == [("c0", 0)]
    assert "j:3: the last line was cut short" in capsys.readouterr().err
    journal = Journal.open(path, truncate_to=earlier.valid_bytes, header=None)
    journal.record(RESULTS[1])
    journal.close()
    assert list(read_journal(path, runs_of).runs) == [("c0", 0), ("c0", 1)]  # no glued line


def test_a_journal_cut_inside_its_header_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "r.json.journal.jsonl"
    path.write_text(json.dumps(HEADER)[:10], encoding="utf-8")
    assert plan(path, resume=True).begin("python:1") == {}
    assert json.loads(path.read_text().splitlines()[0])["signature"]["provider"] == "python:1"


@pytest.mark.parametrize(
    ("lines", "message", "line"),
    [
        ([json.dumps(HEADER), "{not json", LINE], "not a journal line", 2),
        ([json.dumps(HEADER), "[1]", LINE], "expected a JSON object", 2),
        (['{"suite": "s"}', LINE], "not an evalgate journal", 1),
        ([json.dumps(HEADER), LINE, LINE], "appears twice", 3),
        ([json.dumps(HEADER), LINE.replace('"c0"', '"zz"', 1)], "'zz' is not a case of this run", 2),
        (
            [json.dumps(HEADER), LINE.replace('"repeat": 0', '"repeat": 2')],
            "repeat 2 is not between 0 and 1",
            2,
        ),
        ([json.dumps(HEADER), LINE.replace('"repeat": 0', '"repeat": true')], "repeat True", 2),
        (
            [json.dumps(HEADER), LINE.replace('"latency_ms": 12.5', '"latency_ms": "fast"')],
            "latency_ms: Input should be a valid number",
            2,
        ),
        (
            [json.dumps(HEADER), LINE.replace('"error": null', '"error": 7')],
            "error: Input should be a valid string",
            2,
        ),
    ],
)
def test_a_damaged_journal_is_one_clear_error(
    tmp_path: Path, lines: list[str], message: str, line: int
) -> None:
    path = tmp_path / "j"
    write_lines(path, *lines)
    with pytest.raises(InputError, match=message) as error:
        read_journal(path, runs_of)
    assert error.value.line == line


def test_a_non_utf8_journal_line_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(json.dumps(HEADER).encode() + b"\n\xff\xfe\n")
    with pytest.raises(InputError, match="not a journal line") as error:
        read_journal(path, runs_of)
    assert error.value.line == 2


def test_a_journal_of_another_run_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "r.json.journal.jsonl"
    plan(path).begin("python:old")
    before = path.read_bytes()
    with pytest.raises(InputError, match='provider: "python:old" → "python:new"'):
        plan(path, resume=True).begin("python:new")
    other = RunJournal(path=path, suite="t", cases=CASES, repeats=2, signature_for=lambda fp: {}, resume=True)
    with pytest.raises(InputError, match="it is of suite 's', not 't'"):
        other.begin("python:old")
    assert path.read_bytes() == before


def test_two_runs_cannot_write_one_journal(tmp_path: Path) -> None:
    path = tmp_path / "j"
    first = Journal.open(path, truncate_to=0, header=HEADER)
    try:
        with pytest.raises(InputError, match="another evalgate run is writing this journal"):
            Journal.open(path, truncate_to=0, header=HEADER)
        assert read_journal(path, runs_of).header == HEADER  # the second did not truncate it
    finally:
        first.close()


def test_a_journal_write_that_fails_warns_once_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path, truncate_to=0, header=HEADER)

    def full(self: Journal, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "_write", full)
    journal.record(RESULTS[0])
    journal.record(RESULTS[1])
    assert capsys.readouterr().err.count("No space left on device") == 1
    assert journal.fd is None


def test_a_journal_that_cannot_be_created_is_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "r.json.journal.jsonl"
    folder.mkdir()
    with pytest.raises(InputError, match="cannot write the journal"):
        plan(folder).begin("python:1")


def test_a_fifo_in_the_journal_s_place_is_exit_2_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "r.json.journal.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"cannot write the journal|not a regular file"):
        plan(fifo).begin("python:1")
    with pytest.raises(InputError, match="named pipe"):
        plan(fifo, resume=True).begin("python:1")


def test_a_case_run_json_cannot_hold_is_left_out_and_the_journal_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path, truncate_to=0, header=HEADER)
    journal.record(CaseResult(CASES[0], Output(float("nan")), None, 1.0, 0))  # never past normalize_output
    journal.record(CaseResult(CASES[1], Output("\ud800"), None, 1.0, 0))
    journal.record(RESULTS[1])
    journal.close()
    err = capsys.readouterr().err
    assert "case 'c0' is left out of the journal" in err and "case 'c1' is left out" in err
    assert list(read_journal(path, runs_of).runs) == [("c0", 1)]  # nothing half-written, the rest kept


@pytest.mark.slow
def test_a_deeply_nested_journal_line_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "j"
    write_lines(path, json.dumps(HEADER), "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="not a journal line") as error:
        read_journal(path, runs_of)
    assert error.value.line == 2


def test_the_journal_goes_in_the_output_s_folder_even_before_it_exists(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "r.json.journal.jsonl"
    plan(path).begin("python:1")
    assert json.loads(path.read_text())["suite"] == "s"


def test_a_secret_in_an_output_never_reaches_the_journal(tmp_path: Path) -> None:
    from evalgate import outbound

    secret = "sk-journal-SECRET-0123456789"
    outbound.add_secret(secret)
    try:
        path = tmp_path / "j"
        journal = Journal.open(path, truncate_to=0, header=HEADER)
        journal.record(CaseResult(CASES[0], Output(f"the key is {secret}"), None, 1.0, 0))
        journal.record(CaseResult(CASES[1], None, f"ProviderError: denied {secret}", 1.0, 0))
        journal.close()
    finally:
        outbound.forget_secrets()
    text = path.read_text()
    assert secret not in text and text.count("[redacted]") == 2
