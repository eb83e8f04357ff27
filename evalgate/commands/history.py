"""`evalgate history`: append a results file to the history store; show trends, drift alarms and flaky cases."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.errors import InputError
from evalgate.history.drift import LONG_WINDOW, REFERENCE_RUNS, SHORT_WINDOW, alarm_messages
from evalgate.history.ratchet import shown_path
from evalgate.history.stability import case_stability
from evalgate.history.store import HistoryStore, branch_of_ref
from evalgate.history.trend import metric_history
from evalgate.outbound import echo, echo_json
from evalgate.report.sparkline import sparkline
from evalgate.results import load_results, shard_of

if TYPE_CHECKING:
    from evalgate.contracts.results import Results


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="trends, drift alarms and flaky cases from the history of the main branch",
        description="Show each metric's trend, 7-run vs 30-run rolling means and drift alarms (EWMA, lower "
        "CUSUM) from the history store; --append adds a results file first (done on pushes to main).",
    )
    parser.add_argument("--config", default="evalgate.yaml", help="the suite config (default: evalgate.yaml)")
    parser.add_argument("--history", metavar="PATH", help="the store (default: history.path in the config)")
    parser.add_argument("--suite", help="the suite's name, to read a store without a config (with --history)")
    parser.add_argument("--task", help="in a suite of tasks: the task whose history is shown")
    parser.add_argument("--metric", action="append", help="only this metric (repeatable; default: all)")
    parser.add_argument("--category", help="the metric in one category instead of overall")
    parser.add_argument("--last", type=positive(int), default=30, metavar="N", help="runs shown (default 30)")
    parser.add_argument("--since", metavar="TIME", help="ignore runs before this ISO time (a new reference)")
    parser.add_argument(
        "--reference-runs",
        type=positive(int),
        default=REFERENCE_RUNS,
        metavar="K",
        help=f"the first K comparable runs are the drift reference (default {REFERENCE_RUNS})",
    )
    parser.add_argument(
        "--target",
        type=_target_spec,
        metavar="MEAN,SD",
        help="a fixed in-control mean and sd instead of the first K runs (needs one --metric)",
    )
    parser.add_argument(
        "--by",
        choices=("run", "day"),
        default="run",
        help=f"rolling means over the last {SHORT_WINDOW}/{LONG_WINDOW} runs (default) or days",
    )
    parser.add_argument("--flaky-window", type=positive(int), default=20, metavar="N")
    parser.add_argument("--min-flips", type=positive(int), default=3, metavar="N")
    parser.add_argument("--append", metavar="RESULTS", help="add this results file to the store first")
    parser.add_argument(
        "--branch", help="the branch the results come from (default: from the results' git ref)"
    )
    parser.add_argument("--sha", help="the commit (default: from the results)")
    parser.add_argument("--label", help="the run's label (default: from the results)")
    parser.add_argument("--fail-on-alarm", action="store_true", help="exit 1 when a drift alarm is active")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.reference_runs < 2:
        raise InputError("--reference-runs must be at least 2: the reference needs a standard deviation")
    if args.target is not None and len(args.metric or []) != 1:
        raise InputError("--target MEAN,SD is one metric's in-control level: give exactly one --metric")
    suite, path, history_branch, tasks = _store_of(args)
    appended = None
    if args.append and tasks:  # a suite of tasks: each task's results join its own series
        return _append_tasks(args, path, history_branch, tasks)
    if args.append:
        results = load_results(args.append)
        appended = append_results(
            path,
            results,
            suite=suite,
            history_branch=history_branch,
            branch=args.branch,
            sha=args.sha,
            label=args.label,
            file=args.append,
        )
        if not args.json:
            echo(appended["message"], file=sys.stdout)
    if args.append and not Path(path).exists():  # nothing appended (another branch) and no store yet
        if args.json:
            echo_json({"suite": suite, "store": shown_path(path), "appended": appended})
        return 0
    with HistoryStore(path) as store:
        overview = history_overview(
            store,
            suite,
            metrics=args.metric,
            category=args.category,
            last=args.last,
            since=args.since,
            reference_runs=args.reference_runs,
            target=args.target,
            by=args.by,
            flaky_window=args.flaky_window,
            min_flips=args.min_flips,
        )
    overview["store"] = shown_path(path)
    overview["appended"] = appended
    if args.json:
        echo_json(overview)
    else:
        echo(render_overview(overview), file=sys.stdout)  # case ids and metric names come from results files
    return 1 if args.fail_on_alarm and overview["alarm"] else 0


def append_results(
    path: str | Path,
    results: Results,
    *,
    suite: str,
    history_branch: str | None,
    branch: str | None = None,
    sha: str | None = None,
    label: str | None = None,
    file: str | Path | None = None,
) -> dict[str, Any]:
    """Append `results` (read from `file`) to the store at `path` if they belong to `suite`, come from the
    history branch and from a complete run."""
    if results.suite != suite:
        raise InputError(f"the results are for suite {results.suite!r}, not {suite!r}", file=file)
    if results.incomplete_reason():  # partial numbers would move the trends and the ratchet
        message = f"not appended: the run did not complete ({results.incomplete_reason()})"
        return {"run_id": None, "added": False, "message": message}
    if part := shard_of(results):  # a shard's numbers are partial too: its merge joins the history
        message = f"not appended: shard {part} of a run (append the merged results of `evalgate merge`)"
        return {"run_id": None, "added": False, "message": message}
    branch = branch or branch_of_ref(results.git.get("ref"))
    if history_branch and branch and branch != history_branch:
        return {
            "run_id": None,
            "added": False,
            "message": f"not appended: the results come from branch {branch!r}; history keeps {history_branch!r}",
        }
    with HistoryStore(path, create=True) as store:
        before = store.run_count(suite)
        run_id = store.append(results.to_json(), branch=branch, sha=sha, label=label)  # the store keeps JSON
        added = store.run_count(suite) > before
    verb = "appended as run" if added else "already in the history as run"
    return {"run_id": run_id, "added": added, "message": f"{verb} {run_id} ({shown_path(path)})"}


def history_overview(
    store: HistoryStore,
    suite: str,
    *,
    metrics: list[str] | None = None,
    category: str | None = None,
    last: int = 30,
    since: str | None = None,
    reference_runs: int = REFERENCE_RUNS,
    target: tuple[float, float] | None = None,
    by: str = "run",
    flaky_window: int = 20,
    min_flips: int = 3,
) -> dict[str, Any]:
    """Everything `evalgate history` shows, as plain data."""
    keys = _recorded_keys(store, suite, metrics, category)
    comparable_since, excluded = store.comparable_since(suite)
    drift = {"since": since, "reference_runs": reference_runs, "target": target, "by": by}
    entries = _trend_entries(store, suite, keys, metrics, category, last, drift)
    stability = {
        name: case_stability(store, suite, name, window=flaky_window, min_flips=min_flips)
        for name, spec in keys.items()
        if spec.get("kind") == "binary" and (not metrics or name in metrics)
    }
    return {
        "suite": suite,
        "runs": store.run_count(suite),
        "comparable_since": comparable_since,
        "excluded_runs": excluded,
        "metrics": entries,
        "alarm": any(entry["alarms"] for entry in entries),
        "flaky": {name: flaky for name, (flaky, _) in stability.items() if flaky},
        "changed": {name: changed for name, (_, changed) in stability.items() if changed},
        "flaky_window": flaky_window,
        "min_flips": min_flips,
    }


def _trend_entries(
    store: HistoryStore,
    suite: str,
    keys: dict[str, dict[str, Any]],
    metrics: list[str] | None,
    category: str | None,
    last: int,
    drift: dict[str, Any],
) -> list[dict[str, Any]]:
    """Each metric's last `last` values and drift report (the asked ones, else every one recorded)."""
    entries = []
    for name in metrics or list(keys):
        points, report = metric_history(store, suite, name, category=category, **drift)
        if not points and not metrics:
            continue  # a metric not recorded in this category
        shown = points[-last:]
        report.pop("runs")
        entries.append(
            {
                "metric": name,
                "category": category,
                "kind": keys[name].get("kind"),
                "higher_is_better": keys[name].get("higher_is_better", True),
                "labels": [p.name for p in shown],
                "values": [p.value for p in shown],
                "drift": report,
                "alarms": alarm_messages(report, name),
            }
        )
    return entries


