"""The sticky PR comment: one per pull request per suite, found by its hidden marker and edited in place.

The marker is the first line of the body. Finding it pages through *all* the PR's comments (never `GET /user`,
which the Actions token may not call). A second hidden line carries a digest of the results, so the `on-change`
policy can tell a new result from a re-run of the same one.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests
from github import GithubException
from github.Issue import Issue
from github.IssueComment import IssueComment

from evalgate.contracts.verdict import MetricRow, VerdictDocument
from evalgate.github.client import is_transient
from evalgate.github.limits import COMMENT_MAX_CHARS

POLICIES = ("always", "on-change", "on-failure", "never")
CUT_NOTE = (
    f"\n\n---\n:scissors: The comment was cut to fit GitHub's {COMMENT_MAX_CHARS:,}-character limit; the full "
    "report is in the run{link}.\n"
)
_DIGEST_RE = re.compile(r"<!-- evalgate:digest:([0-9a-f]{16,64}) -->")


def _timing(metric: MetricRow) -> bool:
    """An ungated timing measure (latency, throughput: a key its family declares a timing, whose row carries
    how it was timed): it differs on every run, even of the same code."""
    return metric.status == "info" and metric.timing is not None


def results_digest(verdict: VerdictDocument) -> str:
    """A digest of what a reader of the comment cares about: the verdict, its reasons and the metric values
    (ungated timings left out, so a re-run of the same code is not a new result)."""
    keep = {
        "verdict": verdict.verdict,
        "headline": verdict.headline,
        "reasons": [reason.model_dump(exclude_unset=True) for reason in verdict.reasons],
        "metrics": [
            {
                key: getattr(m, key)
                for key in ("task", "metric", "category", "current", "baseline", "delta", "status")
            }
            for m in verdict.metrics
            if not _timing(m)
        ],
        "baseline": verdict.baseline.label,
    }
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:32]


def digest_of(body: str | None) -> str | None:
    match = _DIGEST_RE.search(body or "")
    return match.group(1) if match else None


def fit_body(
    body: str,
    marker: str,
    *,
    digest: str | None = None,
    run_url: str | None = None,
    limit: int = COMMENT_MAX_CHARS,
) -> str:
    """The comment as posted: the marker first, the digest line after it, and the whole within `limit` characters.

    The report module shortens by tiers; this is the last resort: cut at a line boundary and say so, always
    keeping the marker and the top of the report (where the verdict is).
    """
    content = body.replace(marker, "").strip("\n")
    head = marker + "\n" + (f"<!-- evalgate:digest:{digest} -->\n" if digest else "")
    text = head + content + "\n"
    if len(text) <= limit:
        return text
    note = CUT_NOTE.format(link=f" ({run_url})" if run_url else "")
    room = max(limit - len(head) - len(note), 0)
    kept = content[:room]
    if "\n" in kept[room // 2 :]:
        kept = kept[: kept.rindex("\n")]
    return (head + kept + note)[:limit]


def find_comment(issue: Issue, marker: str) -> IssueComment | None:
    """The first comment of the issue whose body starts with the marker, searching every page."""
    for comment in issue.get_comments():
        if (comment.body or "").lstrip().startswith(marker):
            return comment
    return None


@dataclass(frozen=True)
class CommentResult:
    """What happened on one PR: `created`, `updated`, `unchanged` or `skipped` (with why), and the comment's URL."""

    number: int
    action: str
    url: str | None = None
    reason: str = ""


def upsert_comment(
    issue: Issue,
    number: int,
    body: str,
    *,
    marker: str,
    policy: str,
    verdict: str,
    retries: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> CommentResult:
    """Create or edit the suite's comment on one PR according to the policy; the body must come from fit_body.

    - always: create, or edit whenever the body differs;
    - on-change: create, or edit only when the results (digest) differ from the comment's;
    - on-failure: create only on fail/warn, but always keep an existing comment up to date;
    - never: do nothing.
    POST is retried here on transient errors after checking the comment was not created after all.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown comment policy {policy!r}")
    if policy == "never":
        return CommentResult(number, "skipped", reason="comment: never")
    for attempt in range(retries + 1):
        existing = find_comment(issue, marker)
        if existing is not None:
            return _update(existing, number, body, policy)
        if policy == "on-failure" and verdict not in ("fail", "warn"):
            return CommentResult(
                number, "skipped", reason=f"comment: on-failure and the verdict is {verdict}"
            )
        try:
            created = issue.create_comment(body)
            return CommentResult(number, "created", created.html_url)
        except (GithubException, requests.RequestException) as exc:
            if not is_transient(exc) or attempt == retries:
                raise
        sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def _update(existing: IssueComment, number: int, body: str, policy: str) -> CommentResult:
    if existing.body == body:
        return CommentResult(number, "unchanged", existing.html_url, reason="the body is unchanged")
    if policy == "on-change" and digest_of(existing.body) and digest_of(existing.body) == digest_of(body):
        return CommentResult(
            number, "unchanged", existing.html_url, reason="comment: on-change and the results are unchanged"
        )
    existing.edit(body)
    return CommentResult(number, "updated", existing.html_url)


def unique_numbers(numbers: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(n for n in numbers if isinstance(n, int)))
