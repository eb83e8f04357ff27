#!/usr/bin/env python3
"""Set up evalgate in ./.venv (once, and again when the dependencies change), then run the demo or the tests.

    python3 scripts/bootstrap.py demo      # the offline demo: baseline, a harmless PR, a regressing PR
    python3 scripts/bootstrap.py test      # the test suite (extra arguments go to pytest)
    python3 scripts/bootstrap.py setup     # only the set-up (CI runs lint with it)

Needs only Python 3.11+ with pip. Falls back to the running interpreter when venv is not available.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".evalgate-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _python() -> str:
    """The venv's interpreter, creating the venv when needed; the running one when venv is unavailable."""
    python = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(
                f"bootstrap: cannot create .venv ({exc}); installing into {sys.executable}", file=sys.stderr
            )
            return sys.executable
    return str(python)


def ensure_installed() -> str:
    python = _python()
    stamp = STAMP if python != sys.executable else ROOT / ".evalgate-installed"
    wanted = _fingerprint()
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    print("bootstrap: installing evalgate and its dependencies (pinned by constraints.txt)", file=sys.stderr)
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            "-e",
            f"{ROOT}[dev]",
        ],
        check=True,
    )
    keep_sdk_headers(python)
    stamp.write_text(wanted)
    return python


def keep_sdk_headers(python: str) -> None:
    """Take the anthropic and openai SDKs' headers once, when they are installed, into the user's folder of kept
    headers (evalgate.providers.llm.sdk.keep_user_headers), as the Action's prebuilt image does when it is built:
    a new suite's first run then never imports an SDK (0.5-1.1 s before its first call). A failure only leaves
    that to the first run."""
    keep = "from evalgate.providers.llm.sdk import keep_user_headers; keep_user_headers()"
    done = subprocess.run([python, "-c", keep], capture_output=True, text=True)
    if done.returncode != 0:
        problem = (done.stderr.strip().splitlines() or ["no message"])[-1]
        print(
            f"bootstrap: the SDKs' headers were not kept ({problem}); a first run takes them", file=sys.stderr
        )


def compile_bytecode(python: str) -> None:
    """Compile evalgate's modules to bytecode now (pip does it for what it installs, the dependencies and the
    Action image's evalgate; an editable install leaves evalgate's to its first import). Where
    PYTHONDONTWRITEBYTECODE is set (this machine, many CI images) nothing else ever writes them: every command
    compiled the modules it imports from source (~30 ms before an http run's first request, ~0.2 s of CPU for all
    of evalgate). Quick when they are current (only changed files are compiled)."""
    subprocess.run(
        [python, "-m", "compileall", "-q", str(ROOT / "evalgate")], check=True, stdout=subprocess.DEVNULL
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(__doc__, file=sys.stderr)
        return 2
    python = ensure_installed()
    compile_bytecode(python)
    if argv[0] == "demo":
        command = [python, str(ROOT / "examples" / "digits-classifier" / "demo.py"), *argv[1:]]
    elif argv[0] == "test":
        command = [python, "-m", "pytest", *argv[1:]]
    else:
        return 0
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
