"""Measure the configured judge against people: `evalgate judge calibrate` (docs/judge.md).

The suite's own judge metrics (`judge`, `factual_consistency`) and its head-to-head judge score the gold items
exactly as they score a run (same prompts, validation, repair, cache); the agreement with the human labels is
then measured per criterion (evalgate.judge.agreement). With `consistency=K`, the judge also answers every item K more
times with sampling on and the cache off, which shows how much its verdict on one item varies, and which items
it cannot decide consistently.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from evalgate import __version__
from evalgate.config import SuiteConfig
from evalgate.errors import InputError
from evalgate.judge.agreement import LabelledItem, agreement, rank_correlation
from evalgate.judge.client import as_text
from evalgate.judge.gold import WINNERS, GoldItem, GoldSet
from evalgate.judge.ratings import wilson_interval
from evalgate.judge.trust import CALIBRATION_SCHEMA_VERSION, fingerprint, judge_metrics
from evalgate.report.text import clip

MAX_LISTED = 10  # items of largest disagreement listed per kind
MAX_UNDECIDABLE = 50  # undecidable items listed per kind
SHOWN_CHARS = 300  # characters of an answer kept in a listed item
DEFAULT_TEMPERATURE = 1.0  # sampling for the self-consistency runs


def judge_score_category(value: float) -> int:
    """A judge's score as a category of the scale: the nearest integer, halves up (3.5 -> 4)."""
    return math.floor(value + 0.5)


@dataclasses.dataclass
class Settings:
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    margin: float = 0.05  # the pairwise tie margin (evalgate compare's --margin)


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
    from evalgate.judge.headtohead import Entry, Player, judge_players

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


def check_rubric_items(items: list[GoldItem], metric: Any, gold: GoldSet) -> None:
    """Every labelled criterion is one of the judge's, every score within its scale (file:line otherwise)."""
    names = [c.name for c in metric.criteria]
    for item in items:
        for name, scores in item.scores.items():
            if name not in names:
                raise InputError(
                    f"item {item.id!r} scores {name!r}, which is not a criterion of the suite's judge metric "
                    f"(criteria: {', '.join(names)})",
                    file=gold.path,
                    line=item.line,
                )
            for score in scores:
                if not metric.scale_min <= score <= metric.scale_max:
                    raise InputError(
                        f'item {item.id!r}: scores["{name}"] {score} is outside the judge\'s scale '
                        f"{metric.scale_min} to {metric.scale_max}",
                        file=gold.path,
                        line=item.line,
                    )


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


def sampling_config(config: SuiteConfig, temperature: float) -> SuiteConfig:
    """The config for the self-consistency runs: the judge sampling at `temperature`, and no response cache
    (a cached answer would repeat the first run's verdict)."""
    from evalgate.providers import provider_class

    assert config.judge is not None  # calibrate refuses a suite without a judge first
    options = dict(config.judge.options)
    if "temperature" in provider_class(config.judge.type).OPTIONS:
        options["temperature"] = temperature
    judge = dataclasses.replace(config.judge, options=options)
    return dataclasses.replace(config, judge=judge, cache={**config.cache, "enabled": False})


def spread(
    kind: str, items: list[GoldItem], runs: list[Verdicts], scale: tuple[int, int] | None
) -> dict[str, Any]:
    """The judge's per-item spread over K sampled runs, and the items it cannot decide consistently.

    A score is undecidable when the runs disagree by more than one point of the scale; a verdict (hallucinated,
    a winner) when the runs do not all give the same one. Failed runs are left out of an item's spread."""
    rows = []
    for index, item in enumerate(items):
        seen = [run.values[index] for run in runs if run.values[index] is not None]
        if len(seen) < 2:
            continue
        if kind == "rubric":
            for name in seen[0]:
                scores = [value[name] for value in seen]
                rows.append(
                    {
                        "id": item.id,
                        "criterion": name,
                        "values": scores,
                        "sd": float(np.std(scores)),
                        "range": max(scores) - min(scores),
                        "undecidable": max(scores) - min(scores) > 1,
                    }
                )
        else:
            verdicts = [value["hallucinated"] if kind == "factual" else value for value in seen]
            majority = max(set(verdicts), key=verdicts.count)
            rows.append(
                {
                    "id": item.id,
                    "criterion": "hallucinated" if kind == "factual" else "winner",
                    "values": verdicts,
                    "disagreeing": 1.0 - verdicts.count(majority) / len(verdicts),
                    "undecidable": len(set(verdicts)) > 1,
                }
            )
    criteria: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = criteria.setdefault(row["criterion"], {"items": 0, "undecidable": 0, "spread": []})
        entry["items"] += 1
        entry["undecidable"] += row["undecidable"]
        entry["spread"].append(row["sd"] if kind == "rubric" else row["disagreeing"])
    summary = {
        name: {
            "items": entry["items"],
            "undecidable": entry["undecidable"],
            ("mean_sd" if kind == "rubric" else "mean_disagreeing"): float(np.mean(entry["spread"])),
        }
        for name, entry in criteria.items()
    }
    undecidable = [row for row in rows if row["undecidable"]]
    undecidable.sort(key=lambda row: (-(row.get("range") or row.get("disagreeing") or 0), row["id"]))
    return {
        "scale": list(scale) if scale else None,
        "criteria": summary,
        "undecidable_items": len({row["id"] for row in undecidable}),
        "undecidable": undecidable[:MAX_UNDECIDABLE],
    }


