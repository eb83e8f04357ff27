"""The markdown report: layout on realistic verdicts, hostile model output, and the comment size tiers.

Structure is checked by parsing the markdown with markdown-it (CommonMark + GFM tables, raw HTML on, as on
GitHub): table rows keep their column count, fences close, HTML blocks balance, no tag or link comes from
untrusted text.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from markdown_it import MarkdownIt
from reportkit import load, results_fixture, typed, verdict_fixture

from evalgate import __version__
from evalgate.contracts.signature import metric_spec_hash
from evalgate.contracts.trend import Alarm, Trend
from evalgate.contracts.verdict import VerdictDocument
from evalgate.errors import InputError
from evalgate.gate import decide
from evalgate.github.limits import COMMENT_MAX_CHARS
from evalgate.report.render import (
    comment_marker,
    render_comment,
    render_markdown,
    render_summary,
)
from evalgate.report.text import clean
from tests.gatekit import SIGNATURE, as_results, compare, make_config, make_results, rule

# an alarm as evalgate.history.drift.alarm_messages writes it (its message names the run it started at)
EWMA_ALARM = Alarm(
    "ewma",
    "2026-11-23",
    "accuracy drifted down (worse): the EWMA of standardized runs, -3.100, is past its limit -2.900 "
    "(λ=0.2, L=2.86) since run 2026-11-23; reference mean 0.911, sd 0.0014",
)
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
MENTION = re.compile(r"(?<![A-Za-z0-9])@[A-Za-z0-9]")


# --- structure ------------------------------------------------------------------------------------


def split_row(line: str) -> list[str]:
    """A GFM table row's cells: split on pipes not escaped by a backslash."""
    cells, cell, i = [], "", 0
    line = line.strip()
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            cell += line[i : i + 2]
            i += 2
            continue
        if line[i] == "|":
            cells.append(cell)
            cell = ""
        else:
            cell += line[i]
        i += 1
    cells.append(cell)
    return cells[1:-1] if line.startswith("|") and line.endswith("|") else cells


def structure(markdown: str) -> dict[str, Any]:
    """What a reader sees of the document's shape; asserts that tables are rectangular and fences close."""
    tokens = MD.parse(markdown)
    lines = markdown.split("\n")
    tables = []
    for token in tokens:
        if token.type == "table_open":
            rows = [split_row(line) for line in lines[token.map[0] : token.map[1]] if line.strip()]
            widths = {len(row) for row in rows}
            assert len(widths) == 1, f"a table row lost its shape: {rows}"
            tables.append((widths.pop(), len(rows)))
    fences = [t for t in tokens if t.type == "fence"]
    for fence in fences:
        closing = lines[fence.map[1] - 1].strip()
        assert closing == fence.markup, f"a fence does not close: {fence.content[:80]!r}"
    html_blocks = "".join(t.content for t in tokens if t.type == "html_block")
    assert html_blocks.count("<details>") == html_blocks.count("</details>")
    rendered = MD.render(markdown)
    return {
        "tables": tables,
        "fences": [f.content for f in fences],
        "details": html_blocks.count("<details>"),
        "rendered": rendered,
        "tags": sorted(set(re.findall(r"<([a-z][a-z0-9]*)", rendered))),
        "links": re.findall(r'<a href="([^"]*)"', rendered),
    }


def test_the_structure_check_notices_a_broken_table_and_an_open_fence() -> None:
    with pytest.raises(AssertionError, match="lost its shape"):
        structure("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n")
    with pytest.raises(AssertionError, match="does not close"):
        structure("```\ncode\n")


# --- realistic verdicts ---------------------------------------------------------------------------


