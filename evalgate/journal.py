"""The run's journal: every finished case run appended as it finishes, so a stopped or killed run loses at most the
cases in flight, and `evalgate run --resume` / `--retry-errors` assemble a complete run from earlier work.

The journal sits next to the results file (`results.json` -> `results.json.journal.jsonl`). Line 1 is a header
naming the run (suite and signature: config, datasets, provider, metrics, sample, repeats, evalgate version);
every further line is one case run as a results-file case entry (`results.case_record`) plus its `repeat`. Each
line is written with one write(2) when its case finishes: it is in the kernel's hands at once, so a SIGKILL of
evalgate loses nothing written; fsync runs at most once a second (and at the end), so a crash of the machine
loses at most a second's cases without paying a disk flush per case. A line cut short by a kill mid-write can
only be the last one: it is dropped with a warning. A journal is removed once a complete run's results file is
written; an incomplete run keeps it for `--resume`. docs/internals.md, "The journal", has the format.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.contracts.cases import CallTiming, Case, CaseResult, Output
from evalgate.errors import InputError
from evalgate.files.fileio import is_stream, read_bytes
from evalgate.files.jsonio import JSONProblem, parse_json
from evalgate.outbound import echo, may_show_secret, redact_data
from evalgate.results import case_record
from evalgate.runner import ABORTED  # a case run that never finished: never journaled, never kept

SUFFIX = ".journal.jsonl"
FORMAT = 1  # the header's "evalgate_journal" value: the layout of the lines
SYNC_EVERY_S = 1.0  # at most this long between fsyncs: what a machine crash (not a kill) can lose

RunKey = tuple[str, int]  # (case id, repeat)


def journal_path(output: str | Path) -> Path | None:
    """Where the run writing `output` keeps its journal; None when `output` is a stream (/dev/stdout)."""
    return None if is_stream(output) else Path(f"{output}{SUFFIX}")


def task_journal(path: Path | None, task: str) -> Path | None:
    """Where one task of a suite of tasks keeps its journal: beside the run's, named after the task."""
    return None if path is None else path.with_name(f"{path.name.removesuffix(SUFFIX)}.{task}{SUFFIX}")


def comparable(signature: dict[str, Any]) -> dict[str, Any]:
    """The signature fields two runs must share to be assembled into one (all but the provenance)."""
    return {key: value for key, value in signature.items() if key != "assembled"}


