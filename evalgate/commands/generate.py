"""`evalgate generate`: new adversarial cases from seed cases, written to a new JSONL file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from evalgate.commands._outputs import kept_elsewhere
from evalgate.config import load_config
from evalgate.datasets import load_cases
from evalgate.errors import InputError
from evalgate.fileio import check_writable
from evalgate.generate import EXISTS, TECHNIQUES, generate_cases, parse_techniques, to_jsonl, write_new_file
from evalgate.judging import open_judge
from evalgate.outbound import echo


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate adversarial cases from seed cases with an LLM",
        description="Generate adversarial variants of seed cases (techniques: "
        + ", ".join(TECHNIQUES)
        + "). "
        "The model is the config's judge unless --provider names another. Never overwrites a file.",
    )
    parser.add_argument("--config", default="evalgate.yaml", help="the suite config")
    parser.add_argument("--from", dest="seeds", type=Path, required=True, help="a JSONL file of seed cases")
    parser.add_argument(
        "--out", type=Path, required=True, help="the new JSONL file to write (must not exist)"
    )
    parser.add_argument("--n-per-case", type=int, default=2, help="variants per seed and technique")
    parser.add_argument("--techniques", default=",".join(TECHNIQUES), help="comma-separated techniques")
    parser.add_argument(
        "--provider", help="a provider name from the config's providers: (default: its judge)"
    )
    parser.add_argument("--category", default="adversarial", help="the category of the generated cases")
    parser.set_defaults(handler=run)


async def _generate(args: argparse.Namespace, config: Any, seeds: list[Any], techniques: list[str]) -> Any:
    async with open_judge(
        config,
        None if args.provider is None else config.provider_named(args.provider),
        purpose="evalgate generate",
    ) as session:
        return await generate_cases(
            session, seeds, techniques=techniques, n_per_case=args.n_per_case, category=args.category
        )


def run(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise InputError(EXISTS, file=args.out)
    check_writable(args.out, what="--out")  # before paying for the generation
    if args.n_per_case < 1:
        raise InputError(f"--n-per-case must be at least 1, got {args.n_per_case}")
    techniques = parse_techniques(args.techniques)

    config = load_config(args.config)
    seeds = load_cases([args.seeds])
    if not seeds:
        raise InputError("no seed cases in the file", file=args.seeds)
    report = asyncio.run(_generate(args, config, seeds, techniques))
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
        f"wrote {len(report.cases)} case(s) to {args.out} from {len(seeds)} seed(s) "
        f"({', '.join(techniques)}; dropped: {dropped}; generator errors: {len(report.errors)})",
        file=sys.stdout,
    )
    return 0
