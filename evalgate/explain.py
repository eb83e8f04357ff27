"""Why a case scored as it did, from its record: the raw answer before the transform, the assertions it failed,
the judge's scores and reasoning, and the claims the factual-consistency check found unsupported. The gate's lists
of regressed and failing cases carry it (evalgate.pairing), and the report shows it (evalgate.report.cases_view)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evalgate.assertions import ASSERT_KEY
from evalgate.metrics.assertions import RESULTS_KEY
from evalgate.providers.shaping import RAW_OUTPUT

if TYPE_CHECKING:
    from evalgate.contracts.results import CaseRecord


def explanation(record: CaseRecord) -> dict[str, Any]:
    """The fields of a regressed or failing case entry that explain it (absent when there is nothing to say):
    read from the record's fields that only some runs write (the model keeps them as they were written)."""

    def field(name: str, kind: type = dict) -> Any:
        """A field of the record when it has the expected type (a results file is user input), else empty."""
        value = getattr(record, name, None)
        return value if isinstance(value, kind) else kind()

    found: dict[str, Any] = {}
    extra = field("extra")
    if RAW_OUTPUT in extra:
        found["raw_output"] = extra[RAW_OUTPUT]
    outcomes = zip(field(ASSERT_KEY, list), field(RESULTS_KEY, list), strict=False)
    failed = [
        {**spec, **outcome}
        for spec, outcome in outcomes
        if isinstance(spec, dict) and isinstance(outcome, dict) and not outcome.get("pass")
    ]
    if failed:
        found["failed_assertions"] = failed
    judge = field("judge")
    if judge.get("scores") or judge.get("error"):
        found["judge"] = {key: judge.get(key) for key in ("scores", "reasoning", "error")}
    factual = field("factual")
    if factual.get("claims") is not None or factual.get("error"):
        found["factual"] = {
            "unsupported": [
                claim.get("claim")
                for claim in factual.get("claims") or []
                if isinstance(claim, dict) and claim.get("supported") is not True
            ],
            "reasoning": factual.get("reasoning"),
            "error": factual.get("error"),
        }
    return found
