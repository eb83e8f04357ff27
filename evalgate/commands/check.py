"""`evalgate check`: run the suite, then gate it (what the Action does)."""

from __future__ import annotations

import argparse

from evalgate.commands.gate import add_gate_arguments, decide_and_report
from evalgate.commands.run import add_run_arguments, finish, run_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="run the suite and gate it against the baseline")
    add_run_arguments(parser)
    add_gate_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from evalgate.contracts.results import parse_results  # the gate's stack only once the run is done

    config, results = run_from_args(args)
    current = parse_results(results, file=args.output)  # the run's results as the gate reads a results file
    return finish(results, args.output, decide_and_report(args, config, current, results_path=args.output))
