"""Head-to-head comparison: a judge compares the answers of two or more models case by case
(evalgate.judge.pairwise judges each pair, in both orders), and this module builds the comparison's report.

Results: win rates with Wilson intervals per pair (overall and per category) and Bradley–Terry ratings with
bootstrap intervals (see evalgate.judge.ratings), and each case's outcome; the players come from a config's
providers or from two results files.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalgate.contracts.cases import Case
from evalgate.contracts.headtohead import HeadToHeadReport, Rate
from evalgate.contracts.versions import HEADTOHEAD_SCHEMA_VERSION
from evalgate.errors import InputError
from evalgate.judge.client import as_text, open_judge
from evalgate.judge.pairwise import Entry, PairResult, Player, judge_players
from evalgate.judge.ratings import Game, bootstrap_ratings, fit_bradley_terry, wilson_interval
from evalgate.progress import Progress
from evalgate.report.render import environment
from evalgate.report.text import clip
from evalgate.results import load_results
from evalgate.runner import run_suite


def _rate(count: float, n: int, confidence: float) -> dict[str, Any]:
    low, high = wilson_interval(count, n, confidence)
    return {"value": count / n if n else None, "ci_low": low, "ci_high": high}


def pair_summary(results: list[PairResult], a: str, b: str, confidence: float) -> dict[str, Any]:
    """Wins, losses and ties of `a` against `b`, with Wilson intervals (judge failures left out)."""
    mine = [r for r in results if (r.a, r.b) == (a, b)]
    decided = [r for r in mine if r.outcome is not None]
    wins_a = sum(r.outcome == 1.0 for r in decided)
    wins_b = sum(r.outcome == 0.0 for r in decided)
    ties = len(decided) - wins_a - wins_b
    judged = [r for r in decided if len(r.orders) == 2]
    consistent = sum(r.reason == "orders agree" for r in judged)
    n = len(decided)
    return {
        "a": a,
        "b": b,
        "n": n,
        "wins_a": wins_a,
        "wins_b": wins_b,
        "ties": ties,
        "judge_errors": len(mine) - n,
        "errored_answers": sum(r.reason.endswith("errored") for r in decided),
        "win_rate_a": _rate(wins_a, n, confidence),
        "win_rate_b": _rate(wins_b, n, confidence),
        "tie_rate": _rate(ties, n, confidence),
        "score_a": (wins_a + 0.5 * ties) / n if n else None,
        "position_consistency": consistent / len(judged) if judged else None,
    }


def summarize(
    results: list[PairResult],
    players: list[str],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Pair summaries overall and per category, and Bradley–Terry ratings with bootstrap intervals."""
    pairs = list(itertools.combinations(players, 2))
    categories = sorted({r.category for r in results})
    by_case: dict[str, list[Game]] = {}
    for r in results:
        if r.outcome is not None:
            by_case.setdefault(r.case_id, []).append(Game(r.a, r.b, r.outcome))
    games = [game for group in by_case.values() for game in group]
    ratings: dict[str, Any] = {"players": {}, "regularized": False}
    if games:
        fit = fit_bradley_terry(games, players)
        intervals = bootstrap_ratings(
            list(by_case.values()), players, resamples=resamples, seed=seed, confidence=confidence
        )
        ratings = {
            "players": {
                name: {
                    "rating": fit.ratings[name],
                    "ci_low": intervals[name][0],
                    "ci_high": intervals[name][1],
                }
                for name in sorted(players, key=lambda p: -fit.ratings[p])
            },
            "regularized": fit.regularized,
        }
    return {
        "pairs": [pair_summary(results, a, b, confidence) for a, b in pairs],
        "categories": {
            category: [
                pair_summary([r for r in results if r.category == category], a, b, confidence)
                for a, b in pairs
            ]
            for category in categories
        },
        "ratings": ratings,
    }


def _case_json(result: PairResult, entry: Entry, players: dict[str, Player]) -> dict[str, Any]:
    winner = (
        None if result.outcome is None else {1.0: result.a, 0.0: result.b, 0.5: "tie"}.get(result.outcome)
    )
    return {
        "id": result.case_id,
        "category": result.category,
        "a": result.a,
        "b": result.b,
        "winner": winner,
        "outcome": result.outcome,
        "reason": result.reason,
        "input": entry.input,
        "expected": entry.expected,
        "outputs": {name: players[name].answers[entry.id].get("output") for name in (result.a, result.b)},
        "errors": {name: players[name].answers[entry.id].get("error") for name in (result.a, result.b)},
        "orders": result.orders,
    }


