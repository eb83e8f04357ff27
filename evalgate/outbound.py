"""Text leaving evalgate, made safe in one place: every secret evalgate knows of is redacted from it, and what is
echoed to a log cannot act as a GitHub Actions workflow command nor steer a terminal.

Secrets are learnt where they are read: the API keys the providers take from the environment, every `${NAME}` a
config interpolates, the GitHub token, and any environment variable whose name says it holds one (*_API_KEY,
*_TOKEN, *_SECRET, *_PASSWORD). Every file evalgate writes (evalgate.files.fileio), every results document it builds,
every error text it records, every line it echoes (`echo`) and everything the Action hands to GitHub passes
through `redact`.
"""

from __future__ import annotations

import functools
import html
import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_SECRET_CHARS = (
    6  # a shorter value ("1", "true") would garble every text it appears in; no key is that short
)
SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")

_secrets: list[str] = []  # longest first, so a secret containing another is redacted whole


def add_secret(value: str) -> None:
    """Remember a secret, in every form a message may quote it in (stripped, line by line, JSON-, HTML- and
    URL-escaped, as Python shows it in a repr), to redact it from everything evalgate writes or prints. Blanks
    are no secret (their URL forms, `%20%20...` and `++++++`, would garble every text that holds them)."""
    if not value.strip():
        return
    forms = {value, value.strip(), *value.splitlines()}
    for text in list(forms):
        forms |= {
            json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1],
            html.escape(text),
            repr(text)[1:-1],
            *_url_escaped(text),
        }
    new = {form.strip() for form in forms} - set(_secrets)
    _secrets.extend(form for form in new if len(form) >= MIN_SECRET_CHARS)
    _secrets.sort(key=len, reverse=True)


def _url_escaped(text: str) -> tuple[str, ...]:
    """`text` URL-escaped, as a path and as a form writes it. A value read from the environment holds the bytes
    that are not UTF-8 as lone surrogates (surrogateescape), which are escaped as those bytes; a lone surrogate
    that stands for no byte has no URL form."""
    try:
        return (
            quote(text, safe="", errors="surrogateescape"),
            quote_plus(text, safe="", errors="surrogateescape"),
        )
    except UnicodeEncodeError:
        return ()


def is_secret_env_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (GITHUB_TOKEN, ANTHROPIC_API_KEY, ...)."""
    return name.upper().endswith(SECRET_ENV_SUFFIXES)


def add_env_secrets(env: Mapping[str, str], names: Iterable[str] = ()) -> list[str]:
    """Remember the values of the variables named `names` and of those whose name says they hold a secret;
    returns those values (for the Action to mask them in the log too)."""
    named = set(names)
    values = [value for name, value in env.items() if value and (name in named or is_secret_env_name(name))]
    for value in values:
        add_secret(value)
    return values


def forget_secrets() -> None:
    """Forget every secret (a new run in the same process, or a test)."""
    _secrets.clear()


def redact(text: str) -> str:
    """`text` with every known secret replaced by [redacted]."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_data(value: Any) -> Any:
    """JSON-like data (mappings, lists, strings, numbers) with every known secret redacted from its strings and
    keys; the very same object when there is nothing to redact."""
    if not _secrets:
        return value
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not JSON data: look at each string
        return _redacted(value)
    return _redacted(value) if may_show_secret(text) else value


def may_show_secret(json_text: str) -> bool:
    """Whether JSON text (written with ensure_ascii=False) may hold a known secret in one of its strings or
    keys. JSON escapes each character on its own, so a secret inside a string shows in the text as that secret
    escaped alike: no such escaped form in the text means no secret in the data (a false alarm, say digits of
    a number, only costs the caller the walk through the data)."""
    return any(_json_escaped(secret) in json_text for secret in _secrets)


@functools.cache
def _json_escaped(secret: str) -> str:
    return json.dumps(secret, ensure_ascii=False)[1:-1]


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


# -- the log ------------------------------------------------------------------------------------------------------

# C0 and C1 controls but tab and newline, DEL, line and paragraph separators, bidirectional overrides
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible_controls(text: str) -> str:
    """Control characters (an ANSI escape, a carriage return that hides what came before) written as `\\x1b`,
    `\\r`, ... so they show instead of acting. Tabs and newlines stay."""
    return _CONTROL.sub(lambda match: json.dumps(match.group())[1:-1].replace("\\u00", "\\x"), text)


def log_text(text: str) -> str:
    """Text safe to print where a GitHub Actions runner reads it: secrets redacted, control characters visible,
    and no line a workflow command — the runner takes a line starting with `::` (after blanks) as one, and `##[`
    anywhere in a line (the old syntax): such a line starts with a backslash, and `##[` becomes `##\\[`."""
    lines = visible_controls(redact(text)).split("\n")
    return "\n".join(
        ("\\" + line if line.lstrip().startswith("::") else line).replace("##[", "##\\[") for line in lines
    )


def echo(text: str, *, file: TextIO | None = None) -> None:
    """Print a message (stderr by default), made safe by `log_text`: every line evalgate writes goes here."""
    print(log_text(text), file=file or sys.stderr, flush=True)


def echo_json(data: Any, *, file: TextIO | None = None) -> None:
    """Print JSON for machines (stdout by default): ASCII with escapes, secrets redacted, made inert."""
    print(inert_json(redact(json.dumps(data, indent=2))), file=file or sys.stdout, flush=True)


def inert_json(text: str) -> str:
    """JSON text no runner reads as a workflow command: `##[` written as `##\\u005b` (the same JSON value); a JSON
    line never starts with `::` (strings escape their line breaks)."""
    return text.replace("##[", "##\\u005b")
