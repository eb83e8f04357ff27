"""The verdict file (`--json`, verdict.json): what `gate.Verdict.to_json()` writes and the reports, the CLI and
the Action read, as typed models (docs/internals.md, "Comparison and Verdict").

Closed (`extra="forbid"`): evalgate is the only writer, so a key no producer writes (a hand-written fixture's
`key` where the gate writes `field`) is an error, not something a reader should guess at.
`parse_verdict(data, file=...)` checks a verdict document once, with one InputError for anything wrong.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalgate.contracts.results import first_error
from evalgate.contracts.versions import VERDICT_SCHEMA_VERSION
from evalgate.errors import InputError
from evalgate.facts import Unit


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignatureDifference(_Closed):
    """One signature field (or metric option, `metrics.rouge.use_stemmer`) that differs from the baseline's."""

    field: str
    baseline: Any
    current: Any
    affects_comparison: bool


class BaselineInfo(_Closed):
    available: bool
    label: str | None = None
    created_at: str | None = None
    signature_match: bool = True
    signature_diff: list[SignatureDifference] = Field(default_factory=list)
    note: str | None = None


class Reason(_Closed):
    """A breached (or borderline) rule, with its sentence."""

    metric: str
    category: str | None = None
    task: str | None = None  # in the verdict of a suite of tasks: whose reason it is
    rule: str
    threshold: float
    value: float | None = None
    baseline: float | None = None
    delta: float | None = None
    severity: Literal["fail", "warn"]
    message: str
    p_adjusted: float | None = None
    slice: str | None = None


class MetricRow(_Closed):
    """One metric, overall, in a category or in a slice, compared with the baseline
    (`contracts.comparison.MetricComparison`)."""

    metric: str
    category: str | None = None
    slice: str | None = None
    task: str | None = None  # in the verdict of a suite of tasks: whose row it is
    kind: Literal["binary", "continuous", "corpus"]
    higher_is_better: bool
    current: float | None = None
    unit: Unit = "plain"
    baseline: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    p_margin: float | None = None
    p_margin_adjusted: float | None = None
    mde: float | None = None
    mde_gate: float | None = None
    margin: float | None = None
    n: int = 0
    rules: dict[str, float] = Field(default_factory=dict)
    status: Literal["pass", "warn", "fail", "info"] | None = None
    note: str | None = None
    method: str | None = None
    se: float | None = None
    discordant: dict[str, int] | None = None
    tests: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    timing: dict[str, dict[str, Any]] | None = None


class CaseEntry(_Closed):
    """A case listed by name (regressed, or failing without a baseline): `evalgate.case_lists.case_entry`."""

    id: str
    category: str | None = None
    slices: list[str] = Field(default_factory=list)  # the slices it is in (evalgate.slices), by name
    metric: str | None = None
    baseline: float | None = None
    current: float | None = None
    input: Any = None
    expected: Any = None
    output: Any = None
    baseline_output: Any = None
    error: str | None = None
    # why it scored as it did (evalgate.explain), when there is something to say
    raw_output: Any = None  # the answer before the provider's transform
    failed_assertions: list[dict[str, Any]] | None = None  # each {type, value, pass, reason}
    judge: dict[str, Any] | None = None  # the rubric judge's scores, reasoning, error
    factual: dict[str, Any] | None = None  # the unsupported claims, reasoning, error


class FlakyCase(_Closed):
    id: str
    category: str | None = None
    pass_rate: float
    runs: int
    metric: str | None = None


class CaseChanges(_Closed):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    paired: int = 0
    total: int | None = None
    errors: int | None = None
    runs: int | None = None
    error_rate: float | None = None
    quarantined: list[str] = Field(default_factory=list)
    regressed: list[CaseEntry] = Field(default_factory=list)
    regressed_total: int | None = None
    failing: list[CaseEntry] = Field(default_factory=list)
    failing_total: int | None = None
    flaky: list[FlakyCase] = Field(default_factory=list)


class VerdictDocument(_Closed):
    """The verdict file."""

    schema_version: Literal[1] = VERDICT_SCHEMA_VERSION
    suite: str
    verdict: Literal["pass", "warn", "fail"]
    exit_code: int
    headline: str
    mode: Literal["significance", "threshold"]
    stats: dict[str, Any] | None = None
    baseline: BaselineInfo
    reasons: list[Reason] = Field(default_factory=list)
    metrics: list[MetricRow] = Field(default_factory=list)
    categories: list[MetricRow] = Field(default_factory=list)
    slices: list[MetricRow] = Field(default_factory=list)  # only with `slices:` (evalgate.slices)
    cases: CaseChanges = Field(default_factory=CaseChanges)
    warnings: list[str] = Field(default_factory=list)
    judge_calibration: dict[str, Any] | None = None
    tasks: dict[str, VerdictDocument] | None = (
        None  # a suite of tasks: each task's own verdict (evalgate.tasks)
    )


def parse_verdict(data: Any, *, file: str) -> VerdictDocument:
    """Check a verdict document (what `Verdict.to_json()` wrote); an InputError names the first bad field."""
    try:
        return VerdictDocument.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"not a valid evalgate verdict: {first_error(exc)}", file=file) from None
