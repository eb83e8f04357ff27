"""The other outputs (JSON, JUnit XML, a standalone HTML page) and where the templates come from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import pytest
from reportkit import FIXTURES, load, typed, verdict_fixture

from evalgate.contracts.trend import Alarm, Trend
from evalgate.contracts.verdict import VerdictDocument
from evalgate.errors import InputError
from evalgate.files.fileio import write_json_atomic
from evalgate.report.render import environment, render_html, render_junit, render_markdown

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "</details><script>alert(1)</script><img src=x onerror=alert(1)> @octocat \x1b[0m\x00 & ]]> ``` |"


def hostile_fail() -> VerdictDocument:
    verdict = load("verdict_fail.json")
    verdict["headline"] = HOSTILE
    verdict["reasons"][1]["message"] = HOSTILE
    verdict["categories"][1]["category"] = HOSTILE
    verdict["reasons"][1]["category"] = HOSTILE
    for case in verdict["cases"]["regressed"]:
        case["output"] = HOSTILE
    return typed(verdict)


# --- JSON -----------------------------------------------------------------------------------------


def test_json_is_the_verdict_pretty_printed(tmp_path) -> None:
    # the pipeline writes the Verdict JSON (--json) with write_json_atomic
    def render_json(data: dict[str, Any]) -> str:
        return write_json_atomic(tmp_path / "verdict.json", data).read_text(encoding="utf-8")

    verdict = hostile_fail().model_dump(
        mode="json", exclude_unset=True
    )  # as pipeline.write_reports writes it
    text = render_json(verdict)
    assert json.loads(text) == verdict
    assert text.startswith('{\n  "schema_version": 1,')
    assert render_json({"a": "→"}) == '{\n  "a": "→"\n}\n'  # unicode kept readable


# --- JUnit ----------------------------------------------------------------------------------------


def test_junit_has_a_test_case_per_gated_metric_and_a_failure_per_failed_one(current) -> None:
    root = ET.fromstring(render_junit(verdict_fixture("verdict_fail.json"), current))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    # gated: accuracy, f1_macro, error_rate, latency_p95_ms overall; accuracy in edge
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("evalgate.support-bot", "accuracy"),
        ("evalgate.support-bot", "f1_macro"),
        ("evalgate.support-bot", "error_rate"),
        ("evalgate.support-bot", "latency_p95_ms"),
        ("evalgate.support-bot.edge", "accuracy"),
    ]
    assert suite.get("tests") == "5" and suite.get("failures") == "2" and suite.get("errors") == "0"
    assert root.get("tests") == "5" and root.get("failures") == "2"
    assert suite.get("time") == "38.400" and suite.get("timestamp") == "2026-11-26T08:02:11Z"
    failure = cases[0].find("failure")
    assert failure.get("message").startswith("accuracy dropped 4.0 points (91.0% → 87.0%")
    assert "p_value: 0.003" in failure.text and "delta: -0.04" in failure.text
    assert cases[1].find("failure") is None
    assert cases[4].find("failure").get("message") == "accuracy in edge is 77.5%, below the floor of 80.0%"
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["verdict"] == "fail" and properties["baseline"] == "main@3f2a9c1"


def test_junit_passes_warnings_and_fails_a_failed_verdict_without_failed_metrics(current) -> None:
    warn = ET.fromstring(render_junit(verdict_fixture("verdict_warn.json"), current)).find("testsuite")
    assert warn.get("failures") == "0" and warn.get("tests") == "1"
    assert warn.find("testcase/system-out").text.startswith("warn: rougeL dropped 0.019")

    aborted = verdict_fixture("verdict_pass.json")
    aborted.verdict, aborted.headline = "fail", "the run was aborted: budget spent (max_cost 5.0)"
    suite = ET.fromstring(render_junit(aborted, current)).find("testsuite")
    assert suite.get("failures") == "1"
    verdict_case = suite.findall("testcase")[-1]
    assert verdict_case.get("name") == "verdict"
    assert verdict_case.find("failure").get("message") == "the run was aborted: budget spent (max_cost 5.0)"


def test_junit_is_valid_xml_with_hostile_text(current) -> None:
    text = render_junit(hostile_fail(), current)
    root = ET.fromstring(text)  # control characters would make this raise
    case = root.find("testsuite").findall("testcase")[-1]
    assert case.get("classname") == "evalgate.support-bot." + HOSTILE.replace("\x1b", "\ufffd").replace(
        "\x00", "\ufffd"
    )
    assert "<script>" in case.find("failure").get("message")  # escaped in the XML, intact once parsed


# --- HTML -----------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text += data


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_html_is_a_standalone_page_with_the_report(current, baseline) -> None:
    alarm = Alarm("cusum", "11-21", "accuracy drifted down (worse): lower CUSUM 6.1 > h=5.0 since run 11-21")
    trend = Trend("accuracy", ["11-20", "11-21"], [0.91, 0.9], [alarm])
    text = render_html(
        verdict_fixture("verdict_fail.json"),
        current,
        baseline,
        trend=trend,
        run_url="https://ci.example/run/9",
    )
    page = parse_page(text)
    assert page.urls == ["https://ci.example/run/9"]  # no external assets, only the run link
    assert "script" not in page.tags and "link" not in page.tags
    assert {"table", "details", "pre", "svg", "polyline"} <= page.tags
    assert "evalgate failed: accuracy dropped 4.0 points" in page.text
    for expected in (
        "91.0%",
        "-4.0 pp",
        "0.003 (adj. 0.006)",
        "By category (largest regression first)",
        "c-17",
        "Cache: 412 hits",
    ):
        assert expected in page.text


STATUS_EMOJI = ("✅", "⚠", "❌", "❔", "🔔", "ℹ")


def test_html_marks_statuses_with_text_badges_not_emoji(current, baseline) -> None:
    alarm = Alarm("cusum", "11-21", "accuracy drifted down")
    verdict = load("verdict_fail.json")
    verdict["judge_calibration"] = {
        "status": "untrusted",
        "metrics": {"judge_helpfulness": {"trusted": False, "agreement": 0.41}},
        "canary": {"alarm": True, "changed": 9, "compared": 20, "changed_share": 0.45, "max_changed": 0.2},
    }
    text = render_html(
        typed(verdict), current, baseline, trend=Trend("accuracy", ["a", "b"], [0.9, 0.8], [alarm])
    )
    assert not [emoji for emoji in STATUS_EMOJI if emoji in text]
    assert ".badge.fail {" in text and ".badge.pass {" in text and ".badge.warn {" in text  # coloured by CSS
    assert '<h1 class="fail"><span class="badge fail">FAIL</span> evalgate failed' in text
    # the metric table: accuracy failed, latency passed (both gated); rougeL is not gated: no badge
    rows = {
        row.split("</td>")[0].removeprefix("<tr><td>"): row
        for row in text.split("\n")
        if row.startswith("<tr><td>")
    }
    assert rows["accuracy"].endswith('<td><span class="badge fail">FAIL</span></td></tr>')
    assert rows["latency_p95_ms"].endswith('<td><span class="badge pass">PASS</span></td></tr>')
    assert rows["rougeL"].endswith("<td></td></tr>")
    # the category table: only the gated category (edge) has a status
    assert rows["edge"].endswith('<td><span class="badge fail">FAIL</span></td></tr>')
    assert rows["adversarial"].endswith("<td></td></tr>") and "badge" not in rows["adversarial"]
    assert '<span class="badge warn">NOT TRUSTED</span> <b>Judge</b>' in text
    assert text.count('<span class="badge fail">ALARM</span>') == 2  # the canary and the trend's alarm


def test_html_escapes_every_untrusted_value(current, baseline) -> None:
    text = render_html(hostile_fail(), current, baseline)
    page = parse_page(text)
    assert page.tags.isdisjoint({"script", "img"})
    assert text.count("</details>") == text.count("<details>") == 3
    assert "</details><script>alert(1)</script>" in page.text  # shown as text


# --- templates ------------------------------------------------------------------------------------


def test_a_user_folder_overrides_one_template_and_keeps_the_others(tmp_path, current, baseline) -> None:
    (tmp_path / "_cases.md.j2").write_text("\nOUR CASES: {{ cases.paired }} paired\n", encoding="utf-8")
    text = render_markdown(verdict_fixture("verdict_fail.json"), current, baseline, templates=tmp_path)
    assert "OUR CASES: 499 paired" in text
    assert "**Cases:**" not in text
    assert "| Metric |" in text  # the built-in partials still load


def test_a_broken_user_template_is_bad_input_naming_the_file(tmp_path, current) -> None:
    (tmp_path / "_cases.md.j2").write_text("\n{{ cases.no_such_field }}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"report template error: .*no_such_field"):
        render_markdown(verdict_fixture("verdict_fail.json"), current, None, templates=tmp_path)
    (tmp_path / "_cases.md.j2").write_text("\n{% if %}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        render_markdown(verdict_fixture("verdict_fail.json"), current, None, templates=tmp_path)
    assert info.value.file.endswith("_cases.md.j2") and info.value.line == 2
    with pytest.raises(InputError, match="is not a folder"):
        render_markdown(verdict_fixture("verdict_fail.json"), current, None, templates=tmp_path / "missing")


def test_built_in_templates_fail_loudly_on_a_missing_field(current) -> None:
    verdict = verdict_fixture("verdict_fail.json")
    with pytest.raises(jinja2.UndefinedError):
        environment("markdown").get_template("_cases.md.j2").render({})
    assert render_markdown(verdict, current, None)  # while a full view renders


@pytest.mark.slow
def test_installed_package_loads_its_own_templates(tmp_path) -> None:
    """Build the package as setuptools installs it (templates/ mapped into evalgate/templates/) and render."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "evalgate", "templates"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    (source / "README.md").write_text("evalgate\n", encoding="utf-8")
    build = tmp_path / "lib"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from setuptools import setup; setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(build),
        ],
        cwd=source,
        check=True,
        capture_output=True,
    )
    assert (build / "evalgate" / "templates" / "report.md.j2").is_file()
    (build / "evalgate" / "templates" / "_cases.md.j2").write_text("\nINSTALLED COPY\n", encoding="utf-8")
    script = (
        "import json, sys; from evalgate.report import render as report; "
        "from evalgate.contracts.results import parse_results; "
        "from evalgate.contracts.verdict import parse_verdict; "
        f"v = parse_verdict(json.load(open({str(FIXTURES / 'verdict_fail.json')!r})), file='verdict'); "
        f"r = parse_results(json.load(open({str(FIXTURES / 'results_current.json')!r})), file='results'); "
        "print(report.builtin_templates()); print(report.render_markdown(v, r, None))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(build)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(build / "evalgate" / "templates")
    assert "INSTALLED COPY" in result.stdout
