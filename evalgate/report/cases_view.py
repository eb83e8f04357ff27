"""The report view's case sections: the added and removed cases, the most regressed (or failing) cases with
their input, answers, error and why they scored as they did, and the flaky cases."""

from __future__ import annotations

from typing import Any

from evalgate.contracts.verdict import CaseChanges, CaseEntry, FlakyCase
from evalgate.report import formatting as fmt
from evalgate.report.labels import short_label
from evalgate.report.text import clip, to_text

MAX_IDS = 100  # case ids listed per added/removed list
MAX_FLAKY = 20
MAX_CASE_SLICES = 5  # slices named beside a listed case (a case may carry many tags); the rest counted
MAX_EXPLAINED_ITEMS = 20  # failed assertions, or unsupported claims, listed under a case; the rest counted
SHORT_CHARS = 80  # expected/output values up to this long (one line) share a one-row table
ANSWER_FIELDS = (
    ("expected", "Expected"),
    ("output", "Output"),
    ("raw_output", "Raw output (before the transform)"),
    ("baseline_output", "Baseline output"),
)
EXAMPLE_KEYS = ("input", *(key for key, _ in ANSWER_FIELDS), "error")


def cases(cases: CaseChanges) -> dict[str, Any] | None:
    added = [short_label(i) for i in cases.added]
    removed = [short_label(i) for i in cases.removed]
    if not added and not removed:
        return None  # the paired count is in the sentence under the verdict
    added_shown, added_more = first(added, MAX_IDS)
    removed_shown, removed_more = first(removed, MAX_IDS)
    return {
        "paired": fmt.count(cases.paired),
        "added_count": fmt.count(len(added)),
        "removed_count": fmt.count(len(removed)),
        "added": added_shown,
        "removed": removed_shown,
        "added_more": added_more,
        "removed_more": removed_more,
    }


