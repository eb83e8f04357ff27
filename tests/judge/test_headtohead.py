"""Head-to-head judging in both orders against a local Messages API server, through the real anthropic SDK."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from evalgate.contracts.headtohead import parse_head_to_head
from evalgate.judge.headtohead import compare_players, pair_results_files, render_markdown
from evalgate.judge.pairwise import Entry, Player
from tests.gatekit import make_results

from .fake_anthropic import user_text


def answers_of(prompt: str) -> tuple[str, str]:
    first = re.search(r"<answer_1>\n(.*?)\n</answer_1>", prompt, re.S).group(1)
    second = re.search(r"<answer_2>\n(.*?)\n</answer_2>", prompt, re.S).group(1)
    return first, second


def reply(first: float, second: float, reasoning: str = "compared") -> str:
    return json.dumps({"scores": {"answer_1": first, "answer_2": second}, "reasoning": reasoning})


def quality_judge(request) -> str:
    """A fair judge: an answer's score is the number written in it ("q=80")."""
    first, second = answers_of(user_text(request))
    score = lambda text: float(re.search(r"q=(\d+)", text).group(1))  # noqa: E731
    return reply(score(first), score(second))


def players(a_scores, b_scores, a_errors=None, b_errors=None):
    ids = [f"c{i}" for i in range(len(a_scores))]
    entries = [
        Entry(case_id, f"question {case_id}", "truth", "typical" if i % 2 else "edge")
        for i, case_id in enumerate(ids)
    ]

    def answers(scores, errors):
        errors = errors or {}
        return {
            case_id: {"output": None if case_id in errors else f"answer q={s}", "error": errors.get(case_id)}
            for case_id, s in zip(ids, scores, strict=True)
        }

    return entries, [Player("A", answers(a_scores, a_errors)), Player("B", answers(b_scores, b_errors))]


def compare(suite, entries, contestants, **options):
    """The head-to-head document of the real comparison, held to its contract (evalgate/contracts/headtohead.py)
    as `--json` writes it."""
    document = asyncio.run(compare_players(suite, entries, contestants, resamples=200, **options))
    written = json.loads(json.dumps(document.model_dump(mode="json", exclude_unset=True)))
    assert (
        parse_head_to_head(written, file="compare.json") == document
    )  # what --json writes reads back the same
    return document


def test_a_judge_biased_to_the_first_answer_gives_only_ties(suite, stub):
    stub.responder = lambda request: reply(90, 40, "the first one is better")
    entries, contestants = players([80] * 6, [20] * 6)
    document = compare(suite, entries, contestants)
    (pair,) = document.pairs
    assert (pair.wins_a, pair.wins_b, pair.ties, pair.n) == (0, 0, 6, 6)
    assert pair.position_consistency == 0.0
    assert len(stub.requests) == 12  # every case judged in both orders
    case = document.cases[0]
    assert [order["first"] for order in case.orders] == ["A", "B"]
    assert [order["winner"] for order in case.orders] == ["A", "B"]
    assert case.winner == "tie" and case.reason == "orders disagree: tie"


def test_a_fair_judge_gives_wins_win_rates_and_ratings(suite, stub):
    stub.responder = quality_judge
    entries, contestants = players([80, 80, 80, 30, 70, 60], [20, 20, 20, 90, 68, 60])
    document = compare(suite, entries, contestants)
    (pair,) = document.pairs
    assert (pair.wins_a, pair.wins_b, pair.ties) == (
        3,
        1,
        2,
    )  # 70 vs 68 is within the 5-point margin
    assert pair.position_consistency == 1.0
    assert pair.win_rate_a.value == pytest.approx(0.5)
    assert pair.win_rate_a.ci_low < 0.5 < pair.win_rate_a.ci_high
    assert pair.score_a == pytest.approx(4 / 6)
    ratings = document.ratings.players
    # 3 wins, 1 loss, 2 ties = 4 points to 2: P(A beats B) = 2/3
    assert ratings["A"].rating - ratings["B"].rating == pytest.approx(400 * __import__("math").log10(2))
    assert list(ratings) == ["A", "B"]
    assert ratings["A"].ci_low <= ratings["A"].rating <= ratings["A"].ci_high
    assert {c: rows[0].n for c, rows in document.categories.items()} == {"edge": 3, "typical": 3}
    assert document.judge.usage["calls"] == 12


def test_the_tie_margin_is_configurable(suite, stub):
    stub.responder = quality_judge
    entries, contestants = players([70], [68])
    assert compare(suite, entries, contestants).pairs[0].ties == 1
    assert compare(suite, entries, contestants, margin=0.01).pairs[0].wins_a == 1


