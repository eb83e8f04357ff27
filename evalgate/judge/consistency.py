"""The judge's self-consistency (`evalgate judge calibrate --consistency K`): K more passes over the gold items
with sampling on and the cache off show how much one item's verdict varies, and which items the judge cannot
decide consistently."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from evalgate.config import SuiteConfig
from evalgate.judge.gold import GoldItem
from evalgate.judge.gold_verdicts import Verdicts

DEFAULT_TEMPERATURE = 1.0  # sampling for the self-consistency runs
MAX_UNDECIDABLE = 50  # undecidable items listed per kind


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
