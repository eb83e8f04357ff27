"""Render the gate's verdict: markdown for the pull-request comment and the step summary, a standalone HTML
page and JUnit XML. (The Verdict JSON itself is written as it is, by evalgate.files.fileio.write_json_atomic.)

The markdown and HTML come from Jinja2 templates (the top-level `templates/` folder, shipped as the package
`evalgate.templates`); a user folder (`report.templates` in the config) overrides any of them by name. The
markdown environment does not autoescape: every untrusted value (inputs, expected values, outputs, case ids,
categories, messages) is routed through an explicit filter of evalgate/report/text.py, whose docstring lists
what is neutralized and why (table pipes, code fences, HTML, @mentions, links and images, issue references).
The HTML environment autoescapes everything. Both use StrictUndefined, so a template bug fails loudly.

A comment body has a size limit (GitHub rejects bodies over 65,536 characters): `render_comment` drops detail
in tiers until the body fits (fewer case examples down to none; the per-category table; the lists of added and
removed ids; flaky cases, usage and the trend; metrics without thresholds), says what it left out, and cuts
the text only as the last resort. The verdict, the reasons and the marker are always kept.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jinja2

from evalgate import __version__
from evalgate.contracts.results import Results
from evalgate.contracts.trend import Trend
from evalgate.contracts.verdict import MetricRow, Reason, VerdictDocument
from evalgate.errors import InputError
from evalgate.github.limits import COMMENT_MAX_CHARS, REPORT_SUMMARY_MAX_BYTES
from evalgate.report import text as report_text
from evalgate.report.view import Tier, build_view, shorten

MARKER_PREFIX = "<!-- evalgate:"
_MARKER = re.compile(r"<!-- evalgate:[^\n<>]*? -->")
_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def comment_marker(suite: str) -> str:
    """The hidden marker that identifies a suite's sticky comment: `<!-- evalgate:SUITE -->`."""
    name = re.sub(r"[\s<>]+", " ", suite).replace("--", "- -").strip()
    return f"{MARKER_PREFIX}{name} -->"


def render_markdown(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    max_examples: int = 10,
    max_chars: int = 400,
    trend: Trend | None = None,
    marker: str | None = None,
    run_url: str | None = None,
    max_length: int | None = None,
    templates: str | Path | None = None,
    measure: Callable[[str], int] = len,
    show: Sequence[str] | None = None,
) -> str:
    """The markdown report. With `max_length`, detail is dropped in tiers until it fits (see the module);
    `measure` is how length is counted (characters by default)."""
    if marker is not None and not _MARKER.fullmatch(marker):
        raise ValueError(f"not an evalgate marker: {marker!r}; build it with comment_marker(suite)")
    view = build_view(
        verdict,
        current,
        baseline,
        max_examples=max_examples,
        max_chars=max_chars,
        trend=trend,
        marker=marker,
        run_url=run_url,
        show=show,
    )
    render = _renderer("markdown", "report.md.j2", templates)
    if max_length is None:
        return render(view)
    return _fit(lambda tier: render(shorten(view, tier)), max_examples, max_length, marker, measure)


def render_comment(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    marker: str | None = None,
    max_length: int = COMMENT_MAX_CHARS,
    **options: Any,
) -> str:
    """The sticky pull-request comment: the marker first, at most `max_length` characters."""
    marker = marker or comment_marker(verdict.suite or current.suite)
    return render_markdown(verdict, current, baseline, marker=marker, max_length=max_length, **options)


def render_summary(
    verdict: VerdictDocument, current: Results, baseline: Results | None, **options: Any
) -> str:
    """The step summary: the same markdown without the marker, within the step summary's limit (in UTF-8
    bytes, as GitHub counts it)."""
    options.setdefault("max_length", REPORT_SUMMARY_MAX_BYTES)
    return render_markdown(verdict, current, baseline, marker=None, measure=_utf8_length, **options)


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def render_html(
    verdict: VerdictDocument,
    current: Results,
    baseline: Results | None,
    *,
    max_examples: int = 10,
    max_chars: int = 400,
    trend: Trend | None = None,
    run_url: str | None = None,
    templates: str | Path | None = None,
    show: Sequence[str] | None = None,
) -> str:
    """A standalone HTML page with the report's content: no external assets, every untrusted value escaped."""
    view = build_view(
        verdict,
        current,
        baseline,
        max_examples=max_examples,
        max_chars=max_chars,
        trend=trend,
        marker=None,
        run_url=run_url,
        show=show,
    )
    return _renderer("html", "report.html.j2", templates)(view)


