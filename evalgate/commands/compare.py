"""`evalgate compare`: head-to-head comparison of two or more models on the same cases, judged by an LLM."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from evalgate.commands._outputs import check_outputs
from evalgate.commands._task import add_task_argument
from evalgate.commands.run import incomplete_exit_code
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.files.fileio import write_json_atomic, write_text_atomic
from evalgate.judge.client import as_text
from evalgate.judge.headtohead import compare_players, pair_results_files, render_markdown, run_provider
from evalgate.judge.pairwise import Entry, Player
from evalgate.outbound import echo
from evalgate.process.exitcodes import ExitCode
from evalgate.progress import auto_progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="head-to-head comparison of models on the same cases, judged in both orders",
        description="Judge the answers of two models (providers of the config, or two results files) case by "
        "case in both orders; report win rates and Bradley–Terry ratings.",
    )
    parser.add_argument(
        "--config", default="evalgate.yaml", help="the suite config (its judge: does the judging)"
    )
    add_task_argument(parser)
    parser.add_argument("--a", help="a provider name from the config's providers:")
    parser.add_argument("--b", help="another provider name from the config's providers:")
    parser.add_argument(
        "--players", nargs="+", metavar="NAME", help="two or more provider names (round robin)"
    )
    parser.add_argument("--a-results", type=Path, help="a results file instead of running --a")
    parser.add_argument("--b-results", type=Path, help="a results file instead of running --b")
    parser.add_argument("--margin", type=float, default=0.05, help="tie margin, a share of the score scale")
    parser.add_argument("--sample", type=int, help="compare on a stratified sample of N cases")
    parser.add_argument(
        "--resamples", type=int, default=1000, help="bootstrap resamples for the rating intervals"
    )
    parser.add_argument("--output", type=Path, help="write the comparison as JSON")
    parser.add_argument("--report", type=Path, help="write the comparison as markdown")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


async def _run_players(
    config: Any, names: list[str], sample: int | None, quiet: bool
) -> tuple[list[Entry], list[Player], list[str]]:
    """The cases, each model's answers, and which runs stopped early (`name: why`)."""
    from evalgate.pipeline import load_suite_cases  # --sample checked as by run (0 is not "all cases")

    cases = load_suite_cases(config, sample)
    players, stopped = [], []
    for provider_config in [
        config.provider_named(name) for name in names
    ]:  # one model at a time: each uses all the slots
        progress = None if quiet else auto_progress(label=f"model {provider_config.name}")
        answers, aborted = await run_provider(config, provider_config, cases, progress)
        if aborted:
            stopped.append(f"{provider_config.name}: {aborted}")
        players.append(Player(provider_config.name, answers, f"provider {provider_config.type}"))
    entries = [
        Entry(case.id, case.input, case.expected, case.category, as_text(case.metadata.get("source")))
        for case in cases
    ]
    return entries, players, stopped


def _check_args(args: argparse.Namespace) -> list[str] | None:
    """The provider names to run, or None when comparing two results files."""
    if not 0 <= args.margin < 1:
        raise InputError(f"--margin must be from 0 to 1 (a share of the score scale), got {args.margin}")
    if args.resamples < 1:
        raise InputError(f"--resamples must be at least 1, got {args.resamples}")
    results_mode = args.a_results is not None or args.b_results is not None
    if results_mode:
        if args.a_results is None or args.b_results is None or args.a or args.b or args.players:
            raise InputError("use --a-results with --b-results, without --a, --b or --players")
        return None
    if args.players:
        if args.a or args.b or len(args.players) < 2:
            raise InputError("--players takes two or more provider names, without --a and --b")
        return list(args.players)
    if not (args.a and args.b):
        raise InputError(
            "name the two models: --a NAME --b NAME (providers of the config) or --a-results/--b-results"
        )
    return [args.a, args.b]


def run(args: argparse.Namespace) -> int:
    names = _check_args(args)
    check_outputs(args)
    config = load_config(args.config, task=args.task)
    warnings: list[str] = []
    stopped: list[str] = []
    if names is None:
        entries, players, warnings = pair_results_files(args.a_results, args.b_results)
    else:
        entries, players, stopped = asyncio.run(_run_players(config, names, args.sample, args.quiet))
    document = asyncio.run(
        compare_players(
            config,
            entries,
            players,
            margin=args.margin,
            resamples=args.resamples,
            warnings=warnings,
            progress=None if args.quiet else auto_progress(label="judge", unit="questions"),
        )
    )
    if args.output:
        write_json_atomic(args.output, document.model_dump(mode="json", exclude_unset=True))
    markdown = render_markdown(
        document,
        max_examples=config.report.get("max_examples", 10),
        max_chars=config.report.get("max_chars", 400),
    )
    if args.report:
        write_text_atomic(args.report, markdown)
    for pair in document.pairs:
        rate = pair.win_rate_a.value
        echo(
            f"{pair.a} vs {pair.b}: {pair.wins_a} wins, {pair.wins_b} losses, {pair.ties} ties"
            + (f" (win rate {100 * rate:.1f}%)" if rate is not None else ""),
            file=sys.stdout,
        )
    for name, rating in document.ratings.players.items():
        echo(f"  {name}: {rating.rating:.0f} [{rating.ci_low:.0f}, {rating.ci_high:.0f}]", file=sys.stdout)
    failed = sum(pair.judge_errors for pair in document.pairs)
    if failed:
        echo(f"evalgate: warning: the judge failed on {failed} comparison(s); see the report")
    if stopped:  # its cases not run count as errors, that is as losses: the comparison is not a fair one
        echo(f"evalgate: RUN INCOMPLETE: {'; '.join(stopped)}; the comparison is incomplete")
        return incomplete_exit_code()
    if all(pair.n == 0 for pair in document.pairs):
        echo("evalgate: no case could be compared: every judge call failed")
        return ExitCode.FAIL
    return ExitCode.PASS
