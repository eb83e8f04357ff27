"""The judge's verdicts on the gold items, asked exactly as a run asks them: the suite's own judge metrics
(`judge`, `factual_consistency`) and the head-to-head judge of `evalgate compare`, same prompts, validation,
repair and cache. `evalgate judge calibrate` compares them with people; the canary re-asks them on each run."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from evalgate.config import SuiteConfig
from evalgate.judge.client import as_text
from evalgate.judge.gold import GoldItem


def judge_score_category(value: float) -> int:
    """A judge's score as a category of the scale: the nearest integer, halves up (3.5 -> 4)."""
    return math.floor(value + 0.5)


@dataclasses.dataclass
class Verdicts:
    """One pass of the judge over a kind's items: a verdict per item (None when the judge failed)."""

    values: list[Any]
    errors: list[str | None]
    extra: list[dict[str, Any]]  # per item, what the report shows (reasoning, the judge's claims, orders)
    usage: dict[str, Any]


async def _metric_verdicts(
    config: SuiteConfig, metric: Any, items: list[GoldItem], field: str, value: Any, extra: Any
) -> Verdicts:
    """Ask a judge metric about the items as a run would; each record's `field` holds the judge's verdict."""
    records = [item.record() for item in items]
    await metric.prepare(records, config)
    verdicts = [record[field] for record in records]
    return Verdicts(
        values=[None if verdict.get("error") else value(verdict) for verdict in verdicts],
        errors=[verdict.get("error") for verdict in verdicts],
        extra=[extra(verdict) for verdict in verdicts],
        usage=metric.judge_usage or {},
    )


async def rubric_verdicts(config: SuiteConfig, metric: Any, items: list[GoldItem]) -> Verdicts:
    """The rubric judge's scores of the items ({criterion: category}), as the `judge` metric asks them."""
    return await _metric_verdicts(
        config,
        metric,
        items,
        "judge",
        lambda verdict: {k: judge_score_category(v) for k, v in verdict["scores"].items()},
        lambda verdict: {"reasoning": verdict.get("reasoning")},
    )


async def factual_verdicts(config: SuiteConfig, metric: Any, items: list[GoldItem]) -> Verdicts:
    """The factual-consistency judge's verdicts ({"hallucinated": bool, "consistency": float})."""
    return await _metric_verdicts(
        config,
        metric,
        items,
        "factual",
        lambda verdict: {
            "hallucinated": bool(verdict["hallucination"]),
            "consistency": verdict["consistency"],
        },
        lambda verdict: {
            "reasoning": verdict.get("reasoning"),
            "unsupported_claims": [c["claim"] for c in verdict.get("claims") or [] if not c["supported"]],
        },
    )


async def pairwise_verdicts(config: SuiteConfig, items: list[GoldItem], margin: float) -> Verdicts:
    """The head-to-head judge's winner of each pair ("a", "b" or "tie", both orders as `evalgate compare`)."""
    from evalgate.judge.client import open_judge
    from evalgate.judge.pairwise import Entry, Player, judge_players

    entries = [
        Entry(item.id, item.input, item.expected, item.category, as_text(item.metadata.get("source")))
        for item in items
    ]
    players = [
        Player(side, {item.id: {"output": getattr(item, side), "error": None} for item in items})
        for side in ("a", "b")
    ]
    async with open_judge(config, purpose="evalgate judge calibrate") as session:
        results = await judge_players(session, entries, players, margin)
    values, errors, extra = [], [], []
    for result in results:
        judged = result.outcome is not None
        values.append(None if result.outcome is None else {1.0: "a", 0.0: "b", 0.5: "tie"}[result.outcome])
        failed = [order["error"] for order in result.orders if "error" in order]
        errors.append(None if judged else (failed[0] if failed else result.reason))
        extra.append({"orders": result.orders, "reason": result.reason})
    return Verdicts(values, errors, extra, session.usage.to_json())