def _recorded_keys(
    store: HistoryStore, suite: str, metrics: list[str] | None, category: str | None
) -> dict[str, dict[str, Any]]:
    """The suite's recorded metric keys, once the metrics and category asked for are known to be recorded."""
    keys = store.metric_keys(suite)
    if not keys:
        raise InputError(f"the history store has no runs of suite {suite!r}", file=store.path)
    for name in metrics or []:
        if name not in keys:
            raise InputError(f"metric {name!r} is not in the history; recorded metrics: {', '.join(keys)}")
    if category is not None and category not in store.categories(suite):
        raise InputError(
            f"category {category!r} is not in the history; recorded categories: "
            f"{', '.join(store.categories(suite)) or 'none'}"
        )
    return keys


def render_overview(overview: dict[str, Any]) -> str:
    """The terminal view: one line per metric, then the alarm messages and flaky cases."""
    lines = [f"history of {overview['suite']}: {overview['runs']} runs (store {overview.get('store', '?')})"]
    if overview["excluded_runs"]:
        lines.append(
            f"  {overview['excluded_runs']} earlier runs used other datasets or metric definitions and are left "
            f"out (comparable runs since {overview['comparable_since']})"
        )
    width = max([len(_title(e)) for e in overview["metrics"]] + [6])
    spark = max([len(e["values"]) for e in overview["metrics"]] + [5])
    rolling = overview["metrics"][0]["drift"]["rolling"] if overview["metrics"] else {}
    unit = "d" if rolling.get("by") == "day" else "-run"
    short_head = f"{rolling.get('short', {}).get('window', SHORT_WINDOW)}{unit}"
    long_head = f"{rolling.get('long', {}).get('window', LONG_WINDOW)}{unit}"
    lines.append(
        f"{'metric':<{width}}  {'trend':<{spark}}  {'latest':>10}  {short_head:>10}  {long_head:>10}  drift"
    )
    for entry in overview["metrics"]:
        drift = entry["drift"]
        latest = drift["latest"]["value"] if drift["latest"] else None
        lines.append(
            f"{_title(entry):<{width}}  {sparkline(entry['values']):<{spark}}  {_number(latest):>10}  "
            f"{_number(drift['rolling']['short']['mean']):>10}  {_number(drift['rolling']['long']['mean']):>10}  "
            f"{_status(drift, entry['alarms'])}"
        )
    for entry in overview["metrics"]:
        lines.extend(f"  ! {alarm['message']}" for alarm in entry["alarms"])
    notes = {entry["drift"]["note"] for entry in overview["metrics"] if entry["drift"]["note"]}
    lines.extend(f"  note: {note}" for note in sorted(notes))
    if overview["flaky"]:
        lines.append(
            f"flaky cases (pass/fail flipped at least {overview['min_flips']} times in the last "
            f"{overview['flaky_window']} runs):"
        )
        ids: list[str] = []
        for name, cases in overview["flaky"].items():
            for case in cases:
                lines.append(
                    f"  {name}: {case['id']} ({case['flips']} flips in {case['runs']} runs, "
                    f"pass rate {case['pass_rate']:.0%})"
                )
                if case["id"] not in ids:
                    ids.append(case["id"])
        lines.append("  to keep them out of the gate until fixed, add to the config:")
        lines.append(f"    quarantine: [{', '.join(json.dumps(i) for i in ids)}]")
    if overview.get("changed"):
        lines.append("changed at a step, not flaky (their latest runs all went one way; not for quarantine):")
        for name, cases in overview["changed"].items():
            for case in cases:
                what = "failing (a regression)" if case["state"] == "failing" else "passing"
                lines.append(
                    f"  {name}: {case['id']} {what} since run {case['since']} ({case['streak']} runs in a row)"
                )
    return "\n".join(lines)