def test_a_failed_verdict_leads_with_the_marker_icon_and_headline(current, baseline) -> None:
    verdict = verdict_fixture("verdict_fail.json")
    text = render_comment(verdict, current, baseline, run_url="https://github.com/acme/bot/actions/runs/77")
    lines = text.split("\n")
    assert lines[0] == "<!-- evalgate:support-bot -->"
    assert lines[1] == (
        "❌ **evalgate failed: accuracy dropped 4.0 points (p=0.003), beyond the 2.0-point margin**"
    )
    # one bullet per breached rule right under the headline, then the context, then the tables; the gate's
    # messages name their metric, so no `**metric**:` prefix repeats it
    assert lines[2:6] == [
        "",
        "- ❌ accuracy dropped 4.0 points (91.0% → 87.0%, p=0.003 after Holm), beyond the 2.0-point margin",
        "- ❌ accuracy in edge is 77.5%, below the floor of 80.0%",
        "- ⚠️ 2 cases errored (0.4%): TimeoutError ×2",
    ]
    context = "compared with the baseline **main@3f2a9c1** (2026-11-25 21:14 UTC) on 499 paired cases"
    assert text.index("TimeoutError ×2") < text.index(context) < text.index("| Metric |")
    assert text.rstrip().endswith(
        f"<sub>evalgate {__version__} · significance mode · "
        "[workflow run](https://github.com/acme/bot/actions/runs/77)</sub>"
    )


def test_the_metric_table_formats_rates_latency_and_plain_numbers(current, baseline) -> None:
    text = render_markdown(verdict_fixture("verdict_fail.json"), current, baseline)
    rows = {
        split_row(line)[0].strip(): [c.strip() for c in split_row(line)]
        for line in text.split("\n")
        if line.startswith("| ") and "Metric" not in line
    }
    assert rows["accuracy"] == [
        "accuracy",
        "91.0%",
        "87.0%",
        "-4.0 pp",
        "[-6.1 pp, -1.9 pp]",
        "0.003 (adj. 0.006)",
        "≥ 85.0%, drop ≤ 2.0 pp",
        "❌ FAIL",
    ]
    assert rows["latency\\_p95\\_ms"][1:5] == ["388 ms", "413 ms", "+24.6 ms (+6.3%)", "[+3.20 ms, +47.9 ms]"]
    assert rows["latency\\_p95\\_ms"][6:] == ["≤ 500 ms", "✅ PASS"]
    assert rows["rougeL"][1:4] == ["0.410", "0.413", "+0.00290 (+0.7%)"]
    assert rows["rougeL"][6:] == ["—", ""]  # not gated: no status mark


