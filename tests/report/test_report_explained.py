"""A regressed case explains itself in every output a reviewer reads (markdown, HTML, the PR comment): the judge's
scores and reasoning, the claims factual consistency found unsupported, the failed assertions, and the raw output
beside the transformed one; hostile or huge explanations are escaped and clipped like every other user text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from reportkit import load, typed

from evalgate.contracts.results import CaseRecord
from evalgate.contracts.verdict import VerdictDocument
from evalgate.explain import explanation
from evalgate.github.limits import COMMENT_MAX_CHARS
from evalgate.report.render import render_comment, render_html, render_markdown

REASONING = "The answer names the wrong team; the customer asked about a double charge."
CLAIM = "the invoice was paid by card"


def explained(**changes: Any) -> VerdictDocument:
    """verdict_fail.json with c-17 (the most regressed case) explained as a judged, asserted, transformed run."""
    verdict = load("verdict_fail.json")
    for entry in verdict["cases"]["regressed"]:
        if entry["id"] == "c-17":
            entry.update(
                raw_output="Intent: account",
                failed_assertions=[
                    {
                        "type": "contains",
                        "value": "billing",
                        "pass": False,
                        "reason": "'billing' is not in the output",
                    }
                ],
                judge={"scores": {"helpfulness": 2, "accuracy": 1.5}, "reasoning": REASONING, "error": None},
                factual={
                    "unsupported": [CLAIM],
                    "reasoning": "the source says nothing of a card",
                    "error": None,
                },
            )
            entry.update(changes)
    return typed(verdict)


def case_block(text: str, case_id: str = "c-17") -> str:
    start = text.index(f"<b>{case_id}</b>")
    return text[start : text.index("</details>", start)]


def test_the_markdown_case_shows_why_it_regressed(current, baseline) -> None:
    block = case_block(render_markdown(explained(), current, baseline))
    assert "| Expected | Output | Raw output (before the transform) | Baseline output |" in block
    assert "| billing | account | Intent: account | billing |" in block
    assert "Failed assertions:\n\n```text\ncontains billing: 'billing' is not in the output\n```" in block
    assert f"Judge:\n\n```text\nhelpfulness 2, accuracy 1.5\n{REASONING}\n```" in block
    assert (
        f"Factual consistency:\n\n```text\nUnsupported claims:\n- {CLAIM}\nthe source says nothing" in block
    )


def test_the_comment_and_the_html_show_it_too(current, baseline) -> None:
    comment = case_block(render_comment(explained(), current, baseline))
    assert REASONING in comment and CLAIM in comment and "contains billing" in comment
    page = render_html(explained(), current, baseline)
    block = case_block(page)
    assert f"<p>Judge:</p>\n<pre>helpfulness 2, accuracy 1.5\n{REASONING}</pre>" in block
    assert "<th>Raw output (before the transform)</th>" in block and "<code>Intent: account</code>" in block
    assert f"- {CLAIM}" in block and "contains billing: &#39;billing&#39; is not in the output" in block


def test_the_raw_output_is_left_out_when_the_transform_changed_nothing(current, baseline) -> None:
    block = case_block(render_markdown(explained(raw_output=None), current, baseline))
    assert "Raw output" not in block and "| billing | account | billing |" in block


HOSTILE = (
    "</details><script>alert(1)</script> ``` |a|b| [x](https://evil.example) @octocat #12\n"
    "::error title=pwned::the gate passed\n##[warning]old style\x1b[31m"
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.add(tag)


FENCED = re.compile(r"^(`{3,})text\n(.*?)\n\1$", flags=re.M | re.S)


def test_hostile_reasoning_stays_inside_its_code_block(current, baseline) -> None:
    verdict = explained(
        judge={"scores": {HOSTILE: 1}, "reasoning": HOSTILE, "error": None},
        factual={"unsupported": [HOSTILE], "reasoning": None, "error": None},
        failed_assertions=[{"type": HOSTILE, "value": HOSTILE, "pass": False, "reason": HOSTILE}],
    )
    text = render_markdown(verdict, current, baseline)
    block = text[text.index("<b>c-17</b>") : text.index("<b>c-208</b>")]
    # every hostile text is inside a fence longer than its own backtick run: GitHub renders none of it
    inside = "".join(body for _, body in FENCED.findall(block))
    assert inside.count("<script>") >= 4 and inside.count("::error title=pwned::") >= 4
    outside = FENCED.sub("", text)
    plain = FENCED.sub("", render_markdown(explained(), current, baseline))
    assert outside.count("<details>") == plain.count("<details>")  # the case blocks keep their structure
    assert outside.count("</details>") == plain.count("</details>")
    assert "<script>" not in outside and "::error" not in outside and "@octocat" not in outside
    assert "\x1b" not in text and "\\x1b[31m" in inside  # the control character shown, not sent
    page = render_html(verdict, current, baseline)
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "&lt;/details&gt;&lt;script&gt;" in page


def test_a_huge_reasoning_is_clipped_like_an_output(current, baseline) -> None:
    huge = "word " * 100_000
    text = render_markdown(
        explained(judge={"scores": {"accuracy": 1}, "reasoning": huge}), current, baseline, max_chars=400
    )
    block = case_block(text)
    judge = block[block.index("Judge (first part;") :]
    assert len(judge) < 1_000 and "more characters cut)" in judge.split("\n")[0]


def test_a_case_lists_twenty_failed_assertions_and_claims_and_counts_the_rest(current, baseline) -> None:
    failed = [
        {"type": "contains", "value": f"word{k}", "pass": False, "reason": f"'word{k}' is not in the output"}
        for k in range(2_000)
    ]
    claims = [f"claim number {k}" for k in range(25)]
    text = render_markdown(
        explained(failed_assertions=failed, factual={"unsupported": claims, "reasoning": "", "error": None}),
        current,
        baseline,
        max_chars=100_000,
    )
    block = case_block(text)
    assert "contains word19: 'word19' is not in the output" in block and "word20" not in block
    assert "… and 1,980 more failed assertions" in block
    assert "- claim number 19" in block and "claim number 20" not in block
    assert "… and 5 more unsupported claims" in block


@pytest.mark.slow
def test_the_comment_of_many_huge_explanations_fits_githubs_limit(current, baseline) -> None:
    data = load("verdict_fail.json")
    template = data["cases"]["regressed"][0]
    data["cases"]["regressed"] = [
        dict(
            template,
            id=f"case-{i}",
            raw_output="R" * 50_000,
            judge={"scores": {f"criterion-{k}": k for k in range(200)}, "reasoning": "why " * 50_000},
            factual={"unsupported": [f"claim {k} " * 20 for k in range(2_000)], "reasoning": "x"},
            failed_assertions=[{"type": "contains", "value": "v" * 500, "pass": False, "reason": "no"}]
            * 2_000,
        )
        for i in range(300)
    ]
    verdict = typed(data)
    comment = render_comment(verdict, current, baseline, max_examples=300, max_chars=4_000)
    assert len(comment) <= COMMENT_MAX_CHARS
    assert comment.startswith("<!-- evalgate:support-bot -->\n❌ **evalgate failed")
    assert "details of" in comment.split("\n\n")[1] or "Shortened to fit" in comment  # says what it left out
    first = case_block(comment, "case-0")
    assert "Judge" in first and "why why" in first  # the cases it keeps still explain themselves


def test_an_explanation_from_a_hostile_results_file_is_never_a_crash(current, baseline) -> None:
    record = CaseRecord.model_validate(
        {
            "id": "c",
            "category": "x",
            "scores": {},
            "error": None,
            "judge": "not a mapping",
            "factual": {"claims": [{"claim": "kept"}, "a string", {"supported": True, "claim": "fine"}]},
            "assert": "not a list",
            "assertion_results": [{"pass": False}],
            "extra": ["not", "a", "mapping"],
        }
    )
    found = explanation(record)
    assert found == {"factual": {"unsupported": ["kept"], "reasoning": None, "error": None}}
    verdict = explained(
        judge={"scores": {"accuracy": "high", "depth": None}, "reasoning": {"nested": [1, 2]}},
        factual={"unsupported": "not a list", "reasoning": 3},
        failed_assertions=[{"type": "contains"}],
    )
    block = case_block(render_markdown(verdict, current, baseline))
    assert 'Judge:\n\n```text\naccuracy high, depth \n{"nested": [1, 2]}\n```' in block
    assert "Factual consistency:\n\n```text\n3\n```" in block
    assert "Failed assertions:\n\n```text\ncontains: failed\n```" in block
