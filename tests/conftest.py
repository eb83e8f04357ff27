"""Shared test helpers: paths to the repository and its fixtures, and a suite written into tmp_path.

Everything a test reads lives in the repository (tests/fixtures/), so a plain clone runs the suite."""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalgate import outbound

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# the published reference values of scikit-learn, rouge-score, sacrebleu, scipy and numpy (see its "about")
REFERENCE_VECTORS = FIXTURES / "reference-vectors.json"
# real webhook payloads from octokit/webhooks (MIT, tests/fixtures/github-events/LICENSE.octokit-webhooks)
GITHUB_EVENTS = FIXTURES / "github-events"


MEMORY_TMP = Path("/dev/shm")  # Linux's tmpfs


def _temporary_files_in_memory() -> None:
    """Tests' temporary folders (tmp_path, and TMPDIR for the processes they start) on a tmpfs when the machine
    has one and TMPDIR is not set: evalgate fsyncs every file it writes (atomic writes, the journal, the history
    store), about 5 ms each on a shared disk, and a test's files are thrown away. Nothing a test checks depends on
    the disk (a full disk is simulated by a file size limit or a /dev/full node, a worker is a script run from
    there: so only a tmpfs mounted without nodev and noexec)."""
    if "TMPDIR" in os.environ or not (MEMORY_TMP.is_dir() and os.access(MEMORY_TMP, os.W_OK | os.X_OK)):
        return
    if os.statvfs(MEMORY_TMP).f_flag & (os.ST_NODEV | os.ST_NOEXEC):
        return
    os.environ["TMPDIR"] = str(MEMORY_TMP)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


# where temporary files went before: on disk (an xdist worker inherits TMPDIR=/dev/shm, so it is passed on too)
os.environ.setdefault("EVALGATE_TESTS_DISK_TMP", tempfile.gettempdir())
DISK_TMP = Path(os.environ["EVALGATE_TESTS_DISK_TMP"])
_temporary_files_in_memory()


@pytest.fixture
def disk_tmp_path() -> Iterator[Path]:
    """A temporary folder on disk, for files a container mounts: a container has a /dev/shm of its own, which
    hides a folder of the host's /dev/shm bind-mounted at the same path (act's workspace)."""
    folder = Path(tempfile.mkdtemp(prefix="evalgate-test-", dir=DISK_TMP))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# The repository's own modules (evalgate, the tests as pytest rewrites them) are compiled once and kept in
# __pycache__ even where PYTHONDONTWRITEBYTECODE is set (this machine sets it): recompiling them cost about 5 s of
# CPU at every collection, in every xdist worker. Only while collecting: from the first test on, the setting is
# back, so no code a test writes and loads (a target rewritten in the same second with the same size would read
# a stale .pyc) and no process a test starts (they inherit the variable) writes bytecode.
_DONT_WRITE_BYTECODE = sys.dont_write_bytecode
sys.dont_write_bytecode = False


def pytest_collection_finish(session: pytest.Session) -> None:
    sys.dont_write_bytecode = _DONT_WRITE_BYTECODE


@functools.cache
def reference_vectors() -> dict:
    return json.loads(REFERENCE_VECTORS.read_text(encoding="utf-8"))


def write_suite(tmp_path: Path, config: str, files: dict[str, str] | None = None) -> Path:
    """Write evalgate.yaml (dedented) and other files into tmp_path; returns the config path."""
    for name, text in (files or {}).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    path = tmp_path / "evalgate.yaml"
    path.write_text(textwrap.dedent(config).lstrip("\n"))
    return path


@pytest.fixture(autouse=True)
def _new_step() -> None:
    """Each test is a step of its own for GitHub's annotation limit (evalgate.github.limits)."""
    from evalgate.github import actions_io

    actions_io.start_step()


@pytest.fixture(scope="session")
def _user_caches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Iterator[Path]]:
    base = tmp_path_factory.mktemp("user-caches")
    yield (base / str(number) for number in itertools.count())  # each made only when something is kept there


@pytest.fixture(autouse=True)
def _own_user_cache(monkeypatch: pytest.MonkeyPatch, _user_caches: Iterator[Path]) -> None:
    """Each test, and every process it starts, has a user cache folder of its own (evalgate keeps the SDKs'
    headers there for every suite of a user: providers/llm/wire.py): no test finds what another kept, and no test
    writes into the home folder of whoever runs them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(next(_user_caches)))


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """The secrets a test's providers read are redacted from that test's output only (evalgate.outbound)."""
    yield
    outbound.forget_secrets()
