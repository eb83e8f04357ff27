"""The results file as typed models: what `evalgate run` writes and every reader gets back.

`parse_results(data, file=...)` is the one place a results file is checked: an older schema_version is migrated
first (`migrate`), then the document is validated by the models; anything wrong is one InputError (exit 2)
naming the file and the first bad field. evalgate/results.schema.json is generated from `Results`
(`results_json_schema`, scripts/results_schema.py), never edited by hand.

The run path (evalgate/results.py) writes plain dicts and never imports this module: pydantic is loaded only by
the commands that read results files (gate, history, report), so `evalgate run` does not pay for it.

Every object is open (`extra="allow"`): a field a newer evalgate adds is kept and written back, never refused,
as in version 1; the fields below are the ones evalgate's own readers use, with their types.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evalgate.contracts.versions import RESULTS_SCHEMA_VERSION
from evalgate.errors import InputError
from evalgate.facts import Quantity, Unit
from evalgate.results import incomplete_reason_of

SUPPORTED_VERSIONS = (1, 2)  # the versions `migrate` reads
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "results.schema.json"
SCHEMA_ID = "https://github.com/evalgate/evalgate/results.schema.json"

Kind = Literal["binary", "continuous", "corpus"]


class _Open(BaseModel):
    """A JSON object of the results file: typed where evalgate reads it, other fields kept as they are."""

    # strict: a number is a number (never the string "0.5"), a string a string, as JSON Schema reads them
    model_config = ConfigDict(extra="allow", strict=True)


class MetricSpec(_Open):
    """One configured metric as the signature hashes it: its name and its options (JSON-normalised)."""

    metric: str
    options: dict[str, Any]


class Signature(_Open):
    """What makes two runs comparable (datasets, metrics, sample, repeats) and what identifies them (config,
    provider). Each is a hash; `metric_spec` (version 2) is the normalised metric spec `metrics` is the sha256
    of, so a refused baseline can say which option differs (evalgate/signatures.py)."""

    config: str | None = None
    datasets: str
    provider: str | None = None
    metrics: str
    metric_spec: list[MetricSpec] | None = Field(
        default=None, description="the normalised metric spec `metrics` is the hash of, in config order"
    )
    evalgate: str
    sample: int | None = None
    repeats: int = Field(default=1, ge=1)
    assembled: dict[str, Any] | None = Field(
        default=None,
        description="how a run was assembled from earlier work (evalgate/journal.py): `resumed_from` a journal or "
        "`retried_errors_of` a results file, and `cases_reused` (case runs not called by the run that wrote the file)",
    )


class MetricKeyInfo(_Open):
    """How one metric key reads: its kind, its direction, and whether reports show it."""

    kind: Kind
    higher_is_better: bool
    quantity: Quantity | None = None  # what the key measures (evalgate/facts.py); absent in older files
    unit: Unit | None = None  # how its values are written
    timing: bool = False
    shown: bool = True


class MetricValue(_Open):
    """One key's aggregate over a set of cases; mean keys also carry stderr and an interval, timing keys how
    many values were timed now (`fresh`) and whether that is a measurement (`measured`)."""

    value: float | None
    n: int | None = Field(default=None, ge=0)
    stderr: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    interval: str | None = None
    fresh: int | None = None
    measured: bool | None = None


class CaseRun(_Open):
    """One run of a case with `repeats: K` (what the metrics read per run)."""

    output: Any = None
    error: str | None = None
    latency_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)


class CaseRecord(_Open):
    """One case of the run: what it was asked, what came back, its scores and what the call cost."""

    id: str = Field(min_length=1)
    category: str
    input: Any = None
    expected: Any = None
    output: Any = None
    scores: dict[str, float | None]
    latency_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    error: str | None
    cluster: str | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None  # the case's tags (its slices: evalgate.slices); absent in older files
    cached: bool = False
    attempts: int | None = Field(default=None, ge=1)
    wait_ms: float | None = Field(default=None, ge=0)
    ttft_ms: float | None = None
    repeats: list[CaseRun] | None = None


class Run(_Open):
    """How the run went: its wall time, whether it completed, the cache, the calls made."""

    wall_s: float | None = None
    concurrency: int | None = None
    provider: str | None = None
    aborted: str | None = None
    complete: bool | None = None  # absent in files written before it existed: `aborted` says it
    not_run: int | None = None
    cache: dict[str, Any] | None = None
    calls: dict[str, Any] | None = None
    limiter: dict[str, Any] | None = None
    judge: dict[str, Any] | None = Field(
        default=None,
        description="the judge's usage per judged metric family: calls, cached, tokens_in, tokens_out, cost over "
        "every answer, and `made` (the calls made) and `saved` (the answers the cache gave), each with its "
        "calls, sums and `unreported` (answers that did not report a field)",
    )

    def incomplete_reason(self) -> str | None:
        """Why the run did not complete (a spent budget, an interruption), or None when it did."""
        return incomplete_reason_of(self.complete, self.aborted, self.not_run)


class Shard(_Open):
    """One shard of a run (`evalgate run --shard I/N`), read only by `evalgate merge` (docs/scaling.md)."""

    index: int = Field(ge=1)
    count: int = Field(ge=1)
    dataset_cases: int = Field(ge=1, description="how many cases were split (after --sample)")
    dataset_fingerprint: str = Field(description="sha256 of the sorted ids of the cases that were split")


class Results(_Open):
    """An evalgate results file (schema_version 2)."""

    model_config = ConfigDict(
        title="evalgate results file",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID},
    )

    schema_version: Literal[2] = RESULTS_SCHEMA_VERSION
    suite: str = Field(min_length=1)
    label: str | None = None
    created_at: str
    signature: Signature
    git: dict[str, Any] = Field(default_factory=dict)
    run: Run = Field(default_factory=Run)
    metric_keys: dict[str, MetricKeyInfo] = Field(default_factory=dict)
    judge_calibration: dict[str, Any] | None = Field(
        default=None, description="whether each judge metric may gate (docs/judge.md)"
    )
    judge_canary: dict[str, Any] | None = Field(
        default=None, description="the judge canary check of the run (docs/judge.md)"
    )
    metrics: dict[str, MetricValue]
    categories: dict[str, dict[str, MetricValue]] = Field(default_factory=dict)
    slices: dict[str, dict[str, MetricValue]] = Field(
        default_factory=dict,
        description="each slice's aggregates (`slices:` in the config, evalgate/slices.py); absent in older files",
    )
    cases: list[CaseRecord]
    shard: Shard | None = Field(default=None, description="only in the results of one shard of a run")
    tasks: dict[str, TaskResults] | None = Field(
        default=None,
        description="a suite of tasks (`tasks:` in the config): each task's results, with the suite name SUITE/TASK; "
        "the suite's own metrics and cases are then empty",
    )

    @field_validator("cases")
    @classmethod
    def _unique_ids(cls, cases: list[CaseRecord]) -> list[CaseRecord]:
        seen: dict[str, int] = {}
        for index, case in enumerate(cases):
            if case.id in seen:
                raise ValueError(
                    f"case id {case.id!r} appears twice (cases[{seen[case.id]}] and cases[{index}]); ids must be "
                    "unique to pair cases"
                )
            seen[case.id] = index
        return cases

    def incomplete_reason(self) -> str | None:
        return self.run.incomplete_reason()

    def records(self) -> list[dict[str, Any]]:
        """The cases as the metrics read them (plain dicts, every field as in the file)."""
        return [case.model_dump(exclude_unset=True) for case in self.cases]

    def to_json(self) -> dict[str, Any]:
        """The document as written: every field that was read or set (extra ones included)."""
        return self.model_dump(mode="json", exclude_unset=True)


class TaskResults(Results):
    """One task's results inside the results of a suite of tasks: a whole results document, one level deep."""

    tasks: None = None


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A results document of any supported version as version 2 (a new dict; `data` is left as it was).

    1 -> 2: the version number only. Version 2 adds the optional `signature.metric_spec`; a version 1 file has
    none, so its baseline compares by the `metrics` hash alone (evalgate/signatures.py).
    """
    if data.get("schema_version") == 1:
        data = {**data, "schema_version": RESULTS_SCHEMA_VERSION}
    return data


def parse_results(data: Any, *, file: str) -> Results:
    """Check a parsed results document (migrating an older version) and return it typed; an InputError names
    the file and the first bad field (never a pydantic traceback)."""
    if not isinstance(data, dict):
        raise InputError(
            f"not a valid evalgate results file: the top level is {type(data).__name__}, expected an object",
            file=file,
        )
    version = data.get("schema_version")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise InputError(
            f"schema_version {version!r} is not supported; this evalgate reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))} (upgrade evalgate, or re-run the suite)",
            file=file,
        )
    try:
        return Results.model_validate(migrate(data))
    except ValidationError as exc:
        raise InputError(f"not a valid evalgate results file: {first_error(exc)}", file=file) from None


def first_error(exc: ValidationError) -> str:
    """The first problem of a validation error in words: where (`cases[3].scores.accuracy`) and what."""
    error = exc.errors(include_url=False)[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    where = where.lstrip(".") or "the top level"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "a required field is missing"
    elif "input" in error and error["type"] not in ("value_error",):
        shown = json.dumps(error["input"], default=str)
        message += f", got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    return f"{where}: {message}"


def results_json_schema() -> dict[str, Any]:
    """The JSON Schema of the results file, generated from `Results`."""
    return Results.model_json_schema(mode="validation")


def schema_text() -> str:
    """evalgate/results.schema.json as scripts/results_schema.py writes it."""
    return json.dumps(results_json_schema(), indent=2, ensure_ascii=False) + "\n"
