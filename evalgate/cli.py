"""The `evalgate` command line. Each subcommand lives in evalgate/commands/<name>.py and registers itself.

A command module defines `register(subparsers) -> None`, adding its parser with `set_defaults(handler=fn)`;
`fn(args) -> int` returns the exit code: 0 pass, 1 the gate failed, 2 bad input (raise InputError for that).
Every command module is imported to build `--help`, so a module imports the engine's heavy parts (scipy through
the pipeline, the drift charts) inside its handler, not at the top: `evalgate --help` stays well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from evalgate import __version__, commands
from evalgate.errors import InputError
from evalgate.outbound import add_env_secrets, echo, log_text

# the order commands are listed in `evalgate --help`; modules not named here follow alphabetically
COMMAND_ORDER = ["run", "gate", "check", "compare", "generate", "history", "thresholds"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line and exit 2, like every bad input
        self.exit(2, log_text(f"{self.prog}: error: {message}") + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evalgate", description="The regression gate for machine-learning and LLM changes.")
    parser.add_argument("--version", action="version", version=f"evalgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    names = [info.name for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")]
    names.sort(
        key=lambda name: (COMMAND_ORDER.index(name) if name in COMMAND_ORDER else len(COMMAND_ORDER), name)
    )
    for name in names:
        importlib.import_module(f"evalgate.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    add_env_secrets(os.environ)  # a token or key in the environment is redacted from all output
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except InputError as exc:
        echo(f"evalgate: error: {exc}")
        return 2
    except BrokenPipeError:  # output piped into `head`: stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        echo("evalgate: interrupted")
        return 130
