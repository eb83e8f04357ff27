"""A stand-in for the GitHub REST API on 127.0.0.1: a threaded http.server with in-memory state.

It serves what evalgate calls: issue comments (Link-header pagination, 100 a page at most), creating and editing
comments, the PRs of a commit, a PR, workflow runs (of the repository and of one workflow) with their artifacts,
and artifact downloads answered by a 302 to a second server (another port, like GitHub's blob storage) that refuses
requests carrying an Authorization header. Failures can be injected per method and path. `GET /user` always
answers 403, as it does for the Actions token. Every request is logged.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from httpkit import LocalServer

FORBIDDEN = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest",
}


@dataclass
class Failure:
    method: str
    pattern: str
    status: int
    times: int
    body: dict[str, Any] = field(default_factory=lambda: {"message": "Server Error"})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class FakeGitHub:
    """Start with `with FakeGitHub() as gh:`; `gh.url` is the API base URL for GITHUB_API_URL."""

    def __init__(self, repository: str = "octo/repo", token: str = "ghs_faketoken") -> None:
        self.repository = repository
        self.token = token
        self.lock = threading.Lock()
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.commit_pulls: dict[str, list[int]] = {}
        self.runs: list[dict[str, Any]] = []
        self.artifacts: dict[int, list[dict[str, Any]]] = {}
        self.archives: dict[int, bytes] = {}
        self.workflows: dict[str, int] = {}
        self.failures: list[Failure] = []
        self.requests: list[Request] = []
        self.blob_requests: list[Request] = []
        self._next_id = 1000
        self.api = LocalServer(_handler(self, self._api))
        self.blob = LocalServer(_handler(self, self._blob, blob=True))

    # ------------------------------------------------------------ lifecycle and helpers
    def __enter__(self) -> FakeGitHub:
        self.api.start()
        self.blob.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()
        self.blob.close()

    @property
    def url(self) -> str:
        return self.api.base_url

    @property
    def blob_url(self) -> str:
        return self.blob.base_url

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def fail(
        self, method: str, pattern: str, status: int, times: int = 1, message: str | None = None
    ) -> None:
        """The next `times` requests METHOD matching the path regex answer `status`."""
        body = FORBIDDEN if status == 403 and message is None else {"message": message or "Server Error"}
        self.failures.append(Failure(method, pattern, status, times, body))

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # ------------------------------------------------------------ state builders
    def add_comment(self, number: int, body: str, login: str = "someone") -> dict[str, Any]:
        comment_id = self.new_id()
        comment = {
            "id": comment_id,
            "body": body,
            "user": {"login": login, "type": "User" if login != "github-actions[bot]" else "Bot"},
            "url": f"{self.url}/repos/{self.repository}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{self.repository}/pull/{number}#issuecomment-{comment_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def add_pull(self, number: int, head_sha: str, state: str = "open", head_repo: str | None = None) -> None:
        self.pulls[number] = {
            "number": number,
            "state": state,
            "url": f"{self.url}/repos/{self.repository}/pulls/{number}",
            "head": {
                "sha": head_sha,
                "ref": f"feature-{number}",
                "repo": {"full_name": head_repo or self.repository},
            },
            "base": {"sha": "b" * 40, "ref": "main", "repo": {"full_name": self.repository}},
        }
        self.commit_pulls.setdefault(head_sha, []).append(number)

    def add_run(
        self,
        *,
        head_sha: str,
        branch: str = "main",
        event: str = "push",
        conclusion: str = "success",
        head_repo: str | None = None,
        workflow_id: int = 7,
        created_at: str = "2026-11-20T10:00:00Z",
        run_id: int | None = None,
    ) -> dict[str, Any]:
        run_id = run_id or self.new_id()
        base = f"{self.url}/repos/{self.repository}/actions/runs/{run_id}"
        run = {
            "id": run_id,
            "workflow_id": workflow_id,
            "event": event,
            "status": "completed",
            "conclusion": conclusion,
            "head_branch": branch,
            "head_sha": head_sha,
            "created_at": created_at,
            "head_repository": {"full_name": head_repo or self.repository},
            "url": base,
            "artifacts_url": f"{base}/artifacts",
            "pull_requests": [],
        }
        self.runs.append(run)
        return run

    def add_artifact(self, run_id: int, name: str, archive: bytes, expired: bool = False) -> dict[str, Any]:
        artifact_id = self.new_id()
        artifact = {
            "id": artifact_id,
            "name": name,
            "expired": expired,
            "size_in_bytes": len(archive),
            "url": f"{self.url}/repos/{self.repository}/actions/artifacts/{artifact_id}",
            "archive_download_url": f"{self.url}/repos/{self.repository}/actions/artifacts/{artifact_id}/zip",
        }
        self.artifacts.setdefault(run_id, []).append(artifact)
        self.archives[artifact_id] = archive
        return artifact

    # ------------------------------------------------------------ the API
    def _api(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if (
            req.headers.get("authorization") != f"token {self.token}"
            and req.headers.get("authorization") != f"Bearer {self.token}"
        ):
            return 401, {"message": "Bad credentials"}, {}
        for failure in self.failures:
            if failure.times > 0 and failure.method == req.method and re.search(failure.pattern, req.path):
                failure.times -= 1
                return failure.status, failure.body, {}
        repo = re.escape(self.repository)
        routes = [
            ("GET", r"/user", lambda m: (403, FORBIDDEN, {})),
            (
                "GET",
                rf"/repos/{repo}",
                lambda m: (
                    200,
                    {"full_name": self.repository, "url": f"{self.url}/repos/{self.repository}"},
                    {},
                ),
            ),
            (
                "GET",
                rf"/repos/{repo}/issues/(\d+)/comments",
                lambda m: self._page(req, self.comments.get(int(m[1]), [])),
            ),
            (
                "POST",
                rf"/repos/{repo}/issues/(\d+)/comments",
                lambda m: self._create_comment(int(m[1]), req.body),
            ),
            (
                "PATCH",
                rf"/repos/{repo}/issues/comments/(\d+)",
                lambda m: self._edit_comment(int(m[1]), req.body),
            ),
            (
                "GET",
                rf"/repos/{repo}/commits/(\w+)/pulls",
                lambda m: self._page(req, [self.pulls[n] for n in self.commit_pulls.get(m[1], [])]),
            ),
            (
                "GET",
                rf"/repos/{repo}/pulls/(\d+)",
                lambda m: (
                    (200, self.pulls[int(m[1])], {})
                    if int(m[1]) in self.pulls
                    else (404, {"message": "Not Found"}, {})
                ),
            ),
            (
                "GET",
                rf"/repos/{repo}/actions/runs/(\d+)/artifacts",
                lambda m: self._page(req, self.artifacts.get(int(m[1]), []), "artifacts"),
            ),
            ("GET", rf"/repos/{repo}/actions/runs/(\d+)", lambda m: self._run(int(m[1]))),
            (
                "GET",
                rf"/repos/{repo}/actions/runs",
                lambda m: self._page(req, self._runs(req, None), "workflow_runs"),
            ),
            (
                "GET",
                rf"/repos/{repo}/actions/workflows/([^/]+)/runs",
                lambda m: self._page(req, self._runs(req, m[1]), "workflow_runs"),
            ),
            ("GET", rf"/repos/{repo}/actions/artifacts/(\d+)/zip", lambda m: self._download(int(m[1]))),
        ]
        for method, pattern, action in routes:
            match = re.fullmatch(pattern, req.path)
            if match and method == req.method:
                return action(match)
        return 404, {"message": "Not Found"}, {}

    def _page(
        self, req: Request, items: list[dict[str, Any]], key: str | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        per_page = min(int(req.query.get("per_page", ["30"])[0]), 100)
        page = int(req.query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        for rel, number in (("next", page + 1), ("last", last)):
            if number <= last and (rel != "next" or page < last):
                query = {k: v[0] for k, v in req.query.items()} | {
                    "per_page": str(per_page),
                    "page": str(number),
                }
                qs = "&".join(f"{k}={v}" for k, v in query.items())
                links.append(f'<{self.url}{req.path}?{qs}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        body = {"total_count": len(items), key: chunk} if key else chunk
        return 200, body, headers

    def _create_comment(self, number: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return 422, {"message": "Invalid request"}, {}
        if len(body["body"]) > 65536:
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"message": "Body is too long (maximum is 65536 characters)"}],
                },
                {},
            )
        return 201, self.add_comment(number, body["body"], login="github-actions[bot]"), {}

    def _edit_comment(self, comment_id: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        if len(body.get("body", "")) > 65536:
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"message": "Body is too long (maximum is 65536 characters)"}],
                },
                {},
            )
        for comments in self.comments.values():
            for comment in comments:
                if comment["id"] == comment_id:
                    comment["body"] = body["body"]
                    return 200, comment, {}
        return 404, {"message": "Not Found"}, {}

    def _run(self, run_id: int) -> tuple[int, Any, dict[str, str]]:
        for run in self.runs:
            if run["id"] == run_id:
                return 200, run, {}
        return 404, {"message": "Not Found"}, {}

    def _runs(self, req: Request, workflow: str | None) -> list[dict[str, Any]]:
        wanted = self.workflows.get(workflow, workflow) if workflow else None
        runs = [r for r in self.runs if wanted is None or str(r["workflow_id"]) == str(wanted)]
        q = {k: v[0] for k, v in req.query.items()}
        if "branch" in q:
            runs = [r for r in runs if r["head_branch"] == q["branch"]]
        if "event" in q:
            runs = [r for r in runs if r["event"] == q["event"]]
        if "status" in q:
            runs = [r for r in runs if q["status"] in (r["status"], r["conclusion"])]
        return sorted(runs, key=lambda r: r["created_at"], reverse=True)

    def _download(self, artifact_id: int) -> tuple[int, Any, dict[str, str]]:
        for artifacts in self.artifacts.values():
            for artifact in artifacts:
                if artifact["id"] == artifact_id:
                    if artifact["expired"]:
                        return 410, {"message": "Artifact has expired"}, {}
                    return 302, None, {"Location": f"{self.blob_url}/blob/{artifact_id}?sig=signed"}
        return 404, {"message": "Not Found"}, {}

    def _blob(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if "authorization" in req.headers:  # like a signed storage URL: a forwarded token is an error
            return 400, {"message": "Authorization header must not be sent to the blob host"}, {}
        match = re.fullmatch(r"/blob/(\d+)", req.path)
        if not match or int(match[1]) not in self.archives:
            return 404, {"message": "Not Found"}, {}
        return 200, self.archives[int(match[1])], {"Content-Type": "application/zip"}


def _handler(fake: FakeGitHub, route: Any, blob: bool = False) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out as two writes: without TCP_NODELAY the body waits for the client's delayed ACK of
        # the headers (40 ms on Linux) on every request of a kept-alive connection
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = None
            req = Request(
                self.command,
                parts.path.rstrip("/") or "/",
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            with fake.lock:
                (fake.blob_requests if blob else fake.requests).append(req)
            status, payload, headers = route(req)
            data = (
                payload
                if isinstance(payload, bytes)
                else b""
                if payload is None
                else json.dumps(payload).encode()
            )
            self.send_response(status)
            if not isinstance(payload, bytes):
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler
