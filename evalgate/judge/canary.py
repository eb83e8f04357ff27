"""The judge canary: fixed answers the judge scores at calibration and again on each run, to catch a judge
that changed under the suite (a provider silently updating the model behind a name).

At calibration the canary's verdicts are stored in the calibration file as the reference. On each run on the
history branch the canary is judged afresh (the response cache is bypassed, or it would replay the old
verdicts); on other branches the cached verdicts are used, so a pull request pays nothing for it. The share of
verdicts (item × score) that differ from the reference is recorded with the results; above
`judge.calibration.max_canary_changed` the judge is not trusted to gate (evalgate.judge.trust) and the history
alarms (evalgate.judge.canary_history).
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from evalgate.config import SuiteConfig
from evalgate.errors import InputError
from evalgate.judge.gold import load_gold
from evalgate.judge.gold_verdicts import factual_verdicts, rubric_verdicts
from evalgate.judge.trust import assess, judge_metrics, load_calibration, metric_fingerprints


async def canary_verdicts(
    config: SuiteConfig, built: list | None = None
) -> tuple[dict[str, dict[str, int]], dict]:
    """The judge's verdicts on the canary answers, {item id: {"judge_<criterion>": score, "hallucinated": 0|1}},
    from each judge-based metric of the suite; and the judge's usage."""
    assert config.judge_calibration is not None  # reference and check ask only when it names a canary
    path = Path(config.judge_calibration["canary"])
    canary = load_gold(path, labelled=False, what="judge canary file")
    pairs = [item for item in canary.items if item.kind == "pairwise"]
    if pairs:
        raise InputError(
            "the canary holds fixed answers to score ('output'), not pairs of answers",
            file=path,
            line=pairs[0].line,
        )
    metrics = judge_metrics(config, built)
    verdicts: dict[str, dict[str, int]] = {item.id: {} for item in canary.items}
    usage: dict[str, Any] = {}
    if "rubric" in metrics:
        found = await rubric_verdicts(config, metrics["rubric"], canary.items)
        for item, value in zip(canary.items, found.values, strict=True):
            verdicts[item.id].update({f"judge_{name}": score for name, score in (value or {}).items()})
        usage["judge"] = found.usage
    if "factual" in metrics:
        found = await factual_verdicts(config, metrics["factual"], canary.items)
        for item, value in zip(canary.items, found.values, strict=True):
            if value is not None:
                verdicts[item.id]["hallucinated"] = int(value["hallucinated"])
        usage["factual_consistency"] = found.usage
    return verdicts, usage


async def reference(config: SuiteConfig) -> dict[str, Any] | None:
    """The canary's reference verdicts, stored in the calibration file (None without a canary)."""
    if not (config.judge_calibration or {}).get("canary"):
        return None
    verdicts, usage = await canary_verdicts(config)
    return {"fingerprints": metric_fingerprints(config), "verdicts": verdicts, "usage": usage}


async def check(config: SuiteConfig, *, fresh: bool, built: list | None = None) -> dict[str, Any] | None:
    """Judge the canary (afresh when `fresh`, else from the cache) and compare with the calibration's verdicts."""
    settings = config.judge_calibration or {}
    if not settings.get("canary"):
        return None
    run_config = dataclasses.replace(config, cache={**config.cache, "enabled": False}) if fresh else config
    verdicts, usage = await canary_verdicts(run_config, built)
    calibration = load_calibration(Path(settings["file"])) or {}
    stored = (calibration.get("canary") or {}).get("verdicts")
    result: dict[str, Any] = {
        "fresh": fresh,
        "items": len(verdicts),
        "max_changed": settings["max_canary_changed"],
        "compared": 0,
        "changed": 0,
        "changed_share": None,
        "shift": {},
        "alarm": False,
        "message": None,
        "usage": usage,
    }
    if stored is None:
        result["message"] = (
            "the calibration has no canary verdicts to compare with: re-run evalgate judge calibrate"
        )
        return result
    compared = [
        (key, now[key], stored[item][key])
        for item, now in verdicts.items()
        for key in now
        if key in (stored.get(item) or {})
    ]
    changed = sum(new != old for _, new, old in compared)
    keys = sorted({key for key, _, _ in compared if key != "hallucinated"})
    result.update(
        compared=len(compared),
        changed=changed,
        changed_share=changed / len(compared) if compared else None,
        shift={
            key: sum(new - old for k, new, old in compared if k == key)
            / sum(k == key for k, _, _ in compared)
            for key in keys
        },
    )
    if not compared:
        result["message"] = (
            "no canary verdict could be compared with the calibration's (the judge failed on them)"
        )
    elif changed / len(compared) > settings["max_canary_changed"]:
        result["alarm"] = True
        result["message"] = (
            f"the judge's verdicts on the canary answers changed since the calibration ({changed} of "
            f"{len(compared)}, {changed / len(compared):.0%}, above {settings['max_canary_changed']:.0%}): "
            "its model or provider may have changed; re-run `evalgate judge calibrate`"
        )
    return result


def run_checks(config: SuiteConfig, built: list, git: dict[str, Any]) -> dict[str, Any]:
    """What a run with `judge.calibration` stores with its results: the canary check ("judge_canary", afresh on
    the history branch) and whether its judge may gate ("judge_calibration")."""
    if config.judge_calibration is None:
        return {}
    from evalgate.history.store import branch_of_ref

    fresh = branch_of_ref(git.get("ref")) == config.history["branch"]
    canary = asyncio.run(check(config, fresh=fresh, built=built))
    stored = {"judge_calibration": assess(config, canary=canary, built=built)}
    if canary is not None:
        stored["judge_canary"] = canary
    return stored
