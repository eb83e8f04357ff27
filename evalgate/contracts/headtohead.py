"""The head-to-head report (`evalgate compare --json`): what `judge.headtohead.compare_players` builds and its
markdown reads, as typed models. Closed, as the verdict is: evalgate is its only writer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalgate.contracts.results import first_error
from evalgate.errors import InputError


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Rate(_Closed):
    """A share with its Wilson interval (`value` None when nothing was decided)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


class PairSummary(_Closed):
    """Wins, losses and ties of `a` against `b` (judge failures left out)."""

    a: str
    b: str
    n: int
    wins_a: int
    wins_b: int
    ties: int
    judge_errors: int
    errored_answers: int
    win_rate_a: Rate
    win_rate_b: Rate
    tie_rate: Rate
    score_a: float | None
    position_consistency: float | None


class PlayerRating(_Closed):
    rating: float
    ci_low: float | None
    ci_high: float | None


class Ratings(_Closed):
    """Bradley–Terry ratings with bootstrap intervals."""

    players: dict[str, PlayerRating]
    regularized: bool


class Player(_Closed):
    name: str
    source: str | None = None


class JudgeInfo(_Closed):
    model: str
    usage: dict[str, Any]


class CaseOutcome(_Closed):
    """One case judged for one pair: who won, why, and what each player answered."""

    id: str
    category: str
    a: str
    b: str
    winner: str | None
    outcome: float | None
    reason: str
    input: Any = None
    expected: Any = None
    outputs: dict[str, Any]
    errors: dict[str, str | None]
    orders: list[dict[str, Any]]


class HeadToHeadReport(_Closed):
    schema_version: Literal[1]
    kind: Literal["compare"]
    suite: str
    created_at: str
    judge: JudgeInfo
    margin: float
    confidence: float
    players: list[Player]
    pairs: list[PairSummary]
    categories: dict[str, list[PairSummary]]
    ratings: Ratings
    cases: list[CaseOutcome]
    warnings: list[str] = Field(default_factory=list)


def parse_head_to_head(data: Any, *, file: str) -> HeadToHeadReport:
    """Check a head-to-head document; an InputError names the first bad field."""
    try:
        return HeadToHeadReport.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"not a valid evalgate head-to-head report: {first_error(exc)}", file=file) from None
