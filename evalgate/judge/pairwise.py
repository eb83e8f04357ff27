"""The head-to-head's judging: a judge compares the answers of two players to the same case.

Each pair of answers is judged twice, once in each order, and the judge scores both answers from 0 to 100.
In one order, the answer with the higher score wins unless the scores are within the tie margin (default 5%
of the scale, 5 points); over both orders an answer wins only when both orders agree, otherwise the case is a
tie, which cancels the judge's position bias. An answer whose run errored loses to one that did not (two
errors tie) without asking the judge; a judge failure leaves the pair undecided and out of the counts.
evalgate.judge.headtohead builds the comparison's report from these outcomes.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from evalgate.judge.client import (
    JudgeSession,
    as_text,
    question_id,
    render_template,
    require_keys,
    require_number,
    require_string,
)
from evalgate.judge.task import CASE_BLOCK
from evalgate.progress import Progress

SCALE = 100.0

PAIRWISE_PROMPT = (
    """You compare two answers to the same question and score each of them.

Score each answer from 0 (useless or wrong) to 100 (perfect) for how correct, relevant, clear and \
complete it is{% if expected or source %}, taking the {{ "source document" if source else "reference answer" \
}} as the truth{% endif %}. Judge the content \
only: the order in which the answers are shown means nothing, and a longer answer is not better for being \
longer.

"""
    + CASE_BLOCK
    + """<answer_1>
{{ answer_1 }}
</answer_1>

<answer_2>
{{ answer_2 }}
</answer_2>

Reply with a single JSON object and nothing else, in this form:
{"scores": {"answer_1": <0-100>, "answer_2": <0-100>}, "reasoning": "<two or three sentences>"}"""
)


@dataclass(frozen=True)
class Entry:
    """One case of the comparison: the question both players answered."""

    id: str
    input: Any
    expected: Any = None
    category: str = "default"
    source: str = ""  # the case's metadata.source (a document the answers should agree with), if any


@dataclass
class Player:
    """A model in the comparison: its answers by case id ({"output": ..., "error": ...})."""

    name: str
    answers: dict[str, dict[str, Any]]
    source: str = ""


@dataclass
class PairResult:
    """The outcome of one case for one pair: 1 = a won, 0 = b won, 0.5 = tie, None = the judge failed."""

    case_id: str
    category: str
    a: str
    b: str
    outcome: float | None
    reason: str
    orders: list[dict[str, Any]] = field(default_factory=list)


def validate_pairwise(answer: dict[str, Any]) -> dict[str, Any]:
    require_keys(answer, "the reply", ["scores", "reasoning"])
    scores = require_keys(answer["scores"], "scores", ["answer_1", "answer_2"])
    return {
        "scores": {
            key: require_number(scores[key], f'scores["{key}"]', 0, SCALE) for key in ("answer_1", "answer_2")
        },
        "reasoning": require_string(answer, "reasoning"),
    }


def order_outcome(first: float, second: float, margin: float) -> float:
    """1 when the first answer wins, 0 when the second does, 0.5 when the scores are within the margin."""
    if abs(first - second) <= margin * SCALE:
        return 0.5
    return 1.0 if first > second else 0.0


def combine_orders(a_first: float, a_second: float) -> float:
    """Outcome for A from the two orders (A shown first, then A shown second); disagreement is a tie."""
    return a_first if a_first == a_second else 0.5


async def judge_pair(session: JudgeSession, entry: Entry, a: Player, b: Player, margin: float) -> PairResult:
    answer_a, answer_b = a.answers[entry.id], b.answers[entry.id]
    result = PairResult(entry.id, entry.category, a.name, b.name, None, "")
    if answer_a.get("error") or answer_b.get("error"):
        if answer_a.get("error") and answer_b.get("error"):
            result.outcome, result.reason = 0.5, "both errored"
        else:
            loser = a if answer_a.get("error") else b
            result.outcome, result.reason = (0.0 if loser is a else 1.0), f"{loser.name} errored"
        return result

    def prompt(first: dict[str, Any], second: dict[str, Any]) -> str:
        return render_template(
            PAIRWISE_PROMPT,
            input=as_text(entry.input),
            expected=as_text(entry.expected),
            source=entry.source,
            answer_1=as_text(first.get("output")),
            answer_2=as_text(second.get("output")),
        )

    prompts = [prompt(answer_a, answer_b), prompt(answer_b, answer_a)]
    replies = await asyncio.gather(
        *(session.ask(question_id("pairwise", entry.id, text), text, validate_pairwise) for text in prompts)
    )
    outcomes = []
    for first, reply in zip((a.name, b.name), replies, strict=True):
        second = b.name if first == a.name else a.name
        if reply.error:
            result.orders.append({"first": first, "error": reply.error})
            continue
        scores = reply.value["scores"]
        outcome_first = order_outcome(scores["answer_1"], scores["answer_2"], margin)
        outcomes.append(outcome_first if first == a.name else 1.0 - outcome_first)
        result.orders.append(
            {
                "first": first,
                "scores": {first: scores["answer_1"], second: scores["answer_2"]},
                "winner": {1.0: first, 0.0: second}.get(outcome_first, "tie"),
                "reasoning": reply.value["reasoning"],
            }
        )
    if len(outcomes) < 2:
        result.reason = "judge failed"
        return result
    result.outcome = combine_orders(*outcomes)
    result.reason = "orders agree" if outcomes[0] == outcomes[1] else "orders disagree: tie"
    return result


async def judge_players(
    session: JudgeSession,
    entries: list[Entry],
    players: list[Player],
    margin: float,
    progress: Progress | None = None,
) -> list[PairResult]:
    """Judge every pair of players on every case (all judge calls at once, bounded by the session).

    `progress` hears of every judge question: two per case and pair, unless an answer errored (no question)."""
    pairs = [(entry, a, b) for entry in entries for a, b in itertools.combinations(players, 2)]
    questions = 2 * sum(
        not (a.answers[e.id].get("error") or b.answers[e.id].get("error")) for e, a, b in pairs
    )
    with session.tracking(progress, questions):
        return list(await asyncio.gather(*(judge_pair(session, e, a, b, margin) for e, a, b in pairs)))
