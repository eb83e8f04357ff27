"""Each kind's section of the calibration document: the judge's agreement with people per criterion (with
bootstrap intervals), its bias, position bias and tie rates for pairs, and the largest disagreements listed."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from evalgate.judge.agreement import LabelledItem, agreement, rank_correlation
from evalgate.judge.client import as_text
from evalgate.judge.gold import WINNERS, GoldItem
from evalgate.judge.gold_verdicts import Verdicts
from evalgate.judge.ratings import wilson_interval
from evalgate.report.text import clip

MAX_LISTED = 10  # items of largest disagreement listed per kind
SHOWN_CHARS = 300  # characters of an answer kept in a listed item


@dataclasses.dataclass
class Settings:
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    margin: float = 0.05  # the pairwise tie margin (evalgate compare's --margin)


def _errors(items: list[GoldItem], verdicts: Verdicts) -> list[dict[str, Any]]:
    return [
        {"id": item.id, "line": item.line, "error": error}
        for item, error in zip(items, verdicts.errors, strict=True)
        if error
    ]


def _answer(value: Any) -> str:
    return clip(as_text(value), SHOWN_CHARS).text


def rubric_section(
    metric: Any, items: list[GoldItem], verdicts: Verdicts, settings: Settings, fingerprint_: str
) -> dict[str, Any]:
    labels = list(range(metric.scale_min, metric.scale_max + 1))
    low = metric.scale_min
    criteria = {}
    for index, criterion in enumerate(metric.criteria):
        labelled = [
            LabelledItem(
                item.id, tuple(s - low for s in item.scores[criterion.name]), judged[criterion.name] - low
            )
            for item, judged in zip(items, verdicts.values, strict=True)
            if judged is not None and criterion.name in item.scores
        ]
        criteria[criterion.name] = agreement(
            labelled,
            labels,
            level="interval",
            resamples=settings.resamples,
            confidence=settings.confidence,
            seed=settings.seed + index,
        )
    human_means, judge_means, gaps = _rubric_gaps(items, verdicts)
    return {
        "fingerprint": fingerprint_,
        "scale": [metric.scale_min, metric.scale_max],
        "items": len(items),
        "judged": sum(value is not None for value in verdicts.values),
        "judge_errors": sum(value is None for value in verdicts.values),
        "errors": _errors(items, verdicts)[:MAX_LISTED],
        "criteria": criteria,
        "overall": {
            "items": len(human_means),
            "spearman": rank_correlation(
                human_means,
                judge_means,
                resamples=settings.resamples,
                confidence=settings.confidence,
                seed=settings.seed,
            ),
            "bias": float(np.mean(judge_means) - np.mean(human_means)) if human_means else None,
        },
        "disagreements": [row for row in gaps if row["gap"] != 0][:MAX_LISTED],
    }


def _rubric_gaps(
    items: list[GoldItem], verdicts: Verdicts
) -> tuple[list[float], list[float], list[dict[str, Any]]]:
    """Per judged item, the mean human and judge scores over its criteria; and each (item, criterion)'s gap
    between the judge and the people, largest first."""
    human_means, judge_means, gaps = [], [], []
    for item, judged, extra in zip(items, verdicts.values, verdicts.extra, strict=True):
        if judged is None or not item.scores:
            continue
        names = list(item.scores)
        human_means.append(float(np.mean([np.mean(item.scores[n]) for n in names])))
        judge_means.append(float(np.mean([judged[n] for n in names])))
        for name in names:
            human = float(np.mean(item.scores[name]))
            gaps.append(
                {
                    "id": item.id,
                    "line": item.line,
                    "criterion": name,
                    "human": item.scores[name],
                    "judge": judged[name],
                    "gap": judged[name] - human,
                    "output": _answer(item.output),
                    "reasoning": extra.get("reasoning"),
                }
            )
    gaps.sort(key=lambda row: (-abs(row["gap"]), row["id"], row["criterion"]))
    return human_means, judge_means, gaps


def factual_section(
    items: list[GoldItem], verdicts: Verdicts, settings: Settings, fingerprint_: str
) -> dict[str, Any]:
    judged = [
        (i, v, e) for i, v, e in zip(items, verdicts.values, verdicts.extra, strict=True) if v is not None
    ]
    labelled = [
        LabelledItem(item.id, tuple(int(h) for h in item.hallucinated), int(value["hallucinated"]))
        for item, value, _ in judged
    ]
    with_claims = [
        (item.consistency, value["consistency"]) for item, value, _ in judged if item.consistency is not None
    ]
    disagreements = [
        {
            "id": item.id,
            "line": item.line,
            "human": item.hallucinated,
            "judge": value["hallucinated"],
            "output": _answer(item.output),
            "unsupported_claims": extra["unsupported_claims"],
            "reasoning": extra.get("reasoning"),
        }
        for item, value, extra in judged
        if value["hallucinated"] != (sum(item.hallucinated) * 2 > len(item.hallucinated))
    ]
    return {
        "fingerprint": fingerprint_,
        "items": len(items),
        "judged": len(judged),
        "judge_errors": len(items) - len(judged),
        "errors": _errors(items, verdicts)[:MAX_LISTED],
        "criteria": {
            "hallucinated": agreement(
                labelled,
                [False, True],
                level="nominal",
                resamples=settings.resamples,
                confidence=settings.confidence,
                seed=settings.seed,
            )
        },
        "consistency": {
            "items": len(with_claims),
            "spearman": rank_correlation(
                [h for h, _ in with_claims],
                [j for _, j in with_claims],
                resamples=settings.resamples,
                confidence=settings.confidence,
                seed=settings.seed,
            ),
        },
        "disagreements": disagreements[:MAX_LISTED],
    }


def pairwise_section(
    items: list[GoldItem], verdicts: Verdicts, settings: Settings, fingerprint_: str
) -> dict[str, Any]:
    judged = [
        (i, v, e) for i, v, e in zip(items, verdicts.values, verdicts.extra, strict=True) if v is not None
    ]
    labelled = [
        LabelledItem(item.id, tuple(WINNERS.index(w) for w in item.winner), WINNERS.index(value))
        for item, value, _ in judged
    ]
    flips = [extra for _, _, extra in judged if extra["reason"] == "orders disagree: tie"]
    first = sum(all(order["winner"] == order["first"] for order in extra["orders"]) for extra in flips)
    second = sum(
        all(order["winner"] not in (order["first"], "tie") for order in extra["orders"]) for extra in flips
    )
    ties = sum(value == "tie" for _, value, _ in judged)
    human_labels = [w for item, _, _ in judged for w in item.winner]
    stats = agreement(
        labelled,
        list(WINNERS),
        level="interval",
        resamples=settings.resamples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    disagreements = [
        {
            "id": item.id,
            "line": item.line,
            "human": item.winner,
            "judge": value,
            "orders": [{k: v for k, v in order.items() if k != "reasoning"} for order in extra["orders"]],
        }
        for item, value, extra in judged
        if value not in item.winner
    ]
    return {
        "fingerprint": fingerprint_,
        "margin": settings.margin,
        "items": len(items),
        "judged": len(judged),
        "judge_errors": len(items) - len(judged),
        "errors": _errors(items, verdicts)[:MAX_LISTED],
        "criteria": {"winner": stats},
        "agreement": stats["exact"],
        "position_bias": {
            **_rate(len(flips), len(judged), settings.confidence),
            "first_shown_wins": first,
            "second_shown_wins": second,
        },
        "tie_rate": _rate(ties, len(judged), settings.confidence),
        "human_tie_rate": _rate(human_labels.count("tie"), len(human_labels), settings.confidence),
        "disagreements": disagreements[:MAX_LISTED],
    }


def _rate(count: int, n: int, confidence: float) -> dict[str, Any]:
    low, high = wilson_interval(count, n, confidence)
    return {"value": count / n if n else None, "ci_low": low, "ci_high": high, "count": count, "n": n}
