"""The usage section's table of this run: the model's and the judge's calls, tokens and cost side by side, and
what the cache saved; only measured numbers (a partial sum is a lower bound, an unreported one "not measured")."""

from __future__ import annotations

from typing import Any

from reportkit import load, verdict_fixture

from evalgate.contracts.results import Results, parse_results
from evalgate.report.render import render_html, render_markdown


def results(change: Any) -> Results:
    data = load("results_current.json")
    change(data)
    return parse_results(data, file="results_current.json")


def table(current: Results, baseline: Results) -> dict[str, list[str]]:
    text = render_markdown(verdict_fixture("verdict_fail.json"), current, baseline)
    rows = text[text.index("| This run |") :].split("\n\n")[0].split("\n")
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)}


def judged(data: dict[str, Any]) -> None:
    data["cases"][1]["cached"] = data["cases"][2]["cached"] = True  # c-88 and c-120 from the cache
    data["cases"][4]["tokens_out"] = None  # c-501 answered without reporting its output tokens
    data["run"]["judge"] = {
        "judge": {
            "calls": 10,
            "cached": 4,
            "tokens_in": 5000,
            "tokens_out": 700,
            "cost": 0.01,
            "made": {"calls": 6, "tokens_in": 3000, "tokens_out": 400, "cost": 0.006, "unreported": {}},
            "saved": {
                "calls": 4,
                "tokens_in": 2000,
                "tokens_out": 0,
                "cost": 0.004,
                "unreported": {"tokens_out": 4},
            },
        },
        # written before the judge's usage was split: its parts' tokens and cost were not measured
        "factual_consistency": {"calls": 3, "cached": 1, "tokens_in": 900, "tokens_out": 90, "cost": 0.002},
    }


def test_the_model_and_the_judge_side_by_side_with_what_the_cache_saved(current, baseline) -> None:
    rows = table(results(judged), baseline)
    assert rows["This run"] == ["Model under test", "Judge"]
    # the model: c-17, c-208 (errored: no usage, not counted as unreported) and c-501 called
    assert rows["Calls made"] == ["3", "8"]
    assert rows["Input tokens"] == ["801", "≥ 3,000 (6 of 8 reported)"]
    assert rows["Output tokens"] == ["≥ 3 (1 of 2 reported)", "≥ 400 (6 of 8 reported)"]
    assert rows["Cost"] == ["$0.000819", "≥ $0.006 (6 of 8 reported)"]
    assert rows["Saved by the cache: answers"] == ["2", "5"]
    assert rows["Saved by the cache: input tokens"] == ["803", "≥ 2,000 (4 of 5 reported)"]
    assert rows["Saved by the cache: output tokens"] == ["6", "not measured"]  # none of the 5 reported it


def test_without_a_cache_or_a_judge_the_table_has_the_model_alone(current, baseline) -> None:
    def no_cache(data: dict[str, Any]) -> None:
        data["run"]["cache"] = None

    rows = table(results(no_cache), baseline)
    assert rows["This run"] == ["Model under test"]
    assert rows["Calls made"] == ["5"] and rows["Cost"] == ["$0.00164"]
    assert not [label for label in rows if label.startswith("Saved")]


def test_the_html_page_has_the_same_table(current, baseline) -> None:
    page = render_html(verdict_fixture("verdict_fail.json"), results(judged), baseline)
    assert "<tr><th>This run</th><th>Model under test</th><th>Judge</th></tr>" in page
    assert (
        '<tr><td>Saved by the cache: output tokens</td><td class="num">6</td><td class="num">not measured</td></tr>'
        in page
    )