def test_the_full_report_has_every_section_in_order(current, baseline) -> None:
    trend = Trend("accuracy", ["11-20", "11-21", "11-22"], [0.91, 0.915, 0.9], [EWMA_ALARM])
    text = render_comment(verdict_fixture("verdict_fail.json"), current, baseline, trend=trend)
    order = [
        "<!-- evalgate:support-bot -->",
        "❌ **evalgate failed",
        "- ❌ accuracy dropped",
        "Suite **support-bot**, compared with",
        "| Metric |",
        "<sub>Interval: the 95% confidence interval of the change. p-value: one-sided",
        # accuracy failed (its drop was caught): the sentence is about f1_macro only
        "ℹ️ **Sensitivity:** with 500 paired cases, this suite reliably (80% of the time) catches only drops "
        "of about 0.04 in **f1\\_macro** (margin 0.03).",
        "**By category** (largest regression first)",
        "**Cases:** 499 paired, 1 added, 1 removed.",
        "**Most regressed cases**",
        "**Usage**",
        "**Trend of accuracy**",
        "<sub>evalgate",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    shape = structure(text)
    # (columns, lines): metrics, categories, each case's expected/output/baseline output (c-208 errored: no
    # output), usage (its change since the baseline, then what the run spent and the cache saved)
    assert shape["tables"] == [(8, 8), (4, 5), (3, 3), (2, 3), (3, 3), (4, 6), (2, 10)]
    assert shape["details"] == 4  # the added/removed ids and three cases
    assert "- Added: c-501" in text and "- Removed: c-3" in text


def test_categories_are_listed_by_the_size_of_their_regression(current, baseline) -> None:
    text = render_markdown(verdict_fixture("verdict_fail.json"), current, baseline)
    table = text[text.index("| Category |") :].split("\n\n")[0].split("\n")
    # edge -6.7 pp, adversarial -3.3 pp (alphabetically first), typical -1.5 pp
    assert [split_row(line)[0].strip() for line in table[2:]] == ["edge", "adversarial", "typical"]
    assert split_row(table[2])[2].strip() == "77.5% (-6.7 pp) ❌"
    assert split_row(table[2])[-1].strip() == "❌ FAIL"
    # adversarial warned, but no rule gates it: no mark in its cell or its status
    assert [cell.strip() for cell in split_row(table[3])[2:]] == ["82.5% (-3.3 pp)", ""]


def test_a_larger_ungated_regression_comes_before_a_smaller_failed_one(current, baseline) -> None:
    verdict = verdict_fixture("verdict_fail.json")
    for row in verdict.categories:
        if row.category == "adversarial":
            row.delta, row.current = -0.2, 0.658
    text = render_markdown(verdict, current, baseline)
    table = text[text.index("| Category |") :].split("\n\n")[0].split("\n")
    assert [split_row(line)[0].strip() for line in table[2:]] == ["adversarial", "edge", "typical"]


def test_ties_in_the_regression_are_ordered_by_name(current, baseline) -> None:
    verdict = verdict_fixture("verdict_fail.json")
    for row in verdict.categories:
        row.delta = -0.05
    text = render_markdown(verdict, current, baseline)
    table = text[text.index("| Category |") :].split("\n\n")[0].split("\n")
    assert [split_row(line)[0].strip() for line in table[2:]] == ["adversarial", "edge", "typical"]


def test_a_slower_category_does_not_outrank_a_drop_in_quality(current, baseline) -> None:
    data = load("verdict_fail.json")
    timing = {"current": {"n": 90, "fresh": 90, "measured": True, "note": "timed from 90 fresh calls"}}
    for row in list(data["categories"]):
        slower = row["category"] == "typical"  # the smallest accuracy drop, but 60% slower
        data["categories"].append(
            dict(
                row,
                metric="latency_p95_ms",
                kind="corpus",
                unit="ms",
                higher_is_better=False,
                rules={},
                baseline=300.0,
                current=480.0 if slower else 300.0,
                delta=180.0 if slower else 0.0,
                status="pass",
                timing=timing,
            )
        )
    text = render_markdown(typed(data), current, baseline, show=["latency_p95_ms"])
    table = text[text.index("| Category |") :].split("\n\n")[0].split("\n")
    assert table[0].startswith("| Category | n | accuracy | latency\\_p95\\_ms |")
    assert [split_row(line)[0].strip() for line in table[2:]] == ["edge", "adversarial", "typical"]
    for row in data["categories"]:  # with the quality tied, the slower one comes first
        row["delta"] = 0.0 if row["metric"] == "accuracy" else row["delta"]
    text = render_markdown(typed(data), current, baseline, show=["latency_p95_ms"])
    table = text[text.index("| Category |") :].split("\n\n")[0].split("\n")
    assert [split_row(line)[0].strip() for line in table[2:]] == ["typical", "adversarial", "edge"]


def test_a_case_regressed_on_two_metrics_is_shown_once_with_both(current, baseline) -> None:
    text = render_markdown(verdict_fixture("verdict_fail.json"), current, baseline)
    assert text.count("<b>c-17</b>") == 1
    assert "<summary><b>c-17</b> · edge · accuracy 1 → 0, rougeL 0.82 → 0.31</summary>" in text
    fences = structure(text)["fences"]
    assert "I was charged twice for my March invoice, can you refund one of them?\n" in fences
    # short one-line answers share a one-row table instead of three code blocks
    c17 = text[text.index("<b>c-17</b>") : text.index("<b>c-208</b>")]
    assert "| Expected | Output | Baseline output |\n|:--|:--|:--|\n| billing | account | billing |" in c17
    assert len(re.findall("^```", c17, flags=re.M)) == 2  # the input's fence only
    # an errored case shows its error and no output
    c208 = text[text.index("<b>c-208</b>") : text.index("<b>c-88</b>")]
    assert "· error</summary>" in c208
    assert "TimeoutError: the case took longer than 60.0 s" in c208
    assert "Output:" not in c208.replace("Baseline output:", "")
    assert '"channel": "chat"' in c208  # a structured input shown as JSON


def test_usage_shows_tokens_cost_per_1k_and_cache(current, baseline) -> None:
    text = render_markdown(verdict_fixture("verdict_fail.json"), current, baseline)
    # current cases with usage: 412, 398, 405, 389 tokens in; baseline: 380, 352, 340, 348, 361
    assert "| Input tokens per request | 356 | 401 | +44.8 (+12.6%) |" in text
    # cost per 1K requests: mean cost × 1000 = (0.000421+0.000407+0.000414+0.000398)/4 × 1000 = 0.41
    assert "| Cost per 1K requests | $0.365 | $0.41 | +$0.0448 (+12.3%) |" in text
    assert "Cache: 412 hits, 88 misses (82% hits)." in text


def test_a_passing_verdict_has_no_reasons_and_no_examples(current, baseline) -> None:
    text = render_markdown(verdict_fixture("verdict_pass.json"), current, baseline)
    assert text.startswith("✅ **evalgate passed: no metric got worse beyond its margin")
    assert "<!--" not in text  # no marker unless asked
    assert "- ❌" not in text and "<details>" not in text
    assert "| latency\\_p95\\_ms | 1,910 ms | 1,843 ms | -67.5 ms (-3.5%) |" in text
    assert "too small" not in text  # the MDE (1.8 pp) is below the margin (2.0 pp)


def test_a_warning_shows_the_mde_sentence_flaky_cases_and_notes(current, baseline) -> None:
    text = render_markdown(verdict_fixture("verdict_warn.json"), current, baseline)
    assert text.startswith("⚠️ **evalgate passed with warnings: rougeL dropped 1.9 points")
    assert "- ⚠️ rougeL dropped 0.019" in text
    mde = "ℹ️ **Sensitivity:** with 100 paired cases, this suite reliably (80% of the time) catches only drops"
    mde += " of about 0.027 in **rougeL** (margin 0.01). Smaller drops can pass unnoticed"
    assert mde in text
    flaky = "**Flaky cases** (their result changed across repeats): news-007 (60.0% passed), news-019 (40.0%"
    flaky += " passed)."
    assert flaky in text
    assert "- factual\\_consistency: judged by claude-haiku-4-5 with the rubric in eval/rubric.md" in text
    structure(text)


def test_without_a_baseline_only_thresholds_are_reported(current) -> None:
    text = render_markdown(verdict_fixture("verdict_no_baseline.json"), current, None)
    assert (
        "Suite **support-bot**. No baseline to compare with: only the absolute thresholds (min, max) were checked"
        in text
    )
    assert "| Metric | Current | Interval | Threshold | Status |" in text
    assert "| accuracy | 82.0% | [78.6%, 85.1%] | ≥ 85.0% | ❌ FAIL |" in text
    assert "**Failing cases**" in text and "<b>c-3</b> · typical · accuracy 0" in text
    assert "| | Current |" in text  # usage without a baseline column
    structure(text)


def test_a_signature_mismatch_is_a_visible_warning_that_names_the_option() -> None:
    # the real producers: two runs whose signatures differ in datasets and in one rouge option, the real
    # pairing and gate (stats.signature_mismatch: warn), then the report
    spec = [{"metric": "accuracy", "options": {}}, {"metric": "rouge", "options": {"use_stemmer": True}}]
    changed = [spec[0], {"metric": "rouge", "options": {"use_stemmer": False}}]
    before = {**SIGNATURE, "metric_spec": spec, "metrics": metric_spec_hash(spec)}
    now = {
        **SIGNATURE,
        "metric_spec": changed,
        "metrics": metric_spec_hash(changed),
        "datasets": "sha256:e0c2",
    }
    scores = [1.0] * 90 + [0.0] * 10
    current = as_results(make_results({"accuracy": scores}, signature=now))
    baseline = as_results(make_results({"accuracy": scores}, signature=before))
    config = make_config([rule("accuracy", max_drop=0.02)])
    verdict = decide(compare(current, baseline, config), config).document()
    text = render_markdown(verdict, current, baseline)
    assert (
        '> [!WARNING]\n> The baseline was produced with a different setup (datasets: "sha256:d" → '
        '"sha256:e0c2", rouge.use\\_stemmer: true → false differ)' in text
    )
    assert "sha256:" + "0" * 8 not in text and metric_spec_hash(spec) not in text  # the option, not the hash
    assert "on 100 paired cases" in text
    structure(text)


def many_categories(n: int) -> VerdictDocument:
    verdict = load("verdict_fail.json")
    template = verdict["categories"][0]
    verdict["categories"] = []
    for i in range(n):
        for metric, kind in (("accuracy", "binary"), ("rougeL", "continuous")):
            row = dict(template, metric=metric, kind=kind, category=f"topic-{i:02d}", n=40 + i)
            row["current"] = 0.5 + i / (2 * n)
            row["delta"] = -0.01 * (i % 5)
            row["status"] = "fail" if i == 17 and metric == "rougeL" else "pass"
            verdict["categories"].append(row)
    return typed(verdict)


def test_many_categories_make_one_row_each_with_a_column_per_metric(current, baseline) -> None:
    verdict = many_categories(40)
    for row in verdict.categories:  # one gated row, the failing one
        if row.category == "topic-17" and row.metric == "rougeL":
            row.rules = {"min": 0.9}
    text = render_markdown(verdict, current, baseline)
    shape = structure(text)
    assert (5, 42) in shape["tables"]  # category, n, accuracy, rougeL, status; header + rule + 40 rows
    table = text[text.index("| Category |") :].split("\n\n")[0].split("\n")
    names = [split_row(line)[0].strip() for line in table[2:]]
    # the largest drop (-4 points) first, its ties by name; the failing topic-17 (-2 points) is no exception
    assert names[:8] == [f"topic-{i:02d}" for i in (4, 9, 14, 19, 24, 29, 34, 39)]
    assert names[-1] == "topic-35"  # unchanged ones last
    statuses = {split_row(line)[0].strip(): split_row(line)[-1].strip() for line in table[2:]}
    assert statuses.pop("topic-17") == "❌ FAIL"  # the one gated row is the one marked
    assert set(statuses.values()) == {""}


def test_the_trend_is_a_mermaid_xychart_with_alarms(current, baseline) -> None:
    trend = Trend("accuracy", ["2026-11-20", "2026-11-21", "2026-11-23"], [0.91, 0.912, 0.884], [EWMA_ALARM])
    text = render_markdown(verdict_fixture("verdict_pass.json"), current, baseline, trend=trend)
    mermaid = [t for t in MD.parse(text) if t.type == "fence" and t.info == "mermaid"]
    assert len(mermaid) == 1
    body = mermaid[0].content.split("\n")
    assert body[0] == "xychart-beta"
    assert body[1].strip() == 'x-axis ["2026-11-20", "2026-11-21", "2026-11-23"]'
    assert body[3].strip() == "line [0.91, 0.912, 0.884]"
    low, high = (float(x) for x in re.findall(r"[\d.]+", body[2].split('"')[-1]))
    assert low < 0.884 and high > 0.912
    assert f"- 🔔 {EWMA_ALARM.message}" in text


def test_an_alarm_from_the_history_names_its_run_once(current, baseline) -> None:
    message = (
        "accuracy drifted down (worse): lower CUSUM 13.35 > h=5.0 (k=0.5) since run 2408aaa; the change likely "
        "began at run 2108aaa; reference mean 0.9288, sd 0.0115"
    )
    trend = Trend(
        "accuracy", ["2108aaa", "2308aaa", "2408aaa"], [0.91, 0.9, 0.89], [Alarm("cusum", "2408aaa", message)]
    )
    text = render_markdown(verdict_fixture("verdict_pass.json"), current, baseline, trend=trend)
    alarm = next(line for line in text.splitlines() if line.startswith("- 🔔"))
    assert alarm.endswith("sd 0.0115")
    assert alarm.count("2408aaa") == 1


def test_the_step_summary_is_the_same_report_without_the_marker(current, baseline) -> None:
    verdict = verdict_fixture("verdict_fail.json")
    summary = render_summary(verdict, current, baseline)
    comment = render_comment(verdict, current, baseline)
    assert "<!--" not in summary
    assert comment == comment_marker("support-bot") + "\n" + summary


def test_a_malformed_marker_is_refused(current) -> None:
    with pytest.raises(ValueError, match="not an evalgate marker"):
        render_markdown(
            verdict_fixture("verdict_pass.json"), current, None, marker="<!-- evalgate:x --> <script>"
        )
    assert comment_marker("a --> b\n<c>") == "<!-- evalgate:a - - b c -->"


# --- hostile text ---------------------------------------------------------------------------------

HOSTILE = {
    "pipes": "a | b || c \\| d \\",
    "newlines": "line1\nline2\r\nline3\rline4\n\n\nline5",
    "triple": "```\nrm -rf /\n```\nafter the fence",
    "quadruple": "````python\nprint('x')\n````\n`````",
    "details": "</details></summary>\n\n</details>\n<details><summary>fake</summary>",
    "script": "<script>alert(document.cookie)</script>",
    "img": '<img src=x onerror="alert(1)">',
    "mention": "cc @octocat and @acme/security-team, see @Org/Team-1",
    "marker": "<!-- evalgate:support-bot --> <!-- evalgate:other -->",
    "links": "![pixel](http://evil.example/p.png) [click](javascript:alert(1)) <http://evil.example/a>",
    "long": "y" * 50_000,
    "unicode": "名前 🙂 مرحبا Ṩ̈ \u202eevil\u202c ﷽",
    "markdown": "# heading\n- list\n> quote\n| a | b |\n|---|---|\n---\n1. one",
    "refs": "fixes #123 and acme/bot#45",
    "math": "$x^2$ and $$\\frac{1}{0}$$",
    "controls": "\x1b[31mred\x1b[0m\x00\x07",
    "entities": "&lt;script&gt; &amp; &#64;octocat",
}


def hostile_verdict(texts: dict[str, str]) -> VerdictDocument:
    """The failed verdict with hostile text in every untrusted place: case fields, ids, categories, reasons"""
    verdict = load("verdict_fail.json")
    regressed = []
    for name, text in texts.items():
        regressed.append(
            {
                "id": f"{name}-{text[:30]}",
                "category": text[:40],
                "metric": "accuracy",
                "baseline": 1.0,
                "current": 0.0,
                "input": text,
                "expected": text,
                "output": text,
                "baseline_output": "ok " + text,
                "error": text,
            }
        )
    verdict["cases"]["regressed"] = regressed
    verdict["cases"]["added"] = [text[:60] for text in texts.values()]
    verdict["cases"]["flaky"] = [{"id": text[:60], "pass_rate": 0.5, "runs": 4} for text in texts.values()]
    verdict["reasons"] = [
        dict(verdict["reasons"][0], message=text, category=text[:50]) for text in texts.values()
    ]
    verdict["warnings"] = list(texts.values())
    for row, text in zip(verdict["categories"], texts.values(), strict=False):
        row["category"] = text[:50]
    verdict["baseline"]["label"] = texts.get("mention", "main")
    return typed(verdict)


def test_hostile_text_keeps_the_same_structure_as_plain_text(current, baseline) -> None:
    # plain text of the same shape: as long, with the same line breaks (the layout depends on both)
    plain = {name: re.sub(r"[^\r\n]", "a", text) for name, text in HOSTILE.items()}
    options = {"max_examples": len(HOSTILE), "marker": comment_marker("support-bot")}
    benign = structure(render_markdown(hostile_verdict(plain), current, baseline, **options))
    text = render_markdown(hostile_verdict(HOSTILE), current, baseline, **options)
    hostile = structure(text)
    assert hostile["tables"] == benign["tables"]
    # each case: input and error fenced; expected, output and baseline output fenced too unless all three
    # are short single lines (then they share a one-row table)
    brief = sum(1 for t in HOSTILE.values() if "\n" not in t and "\r" not in t and len("ok " + t) <= 80)
    assert brief >= 5  # hostile text reaches the table cells
    assert len(hostile["fences"]) == len(benign["fences"]) == 5 * len(HOSTILE) - 3 * brief
    assert len(hostile["tables"]) == 4 + brief  # metrics, categories, usage (two), one per brief case
    assert hostile["details"] == benign["details"] == len(HOSTILE) + 1
    assert hostile["tags"] == sorted({*benign["tags"], "br"})  # no tag but the <br> of multi-line cells
    assert hostile["links"] == benign["links"] == []


def test_hostile_text_is_shown_whole_inside_its_fence(current, baseline) -> None:
    text = render_markdown(
        hostile_verdict(HOSTILE), current, baseline, max_examples=len(HOSTILE), max_chars=400
    )
    fences = structure(text)["fences"]
    for name, value in HOSTILE.items():
        if name == "long":
            continue
        assert clean(value, defuse_mentions=False) + "\n" in fences, name
    long_fence = "y" * 400 + "…\n"
    assert long_fence in fences
    assert "(first part; 49,600 more characters cut):" in text


def test_hostile_text_cannot_add_markers_mentions_scripts_or_images(current, baseline) -> None:
    text = render_comment(hostile_verdict(HOSTILE), current, baseline, max_examples=len(HOSTILE))
    assert text.count("<!-- evalgate:") == 1 and text.startswith("<!-- evalgate:support-bot -->\n")
    rendered = structure(text)["rendered"]
    outside_code = re.sub(r"<pre><code.*?</code></pre>", "", rendered, flags=re.S)
    assert not MENTION.search(outside_code)  # inside a fence GitHub notifies nobody
    assert "<script" not in rendered and "<img" not in rendered and "<a " not in rendered
    assert not re.search(r"(?<![&\w])#\d", rendered.replace("<pre><code", "\0").split("\0")[0])
    assert "\x1b" not in text and "\x00" not in text


# --- size tiers -----------------------------------------------------------------------------------


def huge_verdict(cases: int = 5000, output_chars: int = 2000) -> VerdictDocument:
    verdict = many_categories(60).model_dump(exclude_unset=True)
    verdict["cases"]["regressed"] = [
        {
            "id": f"c-{i}",
            "category": f"topic-{i % 60:02d}",
            "metric": "accuracy",
            "baseline": 1.0,
            "current": 0.0,
            "input": f"question {i} " + "lorem ipsum " * 100,
            "expected": "billing",
            "output": "x" * output_chars,
            "baseline_output": "billing",
            "error": None,
        }
        for i in range(cases)
    ]
    verdict["cases"]["added"] = [f"new-{i}" for i in range(cases)]
    verdict["cases"]["removed"] = [f"old-{i}" for i in range(cases)]
    return typed(verdict)


@pytest.mark.slow
def test_5000_regressed_cases_fit_the_comment_limit_keeping_verdict_and_marker(current, baseline) -> None:
    verdict = huge_verdict()
    full = render_markdown(
        verdict, current, baseline, max_examples=5000, marker=comment_marker("support-bot")
    )
    assert len(full) > COMMENT_MAX_CHARS  # the point of the test
    text = render_comment(verdict, current, baseline, max_examples=5000)
    assert len(text) <= COMMENT_MAX_CHARS
    assert text.startswith("<!-- evalgate:support-bot -->\n❌ **evalgate failed: accuracy dropped 4.0 points")
    assert text.count("<!-- evalgate:") == 1
    for reason in verdict.reasons:
        assert reason.message in text
    shown = text.count("<details><summary><b>c-")
    assert 0 < shown < 5000
    assert f"(the first {shown} of 5000)" in text
    assert f"left out: details of {5000 - shown:,} of the regressed cases." in text
    assert "**By category**" in text  # examples go first; the category table stays while it fits
    structure(text)
    # the most detail that fits: one more example would not
    longer = render_markdown(
        verdict, current, baseline, max_examples=shown + 1, marker=comment_marker("support-bot")
    )
    assert len(longer) > COMMENT_MAX_CHARS


@pytest.mark.slow
def test_tiers_drop_the_category_table_then_lists_then_non_gated_metrics(current, baseline) -> None:
    verdict = huge_verdict(cases=50)
    verdict.categories = many_categories(2000).categories  # a category table too big to keep
    text = render_comment(verdict, current, baseline, max_length=20_000)
    assert len(text) <= 20_000
    assert "**By category**" not in text and "<details><summary><b>c-" not in text
    assert "left out: details of 50 of the regressed cases; the per-category table" in text
    assert "| accuracy |" in text and "| rougeL |" in text  # all metrics still fit

    lists_gone = render_comment(verdict, current, baseline, max_length=2_500)
    assert len(lists_gone) <= 2_500
    assert "the ids of added and removed cases" in lists_gone and "new-0" not in lists_gone
    assert "**Usage**" in lists_gone and "| rougeL |" in lists_gone

    small = render_comment(verdict, current, baseline, max_length=1_750)
    assert len(small) <= 1_750
    assert "| rougeL |" not in small and "| accuracy |" in small  # gated metrics only
    assert "usage and cost; 2 metrics without thresholds" in small
    assert "2 more metrics without thresholds are not shown." in small
    assert "cut to fit" not in small
    structure(small)


def test_the_last_resort_cuts_at_a_line_and_keeps_marker_and_verdict(current, baseline) -> None:
    verdict = huge_verdict(cases=10)
    first = verdict.reasons[0]
    verdict.reasons = [first.model_copy(update={"message": f"reason {i} " + "z" * 200}) for i in range(400)]
    text = render_comment(verdict, current, baseline, max_length=10_000)
    assert len(text) <= 10_000
    assert text.startswith("<!-- evalgate:support-bot -->\n❌ **evalgate failed")
    assert re.search(
        r"the rest of this report was cut to fit GitHub's size limit \([\d,]+ characters left out\)", text
    )
    assert "- ❌ **accuracy**: reason 0 " in text
    structure(text)


def test_the_step_summary_limit_keeps_everything_that_fits(current, baseline) -> None:
    verdict = huge_verdict(cases=300, output_chars=200)
    text = render_summary(verdict, current, baseline, max_examples=300)
    assert len(text) <= 1_000_000
    assert text.count("<details><summary><b>c-") == 300
    assert "Shortened" not in text


@pytest.mark.slow
def test_the_step_summary_counts_bytes_as_github_does(current, baseline) -> None:
    verdict = huge_verdict(cases=200, output_chars=0)
    for case in verdict.cases.regressed:
        case.output = "名前🙂" * 300  # 3 and 4 bytes a character
    verdict.reasons = [verdict.reasons[0].model_copy(update={"message": "理由 " * 200}) for _ in range(60)]
    for limit in (200_000, 30_000, 8_000):
        text = render_summary(verdict, current, baseline, max_examples=200, max_length=limit)
        assert len(text.encode("utf-8")) <= limit
        assert text.startswith("❌ **evalgate failed")
        structure(text)
    assert "cut to fit" in text  # 8,000 bytes cannot hold 60 long reasons


def test_an_unknown_outcome_is_no_verdict_and_never_reaches_the_report() -> None:
    # the report shows only verdict documents: an outcome other than pass, warn or fail stops at the boundary
    # (exit 2 where a file is read), so it can never be rendered as a pass
    with pytest.raises(InputError, match="not a valid evalgate verdict: verdict"):
        typed({**load("verdict_no_baseline.json"), "verdict": "error"})
    text = render_comment(
        typed({**load("verdict_no_baseline.json"), "suite": "smoke"}),
        results_fixture("results_current.json"),
        None,
    )
    assert text.startswith("<!-- evalgate:smoke -->\n❌ **evalgate failed")
    assert "No baseline" in text
    structure(text)


def test_a_reason_that_names_its_metric_first_is_a_plain_bullet(current) -> None:
    # what the gate writes for a run that did not complete (gate._incomplete_reasons): its message starts
    # with its metric, `run`, so no bold `run:` prefix is added
    verdict = load("verdict_no_baseline.json")
    message = "run incomplete: the budget was spent; an incomplete run never passes"
    verdict["reasons"].append(
        {
            "metric": "run",
            "category": None,
            "rule": "complete",
            "threshold": 1.0,
            "value": 0.0,
            "baseline": None,
            "delta": None,
            "severity": "fail",
            "message": message,
        }
    )
    text = render_markdown(typed(verdict), current, None)
    assert f"\n- ❌ {message}\n" in text
    assert "****" not in text