async def compare_players(
    config: Any,
    entries: list[Entry],
    players: list[Player],
    *,
    margin: float = 0.05,
    resamples: int = 1000,
    warnings: list[str] | None = None,
    progress: Progress | None = None,
) -> HeadToHeadReport:
    """Judge all pairs and build the comparison document (what compare.json holds), typed once here."""
    if len({p.name for p in players}) != len(players) or len(players) < 2:
        raise InputError("a comparison needs at least two players with different names")
    async with open_judge(config, purpose="evalgate compare") as session:
        results = await judge_players(session, entries, players, margin, progress)
    names = [p.name for p in players]
    summary = summarize(
        results,
        names,
        confidence=float(config.stats["confidence"]),
        resamples=resamples,
        seed=config.seed,
    )
    by_id = {entry.id: entry for entry in entries}
    by_name = {p.name: p for p in players}
    document = {
        "schema_version": HEADTOHEAD_SCHEMA_VERSION,
        "kind": "compare",
        "suite": config.suite,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "judge": {"model": session.model, "usage": session.usage.to_json()},
        "margin": margin,
        "confidence": float(config.stats["confidence"]),
        "players": [{"name": p.name, "source": p.source} for p in players],
        **summary,
        "cases": [_case_json(r, by_id[r.case_id], by_name) for r in results],
        "warnings": warnings or [],
    }
    return HeadToHeadReport.model_validate(document)


async def run_provider(
    config: Any, provider_config: Any, cases: list[Case], progress: Progress | None = None
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Run one provider of the config on the cases (through the runner, as `evalgate run` does, reporting to
    `progress`); answers by case id, and why the run stopped early (None: it did not). Each case is asked once,
    whatever the suite's `repeats`: a head-to-head compares one answer of each player, so further repeats would
    be calls paid for and never used."""
    outcome = await run_suite(
        dataclasses.replace(config, repeats=1), cases, provider_config, progress=progress
    )
    answers = {
        r.case.id: {"output": r.output.value if r.output is not None else None, "error": r.error}
        for r in outcome.results
    }
    return answers, outcome.aborted


def load_results_answers(path: Path) -> tuple[str, list[Entry], dict[str, dict[str, Any]]]:
    """A results file's label, cases and answers, read as every results file is (`results.load_results`)."""
    results = load_results(path)
    entries, answers = [], {}
    for case in results.cases:
        metadata = case.metadata or {}
        entries.append(
            Entry(
                case.id,
                case.input,
                case.expected,
                case.category or "default",
                as_text(metadata.get("source")),
            )
        )
        answers[case.id] = {"output": case.output, "error": case.error}
    return results.label or path.stem, entries, answers


def pair_results_files(path_a: Path, path_b: Path) -> tuple[list[Entry], list[Player], list[str]]:
    """The cases both results files hold (same id and same input), the two players, and warnings."""
    label_a, entries_a, answers_a = load_results_answers(path_a)
    label_b, entries_b, answers_b = load_results_answers(path_b)
    if label_a == label_b:
        label_a, label_b = f"{label_a} (a)", f"{label_b} (b)"
    inputs_b = {entry.id: entry.input for entry in entries_b}
    entries = [e for e in entries_a if e.id in inputs_b and inputs_b[e.id] == e.input]
    warnings = []
    different = [e.id for e in entries_a if e.id in inputs_b and inputs_b[e.id] != e.input]
    if different:
        warnings.append(
            f"{len(different)} case(s) have different inputs in the two files and were left out: "
            + ", ".join(different[:5])
        )
    only = len(entries_a) + len(entries_b) - 2 * len(entries) - 2 * len(different)
    if only:
        warnings.append(f"{only} case(s) are in only one of the two files and were left out")
    if not entries:
        raise InputError(
            f"{path_a} and {path_b} have no case in common (same id and input); nothing to compare"
        )
    players = [Player(label_a, answers_a, str(path_a)), Player(label_b, answers_b, str(path_b))]
    return entries, players, warnings


def render_markdown(document: HeadToHeadReport, *, max_examples: int = 10, max_chars: int = 400) -> str:
    """The comparison as markdown (templates/compare.md.j2, with the report's filters for untrusted text)."""

    def short(value: Any) -> str:
        """At most max_chars of the text (the template's filters make it one inert line)."""
        return clip(as_text(value), max_chars).text

    def pct(value: float | None) -> str:
        return (
            "–"
            if value is None
            else f"{100 * value:.0f}%"
            if value * 100 == round(value * 100)
            else f"{100 * value:.1f}%"
        )

    def rate(entry: Rate) -> str:
        return (
            "–" if entry.value is None else f"{pct(entry.value)} ({pct(entry.ci_low)}–{pct(entry.ci_high)})"
        )

    decided = [case for case in document.cases if case.winner not in ("tie", None)]
    template = environment("markdown").get_template("compare.md.j2")
    text = template.render(
        **dict(document),
        case_count=len({case.id for case in document.cases}),
        examples=decided[:max_examples],
        short=short,
        pct=pct,
        rate=rate,
    )
    text = "\n".join(line.rstrip() for line in text.splitlines()).strip()
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"
