"""The marks of a status (icon, word, severity order) and the cut of a case id or category name: one rule for
every section of the report view (evalgate.report.view builds the view from them)."""

from __future__ import annotations

from typing import Any

from evalgate.report.text import clip

ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}
WORDS = {"pass": "passed", "warn": "passed with warnings", "fail": "failed"}
# the status as a word: the markdown writes it after the icon, the HTML as a coloured text badge (its CSS class
# is the status), so a status reads without an emoji font
BADGES = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
SEVERITY: dict[str | None, int] = {"fail": 0, "warn": 1, "pass": 2}
# a case id or category name longer than this is cut (they land in lists, tables and summaries)
LABEL_CHARS = 120


def short_label(value: Any) -> str:
    """A case id or category name, cut to a length a list or table can show."""
    return clip(value, LABEL_CHARS).text


def status_mark(status: Any, *, gated: bool) -> dict[str, str] | None:
    """A table row's status mark: `{status, icon, word}` for a gated row that passed, warned or failed; None
    for an ungated row (it has no threshold to pass or fail, so it gets no mark) or one not judged."""
    if not gated or status not in BADGES:
        return None
    return {"status": status, "icon": ICONS[status], "word": BADGES[status]}
