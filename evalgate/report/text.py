"""Untrusted text made safe for a GitHub comment: model outputs, inputs, expected values, ids, categories.

Every untrusted value reaches a template through one of these filters, chosen by where it lands:

- `inline`: markdown text on a line the template owns (a bullet, a paragraph, a table cell). Newlines become
  spaces (so the text cannot start a heading, list, quote or table row of its own), `|` and the markdown
  punctuation that could change the rendering (`\\ ` * _ [ ] ~ $`) are backslash-escaped, `< > &` become HTML
  entities. So no emphasis, no code span, no `[link](…)` or `![image](…)` (the brackets are escaped, and
  `<http://…>` autolinks lose their `<`), no raw HTML (`<script>`, `<img onerror>`, `</details>`, a fake
  `<!-- evalgate:… -->` marker all show as text), no math (`$…$`).
- `cell`: `inline` for a table cell, where newlines become `<br>` instead of spaces; pipes are escaped (and
  backslashes, so text ending in `\\` cannot eat the escape of the next pipe): a row keeps its column count.
- `htmltext`: text inside HTML the template owns (a `<summary>`): HTML-escaped, quotes too.
- `block`: a fenced code block whose fence is longer than any backtick run inside the text, so the text cannot
  close it; inside a fence GitHub renders nothing (no HTML, no links, no mentions).

Outside fences, `@name` and `@org/team` get a zero-width space after the `@` (`@\\u200bteam`), so nobody is
notified. Inside a fence GitHub notifies nobody, so the text stays byte for byte what the model saw or wrote (a
zero-width space there would corrupt copied code, JSON or a character drawing). Everywhere, C0/C1 control
characters (ANSI escapes, NUL) are shown as `\\xNN`, and CR and CRLF become LF.

Decisions: in markdown text `#123` also gets a zero-width space (`#\\u200b123`), because a reference from a
bot comment adds a "mentioned this" event to that issue or pull request; inside fences GitHub links nothing,
so `#123` stays. Bare URLs (`https://…`) are left readable: GitHub may make them clickable, but they load
nothing and show their real address. Unicode (emoji, accents, right-to-left scripts) is kept as it is.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

ZWSP = "\u200b"

_NEWLINES = re.compile(r"\r\n?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9_-])")  # not after a letter: e-mail, main@sha
_ISSUE_REF = re.compile(r"#(?=\d)")
_MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]|~$])")
_BACKTICK_RUN = re.compile(r"`+")


@dataclass(frozen=True)
class Clipped:
    """A value as text, cut to a length; `cut` is how many characters were left out."""

    text: str
    cut: int = 0


def to_text(value: Any, *, pretty: bool = False) -> str:
    """A value as text: strings as they are, None as empty, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(
            value, ensure_ascii=False, indent=2 if pretty else None, sort_keys=False, default=str
        )
    except (TypeError, ValueError):
        return str(value)


def clip(value: Any, limit: int, *, pretty: bool = False) -> Clipped:
    """Cut text to `limit` characters, at a word boundary when one is near, ending with an ellipsis."""
    text = to_text(value, pretty=pretty)
    if len(text) <= limit:
        return Clipped(text)
    head = text[:limit]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= limit * 0.8:
        head = head[:space]
    head = head.rstrip()
    return Clipped(head + "…", len(text) - len(head))


def clean(text: str, *, defuse_mentions: bool = True) -> str:
    """Line endings to LF, control characters shown as \\xNN, mentions defused (outside fences)."""
    text = _NEWLINES.sub("\n", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _MENTION.sub("@" + ZWSP, text) if defuse_mentions else text


def _markdown_text(value: Any, newline: str) -> str:
    text = clean(to_text(value))
    text = _ISSUE_REF.sub("#" + ZWSP, text)
    text = text.replace("\t", " ")
    text = _MARKDOWN_PUNCT.sub(r"\\\1", text)
    text = html.escape(text, quote=False)
    return text.replace("\n", newline)


def inline(value: Any) -> str:
    """Untrusted text inside a markdown line: one line, inert (see the module docstring)."""
    return _markdown_text(value, " ")


def cell(value: Any) -> str:
    """Untrusted text inside a markdown table cell: like `inline`, with line breaks kept as <br>."""
    return _markdown_text(value, "<br>")


def htmltext(value: Any) -> str:
    """Untrusted text inside HTML the template writes (a <summary>): escaped, one line."""
    text = clean(to_text(value))
    text = _ISSUE_REF.sub("#" + ZWSP, text).replace("\n", " ")
    return html.escape(text, quote=True)


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text` (at least three)."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def block(value: Any) -> str:
    """Untrusted text as a fenced code block that the text cannot close."""
    text = clean(to_text(value, pretty=True), defuse_mentions=False)
    fence = fence_for(text)
    return f"{fence}text\n{text}\n{fence}"


def mermaid_label(value: Any) -> str:
    """Text as a quoted mermaid string. Mermaid has no escapes: quotes, backslashes, backticks and `%` become
    `'`, line breaks spaces."""
    text = clean(to_text(value)).replace("\n", " ")
    return '"' + re.sub(r'["\\`%]', "'", text) + '"'
