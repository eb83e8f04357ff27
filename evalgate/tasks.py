"""A suite of tasks through the pipeline: each task run, scored and judged as the suite of its own it is
(evalgate.config_tasks), then joined: one results file, one verdict, one set of reports.

- `run_tasks` runs the tasks one after the other (the budget is the run's: each task gets what the ones before
  left) and writes their results under `tasks` of one results document, whose own metrics and cases are empty.
- `judge_tasks` judges each task against the baseline's results of the same task (a baseline without it: absolute
  thresholds only, said in that task's section) and joins the verdicts: the worst verdict, every reason and row
  marked with its task, and each task's own verdict under `tasks` for its section of the reports.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from evalgate.errors import InputError
from evalgate.results import build_results

if TYPE_CHECKING:
    from evalgate.config import SuiteConfig
    from evalgate.contracts.results import Results
    from evalgate.contracts.verdict import VerdictDocument

VERDICT_ORDER = {"pass": 0, "warn": 1, "fail": 2}


def run_tasks(config: SuiteConfig, *, label: str | None, **options: Any) -> dict[str, Any]:
    """Run every task of the suite (the options of pipeline.run_and_score) and return the results document."""
    from evalgate.journal import task_journal
    from evalgate.pipeline import run_and_score

    if options.get("retry_errors"):  # every task's previous results checked before any case runs
        from evalgate.results import load_results

        previous = load_results(options["retry_errors"], tasks=True).tasks or {}
        if missing := [name for name in config.tasks if name not in previous]:
            raise InputError(
                f"these results have no results of task {', '.join(missing)}: --retry-errors needs the results of a "
                "run of this suite",
                file=options["retry_errors"],
            )
    journal = options.pop("journal_path", None)
    started = time.perf_counter()
    tasks: dict[str, dict[str, Any]] = {}
    spent = {"max_cost": 0.0, "max_tokens": 0}
    for name, task_config in config.tasks.items():
        task_config.budget = _left(config.budget, spent)
        task_config.cache = config.cache
        tasks[name] = run_and_score(
            task_config, label=label, journal_path=task_journal(journal, name), **options
        )
        _charge(spent, tasks[name])
    return suite_results(config, tasks, label=label, wall_s=time.perf_counter() - started)


def suite_results(
    config: SuiteConfig, tasks: dict[str, dict[str, Any]], *, label: str | None, wall_s: float
) -> dict[str, Any]:
    """The results document of a suite of tasks, around its tasks' results (a run's, a shard's, a merge's)."""
    from evalgate.pipeline import git_info

    first = next(iter(tasks.values()))
    results = build_results(
        suite=config.suite,
        label=label,
        signature=_signature(tasks, first["signature"].get("sample")),
        git=first.get("git") or git_info(config.base_dir),
        run=_run(tasks, wall_s),
        metric_keys={},
        metrics={},
        categories={},
        cases=[],
        shard=_shard(tasks),
    )
    results["tasks"] = tasks
    return results


def _shard(tasks: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The suite's `shard` when its tasks' results are one shard of a run (each task split the same way)."""
    parts: list[dict[str, Any]] = [results["shard"] for results in tasks.values() if results.get("shard")]
    if len(parts) < len(tasks):
        return None
    return {
        "index": parts[0]["index"],
        "count": parts[0]["count"],
        "dataset_cases": sum(part["dataset_cases"] for part in parts),
        "dataset_fingerprint": _digest(
            [f"{name}={p['dataset_fingerprint']}" for name, p in zip(tasks, parts, strict=True)]
        ),
    }


def merge_task_shards(paths: list[str], config: SuiteConfig) -> dict[str, Any]:
    """`evalgate merge` of a suite of tasks: each task's shards merged as one suite's (evalgate.merge), then
    joined; a file that is not a shard of this suite's tasks is one InputError."""
    from evalgate.merge import merge_loaded
    from evalgate.results import load_results

    loaded = [(path, load_results(path, tasks=True)) for path in paths]
    for path, results in loaded:
        if results.tasks is None or list(results.tasks) != list(config.tasks):
            raise InputError(
                f"not the results of a shard of this suite's tasks ({', '.join(config.tasks)})", file=path
            )
    merged = {
        name: merge_loaded(
            [(f"{path} (task {name})", (results.tasks or {})[name].to_json()) for path, results in loaded],
            task_config,
        )
        for name, task_config in config.tasks.items()
    }
    wall_s = max((results.run.wall_s or 0.0 for _, results in loaded), default=0.0)
    return suite_results(config, merged, label=loaded[0][1].label, wall_s=wall_s)


def _left(budget: dict[str, Any], spent: dict[str, float]) -> dict[str, Any]:
    """What the run's budget leaves for the next task."""
    return {key: None if budget.get(key) is None else budget[key] - spent[key] for key in spent}


def _charge(spent: dict[str, float], results: dict[str, Any]) -> None:
    """Add what a task's answers cost (cached answers cost nothing) to what the run has spent."""
    fresh = [case for case in results["cases"] if not case.get("cached")]
    spent["max_cost"] += math.fsum(case.get("cost") or 0.0 for case in fresh)
    spent["max_tokens"] += sum((case.get("tokens_in") or 0) + (case.get("tokens_out") or 0) for case in fresh)


