"""`evalgate judge calibrate`: measure the suite's judge against human labels (docs/judge.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalgate.commands._task import add_task_argument
from evalgate.errors import InputError
from evalgate.outbound import echo


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("judge", help="measure the LLM judge against human labels")
    commands = parser.add_subparsers(dest="judge_command", metavar="COMMAND", parser_class=type(parser))
    calibrate = commands.add_parser(
        "calibrate",
        help="run the judge on gold labels and report its agreement with people",
        description="Run the suite's judge on human-labelled items and report, per criterion, its agreement "
        "with people (quadratic-weighted kappa, Krippendorff's alpha, Spearman, exact and within-one agreement, "
        "confusion matrix, bootstrap intervals), the largest disagreements, and for pairwise items the "
        "agreement with the human winner, position bias and ties. Exit 1 when the judge is below "
        "judge.calibration.min_agreement.",
    )
    calibrate.add_argument("--config", "-c", default="evalgate.yaml", help="the suite config")
    add_task_argument(calibrate)
    calibrate.add_argument("--gold", help="the gold labels (JSONL; default: judge.calibration.gold)")
    calibrate.add_argument(
        "--output", "-o", help="the calibration file (default: judge.calibration.file, else next to the gold)"
    )
    calibrate.add_argument("--report", help="also write the markdown report here")
    calibrate.add_argument(
        "--consistency",
        type=int,
        default=0,
        metavar="K",
        help="also run the judge K more times per item with sampling on, to measure its self-consistency",
    )
    calibrate.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature of the consistency runs (1.0)"
    )
    calibrate.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    calibrate.add_argument(
        "--margin", type=float, default=0.05, help="pairwise tie margin, as compare (0.05)"
    )
    calibrate.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    calibrate.set_defaults(handler=handle_calibrate)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def handle_calibrate(args: argparse.Namespace) -> int:
    import asyncio

    from evalgate.config import load_config
    from evalgate.files.fileio import write_json_atomic, write_text_atomic
    from evalgate.judge import calibration, canary
    from evalgate.judge.gold import load_gold
    from evalgate.judge.trust import assess
    from evalgate.report.calibration import render_calibration

    if args.consistency < 0 or args.consistency == 1:
        raise InputError(f"--consistency must be 0 (off) or at least 2 runs, got {args.consistency}")
    if args.resamples < 0:
        raise InputError(f"--resamples must be 0 or more, got {args.resamples}")
    if not 0 <= args.margin < 1:
        raise InputError(f"--margin must be from 0 to 1 (a share of the 0-100 scale), got {args.margin}")
    if not args.temperature >= 0:
        raise InputError(f"--temperature must be 0 or more, got {args.temperature}")
    config = load_config(args.config, task=args.task)
    if args.no_cache:
        config.cache["enabled"] = False
    settings = config.judge_calibration or {}
    gold_path = Path(args.gold) if args.gold else settings.get("gold")
    if gold_path is None:
        raise InputError(
            "name the gold labels with --gold, or in the config as judge.calibration.gold", file=config.path
        )
    gold = load_gold(gold_path)
    output = Path(args.output) if args.output else settings.get("file")
    if output is None:
        output = gold.path.with_name(gold.path.name.removesuffix(".jsonl") + ".calibration.json")
    options = calibration.Settings(
        resamples=args.resamples,
        confidence=float(config.stats["confidence"]),
        seed=config.seed,
        margin=args.margin,
    )

    async def measure() -> dict:
        document = await calibration.calibrate(
            config, gold, settings=options, consistency=args.consistency, temperature=args.temperature
        )
        document["canary"] = await canary.reference(config)
        return document

    document = asyncio.run(measure())
    trust = assess(config, document=document) if settings else None
    write_json_atomic(output, document)
    text = render_calibration(document, trust)
    if args.report:
        write_text_atomic(args.report, text)
    echo(text, file=sys.stdout)
    echo(f"evalgate: calibration written to {output}")
    return 1 if trust and trust["status"] != "trusted" else 0
