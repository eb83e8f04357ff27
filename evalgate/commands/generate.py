"""`evalgate generate`: new adversarial and red-team cases from seed cases, written to a new JSONL file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from evalgate.commands._outputs import kept_elsewhere
from evalgate.commands._task import add_task_argument
from evalgate.config import load_config
from evalgate.datasets import load_cases
from evalgate.errors import InputError
from evalgate.files.fileio import check_writable
from evalgate.judge.client import open_judge
from evalgate.judge.generate import (
    DEFAULT_CATEGORY,
    DEFAULT_STRATEGIES,
    EXISTS,
    STRATEGIES,
    STRATEGY_GROUPS,
    generate_cases,
    parse_strategies,
    to_jsonl,
    write_new_file,
)
from evalgate.outbound import echo
from evalgate.progress import auto_progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate adversarial and red-team cases from seed cases with an LLM",
        description="Generate variants of seed cases (strategies: "
        + ", ".join(STRATEGIES)
        + "). The model is the config's judge unless --provider names another. The cases go to a new "
        "file, in the category 'generated' by default; an existing file is never overwritten.",
    )
    parser.add_argument("--config", default="evalgate.yaml", help="the suite config")
    add_task_argument(parser)
    parser.add_argument("--from", dest="seeds", type=Path, required=True, help="a JSONL file of seed cases")
    parser.add_argument(
        "--out", type=Path, required=True, help="the new JSONL file to write (must not exist)"
    )
    parser.add_argument("--n-per-case", type=int, default=2, help="variants per seed and strategy")
    parser.add_argument(
        "--strategies",
        "--techniques",
        dest="strategies",
        default=DEFAULT_STRATEGIES,
        help="comma-separated strategies or groups ("
        + "; ".join(
            f"{group}: {', '.join(members)}" for group, members in STRATEGY_GROUPS.items() if group != "all"
        )
        + f"; all); default {DEFAULT_STRATEGIES}",
    )
    parser.add_argument(
        "--provider", help="a provider name from the config's providers: (default: its judge)"
    )
    parser.add_argument(
        "--category",
        default=DEFAULT_CATEGORY,
        help="the category of the generated cases (default: generated)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


async def _generate(args: argparse.Namespace, config: Any, seeds: list[Any], strategies: list[str]) -> Any:
    async with open_judge(
        config,
        None if args.provider is None else config.provider_named(args.provider),
        purpose="evalgate generate",
    ) as session:
        return await generate_cases(
            session,
            seeds,
            strategies=strategies,
            n_per_case=args.n_per_case,
            category=args.category,
            progress=None if args.quiet else auto_progress(label="generate", unit="questions"),
        )


def run(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise InputError(EXISTS, file=args.out)
    check_writable(args.out, what="--out")  # before paying for the generation
    if args.n_per_case < 1:
        raise InputError(f"--n-per-case must be at least 1, got {args.n_per_case}")
    if not args.category.strip():
        raise InputError("--category must not be empty")
    strategies = parse_strategies(args.strategies)

    config = load_config(args.config, task=args.task)
    seeds = load_cases([args.seeds])
    if not seeds:
        raise InputError("no seed cases in the file", file=args.seeds)
    hand_written = sorted({seed.category for seed in seeds if seed.category == args.category})
    if hand_written:
        echo(
            f"evalgate: warning: the generated cases join the seeds' own category {hand_written[0]!r} "
            f"(--category); the default {DEFAULT_CATEGORY!r} keeps them apart"
        )
    report = asyncio.run(_generate(args, config, seeds, strategies))
    for message in report.skipped:
        echo(f"evalgate: warning: skipped {message}")
    for error in report.errors:
        echo(f"evalgate: warning: {error}")
    if not report.cases:
        raise InputError(
            f"no usable case was generated from {len(seeds)} seed(s); nothing written", file=args.out
        )
    text = to_jsonl(report.cases)
    try:
        write_new_file(args.out, text)
    except OSError as exc:
        raise kept_elsewhere(
            exc, text, args.out, what="generated cases", then="rename it to keep it"
        ) from None
    dropped = ", ".join(f"{count} {reason}" for reason, count in sorted(report.dropped.items())) or "none"
    echo(
        f"wrote {len(report.cases)} case(s) to {args.out} (category {args.category!r}) from {len(seeds)} "
        f"seed(s) ({', '.join(strategies)}; dropped: {dropped}; generator errors: {len(report.errors)})",
        file=sys.stdout,
    )
    return 0
