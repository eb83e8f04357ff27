"""Per-case pass/fail comparisons of output and expected value: exact_match, contains, regex, accuracy."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from evalgate.errors import InputError
from evalgate.facts import KeyFacts
from evalgate.metrics.base import CaseMetric, CaseRecord
from evalgate.metrics.values import add_note, as_label, as_text, references
from evalgate.options import Option, one_of

NAME = Option(
    (str,),
    help="the key this metric writes (default: the family's name); use the family twice with different names",
)
IGNORE_CASE = Option((bool,), default=False, help="compare case-insensitively")


class ExactMatch(CaseMetric):
    family = "exact_match"
    FACTS = (KeyFacts("exact_match", "rate"),)
    NEEDS_EXPECTED = True
    DESCRIPTION = "1 when the output text equals the expected text (or one of a list of them), else 0"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "name": NAME,
        "ignore_case": IGNORE_CASE,
        "strip": Option((bool,), default=True, help="ignore leading and trailing whitespace"),
        "normalize_whitespace": Option(
            (bool,), default=False, help="treat every run of whitespace as one space"
        ),
    }

    def normalize(self, text: str) -> str:
        if self.options["normalize_whitespace"]:
            text = " ".join(text.split())
        elif self.options["strip"]:
            text = text.strip()
        return text.casefold() if self.options["ignore_case"] else text

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        output = self.normalize(as_text(record.get("output")))
        matched = any(output == self.normalize(ref) for ref in references(record.get("expected")))
        return {self.instance: float(matched)}


class Contains(CaseMetric):
    family = "contains"
    FACTS = (KeyFacts("contains", "rate"),)
    NEEDS_EXPECTED = True
    DESCRIPTION = "1 when the expected text (all, or any, of a list) occurs in the output, else 0"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "name": NAME,
        "ignore_case": IGNORE_CASE,
        "match": Option(
            (str,),
            default="all",
            check=one_of("all", "any"),
            help="with a list of expected texts: all or any",
        ),
    }

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        fold = str.casefold if self.options["ignore_case"] else str
        output = fold(as_text(record.get("output")))
        found = [fold(ref) in output for ref in references(record.get("expected"))]
        combine = all if self.options["match"] == "all" else any
        return {self.instance: float(combine(found))}


class Regex(CaseMetric):
    family = "regex"
    FACTS = (KeyFacts("regex", "rate"),)
    DESCRIPTION = (
        "1 when the output matches the regular expression (the `pattern` option, else the expected value)"
    )
    OPTIONS: ClassVar[dict[str, Option]] = {
        "name": NAME,
        "pattern": Option((str,), help="a Python regular expression; default: each case's expected value"),
        "fullmatch": Option((bool,), default=False, help="the whole output must match (default: a search)"),
        "ignore_case": IGNORE_CASE,
    }

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        self.flags = re.IGNORECASE if options["ignore_case"] else 0
        self.pattern = None
        if options["pattern"] is not None:
            try:
                self.pattern = re.compile(options["pattern"], self.flags)
            except re.error as exc:
                raise InputError(f"regex.pattern is not a valid regular expression ({exc})") from None

    def needs_expected(self) -> bool:
        return self.pattern is None

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        pattern = self.pattern
        if pattern is None:
            try:
                pattern = re.compile(as_text(record.get("expected")), self.flags)
            except re.error as exc:
                add_note(
                    record, f"{self.instance}: the expected value is not a valid regular expression ({exc})"
                )
                return {self.instance: 0.0}
        text = as_text(record.get("output"))
        found = pattern.fullmatch(text) if self.options["fullmatch"] else pattern.search(text)
        return {self.instance: float(found is not None)}


class Accuracy(CaseMetric):
    family = "accuracy"
    FACTS = (KeyFacts("accuracy", "rate"),)
    NEEDS_EXPECTED = True
    DESCRIPTION = "1 when the output's label (the output, or its `label`) equals the expected label, else 0"
    OPTIONS: ClassVar[dict[str, Option]] = {"name": NAME, "ignore_case": IGNORE_CASE}

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        output, expected = as_label(record.get("output")), as_label(record.get("expected"))
        if self.options["ignore_case"]:
            output, expected = output.casefold(), expected.casefold()
        return {self.instance: float(output == expected)}
