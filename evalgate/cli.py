"""The `evalgate` command line. Each subcommand lives in evalgate/commands/<name>.py and registers itself.

A command module defines `register(subparsers) -> None`, adding its parser with `set_defaults(handler=fn)`;
`fn(args) -> int` returns the exit code: 0 pass, 1 the gate failed, 2 bad input (raise InputError for that).
Every command module is imported to build `--help`, so a module imports the engine's heavy parts (scipy through
the pipeline, the drift charts) inside its handler, not at the top: `evalgate --help` stays well under a second.
A command line that names its command imports that command's module only (`evalgate run` starts in the time of
what a run uses; tests/test_startup.py keeps its import list in check).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from evalgate import __version__, commands
from evalgate.errors import InputError

# the order commands are listed in `evalgate --help`; modules not named here follow alphabetically
COMMAND_ORDER = ["run", "gate", "check", "compare", "generate", "history", "thresholds"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line and exit 2, like every bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone when it names one."""
    parser = _Parser(prog="evalgate", description="The regression gate for machine-learning and LLM changes.")
    parser.add_argument("--version", action="version", version=f"evalgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    names = [info.name for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")]
    names.sort(
        key=lambda name: (COMMAND_ORDER.index(name) if name in COMMAND_ORDER else len(COMMAND_ORDER), name)
    )
    if command in names:
        names = [command]
    for name in names:
        importlib.import_module(f"evalgate.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"evalgate: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("evalgate: interrupted", file=sys.stderr)
        return 130