async def calibrate(
    config: SuiteConfig,
    gold: GoldSet,
    *,
    settings: Settings,
    consistency: int = 0,
    temperature: float = DEFAULT_TEMPERATURE,
) -> dict[str, Any]:
    """Run the configured judge on the gold items and measure its agreement; the calibration document."""
    if config.judge is None:
        raise InputError(
            "evalgate judge calibrate needs a judge: add a `judge:` section to the config", file=config.path
        )
    metrics = judge_metrics(config)
    by_kind = {kind: gold.of_kind(kind) for kind in ("rubric", "factual", "pairwise")}
    for kind in ("rubric", "factual"):
        if by_kind[kind] and kind not in metrics:
            family = "judge" if kind == "rubric" else "factual_consistency"
            raise InputError(
                f"the gold file has {len(by_kind[kind])} {kind} item(s) (first at line {by_kind[kind][0].line}), "
                f"but the suite computes no {family} metric to calibrate; add it to metrics: or drop those items",
                file=gold.path,
            )
    if by_kind["rubric"]:
        check_rubric_items(by_kind["rubric"], metrics["rubric"], gold)

    async def one_pass(run_config: SuiteConfig) -> dict[str, Verdicts]:
        passes = {}
        if by_kind["rubric"]:
            passes["rubric"] = await rubric_verdicts(run_config, metrics["rubric"], by_kind["rubric"])
        if by_kind["factual"]:
            passes["factual"] = await factual_verdicts(run_config, metrics["factual"], by_kind["factual"])
        if by_kind["pairwise"]:
            passes["pairwise"] = await pairwise_verdicts(run_config, by_kind["pairwise"], settings.margin)
        return passes

    first = await one_pass(config)
    document: dict[str, Any] = {
        "schema_version": CALIBRATION_SCHEMA_VERSION,
        "kind": "judge_calibration",
        "suite": config.suite,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evalgate": __version__,
        "gold": {
            "path": gold.path.name,
            "sha256": gold.sha256,
            "items": len(gold.items),
            "kinds": {kind: len(items) for kind, items in by_kind.items() if items},
        },
        "judge": {
            "type": config.judge.type,
            "model": str(config.judge.options.get("model") or config.judge.type),
        },
        "settings": dataclasses.asdict(settings),
        "rubric": None,
        "factual": None,
        "pairwise": None,
        "consistency": None,
    }
    if "rubric" in first:
        metric = metrics["rubric"]
        document["rubric"] = rubric_section(
            metric, by_kind["rubric"], first["rubric"], settings, fingerprint(config, "rubric", metric)
        )
    if "factual" in first:
        document["factual"] = factual_section(
            by_kind["factual"], first["factual"], settings, fingerprint(config, "factual", metrics["factual"])
        )
    if "pairwise" in first:
        document["pairwise"] = pairwise_section(
            by_kind["pairwise"],
            first["pairwise"],
            settings,
            fingerprint(config, "pairwise", margin=settings.margin),
        )
    usage = [verdicts.usage for verdicts in first.values()]
    if consistency >= 2:
        sampled = sampling_config(config, temperature)
        runs = [await one_pass(sampled) for _ in range(consistency)]
        usage += [verdicts.usage for run in runs for verdicts in run.values()]
        document["consistency"] = {
            "runs": consistency,
            "temperature": temperature,
            **{
                kind: spread(
                    kind,
                    by_kind[kind],
                    [run[kind] for run in runs],
                    (metrics["rubric"].scale_min, metrics["rubric"].scale_max) if kind == "rubric" else None,
                )
                for kind in first
            },
        }
    document["judge"]["usage"] = _total_usage(usage)
    return document


def _total_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"calls": 0, "cached": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0}
    for usage in usages:
        for key in total:
            total[key] += usage.get(key) or 0
    total["cost"] = round(total["cost"], 6)
    return total