def examples(cases: CaseChanges, max_examples: int, max_chars: int) -> dict[str, Any] | None:
    """The most regressed (or, without a baseline, failing) cases, one item per case, in the gate's order."""
    entries = cases.regressed
    title, noun = "Most regressed cases", "regressed cases"
    if not entries:
        entries = cases.failing
        title, noun = "Failing cases", "failing cases"
    if not entries:
        return None
    grouped: dict[str, list[CaseEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.id, []).append(entry)
    items = [_example(case_id, group, max_chars) for case_id, group in list(grouped.items())[:max_examples]]
    return {"title": title, "noun": noun, "total": len(grouped), "items": items}


def _example(case_id: str, group: list[CaseEntry], max_chars: int) -> dict[str, Any]:
    """One case: its input as code blocks, then expected/output/baseline output in a one-row table when all
    are short single lines (else as code blocks too), then its error."""
    first = group[0]
    values = {
        key: next((getattr(e, key) for e in group if getattr(e, key) is not None), None)
        for key in EXAMPLE_KEYS
    }
    if values["baseline_output"] == values["output"]:
        values["baseline_output"] = None
    answers = [(label, values[key]) for key, label in ANSWER_FIELDS if values[key] is not None]
    brief = all(_is_short(value) for _, value in answers)
    return {
        "id": short_label(case_id),
        "category": short_label(first.category),
        "slices": _slices_label(first.slices),
        "scores": ", ".join(_score_change(e) for e in group if e.metric),
        "errored": first.error is not None,
        "input": _input_fields(values["input"], max_chars),
        "brief": [{"label": label, "value": to_text(value)} for label, value in answers] if brief else [],
        "fields": [
            {"label": label, "name": None, "value": clip(value, max_chars, pretty=True)}
            for label, value in [*([] if brief else answers), ("Error", values["error"]), *_explained(first)]
            if value is not None
        ],
    }


def first(items: list[Any], limit: int) -> tuple[list[Any], int]:
    """The first `limit` items, and how many more there are (each list the report cuts says how much it left out)."""
    return items[:limit], max(0, len(items) - limit)


def _slices_label(names: list[str]) -> str:
    """The slices a listed case is in, as one label: `length=long, tag=billing` (at most MAX_CASE_SLICES)."""
    shown, more = first(names, MAX_CASE_SLICES)
    return ", ".join(short_label(name) for name in shown) + (f" and {more} more" if more else "")


def _explained(entry: CaseEntry) -> list[tuple[str, str]]:
    """Why the case scored as it did (evalgate.explain): its failed assertions, the judge's scores and reasoning,
    the claims found unsupported; each as a labelled text (clipped and fenced like an output by the caller).
    A results file is user input: a field of an unexpected type is shown as its JSON, never trusted."""
    found = []
    failed = [outcome for outcome in entry.failed_assertions or [] if isinstance(outcome, dict)]
    if failed:
        shown, more = first(failed, MAX_EXPLAINED_ITEMS)
        lines = [_assertion_line(outcome) for outcome in shown]
        found.append(("Failed assertions", "\n".join([*lines, *_more(more, "failed assertions")])))
    judge = entry.judge
    if judge:
        scores = judge.get("scores")
        scored = ", ".join(
            f"{to_text(name)} {fmt.sig(value, strip=True) if fmt.is_number(value) else to_text(value)}"
            for name, value in (scores.items() if isinstance(scores, dict) else [])
        )
        found.append(("Judge", _lines(scored, judge.get("reasoning"), judge.get("error"))))
    factual = entry.factual
    if factual:
        unsupported = factual.get("unsupported")
        shown, more = first(unsupported if isinstance(unsupported, list) else [], MAX_EXPLAINED_ITEMS)
        claims = [f"- {to_text(claim)}" for claim in shown]
        parts = ["Unsupported claims:", *claims, *_more(more, "unsupported claims")] if claims else []
        found.append(("Factual consistency", _lines(*parts, factual.get("reasoning"), factual.get("error"))))
    return [(label, text) for label, text in found if text]


def _more(more: int, noun: str) -> list[str]:
    """The line counting the items left out (none when all are listed)."""
    return [f"… and {more:,} more {noun}"] if more else []


def _lines(*parts: Any) -> str:
    """The parts that say something, one per line (as text: a reasoning a results file holds may be anything)."""
    return "\n".join(to_text(part) for part in parts if part not in (None, ""))


def _assertion_line(outcome: dict[str, Any]) -> str:
    value = outcome.get("value")
    shown = "" if value is None else " " + clip(value if isinstance(value, str) else to_text(value), 80).text
    return f"{outcome.get('type')}{shown}: {outcome.get('reason') or 'failed'}"


def _is_short(value: Any) -> bool:
    text = to_text(value)
    return "\n" not in text and "\r" not in text and len(text) <= SHORT_CHARS


def _input_fields(value: Any, max_chars: int) -> list[dict[str, Any]]:
    """A case's input as code blocks: a list of strings one per line (an ASCII image, a conversation),
    a mapping whose values are all such lists one block per key, anything else as text or pretty JSON."""
    if value is None:
        return []
    if _is_lines(value):
        return [{"label": "Input", "name": None, "value": clip("\n".join(value), max_chars)}]
    if isinstance(value, dict) and value and all(_is_lines(v) for v in value.values()):
        return [
            {"label": "Input", "name": short_label(key), "value": clip("\n".join(lines), max_chars)}
            for key, lines in value.items()
        ]
    return [{"label": "Input", "name": None, "value": clip(value, max_chars, pretty=True)}]


def _is_lines(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(line, str) for line in value)


def _score_change(entry: CaseEntry) -> str:
    before, after = entry.baseline, entry.current
    now = fmt.sig(after, strip=True) if after is not None and fmt.is_number(after) else fmt.DASH
    if before is not None and fmt.is_number(before):
        return f"{entry.metric} {fmt.sig(before, strip=True)} → {now}"
    return f"{entry.metric} {now}"


def flaky(flaky: list[FlakyCase]) -> dict[str, Any] | None:
    if not flaky:
        return None
    items = [{"id": short_label(item.id), "pass_rate": fmt.value(item.pass_rate, "rate")} for item in flaky]
    shown, more = first(items, MAX_FLAKY)
    return {"items": shown, "more": more}
