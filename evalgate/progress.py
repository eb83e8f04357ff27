"""Progress of a run, of generator or judge calls: a live bar on a terminal, a compact periodic line in CI logs
(stderr). Each display has a label (`evalgate`, `generate`, `model sonnet`, `judge`) and a unit (cases, calls)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from evalgate.outbound import echo


class Progress(Protocol):
    """What the runner reports to: the total once, then one call per finished case, then the end."""

    def start(self, total: int) -> None: ...

    def advance(self, error: bool) -> None: ...

    def finish(self) -> None: ...


def auto_progress(stream: TextIO | None = None, *, label: str = "evalgate", unit: str = "cases") -> Progress:
    """A rich bar when `stream` (default stderr) is a terminal, else periodic log lines."""
    stream = stream or sys.stderr
    if stream.isatty():
        return BarProgress(stream, label=label, unit=unit)
    return LineProgress(stream, label=label, unit=unit)


def _eta(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class LineProgress:
    """A line every `every_s` seconds or every 10% of the work, and one at the end."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        label: str = "evalgate",
        unit: str = "cases",
    ) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.unit = unit
        self.every_s = every_s
        self.clock = clock
        self.total = self.done = self.errors = 0
        self.started = self.last_print = 0.0
        self.next_mark = 1

    def start(self, total: int) -> None:
        self.total = total
        self.started = self.last_print = self.clock()
        self.next_mark = self._mark_after(0)

    def _mark_after(self, done: int) -> int:
        step = max(1, self.total // 10)
        return (done // step + 1) * step

    def advance(self, error: bool) -> None:
        self.done += 1
        self.errors += error
        if self.done >= self.next_mark or self.clock() - self.last_print >= self.every_s:
            if self.done < self.total:
                self._print(final=False)
            self.next_mark = self._mark_after(self.done)

    def finish(self) -> None:
        self._print(final=True)

    def line(self, *, final: bool) -> str:
        now = self.clock()
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        percent = 100 * self.done // self.total if self.total else 100
        text = f"{self.label}: {self.done}/{self.total} {self.unit} ({percent}%), {self.errors} errors"
        text += f", {rate:.1f} {self.unit}/s"
        if final:
            return f"{text}, done in {elapsed:.1f}s"
        if rate > 0:
            text += f", eta {_eta((self.total - self.done) / rate)}"
        return text

    def _print(self, *, final: bool) -> None:
        self.last_print = self.clock()
        echo(self.line(final=final), file=self.stream)


def _rate_column(unit: str):
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} {unit}/s" if task.speed else "")

    return RateColumn()


class BarProgress:
    """A rich progress bar: done/total, errors, rate and time left."""

    def __init__(self, stream: TextIO | None = None, *, label: str = "evalgate", unit: str = "cases") -> None:
        from rich import progress as rich_progress
        from rich.console import Console

        self._bar = rich_progress.Progress(
            rich_progress.TextColumn(label, markup=False),
            rich_progress.BarColumn(),
            rich_progress.MofNCompleteColumn(),
            rich_progress.TextColumn("{task.fields[errors]} errors"),
            _rate_column(unit),
            rich_progress.TimeRemainingColumn(),
            console=Console(file=stream or sys.stderr),
            transient=False,
        )
        self._task: rich_progress.TaskID | None = None
        self.errors = 0

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("cases", total=total, errors=0)

    def advance(self, error: bool) -> None:
        self.errors += error
        if self._task is not None:
            self._bar.update(self._task, advance=1, errors=self.errors)

    def finish(self) -> None:
        self._bar.stop()
