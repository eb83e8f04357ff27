"""The reports of a suite of tasks (evalgate.tasks): the suite's verdict and a line per task, then each task's
section, rendered as the report of one suite is (evalgate.report.render, the same templates and escaping).

The comment fits GitHub's size limit by the same tiers as one suite's, applied to every section at once.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.contracts.results import Results
from evalgate.contracts.trend import Trend
from evalgate.contracts.verdict import VerdictDocument
from evalgate.github.limits import COMMENT_MAX_CHARS
from evalgate.report import render
from evalgate.report.labels import BADGES, ICONS, WORDS
from evalgate.report.view import Tier, build_view, shorten

Trends = dict[str, Trend | None]
FOOTER = "<sub>evalgate "  # the last line of report.md.j2: the version, the mode, the workflow run


def _sections(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    max_examples: int = 10,
    max_chars: int = 400,
    trend: Trends | None = None,
    run_url: str | None = None,
    show: Sequence[str] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Each task's name and its report view (at full detail): the view options of one suite's report."""
    tasks = verdict.tasks or {}
    current_tasks = current.tasks or {}
    baseline_tasks = (baseline.tasks or {}) if baseline is not None else {}
    return [
        (
            name,
            build_view(
                task,
                current_tasks[name],
                baseline_tasks.get(name),
                max_examples=max_examples,
                max_chars=max_chars,
                trend=(trend or {}).get(name),
                marker=None,
                run_url=run_url,
                show=show,
            ),
        )
        for name, task in tasks.items()
    ]


def _head(verdict: VerdictDocument, marker: str | None) -> dict[str, Any]:
    return {
        "marker": marker,
        "suite": verdict.suite,
        "icon": ICONS[verdict.verdict],
        "word": WORDS[verdict.verdict],
        "headline": verdict.headline,
        "tasks": [
            {
                "name": name,
                "verdict": task.verdict,
                "icon": ICONS[task.verdict],
                "word": WORDS[task.verdict],
                "headline": task.headline,
            }
            for name, task in (verdict.tasks or {}).items()
        ],
        "version": __version__,
    }


def render_markdown(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    marker: str | None = None,
    max_length: int | None = None,
    templates: str | Path | None = None,
    measure: Callable[[str], int] = len,
    **view_options: Any,
) -> str:
    """The markdown report of a suite of tasks; with `max_length`, detail dropped in tiers until it fits.
    `view_options`: those of one suite's report (max_examples, max_chars, run_url; `trend` by task)."""
    sections = _sections(verdict, current, baseline, **view_options)
    head = render._renderer("markdown", "tasks.md.j2", templates)(_head(verdict, marker))
    body = render._renderer("markdown", "report.md.j2", templates)

    def compose(tier: Tier | None) -> str:
        parts, footer = [head.rstrip("\n")], list[str]()
        for name, view in sections:
            text, footer = _without_footer(body(view if tier is None else shorten(view, tier)).strip())
            parts.append(f"---\n\n### Task {name}\n\n{text}")
        return "\n\n".join(parts + footer) + "\n"

    if max_length is None:
        return compose(None)
    return render._fit(compose, view_options.get("max_examples", 10), max_length, marker, measure)


def _without_footer(section: str) -> tuple[str, list[str]]:
    """A section's text without its last line when that is the report's footer (said once, at the end)."""
    text, _, last = section.rpartition("\n")
    if last.startswith(FOOTER) and text:
        return text.rstrip(), [last]
    return section, []


def render_comment(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    marker: str | None = None,
    max_length: int = COMMENT_MAX_CHARS,
    **options: Any,
) -> str:
    """The sticky pull-request comment of a suite of tasks: the suite's marker first, within `max_length`."""
    marker = marker or render.comment_marker(verdict.suite)
    return render_markdown(verdict, current, baseline, marker=marker, max_length=max_length, **options)


def render_html(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    templates: str | Path | None = None,
    **view_options: Any,
) -> str:
    """One standalone HTML page: the suite's verdict, then each task's report (its page's body)."""
    import html

    sections = _sections(verdict, current, baseline, **view_options)
    page = render._renderer("html", "report.html.j2", templates)
    head = _head(verdict, None)
    rows = "".join(
        f"<tr><td>{html.escape(t['name'])}</td><td>{_badge(t['verdict'])} {t['word']}</td>"
        f"<td>{html.escape(t['headline'])}</td></tr>"
        for t in head["tasks"]
    )
    top = (
        f'<h1 class="{verdict.verdict}">{_badge(verdict.verdict)} evalgate {head["word"]}: '
        f"{html.escape(verdict.headline)}</h1>\n"
        f"<p>Suite <b>{html.escape(verdict.suite)}</b>, {len(sections)} tasks:</p>\n"
        f"<table><tr><th>Task</th><th>Verdict</th><th></th></tr>{rows}</table>\n"
    )
    pages = [page(view) for _, view in sections]
    start = pages[0].split("<body>", 1)[0] if "<body>" in pages[0] else "<!DOCTYPE html><html><head></head>"
    parts = [
        f"<section><hr><h2>Task {html.escape(name)}</h2>\n{_inside_body(text)}</section>\n"
        for (name, _), text in zip(sections, pages, strict=True)
    ]
    return f"{start}<body>\n{top}{''.join(parts)}</body>\n</html>\n"


def _badge(status: str) -> str:
    """A verdict as the HTML report's text badge (report.html.j2's CSS colours it): no emoji font needed."""
    return f'<span class="badge {status}">{BADGES[status]}</span>'


def _inside_body(page: str) -> str:
    """What a rendered page holds between <body> and </body> (the whole text when it has no such tags)."""
    inner = page.split("<body>", 1)[-1]
    return inner.rsplit("</body>", 1)[0]


def render_junit(verdict: VerdictDocument, current: Results) -> str:
    """JUnit XML with one test suite per task (named SUITE/TASK), each as one suite's report has it."""
    root = ET.Element("testsuites", name="evalgate")
    for name, task in (verdict.tasks or {}).items():
        document = ET.fromstring(render.render_junit(task, (current.tasks or {})[name]).encode("utf-8"))
        root.extend(list(document))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
