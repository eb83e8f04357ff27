"""`evalgate run`: run the suite and write the results file.

The config is read first, and the provider's client library starts importing (evalgate.providers.preload)
before the engine is imported: the two imports overlap, and the first call goes out sooner (issue 11).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evalgate.commands._outputs import check_outputs, save_results
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.files.fileio import is_stream
from evalgate.outbound import echo
from evalgate.process import interrupts
from evalgate.process.exitcodes import ExitCode, for_signal
from evalgate.report import formatting as fmt

if TYPE_CHECKING:
    from evalgate.config import SuiteConfig


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", default="evalgate.yaml", help="the suite config (default: evalgate.yaml)"
    )
    parser.add_argument("--output", "-o", default="results.json", help="where to write the results")
    parser.add_argument(
        "--sample", type=int, help="run a deterministic sample of N cases, stratified by category"
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    parser.add_argument("--label", help="a label kept in the results (for example pr-42 or nightly)")
    parser.add_argument("--provider", help="which of the config's providers to run (default: the first)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped run from its journal (OUTPUT.journal.jsonl): the case runs it finished are kept, "
        "the rest run",
    )
    again.add_argument(
        "--retry-errors",
        metavar="PREVIOUS",
        help="rerun only the cases that errored or are missing in the results file PREVIOUS (same suite, config "
        "and datasets) and keep the rest",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the suite and write the results file")
    add_run_arguments(parser)
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="run shard I of N of the (sampled) cases, stratified by category; `evalgate merge` joins the shards",
    )
    parser.set_defaults(handler=handle)


def run_from_args(args: argparse.Namespace):
    """Load the config named by the arguments and run the suite; returns (config, results)."""
    check_outputs(args)  # before the run: a path that cannot be written fails now, not after an hour of calls
    shard = None
    if getattr(args, "shard", None):  # evalgate.shards only for a sharded run
        from evalgate.shards import parse_shard

        shard = parse_shard(args.shard)
    if args.resume and is_stream(args.output):
        raise InputError(
            "--resume needs --output to be a file: a stream has no journal next to it", file=args.output
        )
    config = load_config(args.config, whole=True)
    if args.no_cache:
        config.cache["enabled"] = False
    _preload_clients(config, args.provider)
    # the engine, once the client's import is under way
    from evalgate.journal import finish_journal, journal_path, task_journal
    from evalgate.pipeline import run_and_score
    from evalgate.results import incomplete_reason

    journal = journal_path(args.output)
    run: Callable[..., dict[str, Any]] = run_and_score
    if config.tasks:  # a suite of tasks runs each task
        from evalgate.tasks import run_tasks

        run = run_tasks
    results = run(
        config,
        sample=args.sample,
        label=args.label,
        provider_name=args.provider,
        progress=not args.quiet,
        journal_path=journal,
        resume=args.resume,
        retry_errors=args.retry_errors,
        shard=shard,
    )
    save_results(args.output, results)
    # a suite of tasks keeps every task's journal until the suite is complete
    complete = incomplete_reason(results) is None
    for name in results.get("tasks") or {}:
        finish_journal(task_journal(journal, name), complete=complete)
    finish_journal(journal, complete=complete)
    return config, results


def _preload_clients(config: SuiteConfig, provider_name: str | None) -> None:
    """Start importing the client library of each provider the run calls (every task's, in a suite of tasks)."""
    from evalgate.providers import preload

    for suite in list(config.tasks.values()) or [config]:
        with contextlib.suppress(InputError):  # an unknown --provider: run_and_score reports it
            provider = suite.provider if provider_name is None else suite.provider_named(provider_name)
            preload(provider, cache_enabled=config.cache_enabled)


def finish(results: dict[str, Any], path: str, code: int) -> int:
    """The command's exit code; a run that stopped early says so loudly (stderr, last) and is never 0 or 1."""
    from evalgate.results import incomplete_reason

    reason = incomplete_reason(results)
    if not reason:
        return code
    code = incomplete_exit_code()
    echo(
        f"evalgate: RUN INCOMPLETE: {reason}; {path} is marked incomplete and never passes the gate (exit {code})"
    )
    return code


def incomplete_exit_code() -> int:
    """128+N when a stop signal ended the run early, else INCOMPLETE (a spent budget, an abort)."""
    signum = interrupts.received()
    return for_signal(signum) if signum is not None else ExitCode.INCOMPLETE


def handle(args: argparse.Namespace) -> int:
    from evalgate.results import shard_of

    _, results = run_from_args(args)
    tasks = results.get("tasks") or {"": results}  # a suite of tasks: a summary per task
    for name, task in tasks.items():
        part = shard_of(task)
        what = f"{len(task['cases'])} cases" + (f" (shard {part}; merge before gating)" if part else "")
        echo(f"evalgate: {f'task {name}: ' if name else ''}{what} -> {args.output} ({_summary(task)})")
    return finish(results, args.output, ExitCode.PASS)


def _summary(results: dict[str, Any]) -> str:
    """The shown metrics of a run in one line."""
    keys = results["metric_keys"]
    return ", ".join(
        f"{key} {fmt.value(entry['value'], fmt.unit_in(keys.get(key)))}"
        + (" (not measured: timed mostly from cached answers)" if entry.get("measured") is False else "")
        for key, entry in results["metrics"].items()
        if entry.get("value") is not None and keys.get(key, {}).get("shown", True)
    )
