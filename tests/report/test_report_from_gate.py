"""The report fed by the real producers: results read as results files are, the real pairing and gate
(`decide(compare(...)).to_json()`), then the markdown. What the report shows is what the gate wrote: its
headline, its reasons, the cases it listed, the flaky cases it found (no hand-written verdict in between)."""

from __future__ import annotations

from typing import Any

from test_report_markdown import structure

from evalgate.contracts.verdict import VerdictDocument
from evalgate.gate import decide
from evalgate.report.render import render_comment, render_markdown
from evalgate.report.text import inline
from tests.gatekit import as_results, compare, make_config, make_results, rule

N = 120
CATEGORIES = ["edge" if i % 4 == 0 else "typical" for i in range(N)]


def run(
    passed: list[float], *, errors: list[str | None] | None = None, label: str | None = None
) -> dict[str, Any]:
    results = make_results({"accuracy": passed}, categories=CATEGORIES, errors=errors)
    for case, score in zip(results["cases"], passed, strict=True):
        case["output"] = "billing" if score else "account"
        case["expected"] = "billing"
    return {**results, "label": label}


def gate(
    current: dict[str, Any], baseline: dict[str, Any] | None, rules: list
) -> tuple[VerdictDocument, Any, Any]:
    config = make_config(rules)
    now, before = as_results(current), as_results(baseline)
    return decide(compare(now, before, config), config).document(), now, before


def test_a_failed_gate_is_reported_as_the_gate_decided_it() -> None:
    before = [1.0] * 108 + [0.0] * 12
    after = list(before)
    for i in range(0, 40, 2):  # 20 cases lose their pass, half of them edge cases
        after[i] = 0.0
    errors = [None] * N
    errors[3] = "TimeoutError: the case took longer than 60.0 s"
    verdict, current, baseline = gate(
        run(after, errors=errors, label="pr-42"),
        run(before, label="main"),
        [rule("accuracy", max_drop=0.02), rule("accuracy", "edge", min=0.9)],
    )
    assert verdict.verdict == "fail"
    text = render_comment(verdict, current, baseline)
    lines = text.split("\n")
    assert lines[1] == f"❌ **evalgate failed: {inline(verdict.headline)}**"
    bullets = [line for line in lines if line.startswith("- ❌ ") or line.startswith("- ⚠️ ")]
    assert [b.split(" ", 2)[2] for b in bullets[: len(verdict.reasons)]] == [
        inline(reason.message) for reason in verdict.reasons
    ]
    first = verdict.cases.regressed[0]
    assert f"<summary><b>{first.id}</b> · {first.category} · accuracy 1 → 0</summary>" in text
    assert f"on {verdict.cases.paired} paired cases" in text
    assert "| Expected | Output | Baseline output |\n|:--|:--|:--|\n| billing | account | billing |" in text
    edge = next(row for row in verdict.categories if row.category == "edge" and row.metric == "accuracy")
    assert edge.status == "fail"
    structure(text)


def test_without_a_baseline_the_failing_cases_are_the_gates() -> None:
    passed = [1.0] * 100 + [0.0] * 20
    verdict, current, _ = gate(run(passed), None, [rule("accuracy", min=0.9)])
    text = render_markdown(verdict, current, None)
    assert verdict.verdict == "fail" and verdict.cases.failing_total == 20
    assert "**Failing cases**" in text
    for entry in verdict.cases.failing[:3]:
        assert f"<b>{entry.id}</b> · {entry.category} · accuracy 0" in text
    assert verdict.baseline.note in text  # the gate's sentence, not a second one of the report's
    structure(text)


def test_flaky_cases_are_the_ones_the_pairing_found() -> None:
    passed = [1.0] * N
    current = run(passed)
    for case in current["cases"][:2]:  # two cases pass 2 of 3 repeats now
        runs = [1.0, 0.0, 1.0]
        case["repeats"] = [
            {"output": "billing", "error": None, "scores": {"accuracy": s, "error_rate": 0.0}} for s in runs
        ]
        case["scores"]["accuracy"] = sum(runs) / 3
    verdict, now, before = gate(current, run(passed), [rule("accuracy", max_drop=0.05)])
    flaky = verdict.cases.flaky
    assert [item.id for item in flaky] == ["c-00000", "c-00001"] and flaky[0].runs == 3
    text = render_markdown(verdict, now, before)
    assert (
        "**Flaky cases** (their result changed across repeats): c-00000 (66.7% passed), c-00001 (66.7%"
        in text
    )
