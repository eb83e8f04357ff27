"""What the report leaves out: keys the results do not mark as shown, rows with no value in either run, the
repeated minimum-detectable-effect sentence; and how it lays out the per-category table and a case's input.

The verdicts come from the real gate (compare + decide) on synthetic results (tests/gatekit.py).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from gatekit import make_config, make_results, rule
from markdown_it import MarkdownIt
from reportkit import results_fixture, verdict_fixture

from evalgate.contracts.results import Results
from evalgate.contracts.verdict import MetricRow, VerdictDocument
from evalgate.gate import decide
from evalgate.report.render import render_html, render_markdown
from tests.gatekit import as_results, compare

N = 200
CATEGORIES = ["typical" if i % 2 else "edge" for i in range(N)]
MD = MarkdownIt("commonmark", {"html": True}).enable(["table"])


def results(accuracy: np.ndarray, rng: np.random.Generator, *, extra: int = 0) -> dict[str, Any]:
    """Results with accuracy (gated), rougeL (shown), hidden_score (shown False), tokens_in (no value) and
    `extra` more shown continuous keys."""
    scores = {
        "accuracy": list(accuracy),
        "rougeL": list(np.clip(rng.normal(0.4, 0.05, N), 0, 1)),
        "hidden_score": list(rng.random(N)),
        **{f"score_{i}": list(rng.random(N)) for i in range(extra)},
    }
    kinds = {name: ("continuous", True) for name in scores if name != "accuracy"}
    run = make_results(scores, kinds=kinds, categories=CATEGORIES)
    for name in run["metric_keys"]:
        run["metric_keys"][name]["shown"] = name != "hidden_score"
    run["metric_keys"]["tokens_in"] = {"kind": "corpus", "higher_is_better": False, "shown": True}
    run["metrics"]["tokens_in"] = {"value": None, "n": 0}
    return run


def gate_run(*, extra: int = 0, rules: list[Any] | None = None) -> tuple[VerdictDocument, Results, Results]:
    """A verdict of the real gate on a barely changed run: accuracy passes its 2-point margin, which 200 cases
    cannot reliably detect (the gate notes the minimum detectable effect)."""
    rng = np.random.default_rng(7)
    before = (rng.random(N) < 0.9).astype(float)
    after = before.copy()
    after[np.flatnonzero(before)[:2]] = 0.0
    baseline, current = results(before, rng, extra=extra), results(after, rng, extra=extra)
    config = make_config(rules or [rule("accuracy", max_drop=0.02)])
    verdict = decide(compare(current, baseline, config), config).document()
    return verdict, as_results(current), as_results(baseline)


def without_shown_mark(run: Results) -> Results:
    """The run as a results file written before the `shown` mark existed."""
    data = run.to_json()
    for info in data["metric_keys"].values():
        info.pop("shown", None)
    return as_results(data)


def metric_names(markdown: str) -> list[str]:
    """The first column of the metric table."""
    table = markdown[markdown.index("| Metric |") :].split("\n\n")[0].split("\n")[2:]
    return [line.split("|")[1].strip() for line in table]


def category_header(markdown: str) -> list[str]:
    line = markdown[markdown.index("| Category |") :].split("\n")[0]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_setup_has_what_the_filters_act_on() -> None:
    verdict, _, _ = gate_run()
    rows = {row.metric: row for row in verdict.metrics}
    assert rows["hidden_score"].current is not None  # a value, yet not to be shown
    assert rows["tokens_in"].current is None and rows["tokens_in"].baseline is None
    assert "too small to detect" in rows["accuracy"].note and rows["accuracy"].status == "pass"
    assert any(w.endswith(rows["accuracy"].note) for w in verdict.warnings)


def test_a_key_not_marked_shown_is_left_out_of_both_tables_but_kept_in_the_json() -> None:
    verdict, current, baseline = gate_run()
    text = render_markdown(verdict, current, baseline)
    assert metric_names(text) == ["accuracy", "rougeL", "error\\_rate"]
    assert "hidden" not in text
    assert category_header(text) == ["Category", "n", "accuracy", "rougeL", "error\\_rate", "Status"]
    assert "hidden_score" not in render_html(verdict, current, baseline)
    as_json = verdict.model_dump(
        mode="json", exclude_unset=True
    )  # what --json writes (pipeline.write_reports)
    assert {"hidden_score", "tokens_in"} <= {row["metric"] for row in as_json["metrics"]}
    assert "hidden_score" in {row["metric"] for row in as_json["categories"]}


def test_results_without_the_shown_mark_show_every_key_with_a_value() -> None:
    verdict, current, baseline = gate_run()
    text = render_markdown(verdict, without_shown_mark(current), without_shown_mark(baseline))
    assert metric_names(text) == ["accuracy", "rougeL", "hidden\\_score", "error\\_rate"]
    assert "hidden\\_score" in category_header(text)


def test_a_row_without_a_value_in_either_run_is_left_out_unless_gated() -> None:
    verdict, current, baseline = gate_run()
    text = render_markdown(verdict, current, baseline)
    assert "tokens\\_in" not in text
    assert "no per-case scores" not in text  # its note goes with it

    gated, current, baseline = gate_run(rules=[rule("accuracy", max_drop=0.02), rule("tokens_in", max=1000)])
    text = render_markdown(gated, current, baseline)
    assert "tokens\\_in" in metric_names(text)  # a gated key is always shown, value or not
    assert text.count("no per-case scores to pair") == 1


def test_the_minimum_detectable_effect_is_said_once_plainly() -> None:
    verdict, current, baseline = gate_run()
    note = next(row.note for row in verdict.metrics if row.metric == "accuracy")
    mde_gate = next(row.mde_gate for row in verdict.metrics if row.metric == "accuracy")
    for text in (render_markdown(verdict, current, baseline), render_html(verdict, current, baseline)):
        assert text.count("Sensitivity:") == 1
        assert text.count("too small") == 0 and note not in text  # the gate's note (and warning) not again
        assert "detect" not in text
    text = render_markdown(verdict, current, baseline)
    sentence = next(line for line in text.split("\n") if "Sensitivity:" in line)
    assert sentence.startswith(
        "ℹ️ **Sensitivity:** with 200 paired cases, this suite reliably (80% of the time)"
    )
    assert f"catches only drops of about {mde_gate * 100:.1f} pp in **accuracy** (margin 2.0 pp)." in sentence
    assert "⚠️" not in text  # the only warning was the MDE note


def test_a_failed_metric_gets_no_sensitivity_sentence() -> None:
    verdict, current, baseline = gate_run()
    for row in verdict.metrics:
        if row.metric == "accuracy":
            row.status = "fail"  # its drop was caught: what the suite could miss is beside the point
    text = render_markdown(verdict, current, baseline)
    assert "Sensitivity" not in text and "too small" not in text


def test_the_category_table_keeps_gated_keys_first_and_at_most_six_metrics() -> None:
    rules = [rule("accuracy", max_drop=0.02), rule("score_6", max_drop=0.5)]
    verdict, current, baseline = gate_run(extra=7, rules=rules)
    text = render_markdown(verdict, current, baseline)
    header = category_header(text)
    metrics = header[2:-1]
    assert len(metrics) == 6
    assert metrics[0] == "accuracy" and "score\\_6" in metrics  # the gated ones, though score_6 comes late
    assert "hidden\\_score" not in metrics
    assert (
        "**By category** (largest regression first; 4 more metrics left out for room, all are in the verdict JSON)"
        in text
    )
    # the metric table is not capped
    assert [f"score\\_{i}" for i in range(7)] == [n for n in metric_names(text) if n.startswith("score")]


def test_a_category_column_without_values_is_left_out() -> None:
    verdict, current, baseline = gate_run()
    for row in verdict.categories:
        if row.metric == "rougeL":
            row.current = row.baseline = row.delta = None
    assert "rougeL" not in category_header(render_markdown(verdict, current, baseline))


@pytest.mark.parametrize("image", [["  ##  ", " #..# ", " #..# ", "  ##  "]])
def test_an_image_input_is_one_code_block_with_a_row_per_line(image: list[str]) -> None:
    verdict, current, baseline = gate_run()
    case = verdict.cases.regressed[0]
    case.input, case.expected, case.output = {"image": image}, 8, {"label": 7}
    case.baseline_output = {"label": 8}
    text = render_markdown(verdict, current, baseline)
    fences = [t.content for t in MD.parse(text) if t.type == "fence"]
    assert "\n".join(image) + "\n" in fences
    block = text[text.index(f"<b>{case.id}</b>") :].split("</details>")[0]
    assert "Input · image:" in block
    assert '| 8 | {"label": 7} | {"label": 8} |' in block  # short answers share one table row
    assert re.search(r"\| Expected \| Output \| Baseline output \|", block)


def test_without_a_baseline_the_missing_baseline_is_explained_once_under_the_reasons() -> None:
    _, current, _ = gate_run()
    config = make_config([rule("accuracy", min=0.5)])
    verdict = decide(compare(current, None, config), config).document()
    assert any(w.lower().startswith("no baseline") for w in verdict.warnings)  # what the gate says
    text = render_markdown(verdict, current, None)
    body = text.split("\n", 1)[1]  # after the headline
    assert len(re.findall("no baseline", body, flags=re.I)) == 1
    assert f"Suite **demo**. {verdict.baseline.note}" in body
    assert "| Metric | Current | Interval | Threshold | Status |" in body


def test_usage_keys_in_the_metric_table_are_not_repeated_in_the_usage_table() -> None:
    current, baseline, verdict = (
        results_fixture("results_current.json"),
        results_fixture("results_baseline.json"),
        verdict_fixture("verdict_fail.json"),
    )
    paired = "no per-case scores to pair, so no interval or p-value; the values are compared directly"
    for name, now, before in (("tokens_in_per_case", 401.0, 356.0), ("cost_per_1k_requests", 0.41, 0.365)):
        verdict.metrics.append(
            MetricRow(
                **{
                    "metric": name,
                    "kind": "corpus",
                    "higher_is_better": False,
                    "current": now,
                    "baseline": before,
                    "delta": now - before,
                    "rules": {},
                    "status": "info",
                    "note": paired,
                    "n": 500,
                }
            )
        )
    text = render_markdown(verdict, current, baseline)
    assert metric_names(text)[-2:] == ["tokens\\_in\\_per\\_case", "cost\\_per\\_1k\\_requests"]
    assert text.count("no per-case scores to pair") == 1  # one line for both keys
    assert f"- tokens\\_in\\_per\\_case, cost\\_per\\_1k\\_requests: {paired}" in text
    usage = text[text.index("**Usage**") :]
    assert "Input tokens per request" not in usage and "Cost per 1K requests" not in usage
    assert "| Output tokens per request |" in usage and "| Total cost of the run |" in usage
