"""`evalgate gate`: compare a results file with a baseline and decide pass, warn or fail."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from evalgate.commands._outputs import check_outputs
from evalgate.config import SuiteConfig, load_config
from evalgate.errors import InputError
from evalgate.outbound import echo
from evalgate.results import load_results

if TYPE_CHECKING:
    from evalgate.contracts.results import Results


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", "-b", help="the baseline results file (omit: absolute thresholds only)")
    parser.add_argument("--report", help="write the markdown report here")
    parser.add_argument("--json", dest="json_path", help="write the verdict as JSON here")
    parser.add_argument("--junit", help="write a JUnit XML report here")
    parser.add_argument("--html", help="write a standalone HTML report here")
    parser.add_argument(
        "--comment",
        help="write the pull-request comment here (hidden marker first, within GitHub's size limit)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gate", help="compare results with a baseline and decide")
    parser.add_argument("--current", required=True, help="the results file of this run")
    parser.add_argument("--config", "-c", default="evalgate.yaml", help="the suite config (thresholds)")
    add_gate_arguments(parser)
    parser.set_defaults(handler=handle)


def decide_and_report(
    args: argparse.Namespace, config: SuiteConfig, current: Results, *, results_path: str
) -> int:
    """Gate `current` against --baseline, print the verdict, write the reports asked for; returns the exit code.

    A report that cannot be written is exit 2 (the verdict printed, the results kept in `results_path`)."""
    from evalgate.pipeline import judge, write_reports  # the engine (numpy, scipy) only when the command runs

    baseline = load_results(args.baseline, tasks=True) if args.baseline else None
    verdict = judge(current, baseline, config, baseline_path=args.baseline)
    echo(f"evalgate: {verdict.verdict.upper()}: {verdict.headline}", file=sys.stdout)
    for reason in verdict.reasons:
        task = f"{reason.task}: " if reason.task else ""
        echo(f"  - {reason.severity}: {task}{reason.message}", file=sys.stdout)
    try:
        write_reports(
            verdict,
            current,
            baseline,
            config,
            report_path=args.report,
            json_path=args.json_path,
            junit_path=args.junit,
            html_path=args.html,
            comment_path=args.comment,
        )
    except OSError as exc:
        raise InputError(
            f"cannot write this report ({exc.strerror or exc}); the results are in {results_path}: "
            f"`evalgate gate --current {results_path}` writes the reports again",
            file=exc.filename,
        ) from None
    return verdict.exit_code


def handle(args: argparse.Namespace) -> int:
    check_outputs(args)
    config = load_config(args.config, whole=True)
    current = load_results(args.current, tasks=True)
    return decide_and_report(args, config, current, results_path=args.current)
