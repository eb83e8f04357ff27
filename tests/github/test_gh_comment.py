"""The sticky comment against the fake GitHub API through the real PyGithub: found on any page, edited in place."""

from __future__ import annotations

import pytest
from fake_github import FakeGitHub
from ghkit import REPO, TOKEN, verdict_doc
from github import GithubException

from evalgate.contracts.verdict import MetricRow, VerdictDocument
from evalgate.github import comment
from evalgate.github.client import ClientSettings, make_github
from evalgate.github.limits import COMMENT_MAX_CHARS
from evalgate.metrics.registry import facts_of
from evalgate.report.render import comment_marker

MARKER = comment_marker("digits")


def client(fake: FakeGitHub):
    return make_github(TOKEN, fake.url, ClientSettings(retries=3, backoff=0))


def body_for(verdict: VerdictDocument, extra: str = "") -> str:
    return comment.fit_body(f"## {verdict.headline}\n{extra}", MARKER, digest=comment.results_digest(verdict))


def upsert(fake: FakeGitHub, body: str, policy: str = "always", verdict: str = "fail", number: int = 5):
    issue = client(fake).get_repo(REPO).get_issue(number)
    return comment.upsert_comment(
        issue, number, body, marker=MARKER, policy=policy, verdict=verdict, backoff=0
    )


def test_marker_is_a_safe_html_comment() -> None:
    assert comment_marker("support-bot") == "<!-- evalgate:support-bot -->"
    hostile = comment_marker("a --> b")
    inner = hostile.removeprefix("<!-- ").removesuffix(" -->")
    assert "--" not in inner and ">" not in inner and inner.startswith("evalgate:a")


def test_first_run_creates_and_the_next_updates_in_place(fake: FakeGitHub) -> None:
    fake.add_comment(5, "LGTM")
    first = upsert(fake, body_for(verdict_doc("fail")))
    assert first.action == "created" and first.url.endswith(f"#issuecomment-{fake.comments[5][1]['id']}")
    second = upsert(fake, body_for(verdict_doc("pass", accuracy=0.95)))
    assert second.action == "updated"
    ours = [c for c in fake.comments[5] if c["body"].startswith(MARKER)]
    assert len(ours) == 1 and "0.95" in ours[0]["body"]
    assert not fake.calls("GET", r"^/user$")


def test_the_marker_is_found_beyond_the_first_hundred_comments(fake: FakeGitHub) -> None:
    for i in range(230):
        fake.add_comment(5, f"chatter {i} mentioning evalgate")
    ours = fake.add_comment(5, body_for(verdict_doc("fail")), login="github-actions[bot]")
    for i in range(20):
        fake.add_comment(5, f"later {i}")
    result = upsert(fake, body_for(verdict_doc("warn", accuracy=0.89)))
    assert result.action == "updated"
    assert len(fake.comments[5]) == 251 and "0.89" in ours["body"]
    pages = [r.query.get("page", ["1"])[0] for r in fake.calls("GET", r"/issues/5/comments$")]
    assert pages == ["1", "2", "3"]
    assert not fake.calls("POST", r"/comments$")


def test_a_quoted_marker_in_someone_elses_reply_is_not_ours(fake: FakeGitHub) -> None:
    fake.add_comment(5, f"> {MARKER}\n> the bot said this")
    assert upsert(fake, body_for(verdict_doc())).action == "created"
    assert len(fake.comments[5]) == 2


def test_an_unchanged_body_is_not_written_again(fake: FakeGitHub) -> None:
    body = body_for(verdict_doc("fail"))
    upsert(fake, body)
    assert upsert(fake, body).action == "unchanged"
    assert not fake.calls("PATCH", r"/issues/comments/")


def test_on_change_edits_only_when_the_results_differ(fake: FakeGitHub) -> None:
    upsert(fake, body_for(verdict_doc("fail"), "run 1"), policy="on-change")
    again = upsert(fake, body_for(verdict_doc("fail"), "run 2"), policy="on-change")
    assert again.action == "unchanged" and "run 1" in fake.comments[5][0]["body"]
    changed = upsert(fake, body_for(verdict_doc("fail", accuracy=0.8), "run 3"), policy="on-change")
    assert changed.action == "updated" and "run 3" in fake.comments[5][0]["body"]
    # `always` refreshes the run link even for the same results
    assert upsert(fake, body_for(verdict_doc("fail", accuracy=0.8), "run 4")).action == "updated"


def test_on_failure_creates_only_on_fail_or_warn_but_keeps_an_existing_comment_current(
    fake: FakeGitHub,
) -> None:
    assert (
        upsert(fake, body_for(verdict_doc("pass")), policy="on-failure", verdict="pass").action == "skipped"
    )
    assert 5 not in fake.comments
    assert (
        upsert(fake, body_for(verdict_doc("warn")), policy="on-failure", verdict="warn").action == "created"
    )
    fixed = upsert(fake, body_for(verdict_doc("pass")), policy="on-failure", verdict="pass")
    assert fixed.action == "updated" and "(pass)" in fake.comments[5][0]["body"]


