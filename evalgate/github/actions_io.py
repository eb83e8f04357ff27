"""The GitHub Actions runner protocol: inputs, workflow commands, GITHUB_OUTPUT and the step summary.

Everything here writes to streams or files the runner reads; nothing talks to the GitHub API. Every known secret
is redacted from all of it (evalgate.outbound), and a command's text has its control characters made visible.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from evalgate.outbound import redact, visible_controls

# GitHub rejects a step summary above 1 MiB (1,048,576 bytes) for one step
SUMMARY_LIMIT = 1024 * 1024
SUMMARY_CUT_NOTE = (
    "\n\n> evalgate: the summary was cut here to stay within GitHub's 1 MiB step-summary limit.\n"
)


def input_env_name(name: str) -> str:
    """The environment variable the runner sets for an input: `INPUT_` + the name upper-cased, spaces as `_`."""
    return "INPUT_" + name.replace(" ", "_").upper()


def get_input(name: str, env: Mapping[str, str] | None = None, default: str = "") -> str:
    """An action input, stripped; the default when unset or blank (the runner passes unset inputs as '')."""
    value = (os.environ if env is None else env).get(input_env_name(name), "").strip()
    return value or default


def escape_data(text: str) -> str:
    """Escape a workflow command's message: % CR LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value: % CR LF and also : and ,."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_command(command: str, message: str, **properties: object) -> str:
    """`::command key=value,...::message`, with properties whose value is None left out. The message and the
    values are made inert (secrets redacted, control characters visible) except the value of an add-mask."""
    inert = (lambda text: text) if command == "add-mask" else _inert
    props = ",".join(
        f"{key}={escape_property(_inert(str(value)))}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{command}{' ' + props if props else ''}::{escape_data(inert(message))}"


def _inert(text: str) -> str:
    """No secret, and no control character but CR and LF (escape_data escapes those: the runner restores them)."""
    return "\r".join(visible_controls(part) for part in redact(text).split("\r"))


def issue_command(command: str, message: str, *, stream: TextIO | None = None, **properties: object) -> None:
    print(format_command(command, message, **properties), file=stream or sys.stdout, flush=True)


def error(message: str, **properties: object) -> None:
    """An error annotation (`file`, `line`, `title`, ... as properties)."""
    issue_command("error", message, **properties)


def warning(message: str, **properties: object) -> None:
    """A warning annotation."""
    issue_command("warning", message, **properties)


def notice(message: str, **properties: object) -> None:
    issue_command("notice", message, **properties)


def add_mask(value: str) -> None:
    """Ask the runner to mask a secret in every later log line (each line of a multi-line secret)."""
    for line in value.splitlines():
        if line.strip():
            issue_command("add-mask", line)


def _delimiter(value: str) -> str:
    while True:
        candidate = f"ghadelimiter_{secrets.token_hex(16)}"
        if candidate not in value:
            return candidate


def format_output(name: str, value: str) -> str:
    """One GITHUB_OUTPUT entry: `name=value`, or the heredoc form with a random delimiter for multi-line values."""
    if "\n" in name or "=" in name or not name:
        raise ValueError(f"invalid output name {name!r}")
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = _delimiter(value)
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: str | Path | None, outputs: Mapping[str, str]) -> None:
    """Append outputs to the GITHUB_OUTPUT file (printed to stdout when the runner gave none, as in local runs)."""
    text = "".join(format_output(name, redact(value)) for name, value in outputs.items())
    if not path:
        sys.stdout.write(text)
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def fit_summary(markdown: str, limit: int = SUMMARY_LIMIT) -> str:
    """The markdown cut (on a character boundary, with a note) so its UTF-8 size is within `limit` bytes."""
    data = markdown.encode("utf-8")
    if len(data) <= limit:
        return markdown
    note = SUMMARY_CUT_NOTE.encode("utf-8")
    kept = data[: limit - len(note)].decode("utf-8", errors="ignore")
    return kept + SUMMARY_CUT_NOTE


def write_summary(path: str | Path | None, markdown: str, limit: int = SUMMARY_LIMIT) -> None:
    """Append to the step summary, keeping what this step writes within GitHub's 1 MiB limit."""
    if not path:
        return
    used = os.path.getsize(path) if os.path.exists(path) else 0
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(fit_summary(redact(markdown), max(limit - used, len(SUMMARY_CUT_NOTE.encode()))))


def run_url(env: Mapping[str, str]) -> str | None:
    """The address of the Actions run these variables describe, or None outside a run."""
    run_id, repository = env.get("GITHUB_RUN_ID"), env.get("GITHUB_REPOSITORY")
    if not (run_id and repository):
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    return f"{server}/{repository}/actions/runs/{run_id}"
