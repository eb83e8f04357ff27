"""`evalgate gate`: compare a results file with a baseline and decide pass, warn or fail."""

from __future__ import annotations

import argparse
import sys

from evalgate.config import SuiteConfig, load_config
from evalgate.outbound import echo
from evalgate.results import load_results


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


def decide_and_report(args: argparse.Namespace, config: SuiteConfig, current: dict) -> int:
    """Gate `current` against --baseline, write the reports asked for, print the verdict; returns the exit code."""
    from evalgate.pipeline import judge, write_reports  # the engine (numpy, scipy) only when the command runs

    baseline = load_results(args.baseline) if args.baseline else None
    verdict = judge(current, baseline, config, baseline_path=args.baseline)
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
    echo(f"evalgate: {verdict['verdict'].upper()}: {verdict['headline']}", file=sys.stdout)
    for reason in verdict["reasons"]:
        echo(f"  - {reason['severity']}: {reason['message']}", file=sys.stdout)
    return int(verdict["exit_code"])


def handle(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return decide_and_report(args, config, load_results(args.current))
