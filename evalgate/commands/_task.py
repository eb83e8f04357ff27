"""`--task NAME`: the one task a command works on, in a suite of tasks (evalgate.config_tasks)."""

from __future__ import annotations

import argparse


def add_task_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task", metavar="NAME", help="in a suite of tasks (tasks: in the config): the task to use"
    )
