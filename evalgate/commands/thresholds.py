"""`evalgate thresholds suggest`: the quality ratchet, proposing tighter thresholds from the history."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evalgate.commands._task import add_task_argument
from evalgate.commands.history import positive
from evalgate.errors import InputError
from evalgate.history import ratchet
from evalgate.history.store import HistoryStore
from evalgate.outbound import echo, echo_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "thresholds",
        help="propose tighter thresholds from the history (the quality ratchet)",
        description="Thresholds maintenance. `suggest` proposes tighter min/max thresholds from recent runs "
        "on the main branch and shows the edit; --write applies it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    suggest = actions.add_parser(
        "suggest",
        help="propose tighter min/max thresholds from the history",
        description="For each gated min (max) rule: mean - z*spread (mean + z*spread) of the last N comparable "
        "runs, never past the worst of them, rounded to a step; never looser than now unless --allow-loosen.",
    )
    suggest.add_argument(
        "--config", default="evalgate.yaml", help="the suite config (default: evalgate.yaml)"
    )
    add_task_argument(suggest)
    suggest.add_argument("--history", metavar="PATH", help="the store (default: history.path in the config)")
    suggest.add_argument(
        "--runs", type=positive(int), default=ratchet.RUNS, help="recent runs used (default 10)"
    )
    suggest.add_argument(
        "--min-runs", type=positive(int), default=ratchet.MIN_RUNS, help="fewer runs: no proposal (default 5)"
    )
    suggest.add_argument(
        "--z", type=positive(float), default=ratchet.Z, help="the safety margin in spreads (default 2)"
    )
    suggest.add_argument("--allow-loosen", action="store_true", help="also propose looser thresholds")
    suggest.add_argument("--write", action="store_true", help="edit the thresholds in place (atomically)")
    suggest.add_argument("--json", action="store_true", help="print the proposals as JSON")
    suggest.set_defaults(handler=run_suggest)
    parser.set_defaults(handler=lambda args: _usage(parser))


def run_suggest(args: argparse.Namespace) -> int:
    from evalgate.config import load_config

    if args.runs < args.min_runs:
        raise InputError(f"--runs {args.runs} is below --min-runs {args.min_runs}: no proposal could be made")
    config = load_config(args.config, task=args.task)
    path = Path(args.history) if args.history else config.resolve(config.history["path"])
    with HistoryStore(path) as store:
        proposals = ratchet.suggest(
            store,
            config.suite,
            config.rules,
            runs=args.runs,
            min_runs=args.min_runs,
            z=args.z,
            allow_loosen=args.allow_loosen,
        )
    files = ratchet.edited_files(proposals, config.path)
    written = ratchet.write(files) if args.write else []
    if args.json:
        echo_json(
            {
                "suite": config.suite,
                "store": str(path),
                "proposals": [{**asdict(p), "where": p.where} for p in proposals],
                "diff": ratchet.diff(files),
                "written": [str(p) for p in written],
            }
        )
        return 0
    echo(report(config.suite, path, proposals, files, written), file=sys.stdout)
    return 0


def report(
    suite: str,
    store_path: Path,
    proposals: list[ratchet.Proposal],
    files: dict[Path, tuple[str, str]],
    written: list[Path],
) -> str:
    """The text shown by `thresholds suggest`: one line per bound, then the edit as a diff."""
    if not proposals:
        return (
            f"{suite}: no min or max thresholds to ratchet (relative rules such as max_drop are left alone)"
        )
    lines = [
        f"{suite}: thresholds from the history in {ratchet.shown_path(store_path)}",
        ratchet.render(proposals),
    ]
    if not files:
        lines.append("no change proposed")
    elif written:
        lines.extend(f"wrote {path}" for path in written)
    else:
        lines += ["", ratchet.diff(files).rstrip("\n"), "", "apply with --write"]
    return "\n".join(lines)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
