"""The GitHub Actions runner protocol: inputs, workflow commands, GITHUB_OUTPUT and the step summary.

Everything here writes to streams or files the runner reads; nothing talks to the GitHub API. Every known secret
is redacted from all of it (evalgate.outbound), and a command's text has its control characters made visible.
GitHub's limits on a step's annotations, summary and outputs are evalgate.github.limits'; what does not fit is
said, never silently lost.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from evalgate.github.limits import (
    ANNOTATION_TYPES,
    ANNOTATIONS_PER_TYPE,
    OUTPUTS_MAX_BYTES,
    STEP_SUMMARY_MAX_BYTES,
    utf16_size,
)
from evalgate.outbound import echo, redact, visible_controls

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


def issue_command(command: str, message: str, **properties: object) -> None:
    print(format_command(command, message, **properties), file=sys.stdout, flush=True)


class Annotations:
    """The step's annotations within GitHub's limit of ANNOTATIONS_PER_TYPE per type: the first ones are shown;
    from the last slot on they are held (and logged in full at once), and `flush` fills the last slot with the
    one held, or with a note naming how many more there are and what they are about."""

    def __init__(self) -> None:
        self.shown = dict.fromkeys(ANNOTATION_TYPES, 0)
        self.held: dict[str, list[tuple[str, dict[str, object]]]] = {kind: [] for kind in ANNOTATION_TYPES}

    def add(self, kind: str, message: str, **properties: object) -> None:
        if self.shown[kind] < ANNOTATIONS_PER_TYPE - 1:
            self.shown[kind] += 1
            issue_command(kind, message, **properties)
            return
        self.held[kind].append((message, properties))
        where = f" ({properties['file']}:{properties.get('line') or ''})" if properties.get("file") else ""
        echo(f"evalgate: {kind}{where}: {message}", file=sys.stdout)

    def flush(self) -> None:
        """Fill each type's last slot: with its one held annotation, or with a note about the held ones."""
        for kind, held in self.held.items():
            if len(held) == 1:
                issue_command(kind, held[0][0], **held[0][1])
            elif held:
                about = sorted({str(properties.get("title") or kind) for _, properties in held})
                listed = ", ".join(about[:5]) + (", ..." if len(about) > 5 else "")
                issue_command(
                    kind,
                    f"{len(held)} more {kind}s not shown as annotations (GitHub shows {ANNOTATIONS_PER_TYPE} "
                    f"per step): {listed}; each is written in full in the log above",
                    title=f"evalgate: {len(held)} more {kind}s",
                )
            self.shown[kind] += 1 if held else 0
            held.clear()


step_annotations = Annotations()


def start_step() -> None:
    """A new step (or a new run of the Action in the same process, as in tests): no annotation shown yet."""
    global step_annotations
    step_annotations = Annotations()


def end_step() -> None:
    """The step's end: the annotations held beyond GitHub's limit are named in the last one of their type."""
    step_annotations.flush()


def error(message: str, **properties: object) -> None:
    """An error annotation (`file`, `line`, `title`, ... as properties), within the step's limit."""
    step_annotations.add("error", message, **properties)


def warning(message: str, **properties: object) -> None:
    """A warning annotation, within the step's limit."""
    step_annotations.add("warning", message, **properties)


def notice(message: str, **properties: object) -> None:
    step_annotations.add("notice", message, **properties)


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


def fit_outputs(
    outputs: Mapping[str, str], limit: int = OUTPUTS_MAX_BYTES
) -> tuple[dict[str, str], list[str]]:
    """The outputs within GitHub's limit on a job's outputs (UTF-16 bytes of names and values): the largest
    values left empty until they fit; and the names of those left empty."""
    fitted = dict(outputs)
    emptied: list[str] = []
    size = sum(utf16_size(name) + utf16_size(value) for name, value in fitted.items())
    for name in sorted(fitted, key=lambda name: utf16_size(fitted[name]), reverse=True):
        if size <= limit:
            break
        size -= utf16_size(fitted[name])
        fitted[name] = ""
        emptied.append(name)
    return fitted, emptied


def write_outputs(path: str | Path | None, outputs: Mapping[str, str]) -> None:
    """Append outputs to the GITHUB_OUTPUT file (printed to stdout when the runner gave none, as in local runs),
    within GitHub's limit: the outputs that do not fit are left empty, with a warning naming them."""
    outputs, emptied = fit_outputs({name: redact(value) for name, value in outputs.items()})
    if emptied:
        which = (
            f"the output {emptied[0]} is" if len(emptied) == 1 else f"the outputs {', '.join(emptied)} are"
        )
        warning(
            f"{which} empty: with it the step's outputs were above GitHub's limit of {OUTPUTS_MAX_BYTES:,} "
            "bytes; read the verdict file (verdict_path) instead",
            title="evalgate: outputs left empty",
        )
    text = "".join(format_output(name, value) for name, value in outputs.items())
    if not path:
        sys.stdout.write(text)
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def fit_summary(markdown: str, limit: int = STEP_SUMMARY_MAX_BYTES) -> str:
    """The markdown cut (on a character boundary, with a note) so its UTF-8 size is within `limit` bytes."""
    data = markdown.encode("utf-8")
    if len(data) <= limit:
        return markdown
    note = SUMMARY_CUT_NOTE.encode("utf-8")
    kept = data[: limit - len(note)].decode("utf-8", errors="ignore")
    return kept + SUMMARY_CUT_NOTE


def write_summary(path: str | Path | None, markdown: str, limit: int = STEP_SUMMARY_MAX_BYTES) -> None:
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