def _store_of(args: argparse.Namespace) -> tuple[str, Path, str | None, list[str]]:
    """(suite, store path, history branch, the tasks --append adds) from --suite/--history, or from the config."""
    if args.suite:
        if not args.history:
            raise InputError("--suite reads a store without a config and needs --history PATH")
        return args.suite, Path(args.history), None, []
    from evalgate.config import load_config

    whole = bool(args.append) and args.task is None  # appending a suite of tasks appends every task
    config = load_config(args.config, task=args.task, whole=whole)
    path = Path(args.history) if args.history else config.resolve(config.history["path"])
    return config.suite, path, config.history["branch"], list(config.tasks)


def _append_tasks(args: argparse.Namespace, path: Path, history_branch: str | None, tasks: list[str]) -> int:
    """`--append` of a suite of tasks' results: each task's results appended as the suite SUITE/TASK."""
    results = load_results(args.append, tasks=True)
    if results.tasks is None or list(results.tasks) != tasks:
        raise InputError(
            f"these results are not of this config's tasks ({', '.join(tasks)})", file=args.append
        )
    appended = {
        name: append_results(
            path,
            task,
            suite=task.suite,
            history_branch=history_branch,
            branch=args.branch,
            sha=args.sha,
            label=args.label,
            file=args.append,
        )
        for name, task in results.tasks.items()
    }
    if args.json:
        echo_json({"store": shown_path(path), "appended": appended})
    else:
        for name, entry in appended.items():
            echo(f"task {name}: {entry['message']}", file=sys.stdout)
    return 0


def _title(entry: dict[str, Any]) -> str:
    return entry["metric"] if entry["category"] is None else f"{entry['metric']} [{entry['category']}]"


def _status(drift: dict[str, Any], alarms: list[dict[str, str]]) -> str:
    if alarms:
        return "ALARM (" + ", ".join(alarm["kind"] for alarm in alarms) + ")"
    if drift["status"] == "insufficient":
        return f"needs > {drift['parameters']['reference_runs']} runs"
    return drift["status"]


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"


def _target_spec(text: str) -> tuple[float, float]:
    try:
        mean, sd = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MEAN,SD such as 0.92,0.01, got {text!r}") from None
    if not sd > 0:
        raise argparse.ArgumentTypeError(f"the sd must be greater than 0, got {text!r}")
    return mean, sd


def positive(cast: Callable[[str], float]) -> Callable[[str], Any]:
    """An argparse type: a number of type `cast` (int or float) greater than 0."""
    noun = "whole number" if cast is int else "number"

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {noun}, got {text!r}") from None
        if not (value > 0 and math.isfinite(value)):  # nan and inf are not numbers to compute with
            raise argparse.ArgumentTypeError(f"expected a positive {noun}, got {text!r}")
        return value

    return parse
