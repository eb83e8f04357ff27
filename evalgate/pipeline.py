"""The stages of DESIGN.md's pipeline joined up: config -> cases -> run -> scored results -> verdict -> reports.

The commands (evalgate/commands/) and the Action's entrypoint call these functions; each stage's own module
does the work. The judging stages (compare, gate, reports, history; scipy among them) are imported by the
functions that use them, so `evalgate run` never loads them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate import assertions, datasets, metrics, names, runner, slices
from evalgate.config import SuiteConfig
from evalgate.contracts.signature import metric_spec, metric_spec_hash
from evalgate.errors import InputError
from evalgate.files.fileio import read_bytes
from evalgate.journal import RunJournal
from evalgate.outbound import echo
from evalgate.preload import import_ahead
from evalgate.results import build_results, call_summary, case_record, merge_repeats, shard_of

if TYPE_CHECKING:
    from evalgate.contracts.results import Results
    from evalgate.contracts.trend import Trend
    from evalgate.contracts.verdict import VerdictDocument
    from evalgate.shards import ShardSpec


def sha256_of(data: bytes) -> str:
    """How evalgate writes a fingerprint: `sha256:` and the hex digest."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def git_info(base_dir: Path) -> dict[str, Any]:
    """The commit under test: the Action's head SHA when set, else GITHUB_SHA, else the local checkout."""
    env = os.environ
    sha = env.get("EVALGATE_HEAD_SHA") or env.get("GITHUB_SHA") or _git(base_dir, "rev-parse", "HEAD")
    ref = (
        env.get("EVALGATE_HEAD_REF")
        or env.get("GITHUB_HEAD_REF")
        or env.get("GITHUB_REF")
        or _git(base_dir, "rev-parse", "--abbrev-ref", "HEAD")
    )
    return {"sha": sha, "ref": ref}


def _git(folder: Path, *args: str) -> str | None:
    """A git command's one-line answer in `folder`, or None outside a checkout (or without git)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def signature(config: SuiteConfig, provider_fingerprint: str, sample: int | None) -> dict[str, Any]:
    """What makes two runs comparable (datasets, metrics, sample, repeats) and what identifies them; the metric
    spec is kept beside its hash so a differing baseline is explained option by option."""
    spec = metric_spec(config.metrics)
    return {
        "config": sha256_of(read_bytes(config.path, what="config file")),
        "datasets": datasets.dataset_fingerprint(config.datasets),
        "provider": provider_fingerprint,
        "metrics": metric_spec_hash(spec),
        "metric_spec": spec,
        "sample": sample,
        "repeats": config.repeats,
    }


def load_suite_cases(config: SuiteConfig, sample: int | None) -> list:
    """The suite's cases (a stratified sample of `sample`), once the gate's category and slice rules are known to
    name categories and slices the cases have (evalgate.names, evalgate.slices: before any case runs)."""
    if sample is not None and sample < 1:  # before reading the datasets
        raise InputError(f"--sample must be at least 1, got {sample}")
    cases = datasets.load_cases(config.datasets)
    assertions.check_suite(config, cases)
    found = slices.check_cases(config.slices, cases)
    names.check_rule_names(
        config.rules,
        {names.CATEGORY: {case.category for case in cases}, names.SLICE: set(found)},
        source="the cases of the datasets",
    )
    for warning in [*names.unused_prices(config), *slices.unused(config.slices, found)]:
        echo(f"evalgate: warning: {warning}")
    return cases if sample is None else datasets.sample_cases(cases, sample, config.seed)


def run_and_score(
    config: SuiteConfig,
    *,
    sample: int | None = None,
    label: str | None = None,
    provider_name: str | None = None,
    progress: bool = True,
    journal_path: Path | None = None,
    resume: bool = False,
    retry_errors: str | None = None,
    shard: ShardSpec | None = None,
) -> dict[str, Any]:
    """Run the suite with one provider and return the scored results (the results.json content); with `shard`,
    those of that shard of the (sampled) cases (evalgate.shards), for `evalgate merge`. (A suite of tasks runs
    each task through here: evalgate.tasks.run_tasks.)

    With `journal_path`, each finished case run is journaled there (evalgate.journal); `resume` keeps the case runs
    that journal holds, `retry_errors` (a results file) those that finished without an error."""
    provider_config = config.provider if provider_name is None else config.provider_named(provider_name)
    previous = _previous_run(retry_errors, config.task_name)
    cases, shard_record = _shard_cases(load_suite_cases(config, sample), shard)
    built = metrics.build_metrics(config)
    plan = RunJournal(
        path=journal_path,
        suite=config.suite,
        cases=cases,
        repeats=config.repeats,
        signature_for=lambda fingerprint: signature(config, fingerprint, sample),
        resume=resume,
        previous=previous,
    )
    outcome = asyncio.run(
        runner.run_suite(
            config, cases, provider_config, "auto" if progress else None, plan, _scoring_imports(built)
        )
    )
    case_entries, overall, categories = _score(config, built, outcome)
    results = build_results(
        suite=config.suite,
        label=label,
        signature={
            **signature(config, outcome.provider_fingerprint, sample),
            **({"assembled": plan.assembled} if plan.assembled else {}),
        },
        git=git_info(config.base_dir),
        run=_run_info(config, provider_config.name, outcome, built),
        metric_keys=_mark_shown(metrics.metric_keys(built), config, built, overall),
        metrics=overall,
        categories=categories,
        cases=case_entries,
        shard=shard_record,
        slices=metrics.summarize_slices(built, case_entries, config.slices, config.stats["confidence"]),
    )
    if (
        config.judge_calibration is not None
    ):  # the canary's stack (scipy, the judge) only for suites that have one
        from evalgate.judge import canary

        results.update(canary.run_checks(config, built, results["git"]))
    return results


def _scoring_imports(built: list) -> Callable[[], None]:
    """What the run does once its calls are in flight: import what scoring needs (numpy) while they are."""
    modules = dict.fromkeys(module for metric in built for module in metric.SCORING_MODULES)
    return lambda: import_ahead(modules, name="evalgate-scoring-imports")


def _previous_run(retry_errors: str | None, task: str | None) -> tuple[Path, dict[str, Any]] | None:
    """The results file `--retry-errors` names (in a suite of tasks, its results of `task`), loaded before any
    case runs: a bad one is exit 2 at once."""
    if retry_errors is None:
        return None
    from evalgate.results import load_results

    results = load_results(retry_errors, tasks=task is not None)
    if task is not None:
        if task not in (results.tasks or {}):
            raise InputError(f"these results have no results of task {task}", file=retry_errors)
        results = (results.tasks or {})[task]
    return Path(retry_errors), results.to_json()


def _shard_cases(cases: list, shard: ShardSpec | None) -> tuple[list, dict[str, Any] | None]:
    """The cases this run runs (all, or shard `shard` of them) and the results file's `shard` object."""
    if shard is None:
        return cases, None
    from evalgate.shards import select  # only for a sharded run

    return select(cases, shard)


