"""`evalgate merge`: the results files of a run's shards (`evalgate run --shard I/N`) joined into one run's.

Nothing is averaged: the shards' case entries (each scored in its shard) are put back in dataset order and every
aggregate, corpus ones included (F1, BLEU, AUC, percentiles), is computed again over all of them by the suite's
own metric code, exactly as one unsharded run computes it from the same entries. Before that, every shard is
checked against the suite's config and dataset, read again here: same suite, same signature, same split, each
case in the shard the split puts it in, no case twice, no shard missing. Whatever is wrong is one InputError
(exit 2) naming the files and the cases. A shard that did not complete makes the merged run incomplete (never
a pass); the merged file records which shards it came from under `run.shards`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evalgate import metrics, shards
from evalgate.config import SuiteConfig
from evalgate.errors import InputError
from evalgate.journal import comparable
from evalgate.pipeline import _mark_shown, load_suite_cases, signature
from evalgate.results import build_results, incomplete_reason, load_results

NAMED_CASES = 5  # a problem names this many of its cases, then says how many more


def merge_shards(paths: Sequence[str | Path], config: SuiteConfig) -> dict[str, Any]:
    """The merged results of the shard files `paths` (InputError, exit 2, when they are not one run's shards)."""
    if not paths:
        raise InputError("evalgate merge needs the results files of the shards")
    loaded = [(str(path), load_results(path).to_json()) for path in paths]  # checked, then as written
    return merge_loaded(loaded, config)


def merge_loaded(loaded: list[tuple[str, dict[str, Any]]], config: SuiteConfig) -> dict[str, Any]:
    """The merged results of shard documents, each with the file (or file and task) it came from."""
    _check_alike(loaded, config)
    reference = loaded[0][1]
    assembled = {
        path: shard["signature"]["assembled"] for path, shard in loaded if shard["signature"].get("assembled")
    }
    cases = load_suite_cases(config, reference["signature"].get("sample"))
    entries = _place_cases(loaded, cases)
    built = metrics.build_metrics(config)
    overall, categories = metrics.summarize_all(built, entries, config.stats["confidence"])
    merged = build_results(
        suite=reference["suite"],
        label=reference.get("label"),
        signature={
            **{k: v for k, v in comparable(reference["signature"]).items() if k != "evalgate"},
            **({"assembled": {"shards": assembled}} if assembled else {}),
        },
        git=reference.get("git") or {},
        run=_merged_run(loaded, missing=len(cases) - len(entries)),
        metric_keys=_mark_shown(metrics.metric_keys(built), config, built, overall),
        metrics=overall,
        categories=categories,
        cases=entries,
        slices=metrics.summarize_slices(built, entries, config.slices, config.stats["confidence"]),
    )
    for key in ("judge_calibration", "judge_canary"):  # the canary ran in every shard: the first one's
        if key in reference:
            merged[key] = reference[key]
    return merged


def _check_alike(loaded: list[tuple[str, dict[str, Any]]], config: SuiteConfig) -> None:
    """Every file is a shard of one run of this suite with this config: same suite, signature, commit and split."""
    problems = [
        f"{path} is not the results of a shard (no `shard`: written by `evalgate run` without --shard, or "
        "already merged)"
        for path, results in loaded
        if not isinstance(results.get("shard"), dict)
    ]
    if problems:
        raise InputError("; ".join(problems))
    first_path, first = loaded[0]
    for path, results in loaded[1:]:
        differences = [
            what
            for what, value, expected in (
                ("suite", results["suite"], first["suite"]),
                (
                    "signature (config, datasets, provider, metrics, sample, repeats, evalgate version)",
                    comparable(results["signature"]),  # a resumed shard is the same run (evalgate.journal)
                    comparable(first["signature"]),
                ),
                ("commit", (results.get("git") or {}).get("sha"), (first.get("git") or {}).get("sha")),
                ("split (shard count, dataset fingerprint)", _split_of(results), _split_of(first)),
            )
            if value != expected
        ]
        if differences:
            problems.append(
                f"{path} is not of the same run as {first_path}: its {', '.join(differences)} differ"
            )
    if config.suite != first["suite"]:
        problems.append(
            f"the shards are of suite {first['suite']!r}, the config {config.path} of {config.suite!r}"
        )
    else:
        expected = signature(config, first["signature"].get("provider", ""), first["signature"].get("sample"))
        changed = sorted(k for k, v in expected.items() if first["signature"].get(k) != v)
        if changed:
            problems.append(
                f"the config {config.path} and its datasets are not those the shards ran with: "
                f"{', '.join(changed)} differ (merge with the commit's own config)"
            )
    if problems:
        raise InputError("; ".join(problems))


def _split_of(results: dict[str, Any]) -> tuple[Any, ...]:
    shard = results["shard"]
    return shard.get("count"), shard.get("dataset_cases"), shard.get("dataset_fingerprint")


def _place_cases(loaded: list[tuple[str, dict[str, Any]]], cases: list) -> list[dict[str, Any]]:
    """The shards' case entries in dataset order, after checking the split: each file holds only cases of its own
    shard, no case and no shard comes twice, and no shard is missing (one InputError names them all)."""
    first = loaded[0][1]["shard"]
    count = first["count"]
    problems = []
    if shards.fingerprint(case.id for case in cases) != first["dataset_fingerprint"]:
        problems.append(
            f"the shards split another set of cases ({first['dataset_cases']} cases) than the dataset of the "
            f"config holds ({len(cases)} cases once sampled)"
        )
        raise InputError("; ".join(problems))
    assigned = shards.assign(((case.id, case.category) for case in cases), count)
    holder: dict[int, str] = {}
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    overlaps: dict[tuple[str, str], list[str]] = {}
    for path, results in loaded:
        index = results["shard"]["index"]
        if index > count:
            problems.append(f"{path} says it is shard {index}/{count}, beyond the last shard")
        if index in holder:
            problems.append(f"{path} and {holder[index]} are both shard {index}/{count}")
        holder.setdefault(index, path)
        strangers = [entry["id"] for entry in results["cases"] if assigned.get(entry["id"]) != index]
        if strangers:
            problems.append(
                f"{path} (shard {index}/{count}) holds cases not of that shard: {_named(strangers)}"
            )
        for entry in results["cases"]:
            earlier = found.get(entry["id"])
            if earlier is not None:
                overlaps.setdefault((earlier[0], path), []).append(entry["id"])
            else:
                found[entry["id"]] = (path, entry)
        if results["run"].get("complete", True) is not False and not results["run"].get("aborted"):
            lacking = [cid for cid, shard in assigned.items() if shard == index and cid not in found]
            if lacking:
                problems.append(
                    f"{path} (shard {index}/{count}) says it completed but lacks {_named(lacking)}"
                )
    for (one, other), ids in overlaps.items():
        problems.append(f"{one} and {other} both hold {_named(ids)}")
    for index in range(1, count + 1):
        if index not in holder:
            missing = [case.id for case in cases if assigned[case.id] == index]
            problems.append(f"shard {index}/{count} is missing (its {_named(missing)} were not merged)")
    if problems:
        raise InputError("; ".join(problems))
    return [found[case.id][1] for case in cases if case.id in found]


def _named(ids: list[str]) -> str:
    shown = ", ".join(repr(case_id) for case_id in ids[:NAMED_CASES])
    more = f" and {len(ids) - NAMED_CASES} more" if len(ids) > NAMED_CASES else ""
    return f"{len(ids)} case{'s' if len(ids) != 1 else ''} ({shown}{more})"


def _merged_run(loaded: list[tuple[str, dict[str, Any]]], *, missing: int) -> dict[str, Any]:
    """The merged `run`: complete only when every shard is (and no case is missing); counts summed, the wall
    time of the slowest shard (they run side by side), and each shard's own `run` under `shards`."""
    runs = [results["run"] for _, results in loaded]
    reasons = [
        f"shard {results['shard']['index']}/{results['shard']['count']} ({path}): {reason}"
        for path, results in loaded
        if (reason := incomplete_reason(results))
    ]
    first = runs[0]
    merged: dict[str, Any] = {
        "wall_s": max((run.get("wall_s") or 0.0 for run in runs), default=0.0),
        "concurrency": first.get("concurrency"),
        "provider": first.get("provider"),
        "aborted": "; ".join(reasons) or None,
        "complete": not reasons and missing == 0,
        "not_run": missing,
    }
    for key in ("cache", "calls", "judge"):
        parts = [run[key] for run in runs if isinstance(run.get(key), dict)]
        if parts or key == "cache":  # `cache` is always there (None: no cache), as in a run's `run`
            merged[key] = sum_counts(parts) if parts else None
    merged["shards"] = [
        {"file": path, "index": results["shard"]["index"], **results["run"]} for path, results in loaded
    ]
    return merged


def sum_counts(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Dicts of counts summed key by key (nested dicts too; lists joined; any other value: the first one's)."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key not in total:
                total[key] = value if not isinstance(value, dict) else sum_counts([value])
            elif isinstance(value, bool) or not isinstance(value, int | float | list | dict):
                continue
            elif isinstance(value, dict) and isinstance(total[key], dict):
                total[key] = sum_counts([total[key], value])
            elif isinstance(value, list) and isinstance(total[key], list):
                total[key] = total[key] + value
            elif isinstance(total[key], int | float) and not isinstance(total[key], bool):
                total[key] = (
                    math.fsum([total[key], value]) if isinstance(value, float) else total[key] + value
                )
    return total
