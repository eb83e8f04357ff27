"""The marks of a status (icon, word, severity order) and the cut of a case id or category name: one rule for
every section of the report view (evalgate.report.view builds the view from them)."""

from __future__ import annotations

from typing import Any

from evalgate.report.text import clip

ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}
WORDS = {"pass": "passed", "warn": "passed with warnings", "fail": "failed"}
SEVERITY: dict[str | None, int] = {"fail": 0, "warn": 1, "pass": 2}
# a case id or category name longer than this is cut (they land in lists, tables and summaries)
LABEL_CHARS = 120


def short_label(value: Any) -> str:
    """A case id or category name, cut to a length a list or table can show."""
    return clip(value, LABEL_CHARS).text


def status_icon(status: Any) -> str:
    return ICONS.get(status, "·" if status in (None, "info", "skip") else "❔")
