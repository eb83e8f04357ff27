"""Flaky and changed cases: which cases of a binary metric alternate under the same code and config, and which
changed at a step (docs/history.md, "Flaky cases"). Reads the per-case outcomes the history store keeps."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from evalgate.history.store import HistoryStore

# A final streak of L equal outcomes is a step (not flakiness) when the case's earlier rate of that outcome, p,
# makes it this unlikely: p**L < STEP_ALPHA (docs/history.md, "Flaky cases").
STEP_ALPHA = 0.05


def case_stability(
    store: HistoryStore, suite: str, key: str, window: int = 20, min_flips: int = 3
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(flaky, changed) cases on a binary `key` over the last `window` runs of the latest configuration.

    Flaky means alternating under the same code and config, so only runs with the latest run's comparable
    signature and provider count. A case is flaky when its pass/fail flipped at least `min_flips` times and
    it still alternates. One whose latest runs all went one way since a step is not: when a case passing at
    its earlier rate p would give that streak of L equal outcomes with probability p^L < STEP_ALPHA, it
    changed at the step (a regression, or a fix) and is listed as changed, with the run it changed at;
    quarantining it would hide the regression. Each list is most flips first:
    flaky [{"id", "flips", "runs", "pass_rate"}], changed [{"id", "flips", "runs", "pass_rate", "state",
    "since", "streak"}] (changed lists only cases that flipped at least `min_flips` times, the ones a flip
    count alone would have called flaky).
    """
    runs, outcomes = store.case_outcomes(suite, key, window)
    flaky, changed = [], []
    for case_id, seen in outcomes.items():
        passes = [passed for _, passed in seen]
        flips = sum(a != b for a, b in pairwise(passes))
        if flips < max(min_flips, 1):
            continue
        item: dict[str, Any] = {
            "id": case_id,
            "flips": flips,
            "runs": len(passes),
            "pass_rate": sum(passes) / len(passes),
        }
        streak = next((i for i in range(len(passes) - 1, -1, -1) if passes[i] != passes[-1]), -1) + 1
        before = passes[:streak]
        same = sum(passed == passes[-1] for passed in before) / len(before)
        if same ** (len(passes) - streak) < STEP_ALPHA:
            state = "passing" if passes[-1] else "failing"
            changed.append(
                {**item, "state": state, "since": runs[seen[streak][0]], "streak": len(passes) - streak}
            )
        else:
            flaky.append(item)
    flaky.sort(key=lambda item: (-item["flips"], item["id"]))
    changed.sort(key=lambda item: (-item["flips"], item["id"]))
    return flaky, changed


def flaky_cases(
    store: HistoryStore, suite: str, key: str, window: int = 20, min_flips: int = 3
) -> list[dict[str, Any]]:
    """The flaky cases of `case_stability`: [{"id", "flips", "runs", "pass_rate"}], most flips first."""
    return case_stability(store, suite, key, window, min_flips)[0]