def differences(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Each signature field that differs, in words (`config: "sha256:…" → "sha256:…"`, a metric option as
    `rouge.use_stemmer: true → false`): the earlier run's value, then this run's (evalgate.contracts.signature)."""
    from pydantic import ValidationError

    from evalgate.contracts.results import Signature, first_error
    from evalgate.contracts.signature import describe, signature_diff

    now = Signature.model_validate(comparable(expected))
    try:
        there = Signature.model_validate(comparable(found))
    except ValidationError as exc:
        return [f"its signature is not valid ({first_error(exc)})"]
    return [describe(item) for item in signature_diff(now, there)]


def check_same_run(
    suite: Any, signature: Any, *, expected_suite: str, expected: dict[str, Any], source: Path, hint: str
) -> None:
    """InputError (exit 2) naming what differs when `source` is not of this suite and signature."""
    if suite != expected_suite:
        raise InputError(f"it is of suite {suite!r}, not {expected_suite!r}; {hint}", file=source)
    if not isinstance(signature, dict):
        raise InputError(f"it has no run signature; {hint}", file=source)
    changed = differences(signature, expected)
    if changed:
        raise InputError(f"it is of another run of this suite ({'; '.join(changed)}); {hint}", file=source)


def result_of(record: dict[str, Any], case: Case, repeat: int) -> CaseResult:
    """A case entry (journal line, results-file case or one of its repeats) as the CaseResult it was made from:
    the inverse of `results.case_record`. The latency is the one measured then (a cached answer's stays None or
    its recorded time, and `cached` stays as it was): a reused case run is never re-timed."""
    error = record.get("error")
    timing = None
    if isinstance(record.get("attempts"), int):
        timing = CallTiming(record["attempts"], record.get("wait_ms") or 0.0, record.get("ttft_ms"))
    elif record.get("ttft_ms") is not None:  # a repeat's run keeps its time to first token only
        timing = CallTiming(ttft_ms=record["ttft_ms"])
    output = None
    if error is None:
        output = Output(
            value=record.get("output"),
            tokens_in=record.get("tokens_in"),
            tokens_out=record.get("tokens_out"),
            cost=record.get("cost"),
            cached=bool(record.get("cached")),
            extra=record.get("extra") or {},
            latency_ms=record.get("latency_ms"),
            timing=timing,
        )
    return CaseResult(case, output, error, record.get("latency_ms"), repeat, timing)


@dataclass
class Journal:
    """The journal being written: `record` appends a finished case run. A write that fails (a full disk) warns
    once and stops the journal; the run goes on and its results file is written as always."""

    path: Path
    fd: int | None
    _synced: float = field(default_factory=time.monotonic)

    @classmethod
    def open(cls, path: Path, *, truncate_to: int, header: dict[str, Any] | None) -> Journal:
        """Open for appending: a new journal (header written), or an existing one cut to `truncate_to` bytes (a
        torn last line dropped). Locked: a second run writing the same journal is refused (exit 2)."""
        # O_NONBLOCK: a FIFO in its place fails at once rather than wait for a reader
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # as the results file's own write will
            fd = os.open(path, flags, 0o666)
        except OSError as exc:
            raise InputError(f"cannot write the journal ({exc.strerror or exc})", file=path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InputError(
                "the journal is not a regular file; remove it or give another --output", file=path
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(
                "another evalgate run is writing this journal (the same --output); wait for it or give this "
                "run its own --output",
                file=path,
            ) from None
        journal = cls(path, fd)
        try:
            os.ftruncate(fd, truncate_to if header is None else 0)
            if header is not None:
                journal._write(_line(header))
                os.fsync(fd)
        except OSError as exc:
            journal.close()
            raise InputError(f"cannot write the journal ({exc.strerror or exc})", file=path) from None
        return journal

    def record(self, result: CaseResult) -> None:
        """Append a finished case run (never one that was aborted: it did not finish). A case run JSON cannot
        hold (never one past normalize_output) is left out with a warning: a resumed run calls it again."""
        if self.fd is None or (result.error or "").startswith(ABORTED):
            return
        try:
            line = _line({"repeat": result.repeat, **case_record(result)})
        except (ValueError, TypeError, RecursionError) as exc:
            echo(f"evalgate: warning: case {result.case.id!r} is left out of the journal {self.path} ({exc})")
            return
        try:
            self._write(line)
            if time.monotonic() - self._synced >= SYNC_EVERY_S:
                os.fsync(self.fd)
                self._synced = time.monotonic()
        except OSError as exc:
            echo(
                f"evalgate: warning: the journal {self.path} stops here ({exc.strerror or exc}); the run goes on, "
                "but a stop from now on cannot be resumed past this case"
            )
            self.close()

    def _write(self, data: bytes) -> None:
        assert self.fd is not None  # append() writes only to an open journal
        while data:  # one write(2) for any line a regular file takes whole
            written = os.write(self.fd, data)
            data = data[written:]

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None


def _line(entry: dict[str, Any]) -> bytes:
    """One journal line: compact strict JSON, UTF-8, secrets redacted, newline-terminated."""
    text = json.dumps(entry, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if may_show_secret(text):  # most lines hold none: the walk through the entry only for those that may
        text = json.dumps(redact_data(entry), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


@dataclass
class Earlier:
    """What a journal or a previous results file holds: the finished case runs, and where the journal ends."""

    runs: dict[RunKey, dict[str, Any]]
    header: dict[str, Any] | None  # None: the journal is empty or its header was cut short
    valid_bytes: int


def read_journal(path: Path, total_runs: Callable[[str], int | None]) -> Earlier:
    """The journal's header and finished case runs. A torn last line (no newline after it: the run was killed
    mid-write) is dropped with a warning; any other bad line is an InputError naming it. `total_runs(id)` is the
    number of runs of a case, None for an id the run does not have."""
    data = read_bytes(path, what="journal")
    *lines, tail = data.split(b"\n")
    header, runs, offset = None, {}, 0
    for number, raw in enumerate(lines, start=1):
        try:
            entry = parse_json(raw.decode("utf-8"))
        except (UnicodeDecodeError, JSONProblem) as exc:
            raise InputError(f"not a journal line ({exc})", file=path, line=number) from None
        if not isinstance(entry, dict):
            raise InputError("not a journal line (expected a JSON object)", file=path, line=number)
        if number == 1:
            if entry.get("evalgate_journal") != FORMAT:
                raise InputError(
                    f'not an evalgate journal (the first line has no "evalgate_journal": {FORMAT}); remove it, '
                    "or run without --resume",
                    file=path,
                    line=1,
                )
            header = entry
        else:
            key = _run_key(entry, total_runs, path, number)
            _check_entry(entry, path, number)
            if key in runs:
                raise InputError(f"case {key[0]!r} run {key[1]} appears twice", file=path, line=number)
            if not (entry.get("error") or "").startswith(ABORTED):
                runs[key] = entry
        offset += len(raw) + 1
    if tail:
        echo(
            f"evalgate: warning: {path}:{len(lines) + 1}: the last line was cut short (the run was killed while "
            "writing it): dropped, its case runs again"
        )
    return Earlier(runs, header, offset)


def _check_entry(entry: dict[str, Any], path: Path, line: int) -> None:
    """A journal line is a results file's case entry (evalgate.contracts.results.CaseRecord: one rule for it)."""
    from pydantic import ValidationError

    from evalgate.contracts.results import CaseRecord, first_error

    try:
        CaseRecord.model_validate(entry)
    except ValidationError as exc:
        raise InputError(f"not a journal line: {first_error(exc)}", file=path, line=line) from None