def render_junit(verdict: VerdictDocument, current: Results) -> str:
    """JUnit XML: one test case per gated metric (overall, per category, per slice); a failure for each that failed.

    Warnings are passed test cases with the warning in system-out. A failed verdict always shows at least one
    failure: when no gated metric failed (too many errors, an aborted run, a refused baseline), a `verdict`
    test case fails with the headline and reasons.
    """
    suite = verdict.suite or current.suite
    root = ET.Element("testsuites", name="evalgate")
    element = ET.SubElement(root, "testsuite", name=_xml(suite))
    _junit_properties(element, verdict)
    cases, failures = _junit_metric_cases(element, verdict, suite)
    if verdict.verdict == "fail" and failures == 0:
        _junit_verdict_case(element, verdict, suite)
        cases += 1
        failures += 1
    wall = current.run.wall_s
    for target in (root, element):
        target.set("tests", str(cases))
        target.set("failures", str(failures))
        target.set("errors", "0")
        target.set("time", f"{wall:.3f}" if isinstance(wall, int | float) else "0")
    element.set("skipped", "0")
    if current.created_at:
        element.set("timestamp", _xml(current.created_at))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_properties(element: ET.Element, verdict: VerdictDocument) -> None:
    properties = ET.SubElement(element, "properties")
    for name, value in (
        ("verdict", verdict.verdict),
        ("headline", verdict.headline),
        ("mode", verdict.mode),
        ("baseline", verdict.baseline.label),
        ("evalgate", __version__),
    ):
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=_xml(value))


def _junit_metric_cases(element: ET.Element, verdict: VerdictDocument, suite: str) -> tuple[int, int]:
    """One test case per gated metric row; returns how many test cases and how many failures were written."""
    cases = failures = 0
    for row in [*verdict.metrics, *verdict.categories, *verdict.slices]:
        if not row.rules:
            continue
        category = row.category
        group = category if row.slice is None else f"slice.{row.slice}"
        classname = f"evalgate.{suite}" + (f".{group}" if group is not None else "")
        case = ET.SubElement(element, "testcase", classname=_xml(classname), name=_xml(row.metric), time="0")
        cases += 1
        messages = [
            _reason_text(r)
            for r in verdict.reasons
            if r.metric == row.metric and r.category == category and r.slice == row.slice
        ]
        detail = _row_detail(row)
        if row.status == "fail":
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=_xml("; ".join(messages) or f"{row.metric} failed"),
                type="regression",
            )
            failure.text = _xml(detail)
        else:
            ET.SubElement(case, "system-out").text = _xml(
                (f"warn: {'; '.join(messages)}\n" if row.status == "warn" else "") + detail
            )
    return cases, failures


def _junit_verdict_case(element: ET.Element, verdict: VerdictDocument, suite: str) -> None:
    """The failed `verdict` test case of a failed verdict that no gated metric's failure explains."""
    case = ET.SubElement(element, "testcase", classname=_xml(f"evalgate.{suite}"), name="verdict", time="0")
    failure = ET.SubElement(case, "failure", message=_xml(verdict.headline or "the gate failed"), type="gate")
    failure.text = _xml("\n".join(_reason_text(r) for r in verdict.reasons))


def _reason_text(reason: Reason) -> str:
    return reason.message or reason.rule


def _row_detail(row: MetricRow) -> str:
    fields = (
        "current",
        "baseline",
        "delta",
        "ci_low",
        "ci_high",
        "p_value",
        "p_adjusted",
        "mde",
        "n",
        "rules",
    )
    values = {key: getattr(row, key) for key in fields}
    return "\n".join(f"{key}: {value}" for key, value in values.items() if value is not None)


