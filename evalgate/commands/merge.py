"""`evalgate merge`: join the results files of a run's shards into one results file (evalgate.merge)."""

from __future__ import annotations

import argparse
import os

from evalgate.commands._outputs import check_outputs, save_results
from evalgate.commands.run import finish
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.outbound import echo
from evalgate.process.exitcodes import ExitCode


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge", help="join the results of a run's shards (run --shard I/N) into one results file"
    )
    parser.add_argument("shards", nargs="+", metavar="SHARD", help="the results file of each shard")
    parser.add_argument(
        "--config",
        "-c",
        default="evalgate.yaml",
        help="the suite config the shards ran (default: evalgate.yaml)",
    )
    parser.add_argument("--output", "-o", default="results.json", help="where to write the merged results")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from evalgate.merge import merge_shards  # the engine (numpy, scipy) only when the command runs
    from evalgate.tasks import merge_task_shards

    check_outputs(args)
    for shard in args.shards:  # the merged file never replaces a shard's
        if os.path.exists(shard) and os.path.exists(args.output) and os.path.samefile(shard, args.output):
            raise InputError(
                f"--output names the shard {shard}; write the merged results to a file of their own"
            )
    config = load_config(args.config, whole=True)
    results = (merge_task_shards if config.tasks else merge_shards)(args.shards, config)
    save_results(args.output, results)
    cases = sum(len(task["cases"]) for task in (results.get("tasks") or {"": results}).values())
    echo(f"evalgate: merged {len(args.shards)} shards, {cases} cases -> {args.output}")
    return finish(results, args.output, ExitCode.PASS)
