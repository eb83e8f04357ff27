"""custom: a scorer written by the user, `function(output, expected, case_record)`.

It may be async (then it is awaited for all cases at once in `prepare`). It returns a number or a bool (one
key, named by `name`, default the function's name), or a mapping of named numbers (the keys listed in `keys`).
Errored cases score `error_score` (default 0) without calling it. When the scorer raises, or returns something
that is not a finite number, that case scores `error_score` and the reason is added to the case's `notes`.
Kind "continuous", or "binary" with `binary: true` (then scores must be 0/1 or bools).
"""

from __future__ import annotations

import asyncio
import inspect
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from evalgate.errors import InputError
from evalgate.facts import KeyFacts, Quantity
from evalgate.metrics.base import CaseMetric, CaseRecord, Kind, MetricKey
from evalgate.metrics.values import add_note
from evalgate.options import Option
from evalgate.userfunc import load_function


@dataclass(frozen=True)
class _Raised:
    """An exception an async scorer raised for one case."""

    exception: Exception


def _check_keys(value: list[Any]) -> str | None:
    if not value or not all(isinstance(item, str) and item for item in value):
        return "must be a non-empty list of key names"
    return "must not repeat a key" if len(set(value)) != len(value) else None


class Custom(CaseMetric):
    family = "custom"
    # keys named by the options: a score, or a rate with `binary: true`; the direction is `higher_is_better`
    FACTS = (
        KeyFacts("{name}", "score", note="a rate with `binary: true`; the direction is `higher_is_better`"),
    )
    OPTIONS: ClassVar[dict[str, Option]] = {
        "function": Option(
            (str,),
            required=True,
            help="the scorer: path/to/file.py:function (relative to the config) or module:function",
        ),
        "name": Option((str,), help="the key it writes (default: the function's name)"),
        "keys": Option((list,), check=_check_keys, help="the keys of the mapping the scorer returns"),
        "binary": Option((bool,), default=False, help="scores are pass/fail (0/1)"),
        "higher_is_better": Option((bool,), default=True),
        "description": Option((str,), default="", help="what the score means (shown in results and reports)"),
        "error_score": Option(
            (float,),
            help="what a failed case scores, the worst value (default 0; 1 for binary lower-is-better)",
        ),
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        self.function = load_function(options["function"], base_dir, what="custom.function")
        self.awaited: dict[int, Any] = {}  # id(record) -> an async scorer's result, filled by prepare
        if options["error_score"] is None and not options["higher_is_better"] and not options["binary"]:
            raise InputError(
                "custom.error_score is needed when higher_is_better is false: the score of a case that "
                "errored or could not be scored, at least as bad as any real score (errors are never passes)"
            )

    def error_score(self) -> float:
        if self.options["error_score"] is not None:
            return float(self.options["error_score"])
        return 0.0 if self.options["higher_is_better"] else 1.0

    @property
    def instance(self) -> str:
        """The key name: the `name` option, else the function's name."""
        return str(self.options.get("name") or self.options["function"].rpartition(":")[2])

    def keys(self) -> list[MetricKey]:
        binary = bool(self.options["binary"])
        kind: Kind = "binary" if binary else "continuous"
        quantity: Quantity = "rate" if binary else "score"
        better = self.options["higher_is_better"]
        description = self.options["description"] or f"custom scorer {self.options['function']}"
        names = self.options["keys"] or [self.instance]
        return [
            self.declared_key(
                name, kind, description, facts=KeyFacts(name, quantity, higher_is_better=better)
            )
            for name in names
        ]

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:
        """Await an async scorer on every case without error, all at once; score_case reads the results."""
        if not inspect.iscoroutinefunction(self.function):
            return
        todo = [r for r in records if r.get("error") is None]

        async def call(record: CaseRecord) -> Any:
            try:
                return await self.function(record.get("output"), record.get("expected"), record)
            except Exception as exc:  # kept, and reported by score_case like a sync scorer's failure
                return _Raised(exc)

        results = await asyncio.gather(*(call(record) for record in todo))
        self.awaited = {id(record): result for record, result in zip(todo, results, strict=True)}

    def call(self, record: CaseRecord) -> Any:
        """The scorer's result for a case (awaited in prepare for async scorers); raises what it raised."""
        if inspect.iscoroutinefunction(self.function):
            if id(record) not in self.awaited:
                raise RuntimeError(
                    "the async scorer was not awaited: call prepare_metrics before score_results"
                )
            result = self.awaited[id(record)]
            if isinstance(result, _Raised):
                raise result.exception
            return result
        return self.function(record.get("output"), record.get("expected"), record)

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        names = [key.name for key in self.keys()]
        try:
            result = self.call(record)
        except Exception as exc:  # one case's scorer failure scores that case 0, with a note
            add_note(record, f"{self.instance}: the scorer raised {type(exc).__name__}: {exc}")
            return dict.fromkeys(names, self.error_score())
        if self.options["keys"]:
            if not isinstance(result, dict):
                add_note(
                    record, f"{self.instance}: expected a mapping of {', '.join(names)}, got {result!r}"[:300]
                )
                return dict.fromkeys(names, self.error_score())
            return {name: self._number(record, name, result.get(name)) for name in names}
        return {self.instance: self._number(record, self.instance, result)}

    def _number(self, record: CaseRecord, name: str, value: Any) -> float:
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, int | float) and math.isfinite(value):
            if self.options["binary"] and value not in (0, 1):
                add_note(record, f"{name}: a binary scorer returned {value!r}, not 0/1 or a bool")
                return self.error_score()
            return float(value)
        add_note(record, f"{name}: expected a finite number or a bool, got {value!r}"[:300])
        return self.error_score()
