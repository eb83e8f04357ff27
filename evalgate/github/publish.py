"""Reporting back to GitHub: the step's outputs, the step summary, and the sticky comment on the PRs concerned.

A GitHub API failure here (a fork's read-only token, an outage) is a warning, never a failed gate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from github import Github, GithubException

from evalgate.contracts.verdict import VerdictDocument, parse_verdict
from evalgate.files.fileio import write_json_atomic
from evalgate.files.jsonio import load_json
from evalgate.github import actions_io as gha
from evalgate.github import comment
from evalgate.github.client import describe, is_forbidden
from evalgate.github.event import Event
from evalgate.github.sources import CONTEXT_FILE
from evalgate.outbound import redact

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def load_verdict(path: Path) -> VerdictDocument:
    """The engine's verdict file (docs/internals.md), checked once as a verdict document."""
    return parse_verdict(load_json(path, what="engine's verdict"), file=str(path))


def overall_metrics(verdict: VerdictDocument) -> dict[str, float | None]:
    """{metric: current value} of the overall (not per-category) metrics."""
    return {
        (f"{m.task}/{m.metric}" if m.task else m.metric): m.current
        for m in verdict.metrics
        if m.category is None
    }


def build_outputs(
    verdict: VerdictDocument, paths: Mapping[str, str], comment_url: str | None
) -> dict[str, str]:
    """The step's outputs: verdict, paths, a JSON summary, and one output per overall metric (accuracy, ...)."""
    metrics = overall_metrics(verdict)
    summary = {
        "suite": verdict.suite,
        "verdict": verdict.verdict,
        "headline": verdict.headline,
        "baseline": verdict.baseline.available,
        "reasons": [
            {
                "metric": r.metric,
                "category": r.category,
                "task": r.task,
                "severity": r.severity,
                "message": r.message,
            }
            for r in verdict.reasons
        ],
        "metrics": metrics,
    }
    outputs = {
        "verdict": verdict.verdict,
        "exit_code": str(verdict.exit_code),
        "headline": verdict.headline,
        **paths,
        "summary": json.dumps(summary, sort_keys=True),
        "metrics": json.dumps(metrics, sort_keys=True),
        "comment_url": comment_url or "",
    }
    for name, value in metrics.items():
        if _OUTPUT_NAME.match(name) and name not in outputs:
            outputs[name] = "" if value is None else str(value)
    return outputs


def summary_markdown(
    report: str, baseline_note: str, comment_note: str, results: list[comment.CommentResult]
) -> str:
    """The step summary: the report, then where the baseline came from and what happened to the comment."""
    lines = [report.rstrip(), "", f"<sub>evalgate: {baseline_note}."]
    for result in results:
        lines.append(
            f" PR #{result.number}: comment {result.action}{' (' + result.reason + ')' if result.reason else ''}."
        )
    if comment_note:
        lines.append(f" Comment {comment_note}.")
    return "\n".join(lines) + "</sub>\n"


def verified_pr_numbers(event: Event, context: Mapping[str, Any], gh: Github) -> list[int]:
    """The PRs to comment on in the second stage. The triggering run's own list (GitHub's, trusted) when it has one;
    a fork's PR is missing there, so the uploaded context names it, and it is only used when that PR's head really
    is the commit the triggering run tested."""
    if event.pr_numbers:
        return list(event.pr_numbers)
    number = context.get("pr_number")
    if not isinstance(number, int):
        return []
    pull = gh.get_repo(event.repository).get_pull(number)
    if pull.head.sha != event.head_sha:
        gha.warning(
            f"the uploaded context names PR #{number}, whose head is not {event.head_sha[:7]}: no comment"
        )
        return []
    return [number]


def comment_targets(event: Event, gh: Github, context: Mapping[str, Any]) -> list[int]:
    """The PRs this run's comment belongs on: the PR; the open PRs of a pushed commit; the verified PR of stage 2."""
    if event.mode == "pull_request":
        return [event.pr_number] if event.pr_number else []
    if event.mode == "push_other":
        commit = gh.get_repo(event.repository).get_commit(event.head_sha)
        return [p.number for p in commit.get_pulls() if p.state == "open"]
    if event.mode == "workflow_run":
        return verified_pr_numbers(event, context, gh)
    return []


def post_comments(
    gh: Github | None,
    event: Event,
    context: Mapping[str, Any],
    body: str,
    marker: str,
    policy: str,
    verdict: str,
) -> tuple[list[comment.CommentResult], str]:
    """Post or update the sticky comment on every PR concerned; a GitHub failure is a warning, never a failure."""
    if policy == "never" or event.mode in ("push_base", "other"):
        return [], ""
    if gh is None:
        gha.warning("no github_token: the comment was not posted")
        return [], "not posted: no github_token"
    results = []
    body = redact(body)
    try:
        numbers = comment.unique_numbers(comment_targets(event, gh, context))
        repo = gh.get_repo(event.repository)
        for number in numbers:
            results.append(
                comment.upsert_comment(
                    repo.get_issue(number), number, body, marker=marker, policy=policy, verdict=verdict
                )
            )
    except (GithubException, requests.RequestException) as exc:  # a GitHub failure never fails the gate
        hint = (
            " The token is read-only (a pull request from a fork?): see the two-workflow pattern in docs/workflows.md."
            if is_forbidden(exc)
            else ""
        )
        gha.warning(
            f"evalgate could not post the PR comment: {describe(exc)}.{hint} The report is in the step summary."
        )
        return results, f"not posted: {describe(exc)}"
    return results, ""


def write_context(out: Path, event: Event, suite: str) -> None:
    """What the fork-safe second stage needs to know about this run (uploaded with the results)."""
    data = {
        "event": event.name,
        "mode": event.mode,
        "repository": event.repository,
        "pr_number": event.pr_number,
        "head_sha": event.head_sha,
        "base_sha": event.base_sha,
        "base_branch": event.base_branch,
        "suite": suite,
    }
    write_json_atomic(out / CONTEXT_FILE, data)