def _score(
    config: SuiteConfig, built: list, outcome: runner.RunOutcome
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The case entries of the results file and the metrics overall and per category. With `repeats` > 1, one
    entry per case with its per-case mean scores, and the aggregates over those means."""
    records = [case_record(result) for result in outcome.results]
    asyncio.run(metrics.prepare_metrics(built, records, config))
    confidence = config.stats["confidence"]
    overall, categories = metrics.score_results(built, records, confidence=confidence)
    if config.repeats == 1:
        return records, overall, categories
    by_id: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_id.setdefault(record["id"], []).append(record)
    case_entries = [merge_repeats(group) for group in by_id.values()]
    overall, categories = metrics.summarize_all(built, case_entries, confidence)
    return case_entries, overall, categories


def _run_info(config: SuiteConfig, provider: str, outcome: runner.RunOutcome, built: list) -> dict[str, Any]:
    """The results file's `run` section: how the run went (time, concurrency, completeness, calls, cache,
    limiter, the judge's usage)."""
    judge_usage = {m.family: usage for m in built if (usage := getattr(m, "judge_usage", None))}
    return {
        "wall_s": round(outcome.wall_s, 3),
        "concurrency": config.concurrency,
        "provider": provider,
        "aborted": outcome.aborted,
        "complete": outcome.aborted is None and outcome.not_run == 0,
        "not_run": outcome.not_run,
        "cache": outcome.cache_stats,
        **({"calls": calls} if (calls := call_summary(outcome.results)) else {}),
        **({"limiter": outcome.limiter} if outcome.limiter else {}),
        **({"judge": judge_usage} if judge_usage else {}),
    }


def _mark_shown(
    keys: dict[str, dict[str, Any]], config: SuiteConfig, built: list, overall: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Mark the keys a report shows: the gated ones, and `report.show`'s keys when the config lists them; by
    default (this is the one place the default is decided) those the config names (a family name: all its
    keys), and those whose declared facts say `shown: always` (error rate, latency percentiles) or `measured`
    when the run measured them (usage, streaming). The rest (for example precision_micro, computed with
    f1_macro) stays in the results file for anyone who asks."""
    declared = [key for metric in built for key in metric.keys()]
    shown = {rule.metric for rule in config.rules}
    if config.report["show"] is not None:
        shown.update(config.report["show"])
        return {name: {**info, "shown": name in shown} for name, info in keys.items()}
    shown |= {key.name for key in declared if key.shown == "always"}
    shown |= {
        key.name
        for key in declared
        if key.shown == "measured" and (overall.get(key.name) or {}).get("value") is not None
    }
    for entry in config.metrics:
        family, key = metrics.resolve_name(entry.name)
        if key is not None:
            shown.add(key)
        else:
            shown.update(k.name for metric in built if metric.family == family for k in metric.keys())
    return {name: {**info, "shown": name in shown} for name, info in keys.items()}


def judge(
    current: Results,
    baseline: Results | None,
    config: SuiteConfig,
    *,
    baseline_path: str | None = None,
) -> VerdictDocument:
    """Compare with the baseline and decide; returns the verdict document (docs/internals.md), typed once here.
    A suite of tasks judges each task (evalgate.tasks)."""
    from evalgate.gate import decide
    from evalgate.judge.trust import advisory, gate_assessment
    from evalgate.pairing import compare

    if config.tasks:
        from evalgate.tasks import judge_tasks

        return judge_tasks(current, baseline, config, baseline_path=baseline_path)
    if current.tasks is not None:
        raise InputError(
            f"these are the results of a suite of tasks ({', '.join(current.tasks)}), but the config has none"
        )
    if baseline is not None and baseline.tasks is not None:
        raise InputError(
            f"the baseline is the results of a suite of tasks ({', '.join(baseline.tasks)}), but the config has none: "
            "gate without it (no --baseline) until the base branch has results of this config"
        )

    for results, what in ((current, "the results file"), (baseline, "the baseline")):
        if results is not None and (part := shard_of(results)):
            raise InputError(
                f"{what} is shard {part} of a run, not a whole run; merge the shards first "
                "(`evalgate merge SHARD... --output results.json`) and gate the merged file"
            )
    comparison = compare(current, baseline, config, baseline_path=baseline_path)
    trust = gate_assessment(current, config)
    verdict = decide(comparison, config, advisory=advisory(trust))
    verdict.judge_calibration = trust
    return verdict.document()


def write_reports(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    config: SuiteConfig,
    *,
    report_path: str | None = None,
    json_path: str | None = None,
    junit_path: str | None = None,
    html_path: str | None = None,
    comment_path: str | None = None,
) -> None:
    """Write each report asked for, atomically. The comment is the sticky PR comment: marker first, within
    GitHub's size limit, detail dropped in tiers when needed."""
    from evalgate.files.fileio import write_json_atomic, write_text_atomic
    from evalgate.github.actions_io import run_url as actions_run_url
    from evalgate.report import render, tasks_render

    options: dict[str, Any] = {
        "max_examples": config.report["max_examples"],
        "max_chars": config.report["max_chars"],
        "templates": config.resolve(config.report["templates"]) if config.report.get("templates") else None,
        "show": config.report["show"],
        "run_url": actions_run_url(os.environ),
    }
    renderer: Any = tasks_render if verdict.tasks else render  # a suite of tasks: a section per task
    options["trend"] = (
        {name: history_trend(config.tasks[name], v) for name, v in verdict.tasks.items()}
        if verdict.tasks
        else history_trend(config, verdict)
    )
    if report_path:
        write_text_atomic(report_path, renderer.render_markdown(verdict, current, baseline, **options))
    if comment_path:
        write_text_atomic(comment_path, renderer.render_comment(verdict, current, baseline, **options))
    if json_path:
        write_json_atomic(json_path, verdict.model_dump(mode="json", exclude_unset=True))
    if junit_path:
        write_text_atomic(junit_path, renderer.render_junit(verdict, current))
    if html_path:
        write_text_atomic(html_path, renderer.render_html(verdict, current, baseline, **options))


def history_trend(config: SuiteConfig, verdict: VerdictDocument) -> Trend | None:
    """The trend of the first gated metric from the history store (with any drift alarm), when there is one.

    The trend only decorates the report: a store that cannot be read leaves it out with a warning (in the
    verdict's warnings and on stderr), never costing the verdict or the reports."""
    from evalgate.history.store import HistoryStore
    from evalgate.history.trend import trend_for_report

    path = config.resolve(config.history["path"])
    gated = [row.metric for row in verdict.metrics if row.rules]
    if not path.exists() or not gated:
        return None
    try:
        with HistoryStore(path) as store:
            trend = trend_for_report(store, config.suite, gated[0])
    except InputError as exc:
        warning = f"the trend chart is left out: {exc}"
        verdict.warnings.append(warning)
        echo(f"evalgate: warning: {warning}")
        return None
    return trend if len(trend.values) >= 2 else None
