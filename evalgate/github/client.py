"""The GitHub REST client: PyGithub with retries on transient failures, and how its errors are told apart."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import requests
from github import Auth, Github, GithubException
from urllib3.util.retry import Retry

DEFAULT_API_URL = "https://api.github.com"
TRANSIENT_STATUS = (500, 502, 503, 504)


@dataclass(frozen=True)
class ClientSettings:
    """How hard to try: `retries` on 5xx and connection errors, with exponential `backoff` seconds (0 in tests)."""

    retries: int = 4
    backoff: float = 1.0
    timeout: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientSettings:
        """Overridable by EVALGATE_GITHUB_RETRIES / EVALGATE_GITHUB_BACKOFF (tests make backoff 0)."""
        env = os.environ if env is None else env
        try:
            return cls(
                retries=int(env.get("EVALGATE_GITHUB_RETRIES", cls.retries)),
                backoff=float(env.get("EVALGATE_GITHUB_BACKOFF", cls.backoff)),
            )
        except ValueError:
            return cls()


def api_url(env: Mapping[str, str] | None = None) -> str:
    """GITHUB_API_URL (GitHub Enterprise Server, a test server), else api.github.com."""
    return ((env if env is not None else os.environ).get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


def retry_policy(settings: ClientSettings) -> Retry:
    """Retry idempotent requests (GET, PATCH, ...) on 5xx; POST is not retried here (it could duplicate a comment):
    comment.py retries it after checking no comment was made."""
    return Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        backoff_factor=settings.backoff,
        status_forcelist=TRANSIENT_STATUS,
        allowed_methods=frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE", "OPTIONS"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def make_github(token: str, base_url: str | None = None, settings: ClientSettings | None = None) -> Github:
    """A PyGithub client for the Actions token, against GITHUB_API_URL (GitHub Enterprise Server or a test server)."""
    settings = settings or ClientSettings.from_env()
    return Github(
        auth=Auth.Token(token),
        base_url=base_url or api_url(),
        retry=retry_policy(settings),
        timeout=settings.timeout,
        per_page=100,
        lazy=True,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def is_transient(exc: BaseException) -> bool:
    """A GitHub outage or network failure (worth a retry or a warning, never a failed gate)."""
    if isinstance(exc, GithubException):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, requests.RequestException | ConnectionError | TimeoutError)


def is_forbidden(exc: BaseException) -> bool:
    """403/404 on a write: a read-only token (a fork's PR) or missing `permissions:`."""
    return isinstance(exc, GithubException) and exc.status in (401, 403, 404)


def describe(exc: BaseException) -> str:
    """One line about a GitHub API failure, for a ::warning::."""
    if isinstance(exc, GithubException):
        message = exc.message or (exc.data.get("message") if isinstance(exc.data, dict) else None) or ""
        return f"GitHub API answered {exc.status}{': ' + message if message else ''}"
    return f"GitHub API unreachable ({type(exc).__name__}: {exc})"
