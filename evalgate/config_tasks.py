"""A suite of several tasks in one `evalgate.yaml` (`tasks:`): each task is read as a suite of its own.

Every top-level option is each task's default; a task's own section replaces it (a task that sets `gate` drops an
inherited `thresholds`, and `provider` an inherited `providers`, and the other way round). What belongs to the run
as a whole (the cache, the budget, prices, the report, the history, the statistics) is set once, at the top. A
task's suite name is `SUITE/TASK`: its results, baseline, history series and trend are its own, inside the one
results file, verdict and comment of the suite (docs/reference.md, "Tasks").
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.errors import InputError
from evalgate.files.limits import MAX_TASKS
from evalgate.options import line_of
from evalgate.yamlio import LineDict

if TYPE_CHECKING:
    from evalgate.config import SuiteConfig

TASK_OPTIONS = (
    "description",
    "datasets",
    "provider",
    "providers",
    "metrics",
    "gate",
    "thresholds",
    "task",
    "judge",
    "repeats",
    "timeout",
    "concurrency",
    "seed",
    "quarantine",
    "slices",
)
SUITE_WIDE = ("suite", "cache", "budget", "prices", "report", "history", "stats")  # set once, at the top
EXCLUSIVE = (("gate", "thresholds"), ("provider", "providers"))  # a task's one replaces the inherited other
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # in suite names, headings and file names


def task_suite_name(suite: str, task: str) -> str:
    """The suite name of one task's results, baseline and history: `SUITE/TASK`."""
    return f"{suite}/{task}"


def tasks_config(data: Any, path: Path, *, task: str | None, whole: bool) -> SuiteConfig:
    """The suite with its tasks (`whole`), or the one task named `task`; else an InputError naming the tasks."""
    from evalgate.config import suite_config
    from evalgate.config_checks import check_shown

    file = str(path)
    if not isinstance(data.get("suite"), str) or not data["suite"].strip():
        raise InputError("the config needs a suite name (suite: NAME)", file=file, line=data.line)
    tasks = data["tasks"]
    if not isinstance(tasks, dict) or not tasks:
        raise InputError(
            "tasks must map task names to their sections, for example tasks: {intent: {datasets: [intent.jsonl]}}",
            file=file,
            line=data.line_of("tasks"),
        )
    if len(tasks) > MAX_TASKS:
        raise InputError(
            f"{len(tasks)} tasks; at most {MAX_TASKS} fit one suite", file=file, line=data.line_of("tasks")
        )
    names = [_task_name(name, tasks, file) for name in tasks]
    if task is not None and task not in names:
        raise InputError(f"--task {task}: no such task; the config's tasks are {', '.join(names)}", file=file)
    if task is None and not whole:
        raise InputError(
            f"this config has tasks ({', '.join(names)}) and this command works on one of them: add --task NAME",
            file=file,
        )
    configs = {
        name: dataclasses.replace(
            suite_config(_task_data(data, name, tasks[name], file), path), task_name=name
        )
        for name in names
        if task is None or name == task
    }
    if task is not None:
        return configs[task]  # report.show is checked with the whole suite: it may name another task's keys
    first = next(iter(configs.values()))
    computed = frozenset[str]().union(*(config.computed_keys for config in configs.values()))
    check_shown(first, computed)
    return dataclasses.replace(
        first,
        suite=data["suite"],
        datasets=[],
        metrics=[],
        rules=[],
        task=None,
        tasks=configs,
        computed_keys=computed,
    )


def _task_name(name: Any, tasks: Any, file: str) -> str:
    if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
        raise InputError(
            f"task name {name!r}: expected letters, digits, '_', '.' or '-' (at most 64, starting with a letter or "
            "digit)",
            file=file,
            line=line_of(tasks, name),
        )
    return name


def _task_data(data: Any, name: str, body: Any, file: str) -> LineDict:
    """The task's section laid over the top-level options, as one suite's mapping (lines kept)."""
    where = line_of(data["tasks"], name)
    if body is None:
        body = LineDict()
    if not isinstance(body, dict):
        raise InputError(
            f"tasks.{name} must be a mapping of the task's options, got "
            + ("a list" if isinstance(body, list) else type(body).__name__),
            file=file,
            line=where,
        )
    for key in body:
        if key not in TASK_OPTIONS:
            what = "is set for the whole suite, at the top level" if key in SUITE_WIDE else "is unknown"
            raise InputError(
                f"tasks.{name}.{key} {what}; a task may set: {', '.join(TASK_OPTIONS)}",
                file=file,
                line=line_of(body, key),
            )
    merged = LineDict((key, value) for key, value in data.items() if key != "tasks")
    merged.line = getattr(body, "line", None) or where or 0
    merged.key_lines = {**getattr(data, "key_lines", {}), **getattr(body, "key_lines", {})}
    for pair in EXCLUSIVE:
        if any(key in body for key in pair):
            for key in pair:
                merged.pop(key, None)
    merged.update(body)
    merged["suite"] = task_suite_name(str(data.get("suite")), name)
    return merged