def test_never_makes_no_request(fake: FakeGitHub) -> None:
    assert upsert(fake, body_for(verdict_doc()), policy="never").action == "skipped"
    assert fake.requests == []


def test_a_body_too_long_is_cut_keeping_marker_and_verdict_and_github_accepts_it(fake: FakeGitHub) -> None:
    verdict = verdict_doc("fail")
    long_report = f"## FAIL: {verdict.headline}\n" + "".join(
        f"| case-{i} | {'x' * 80} |\n" for i in range(2000)
    )
    body = comment.fit_body(
        long_report, MARKER, digest=comment.results_digest(verdict), run_url="https://run/1"
    )
    assert len(body) <= COMMENT_MAX_CHARS
    assert body.startswith(MARKER + "\n") and "## FAIL" in body and "https://run/1" in body
    assert upsert(fake, body).action == "created"
    assert fake.comments[5][0]["body"] == body


def test_fit_body_moves_the_marker_first_and_never_exceeds_a_small_limit() -> None:
    body = comment.fit_body("report\n" + MARKER + "\nend", MARKER, digest="ab" * 8)
    assert body.count(MARKER) == 1 and body.startswith(MARKER + "\n<!-- evalgate:digest:abababababababab -->")
    assert comment.digest_of(body) == "ab" * 8
    tiny = comment.fit_body("y" * 500, MARKER, limit=300)
    assert len(tiny) <= 300 and tiny.startswith(MARKER)


def test_transient_5xx_on_reads_and_edits_are_retried(fake: FakeGitHub) -> None:
    upsert(fake, body_for(verdict_doc("fail")))
    fake.fail("GET", r"/issues/5/comments$", 502, times=2)
    fake.fail("PATCH", r"/issues/comments/", 503, times=1)
    assert upsert(fake, body_for(verdict_doc("pass"))).action == "updated"
    assert len(fake.calls("PATCH", r"/issues/comments/")) == 2


def test_a_failed_post_is_retried_only_after_checking_it_was_not_made(fake: FakeGitHub) -> None:
    fake.fail("POST", r"/issues/5/comments$", 500, times=2)
    assert upsert(fake, body_for(verdict_doc())).action == "created"
    assert len(fake.calls("POST", r"/comments$")) == 3 and len(fake.comments[5]) == 1
    assert len(fake.calls("GET", r"/issues/5/comments$")) == 3


def test_a_forbidden_write_is_raised_for_the_caller_to_warn(fake: FakeGitHub) -> None:
    fake.fail("POST", r"/comments$", 403, times=5)
    with pytest.raises(GithubException) as caught:
        upsert(fake, body_for(verdict_doc()))
    assert caught.value.status == 403 and len(fake.calls("POST", r"/comments$")) == 1


def test_an_outage_gives_up_after_the_retries(fake: FakeGitHub) -> None:
    fake.fail("GET", r"/issues/5/comments$", 503, times=100)
    with pytest.raises(GithubException) as caught:
        upsert(fake, body_for(verdict_doc()))
    assert caught.value.status == 503
    assert len(fake.calls("GET", r"/issues/5/comments$")) == 4  # the first try and 3 retries


def test_the_digest_ignores_ungated_timings_but_not_gated_ones_nor_quality_metrics() -> None:
    def with_metric(name: str, value: float, status: str = "info") -> VerdictDocument:
        """A verdict row as the pairing writes it: a key its family declares a timing carries how it was timed."""
        facts = facts_of(name)
        timed = {"current": {"n": 5, "fresh": 5, "measured": True}} if facts and facts.timing else None
        verdict = verdict_doc("pass")
        verdict.metrics.append(
            MetricRow(
                metric=name,
                kind="continuous",
                higher_is_better=True,
                current=value,
                status=status,
                timing=timed,
            )
        )
        return verdict

    digest = comment.results_digest
    assert digest(with_metric("latency_p95_ms", 0.2)) == digest(with_metric("latency_p95_ms", 0.4))
    assert digest(with_metric("tokens_per_s", 10.0)) == digest(with_metric("tokens_per_s", 12.0))
    # the old prefix rule missed this timing, and took any key named latency_... for one
    assert digest(with_metric("generation_tokens_per_s", 50.0)) == digest(
        with_metric("generation_tokens_per_s", 60.0)
    )
    assert digest(with_metric("latency_budget_ok", 0.8)) != digest(with_metric("latency_budget_ok", 0.9))
    assert digest(with_metric("latency_p95_ms", 0.2, "pass")) != digest(
        with_metric("latency_p95_ms", 0.4, "pass")
    )
    assert digest(with_metric("f1", 0.8)) != digest(with_metric("f1", 0.9))