def _digest(parts: list[str]) -> str:
    from evalgate.pipeline import sha256_of

    return sha256_of("\n".join(parts).encode("utf-8"))


def _signature(tasks: dict[str, dict[str, Any]], sample: int | None) -> dict[str, Any]:
    """The suite's signature: the config file, and digests of the tasks' own (each task's is in its results)."""
    return {
        "config": next(iter(tasks.values()))["signature"]["config"],  # every task's: the one file
        "datasets": _digest([f"{name}={t['signature']['datasets']}" for name, t in tasks.items()]),
        "metrics": _digest([f"{name}={t['signature']['metrics']}" for name, t in tasks.items()]),
        "sample": sample,
        "repeats": 1,
    }


def _run(tasks: dict[str, dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """The suite's `run` section: the whole wall time, complete only when every task is, the cache summed."""
    runs = {name: results["run"] for name, results in tasks.items()}
    aborted = [f"task {name}: {run['aborted']}" for name, run in runs.items() if run.get("aborted")]
    caches = [run["cache"] for run in runs.values() if run.get("cache")]
    return {
        "wall_s": round(wall_s, 3),
        "aborted": "; ".join(aborted) or None,
        "complete": all(run.get("complete") is not False for run in runs.values()),
        "not_run": sum(run.get("not_run") or 0 for run in runs.values()),
        **({"cache": {k: sum(c.get(k) or 0 for c in caches) for k in ("hits", "misses")}} if caches else {}),
    }


def judge_tasks(
    current: Results, baseline: Results | None, config: SuiteConfig, *, baseline_path: str | None
) -> VerdictDocument:
    """Each task judged against the baseline's same task, and the verdicts joined (see the module)."""
    from evalgate.pipeline import judge

    names = list(config.tasks)
    if current.tasks is None:
        raise InputError(
            f"the config has tasks ({', '.join(names)}) but these results are of one suite; run the suite again"
        )
    if list(current.tasks) != names:
        raise InputError(
            f"the results have the tasks {', '.join(current.tasks)}, the config {', '.join(names)}; run the suite "
            "again with this config"
        )
    verdicts = {}
    for name, task_config in config.tasks.items():
        previous = (baseline.tasks or {}).get(name) if baseline is not None else None
        verdicts[name] = judge(current.tasks[name], previous, task_config, baseline_path=baseline_path)
        if baseline is not None and previous is None:
            verdicts[name].baseline.note = (
                f"The baseline has no results of task {name} (written before the suite had it): only absolute "
                "thresholds were checked."
            )
    return join_verdicts(config.suite, verdicts)


def join_verdicts(suite: str, verdicts: dict[str, VerdictDocument]) -> VerdictDocument:
    """One verdict of the tasks' verdicts: the worst wins, an incomplete task makes the suite incomplete."""
    from evalgate.contracts.verdict import BaselineInfo, CaseChanges, VerdictDocument
    from evalgate.process.exitcodes import ExitCode

    worst = max((v.verdict for v in verdicts.values()), key=VERDICT_ORDER.__getitem__)
    codes = {v.exit_code for v in verdicts.values()}
    first = next(iter(verdicts.values()))
    with_baseline = [v.baseline for v in verdicts.values() if v.baseline.available]
    failing = [name for name, v in verdicts.items() if v.verdict != "pass"]
    headline = "; ".join(f"{name}: {verdicts[name].headline}" for name in failing) or (
        f"all {len(verdicts)} tasks passed"
    )
    return VerdictDocument(
        suite=suite,
        verdict=worst,
        exit_code=ExitCode.INCOMPLETE if ExitCode.INCOMPLETE in codes else max(codes),
        headline=headline,
        mode=first.mode,
        stats=first.stats,
        baseline=BaselineInfo(
            available=bool(with_baseline),
            label=with_baseline[0].label if with_baseline else None,
            created_at=with_baseline[0].created_at if with_baseline else None,
            signature_match=all(b.signature_match for b in with_baseline),
        ),
        reasons=[r.model_copy(update={"task": name}) for name, v in verdicts.items() for r in v.reasons],
        metrics=[m.model_copy(update={"task": name}) for name, v in verdicts.items() for m in v.metrics],
        categories=[
            m.model_copy(update={"task": name}) for name, v in verdicts.items() for m in v.categories
        ],
        slices=[m.model_copy(update={"task": name}) for name, v in verdicts.items() for m in v.slices],
        cases=CaseChanges(
            paired=sum(v.cases.paired for v in verdicts.values()),
            total=sum(v.cases.total or 0 for v in verdicts.values()),
            errors=sum(v.cases.errors or 0 for v in verdicts.values()),
            regressed_total=sum(v.cases.regressed_total or 0 for v in verdicts.values()),
            failing_total=sum(v.cases.failing_total or 0 for v in verdicts.values()),
        ),
        warnings=[f"{name}: {w}" for name, v in verdicts.items() for w in v.warnings],
        tasks=verdicts,
    )