def test_errored_answers_lose_without_judging_and_judge_failures_are_left_out(suite, stub):
    def respond(request):
        first, second = answers_of(user_text(request))
        if "q=13" in first + second:
            return "no idea"
        return quality_judge(request)

    stub.responder = respond
    entries, contestants = players(
        [50, 50, 50, 13],
        [50, 50, 50, 50],
        a_errors={"c0": "Timeout", "c2": "boom"},
        b_errors={"c1": "HTTP 500", "c2": "boom"},
    )
    document = compare(suite, entries, contestants)
    (pair,) = document.pairs
    assert (pair.wins_a, pair.wins_b, pair.ties, pair.n) == (1, 1, 1, 3)
    assert pair.judge_errors == 1 and pair.errored_answers == 3
    reasons = {case.id: case.reason for case in document.cases}
    assert reasons == {"c0": "A errored", "c1": "B errored", "c2": "both errored", "c3": "judge failed"}
    # only c3 reached the judge: two orders, each with one repair attempt
    assert len(stub.requests) == 4


def test_three_players_round_robin(suite, stub):
    stub.responder = quality_judge
    entries = [Entry(f"c{i}", f"q{i}") for i in range(6)]
    levels = {
        "strong": [90, 90, 90, 90, 40, 90],
        "middle": [60, 60, 60, 95, 60, 60],
        "weak": [20, 70, 20, 20, 20, 20],
    }
    contestants = [
        Player(name, {f"c{i}": {"output": f"q={s}", "error": None} for i, s in enumerate(scores)})
        for name, scores in levels.items()
    ]
    document = compare(suite, entries, contestants)
    assert [(p.a, p.b) for p in document.pairs] == [
        ("strong", "middle"),
        ("strong", "weak"),
        ("middle", "weak"),
    ]
    assert list(document.ratings.players) == ["strong", "middle", "weak"]
    assert document.ratings.regularized is False
    assert len(stub.requests) == 6 * 3 * 2


def test_results_files_are_paired_by_id_and_rendered(suite, stub, tmp_path):
    def results(label, outputs):
        document = make_results(
            {"exact_match": [0.0] * len(outputs)}, ids=list(outputs), categories=["typical"] * len(outputs)
        )
        for case, output in zip(document["cases"], outputs.values(), strict=True):
            case.update(input=f"question {case['id']}", expected="truth", output=output)
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps({**document, "label": label}))
        return path

    path_a = results("main", {"c1": "q=90", "c2": "q=90", "c3": "q=10"})
    path_b = results("pr-7", {"c1": "q=20", "c2": "q=40", "c4": "q=50"})
    entries, contestants, warnings = pair_results_files(path_a, path_b)
    assert [e.id for e in entries] == ["c1", "c2"]
    assert warnings == ["2 case(s) are in only one of the two files and were left out"]
    stub.responder = quality_judge
    document = compare(suite, entries, contestants, warnings=warnings)
    assert document.pairs[0].wins_a == 2
    markdown = render_markdown(document)
    assert markdown.startswith("# Head-to-head: main vs pr-7")
    assert "| main | pr-7 | 2 | 2 | 0 | 0 | 100% (34.2%–100%) | 0% (0%–65.8%) | 100% |" in markdown
    assert "one virtual tie per pair" in markdown  # a clean sweep
    assert "2 case(s) are in only one of the two files" in markdown
    assert "<code>c1</code> (typical): main wins over pr-7" in markdown


def test_the_source_document_is_shown_in_both_orders(suite, stub):
    stub.responder = quality_judge
    entries, contestants = players([80], [20])
    entries = [Entry(entries[0].id, entries[0].input, None, "typical", "Plans: Free has 5 GB.")]
    compare(suite, entries, contestants)
    for prompt in stub.prompts():
        assert "<source_document>\nPlans: Free has 5 GB.\n</source_document>" in prompt
        assert "taking the source document as the truth" in prompt
        assert "<reference_answer>" not in prompt


def test_untrusted_text_in_the_markdown_is_inert(suite, stub):
    hostile = "q=90 ![x](https://tracker.example/x.png) **loud** @team #12 </details> | cell"
    stub.responder = lambda request: reply(*[float(a[2:4]) for a in answers_of(user_text(request))], "@judge")
    entries = [Entry("c|1", "question", None, "edge|case")]
    contestants = [
        Player("main|x", {"c|1": {"output": hostile, "error": None}}),
        Player("pr", {"c|1": {"output": "q=10", "error": None}}),
    ]
    markdown = render_markdown(compare(suite, entries, contestants, warnings=["label `x` | y"]))
    assert "| main\\|x | pr | 1 | 1 | 0 | 0 |" in markdown  # a pipe in a name keeps the table's columns
    assert "<code>c|1</code> (edge|case): main|x wins over pr" in markdown
    assert (
        "**main\\|x:** q=90 !\\[x\\](https://tracker.example/x.png) \\*\\*loud\\*\\* @\u200bteam #\u200b12 "
        "&lt;/details&gt; \\| cell" in markdown
    )
    assert "@\u200bjudge" in markdown
    assert "- label \\`x\\` \\| y" in markdown
    assert "![x]" not in markdown and "</details> |" not in markdown
