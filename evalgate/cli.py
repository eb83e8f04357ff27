"""The `evalgate` command line. Each subcommand lives in evalgate/commands/<name>.py and registers itself.

A command module defines `register(subparsers) -> None`, adding its parser with `set_defaults(handler=fn)`;
`fn(args) -> int` returns the exit code (evalgate.process.exitcodes: 0 pass, 1 the gate failed, 3 the run did not
complete; raise InputError for 2, bad input). `main` turns everything else that can end a command into a code
that is never 0: a stop signal (128+N), a SystemExit from the code under test or an internal error (4).
Every command module is imported to build `--help`, so a module imports the engine's heavy parts (scipy through
the pipeline, the drift charts) inside its handler, not at the top: `evalgate --help` stays well under a second.
A command line that names its command imports that command's module only (`evalgate run` starts in the time of
what a run uses; tests/test_startup.py keeps its import list in check).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import traceback
from typing import Any, NoReturn

from evalgate import __version__, commands
from evalgate.errors import InputError
from evalgate.outbound import add_env_secrets, echo, log_text, redact
from evalgate.process import interrupts
from evalgate.process.exitcodes import ExitCode, for_signal

# the order commands are listed in `evalgate --help`; modules not named here follow alphabetically
COMMAND_ORDER = ["run", "merge", "gate", "check", "compare", "generate", "history", "thresholds"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors: one line and exit 2, like every bad input
        self.exit(2, log_text(f"{self.prog}: error: {message}") + "\n")


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
    return run(argv)[0]


def run(argv: list[str] | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run a command line: its exit code, and the bad input that ended it as {message, file, line} (None
    otherwise), for a caller that reports it where it belongs (the Action annotates the file and line)."""
    add_env_secrets(os.environ)  # a token or key in the environment is redacted from all output
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return ExitCode.BAD_INPUT, None
    with interrupts.handled():
        try:
            return _run_handler(args), None
        except InputError as exc:
            echo(f"evalgate: error: {exc}")
            where = (
                redact(exc.file) if exc.file else None
            )  # the caller may not know every secret this run read
            return ExitCode.BAD_INPUT, {"message": redact(exc.message), "file": where, "line": exc.line}


def _run_handler(args: argparse.Namespace) -> int:
    """The handler's exit code; InputError is the caller's to report."""
    try:
        return int(args.handler(args))
    except InputError:
        raise
    except BrokenPipeError:  # output piped into `head`: stop quietly, never as a pass (no verdict may exist)
        sys.stderr.close()
        return ExitCode.NO_RESULT
    except interrupts.Interrupted as exc:
        echo(f"evalgate: stopped by {exc}: nothing was judged")
        return for_signal(exc.signum)
    except KeyboardInterrupt:
        echo("evalgate: interrupted: nothing was judged")
        return for_signal(signal.SIGINT)
    except SystemExit as exc:  # evalgate's commands return their code: this came from the code under test
        echo(
            f"evalgate: error: the code under test called sys.exit({exc.code!r}) outside a case (in a scorer, "
            "at import or at start-up); nothing was judged"
        )
        return ExitCode.NO_RESULT
    except Exception:
        echo(traceback.format_exc().rstrip())
        echo("evalgate: internal error (a bug in evalgate; please report it): nothing was judged")
        return ExitCode.NO_RESULT
