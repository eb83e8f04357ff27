"""Measure the configured judge against people: `evalgate judge calibrate` (docs/judge.md).

The suite's own judge metrics (`judge`, `factual_consistency`) and its head-to-head judge score the gold items
exactly as they score a run (same prompts, validation, repair, cache); the agreement with the human labels is
then measured per criterion (evalgate.judge.agreement). With `consistency=K`, the judge also answers every item K more
times with sampling on and the cache off, which shows how much its verdict on one item varies, and which items
it cannot decide consistently.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from evalgate import __version__
from evalgate.config import SuiteConfig
from evalgate.errors import InputError
from evalgate.judge.calibration_sections import Settings, factual_section, pairwise_section, rubric_section
from evalgate.judge.consistency import DEFAULT_TEMPERATURE, sampling_config, spread
from evalgate.judge.gold import GoldItem, GoldSet
from evalgate.judge.gold_verdicts import Verdicts, factual_verdicts, pairwise_verdicts, rubric_verdicts
from evalgate.judge.trust import CALIBRATION_SCHEMA_VERSION, fingerprint, judge_metrics

KINDS = ("rubric", "factual", "pairwise")


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
    by_kind = {kind: gold.of_kind(kind) for kind in KINDS}
    _check_gold(gold, by_kind, metrics)

    async def one_pass(run_config: SuiteConfig) -> dict[str, Verdicts]:
        return await _verdicts(run_config, by_kind, metrics, settings)

    first = await one_pass(config)
    document = _header(config, gold, by_kind, settings)
    document.update(_sections(config, by_kind, metrics, first, settings))
    usage = [verdicts.usage for verdicts in first.values()]
    if consistency >= 2:
        sampled = sampling_config(config, temperature)
        runs = [await one_pass(sampled) for _ in range(consistency)]
        usage += [verdicts.usage for run in runs for verdicts in run.values()]
        scale = (metrics["rubric"].scale_min, metrics["rubric"].scale_max) if "rubric" in first else None
        document["consistency"] = {
            "runs": consistency,
            "temperature": temperature,
            **{
                kind: spread(
                    kind, by_kind[kind], [run[kind] for run in runs], scale if kind == "rubric" else None
                )
                for kind in first
            },
        }
    document["judge"]["usage"] = _total_usage(usage)
    return document


def _check_gold(gold: GoldSet, by_kind: dict[str, list[GoldItem]], metrics: dict[str, Any]) -> None:
    """Each kind of gold item has the judge metric that scores it, and rubric labels fit its criteria."""
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


async def _verdicts(
    config: SuiteConfig, by_kind: dict[str, list[GoldItem]], metrics: dict[str, Any], settings: Settings
) -> dict[str, Verdicts]:
    """One pass of the judge over every kind of gold item the file has."""
    passes = {}
    if by_kind["rubric"]:
        passes["rubric"] = await rubric_verdicts(config, metrics["rubric"], by_kind["rubric"])
    if by_kind["factual"]:
        passes["factual"] = await factual_verdicts(config, metrics["factual"], by_kind["factual"])
    if by_kind["pairwise"]:
        passes["pairwise"] = await pairwise_verdicts(config, by_kind["pairwise"], settings.margin)
    return passes


def _header(
    config: SuiteConfig, gold: GoldSet, by_kind: dict[str, list[GoldItem]], settings: Settings
) -> dict[str, Any]:
    """The document's identity (what was calibrated, against which gold file, when), with empty sections."""
    assert config.judge is not None  # calibrate checked it
    return {
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
        **dict.fromkeys(KINDS),
        "consistency": None,
    }


def _sections(
    config: SuiteConfig,
    by_kind: dict[str, list[GoldItem]],
    metrics: dict[str, Any],
    first: dict[str, Verdicts],
    settings: Settings,
) -> dict[str, Any]:
    """Each judged kind's section, with the fingerprint of the judge that produced it."""
    sections: dict[str, Any] = {}
    if "rubric" in first:
        metric = metrics["rubric"]
        sections["rubric"] = rubric_section(
            metric, by_kind["rubric"], first["rubric"], settings, fingerprint(config, "rubric", metric)
        )
    if "factual" in first:
        sections["factual"] = factual_section(
            by_kind["factual"], first["factual"], settings, fingerprint(config, "factual", metrics["factual"])
        )
    if "pairwise" in first:
        sections["pairwise"] = pairwise_section(
            by_kind["pairwise"],
            first["pairwise"],
            settings,
            fingerprint(config, "pairwise", margin=settings.margin),
        )
    return sections


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


def _total_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"calls": 0, "cached": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0}
    for usage in usages:
        for key in total:
            total[key] += usage.get(key) or 0
    total["cost"] = round(total["cost"], 6)
    return total
