"""`report: {show: [...]}`: the metric keys the tables and the run's summary line show beside the gated ones;
a name that is not a metric key of the suite is bad input at its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportkit import load, typed, verdict_fixture

from evalgate import cli
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.report.render import render_html, render_markdown
from tests.conftest import write_suite

MODEL = {
    "model.py": "def predict(x):\n    return x\n",
    "data/cases.jsonl": "".join(
        f'{{"input": "{word}", "expected": "{word}", "category": "{category}"}}\n'
        for word, category in (("a", "easy"), ("b", "easy"), ("c", "hard"), ("d", "hard"))
    ),
}

SUITE = """
suite: demo
datasets: [data]
provider: {{type: python, target: model.py:predict}}
metrics: [accuracy, rougeL, exact_match]
gate:
  accuracy: {{min: 0.5}}
{report}
"""


def suite(tmp_path: Path, report: str = "") -> Path:
    return write_suite(tmp_path, SUITE.format(report=report), MODEL)


def test_a_name_that_is_not_a_metric_key_is_bad_input_at_its_line(tmp_path) -> None:
    path = suite(tmp_path, "report:\n  show:\n    - rougeL\n    - acuracy\n")
    with pytest.raises(InputError) as caught:
        load_config(path)
    error = caught.value
    assert error.file == str(path) and error.line == 10  # the line of `- acuracy`
    assert "report.show names the metric key 'acuracy'" in error.message
    assert "did you mean accuracy?" in error.message and "rougeL" in error.message


def test_the_cli_exits_2_naming_the_key(tmp_path, capsys) -> None:
    path = suite(tmp_path, "report: {show: [rougeL, bleu]}")
    code, error = cli.run(["run", "--config", str(path)])
    assert code == 2
    assert error is not None and "'bleu'" in error["message"] and error["line"] == 7


@pytest.mark.parametrize(
    ("show", "problem"),
    [("show: rougeL", "report.show must be a list"), ("show: [rougeL, 3]", "must be a list of names")],
)
def test_show_is_a_list_of_names(tmp_path, show, problem) -> None:
    with pytest.raises(InputError, match=problem):
        load_config(suite(tmp_path, f"report: {{{show}}}"))


def summary_keys(tmp_path: Path, capsys, report: str) -> list[str]:
    results = tmp_path / "results.json"
    code, error = cli.run(
        ["run", "--config", str(suite(tmp_path, report)), "--output", str(results), "--quiet"]
    )
    assert code == 0, error
    line = next(line for line in capsys.readouterr().err.splitlines() if " cases -> " in line)
    inside = line[line.index("(") + 1 : line.rindex(")")]
    return [part.split(" ")[0] for part in inside.split(", ")]


def test_the_run_summary_shows_the_gated_keys_and_the_chosen_ones(tmp_path, capsys) -> None:
    default = summary_keys(tmp_path, capsys, "")
    assert {"accuracy", "rougeL", "exact_match", "error_rate"} <= set(default)  # named, or shown always
    chosen = summary_keys(tmp_path, capsys, "report: {show: [exact_match]}")
    assert chosen == ["accuracy", "exact_match"]  # accuracy is gated: always shown
    assert summary_keys(tmp_path, capsys, "report: {show: []}") == ["accuracy"]


def table_rows(text: str, header: str) -> list[list[str]]:
    table = text[text.index(header) :].split("\n\n")[0].split("\n")[2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table]


GATED = ["accuracy", "f1\\_macro", "error\\_rate", "latency\\_p95\\_ms"]


def test_the_metric_table_shows_the_gated_keys_and_the_chosen_ones(current, baseline) -> None:
    verdict = verdict_fixture("verdict_fail.json")

    def names(**options) -> list[str]:
        return [
            row[0] for row in table_rows(render_markdown(verdict, current, baseline, **options), "| Metric |")
        ]

    assert names() == ["accuracy", "f1\\_macro", "rougeL", *GATED[2:], "latency\\_p50\\_ms"]
    assert names(show=["rougeL"]) == ["accuracy", "f1\\_macro", "rougeL", *GATED[2:]]
    assert names(show=[]) == GATED  # only the gated keys
    html = render_html(verdict, current, baseline, show=["latency_p50_ms"])
    assert "<td>latency_p50_ms</td>" in html and "<td>rougeL</td>" not in html


def test_the_category_table_shows_a_chosen_key_of_any_kind(current, baseline) -> None:
    data = load("verdict_fail.json")
    for row in list(data["categories"]):
        data["categories"].append(
            dict(row, metric="latency_p50_ms", kind="corpus", unit="ms", rules={}, current=200.0, delta=5.0)
        )
    verdict = typed(data)
    default = render_markdown(verdict, current, baseline)
    assert "| Category | n | accuracy | Status |" in default  # by default a corpus key stays out of it
    chosen = render_markdown(verdict, current, baseline, show=["latency_p50_ms"])
    assert "| Category | n | accuracy | latency\\_p50\\_ms | Status |" in chosen


def test_the_reference_example_is_a_valid_report_section(tmp_path) -> None:
    from tests.conftest import ROOT

    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    section = reference[reference.index("### The report (`report`)") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    example = section[start : section.index("\n```", start)]
    config = write_suite(
        tmp_path,
        "suite: demo\ndatasets: [data]\nprovider: {type: python, target: model.py:predict}\n"
        "metrics: [accuracy, rougeL, {judge: {criteria: [accuracy]}}]\n"
        "judge: {type: anthropic, model: claude-haiku-4-5}\n" + example + "\n",
        MODEL,
    )
    loaded = load_config(config)
    assert loaded.report["show"] == ["rougeL", "judge_score", "latency_p95_ms"]
    assert loaded.report["max_examples"] == 10 and loaded.report["max_chars"] == 400


@pytest.mark.slow
def test_in_a_suite_of_tasks_show_names_keys_of_any_task(tmp_path) -> None:
    import shutil

    from tests.conftest import ROOT
    from tests.test_tasks import check

    folder = tmp_path / "suite"
    shutil.copytree(ROOT / "examples" / "support-tasks", folder, ignore=shutil.ignore_patterns(".evalgate"))
    config = folder / "evalgate.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text + "report:\n  show: [f1_macro, rougeL, acuracy]\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_config(config, whole=True)
    assert "'acuracy'" in caught.value.message and caught.value.line == text.count("\n") + 2
    config.write_text(text + "report:\n  show: [f1_macro, rougeL]\n", encoding="utf-8")
    assert load_config(config, whole=True).report["show"] == ["f1_macro", "rougeL"]  # each in one task only
    assert check(folder, "out") == 0
    report = (folder / "out" / "report.md").read_text(encoding="utf-8")
    intent, summary = report.split("### Task summary")
    # error_rate is gated by default (max 5%): shown like every gated key
    assert [row[0] for row in table_rows(intent, "| Metric |")] == ["accuracy", "f1\\_macro", "error\\_rate"]
    assert [row[0] for row in table_rows(summary, "| Metric |")] == ["rougeL", "assertions", "error\\_rate"]
    page = (folder / "out" / "report.html").read_text(encoding="utf-8")
    assert '<span class="badge pass">PASS</span> evalgate passed' in page
    assert not [emoji for emoji in ("✅", "⚠", "❌", "🔔") if emoji in page]
