"""The cases a report lists by name: regressed (worse than in the baseline), failing (no baseline) and flaky
(repeats that disagree), each from the typed case records of the two runs paired by id (evalgate/pairing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalgate.config import Rule
from evalgate.contracts.results import CaseRecord, CaseRun
from evalgate.explain import explanation
from evalgate.slices import SliceSpec, names_of

# Most cases listed as regressed, failing or flaky (the totals are counted separately).
MAX_LISTED = 100

KeyKinds = dict[str, tuple[str, bool]]  # metric key -> (kind, higher_is_better)


def listing_keys(keys: KeyKinds, rules: Sequence[Rule], cases: dict[str, CaseRecord]) -> list[str]:
    """Keys whose per-case scores decide which cases are listed: the gated ones, else the binary ones (a key
    that scores only some cases, such as assertions, lists among those)."""
    records = list(cases.values())
    per_case = [
        k
        for k, (kind, _) in keys.items()
        if kind != "corpus" and any(r.scores.get(k) is not None for r in records)
    ]
    gated = [k for k in per_case if any(rule.metric == k for rule in rules) and k != "error_rate"]
    if gated:
        return gated
    binary = [k for k in per_case if keys[k][0] == "binary" and k != "error_rate"]
    return binary or [k for k in per_case if k != "error_rate"]


def case_entry(
    case: CaseRecord, key: str | None, before: CaseRecord | None, specs: Sequence[SliceSpec]
) -> dict[str, Any]:
    """One listed case: its scores on `key` in both runs, the slices it is in (of the config's `specs`), what it
    was asked and what both runs answered."""
    return {
        "id": case.id,
        "category": case.category,
        "slices": names_of(case, specs),
        "metric": key,
        "baseline": before.scores.get(key) if before is not None and key else None,
        "current": case.scores.get(key) if key else None,
        "input": case.input,
        "expected": case.expected,
        "output": case.output,
        "baseline_output": before.output if before is not None else None,
        "error": case.error,
        **explanation(case),
    }


def regressed(
    cur: dict[str, CaseRecord],
    base: dict[str, CaseRecord],
    ids: list[str],
    listing: list[str],
    keys: KeyKinds,
    specs: Sequence[SliceSpec],
) -> tuple[list[dict[str, Any]], int]:
    """Cases worse now on a listing key, by key order, then the largest drop first (pass -> fail is 1.0)."""
    found = []
    for order, key in enumerate(listing):
        sign = 1.0 if keys[key][1] else -1.0
        for case_id in ids:
            now, before = cur[case_id].scores.get(key), base[case_id].scores.get(key)
            if now is None or before is None:
                continue
            loss = sign * (float(before) - float(now))
            if loss > 0:
                found.append((order, -loss, case_id, key))
    found.sort()
    listed = [
        case_entry(cur[case_id], key, base[case_id], specs) for _, _, case_id, key in found[:MAX_LISTED]
    ]
    return listed, len(found)


def failing(
    cur: dict[str, CaseRecord], listing: list[str], keys: KeyKinds, specs: Sequence[SliceSpec]
) -> tuple[list[dict[str, Any]], int]:
    """Without a baseline: errored cases, then cases at the bad value of a binary listing key (the first
    MAX_LISTED, and how many there are)."""
    found: list[tuple[int, str, str | None]] = [
        (0, case_id, None) for case_id in sorted(cur) if cur[case_id].error
    ]
    for order, key in enumerate(listing, 1):
        if keys[key][0] != "binary":
            continue
        bad = 0.0 if keys[key][1] else 1.0
        for case_id in sorted(cur):
            score = cur[case_id].scores.get(key)
            if score is not None and float(score) == bad and not cur[case_id].error:
                found.append((order, case_id, key))
    listed = [case_entry(cur[case_id], key, None, specs) for _, case_id, key in found[:MAX_LISTED]]
    return listed, len(found)


def flaky(
    cur: dict[str, CaseRecord], base: dict[str, CaseRecord], listing: list[str], keys: KeyKinds
) -> list[dict[str, Any]]:
    """Cases whose repeats alternate under this run's code and config: a pass rate strictly between 0 and 1.

    A run passes when it has no error and scores the good value on the first binary listing key (or, without
    one, when it has no error). A case whose runs all passed in the baseline (two or more of them) was not
    flaky before: the change made it fail sometimes, a regression (listed under regressed), not flakiness.
    """
    binary = next((k for k in listing if keys[k][0] == "binary"), None)
    good = 1.0 if binary is None or keys[binary][1] else 0.0

    def passes(case: CaseRecord) -> list[bool]:
        return [
            not run.error and (binary is None or run.scores.get(binary) == good) for run in case.repeats or []
        ]

    found = []
    for case_id in sorted(cur):
        passed = passes(cur[case_id])
        if len(passed) < 2:
            continue
        rate = sum(passed) / len(passed)
        before = passes(base[case_id]) if case_id in base else []
        if 0.0 < rate < 1.0 and not (len(before) >= 2 and all(before)):
            found.append(
                {
                    "id": case_id,
                    "category": cur[case_id].category,
                    "pass_rate": rate,
                    "runs": len(passed),
                    "metric": binary,
                }
            )
    return found[:MAX_LISTED]


def errored_runs(cases: dict[str, CaseRecord]) -> tuple[int, int]:
    """(runs that errored, runs): each repeat counts; a case without repeats is one run."""
    runs = errored = 0
    for case in cases.values():
        repeats: Sequence[CaseRun | CaseRecord] = case.repeats or [case]
        runs += len(repeats)
        errored += sum(1 for run in repeats if run.error)
    return errored, runs
