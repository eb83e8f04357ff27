"""What a vendor SDK sends: the headers of one call of its endpoint, taken from the SDK itself, kept per SDK version.

The anthropic and openai providers send their requests with evalgate's HTTP client (http_client.py), but what they
send is the SDK's: its auth header, API version, user agent and platform headers. `sdk_headers` gets them by
making one call through the SDK's own public method (`messages.create`, `chat.completions.create`) into an
in-memory transport, with a placeholder for the key, and puts the real key in place of the placeholder.

Importing an SDK costs a second or more of CPU (its types), so the captured headers are kept in
`.evalgate/sdk/` beside the config, and in the user's cache folder (`$XDG_CACHE_HOME/evalgate/sdk`, else
`~/.cache/evalgate/sdk`) for every other suite of this user, one file per SDK version, Python version, platform
and timeout (the SDK sends the read timeout): a later run, of this suite or of a new one, reads the file and never
imports the SDK. Nothing secret is in the file (the key is the placeholder), and its name says everything the
headers depend on, so a file from another suite's run is the same file. When the environment holds a variable
of the SDK's own (`ANTHROPIC_CUSTOM_HEADERS`, `OPENAI_ORG_ID`, ...) beyond the key and base URL evalgate passes,
the headers are captured for that run only. A file that cannot be read, written or trusted is captured again:
never an error of the run.

A fresh checkout on a fresh machine (every CI run) has no kept file, so the Action's prebuilt image is built with
them: `prime` captures the headers of every SDK provider at the default timeout into a folder (the Dockerfile's
EVALGATE_SDK_PROFILES), and `sdk_headers` reads that folder when neither the suite's folder nor the user's has
the file. A file there matches only the SDK versions, Python and platform it was made with (its name says them),
so elsewhere it is simply not found.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate.files.fileio import is_stream, read_bytes, write_json_atomic

PROFILE_DIR = ".evalgate/sdk"  # relative to the config file's folder
USER_PROFILE_DIR = "evalgate/sdk"  # relative to the user's cache folder ($XDG_CACHE_HOME, else ~/.cache)
SHIPPED_PROFILES_ENV = "EVALGATE_SDK_PROFILES"  # a folder of files made by `prime` (the prebuilt image's)
KEY_MARK = "evalgate-sdk-key-placeholder"  # the key the SDK is given while its headers are captured
PROFILE_MAX_BYTES = 64 * 1024
TRANSPORT_HEADERS = frozenset(("host", "content-length"))  # set for each request by whichever client sends it


@dataclass(frozen=True)
class SDKCall:
    """One endpoint of an SDK: the package, its async client class, the public method whose call is captured
    (a dotted path from the client), the path it posts to, and the environment names evalgate sets itself."""

    package: str
    client_class: str
    method: str
    path: str
    own_env: frozenset[str]

    def env_prefix(self) -> str:
        return self.package.upper() + "_"


def sdk_headers(
    call: SDKCall, *, api_key: str, base_url: str, timeout: float, base_dir: Path
) -> dict[str, str]:
    """The headers the SDK sends on `call` with this key, base URL and timeout (from the kept file if any)."""
    keep = not any(name.startswith(call.env_prefix()) and name not in call.own_env for name in os.environ)
    name = profile_name(call, timeout)
    kept = [folder / name for folder in _keeping_folders(base_dir)] if keep else []
    shipped = os.environ.get(SHIPPED_PROFILES_ENV)  # read only: the prebuilt image's
    read = [*kept, *([Path(shipped) / name] if shipped and keep else [])]
    headers = next(filter(None, map(read_profile, read)), None)
    if headers is None:
        headers = capture(call, base_url=base_url, timeout=timeout)
        for path in kept:
            with contextlib.suppress(Exception):  # an unwritable folder only costs a later run the capture
                _keep(path, headers)
    return {name: value.replace(KEY_MARK, api_key) for name, value in headers.items()}


def _keeping_folders(base_dir: Path) -> list[Path]:
    """Where a run keeps the headers it captured, in the order it reads them: the suite's folder, then the user's
    cache folder (`user_profile_folder`)."""
    user = user_profile_folder()
    return [base_dir / PROFILE_DIR, *([user] if user is not None else [])]


def user_profile_folder() -> Path | None:
    """The user's folder of kept headers, shared by all their suites (scripts/bootstrap.py fills it when it
    installs): under $XDG_CACHE_HOME, else ~/.cache; None for a process without a home folder (a relative
    XDG_CACHE_HOME is ignored, as the XDG spec says)."""
    cache = os.environ.get("XDG_CACHE_HOME")
    try:
        return (Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache") / USER_PROFILE_DIR
    except RuntimeError:  # no HOME and no entry in the password database
        return None


def prime(folder: str | Path, calls: list[SDKCall], timeout: float) -> list[Path]:
    """Capture the headers of each of `calls` at `timeout` into `folder`, as `sdk_headers` keeps them; returns the
    files written. Run where the SDKs are installed as a run will find them (the Action's image at build,
    scripts/bootstrap.py at install); a path `_keep` leaves alone is not among them."""
    written = []
    for call in calls:
        path = Path(folder) / profile_name(call, timeout)
        if _keep(path, capture(call, base_url="https://prime.invalid", timeout=timeout)):
            written.append(path)
    return written


def _keep(path: Path, headers: dict[str, str]) -> bool:
    """Keep captured headers at `path`; whether they were. A FIFO or a device where the file would be is left
    alone: writing would go into it (a stream takes a write as an output does), and may block."""
    if is_stream(path):
        return False
    write_json_atomic(path, {"headers": headers})
    return True


def profile_name(call: SDKCall, timeout: float) -> str:
    """The kept file's name: what the captured headers depend on besides the environment."""
    from importlib.metadata import version

    facts = [
        call.package,
        version(call.package),
        call.method,
        sys.implementation.name,
        platform.python_version(),
        platform.system(),
        platform.machine(),
        repr(float(timeout)),
    ]
    digest = hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]
    return f"{call.package}-{facts[1]}-{digest}.json"