def _run_key(entry: dict[str, Any], total_runs: Callable[[str], int | None], path: Path, line: int) -> RunKey:
    case_id, repeat = entry.get("id"), entry.get("repeat")
    runs = total_runs(case_id) if isinstance(case_id, str) else None
    if runs is None:
        raise InputError(f"case {case_id!r} is not a case of this run", file=path, line=line)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 0 <= repeat < runs:
        raise InputError(
            f"case {case_id!r}: repeat {repeat!r} is not between 0 and {runs - 1}", file=path, line=line
        )
    return str(case_id), repeat  # a str: total_runs answers None for anything else


def previous_runs(
    results: dict[str, Any], total_runs: Callable[[str], int | None], path: Path
) -> dict[RunKey, dict]:
    """The case runs of a previous results file that finished without an error (`--retry-errors` keeps them)."""
    from evalgate.metrics.base import runs_of

    kept: dict[RunKey, dict[str, Any]] = {}
    for entry in results["cases"]:
        if total_runs(entry["id"]) is None:
            raise InputError(f"case {entry['id']!r} is not a case of this run's datasets", file=path)
        for repeat, run in enumerate(runs_of(entry)):
            if run.get("error") is None:
                # a repeat's run keeps no count of its requests (only the case entry's first run has them)
                kept[entry["id"], repeat] = (
                    _without(run, "attempts", "wait_ms") if entry.get("repeats") else run
                )
    return kept


def _without(entry: dict[str, Any], *names: str) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in names}


@dataclass
class RunJournal:
    """A run's journal plan, built by `evalgate run` from its options and opened by the runner once the
    provider's fingerprint (part of the signature) is known.

    `signature_for(fingerprint)` gives the run's signature. With `resume`, the journal's finished case runs are
    kept (errors included: a resumed run is the run that was stopped, not a second chance); with `previous` (a
    results file: `--retry-errors`), its case runs without an error are kept. `assembled` is the provenance
    the results file's signature carries (None when every case run was called by this process)."""

    path: Path | None
    suite: str
    cases: Sequence[Case]
    repeats: int
    signature_for: Callable[[str], dict[str, Any]]
    resume: bool = False
    previous: tuple[Path, dict[str, Any]] | None = None
    assembled: dict[str, Any] | None = None
    journal: Journal | None = None

    def begin(self, fingerprint: str) -> dict[RunKey, CaseResult]:
        """Check the earlier work against this run, open the journal, and return the case runs to keep."""
        signature = {**self.signature_for(fingerprint), "evalgate": __version__}
        fresh_header = {"evalgate_journal": FORMAT, "suite": self.suite, "signature": signature}
        header: dict[str, Any] | None = fresh_header  # None: appending to an earlier journal, which has one
        by_id = {case.id: case for case in self.cases}

        def total_runs(case_id: str) -> int | None:
            return self.repeats if case_id in by_id else None

        kept: dict[RunKey, dict[str, Any]] = {}
        truncate_to, origin = 0, None
        if self.previous is not None:
            path, results = self.previous
            check_same_run(
                results.get("suite"),
                results.get("signature"),
                expected_suite=self.suite,
                expected=signature,
                source=path,
                hint="--retry-errors takes a results file of this suite, config and datasets",
            )
            kept = previous_runs(results, total_runs, path)
            origin = {"retried_errors_of": str(path)}
            fresh_header["assembled"] = origin
        elif self.resume and self.path is not None and self.path.exists():
            earlier = read_journal(self.path, total_runs)
            if earlier.header is not None:
                check_same_run(
                    earlier.header.get("suite"),
                    earlier.header.get("signature"),
                    expected_suite=self.suite,
                    expected=signature,
                    source=self.path,
                    hint="run without --resume to start over (the journal is then replaced)",
                )
                kept, truncate_to, header = earlier.runs, earlier.valid_bytes, None
                origin = {**(earlier.header.get("assembled") or {}), "resumed_from": self.path.name}
        elif self.resume:
            echo(f"evalgate: warning: --resume: there is no journal {self.path}: every case runs")
        elif self.path is not None and self.path.exists():
            echo(
                f"evalgate: warning: {self.path} (the journal of an earlier run that did not finish) is replaced; "
                "`evalgate run --resume` would have continued it"
            )
        if self.path is not None:
            self.journal = Journal.open(self.path, truncate_to=truncate_to, header=header)
        reused = {key: result_of(run, by_id[key[0]], key[1]) for key, run in kept.items()}
        if self.previous is not None:
            for result in reused.values():  # a retry stopped in its turn resumes with these too
                self.record(result)
        if origin is not None:
            self.assembled = {**origin, "cases_reused": len(reused)}
            source = self.path if self.previous is None else self.previous[0]
            left = len(self.cases) * self.repeats - len(reused)
            echo(f"evalgate: {len(reused)} case runs kept from {source}; {left} to run")
        return reused

    def record(self, result: CaseResult) -> None:
        if self.journal is not None:
            self.journal.record(result)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


def finish_journal(path: Path | None, *, complete: bool) -> None:
    """After the results file is written: a complete run's journal is removed (the results file holds all it
    had, and a later --resume must not mistake it for a stopped run); an incomplete run's is kept for --resume."""
    if path is None or not path.exists():
        return
    if complete:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        echo(
            f"evalgate: the finished case runs are kept in {path}: `evalgate run --resume` continues the run"
        )