def _xml(value: Any) -> str:
    """Text XML 1.0 can carry (ElementTree escapes markup but writes control characters as they are)."""
    return _XML_INVALID.sub("\ufffd", str(value))


# --- size tiers ---------------------------------------------------------------------------------------------


def _coarser_tiers() -> Iterator[Tier]:
    """The tiers after the examples are gone, from more to less detail."""
    yield Tier(examples=0, categories=False)
    yield Tier(examples=0, categories=False, case_lists=False)
    yield Tier(examples=0, categories=False, case_lists=False, extras=False)
    yield Tier(examples=0, categories=False, case_lists=False, extras=False, all_metrics=False)


def _fit(
    render: Callable[[Tier], str],
    max_examples: int,
    max_length: int,
    marker: str | None,
    measure: Callable[[str], int],
) -> str:
    """The most detailed rendering within `max_length`: as many examples as fit, then the coarser tiers."""
    if measure(marker or "") + 200 > max_length:
        raise ValueError(f"max_length {max_length} leaves no room for the report")
    text = render(Tier(examples=max_examples))
    if measure(text) <= max_length:
        return text
    low, high = 0, max_examples - 1  # the largest example count that fits, by bisection
    best = None
    while low <= high:
        middle = (low + high) // 2
        candidate = render(Tier(examples=middle))
        if measure(candidate) <= max_length:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    if best is not None:
        return best
    for tier in _coarser_tiers():
        text = render(tier)
        if measure(text) <= max_length:
            return text
    return _cut(text, max_length, measure)


def _cut(text: str, max_length: int, measure: Callable[[str], int]) -> str:
    """The last resort: cut at a line break, saying how much was cut (the marker and verdict come first)."""
    note = "\n\n… the rest of this report was cut to fit GitHub's size limit ({:,} characters left out).\n"
    budget = max_length - measure(note.format(len(text)))
    head = text[:budget]
    while measure(head) > budget:  # multi-byte characters: shrink until the bytes fit
        head = head[: len(head) - max(1, (measure(head) - budget) // 4)]
    head = head[: head.rfind("\n")] if "\n" in head else head
    return head + note.format(len(text) - len(head))


# --- templates ----------------------------------------------------------------------------------------------


def _renderer(kind: str, name: str, templates: str | Path | None) -> Callable[[dict[str, Any]], str]:
    """A function rendering a view with template `name`. With a user folder, a template error is bad input."""
    if templates is None:
        return environment(kind).get_template(name).render
    folder = Path(templates)
    if not folder.is_dir():
        raise InputError(f"report.templates: {str(folder)!r} is not a folder of Jinja2 templates")

    def render(view: dict[str, Any]) -> str:
        try:
            return environment(kind, folder.resolve()).get_template(name).render(view)
        except jinja2.TemplateError as exc:
            where = getattr(exc, "filename", None) or str(folder)
            raise InputError(
                f"report template error: {exc.message or exc}; the templates get the fields listed in "
                "evalgate/report/view.py (build_view)",
                file=where,
                line=getattr(exc, "lineno", None),
            ) from exc

    return render


def builtin_templates() -> Traversable:
    """The built-in templates: the installed package `evalgate.templates`, or the source tree's templates/."""
    try:
        return importlib.resources.files("evalgate.templates")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "templates"


def _builtin_loader() -> jinja2.BaseLoader:
    root = builtin_templates()

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        source = root.joinpath(name)
        if not source.is_file():
            return None
        return source.read_text(encoding="utf-8"), str(source), lambda: True

    return jinja2.FunctionLoader(load)


@functools.lru_cache(maxsize=8)
def environment(kind: str, user_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment of an output kind ("markdown" or "html"), with a user folder tried first."""
    loaders: list[jinja2.BaseLoader] = [_builtin_loader()]
    if user_dir is not None:
        loaders.insert(0, jinja2.FileSystemLoader(str(user_dir)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=kind == "html",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    if kind == "markdown":
        env.filters.update(
            inline=report_text.inline,
            cell=report_text.cell,
            htmltext=report_text.htmltext,
            block=report_text.block,
            mermaid=report_text.mermaid_label,
        )
    return env