def read_profile(path: Path) -> dict[str, str] | None:
    """Headers from a kept file; None when there is none or it is not what `sdk_headers` writes."""
    try:
        data = json.loads(read_bytes(path, what="SDK headers file", max_bytes=PROFILE_MAX_BYTES))
    except Exception:  # missing, unreadable or broken: captured again
        return None
    headers = data.get("headers") if isinstance(data, dict) else None
    if not isinstance(headers, dict) or not headers:
        return None
    if not all(sendable(name, value) for name, value in headers.items()):
        return None
    return headers


def sendable(name: Any, value: Any) -> bool:
    """A header as the SDK sends it: text without control characters, never one the HTTP client sets itself."""
    if not isinstance(name, str) or not isinstance(value, str) or name.lower() in TRANSPORT_HEADERS:
        return False
    return name.isprintable() and ":" not in name and value.isprintable()


def capture(call: SDKCall, *, base_url: str, timeout: float) -> dict[str, str]:
    """The headers of one call of `call.method` made by the SDK into an in-memory transport (no network), the
    key being KEY_MARK. Run off the event loop: it imports the SDK and runs its own loop."""
    import httpx2

    sdk = importlib.import_module(call.package)
    sent: list[Any] = []

    def answer(request: Any) -> Any:
        sent.append(request)
        return httpx2.Response(200, json={})

    async def one_call() -> None:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as http:
            client = getattr(sdk, call.client_class)(
                api_key=KEY_MARK, base_url=base_url, max_retries=0, timeout=timeout, http_client=http
            )
            method: Any = client
            for part in call.method.split("."):
                method = getattr(method, part)
            await method(model="m", max_tokens=1, messages=[{"role": "user", "content": "q"}])

    asyncio.run(one_call())
    (request,) = sent
    return {name: value for name, value in request.headers.items() if name not in TRANSPORT_HEADERS}
