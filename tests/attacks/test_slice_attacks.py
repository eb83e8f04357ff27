"""Attacks on slices (issue 12 item 2), kept as regressions: sliced metadata values that cannot name a slice
(objects, arrays, huge or multi-line text, direction marks), tags that are not strings, a key with 10,000 values,
and slice names built to break a markdown table, an HTML page or the Actions log.

What evalgate must do: refuse bad input before any case runs (exit 2, one message at the dataset's line or the
config's `slices:` entry), never truncate or merge slices silently, and show any name it accepts escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gatekit import make_config, rule, scored_results

from evalgate.cli import main
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.files.limits import MAX_SLICE_VALUE_CHARS, MAX_SLICES
from evalgate.gate import decide
from evalgate.report.render import render_html, render_markdown
from tests.conftest import write_suite
from tests.gatekit import as_results, compare

MODEL = "import pathlib\n\ndef predict(x):\n    pathlib.Path(__file__).with_name('called').touch()\n    return x\n"
CONFIG = "suite: s\ndatasets: [data]\nprovider: {type: python, target: model.py:predict}\nslices: [metadata.length, tags]\n"


def run_with(tmp_path: Path, lines: list[str], config: str = CONFIG) -> int:
    path = write_suite(
        tmp_path, config, {"model.py": MODEL, "data/typical_cases.jsonl": "\n".join(lines) + "\n"}
    )
    return main(["run", "--config", str(path), "--output", str(tmp_path / "r.json"), "--quiet"])


GOOD = '{"id": "ok", "input": "a", "expected": "a", "metadata": {"length": "long"}}'


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"id": "x", "input": "a", "metadata": {"length": {"words": 3}}}', "metadata.length is an object"),
        ('{"id": "x", "input": "a", "metadata": {"length": [1, 2]}}', "metadata.length is an array"),
        ('{"id": "x", "input": "a", "metadata": {"length": ""}}', "metadata.length is empty"),
        (
            json.dumps({"id": "x", "input": "a", "metadata": {"length": "L" * 10_000}}),
            f"metadata.length is 10,000 characters long, more than the {MAX_SLICE_VALUE_CHARS}",
        ),
        ('{"id": "x", "input": "a", "metadata": {"length": "long\\n::error::x"}}', "holds a control"),
        ('{"id": "x", "input": "a", "metadata": {"length": "long\\u202egnol"}}', "holds a control"),
        ('{"id": "x", "input": "a", "metadata": {"length": "\\ud800"}}', "half of a UTF-16 surrogate pair"),
        ('{"id": "x", "input": "a", "tags": "billing"}', "'tags' must be a list of strings"),
        ('{"id": "x", "input": "a", "tags": ["billing", 42]}', "tags[1] is not a string"),
        ('{"id": "x", "input": "a", "tags": [null]}', "tags[0] is not a string"),
        ('{"id": "x", "input": "a", "tags": [" "]}', "tags[0] is empty"),
        ('{"id": "x", "input": "a", "tags": ["bill\\ting"]}', "tags[0] holds a control"),
    ],
)
def test_a_value_that_cannot_name_a_slice_is_exit_2_at_its_line(tmp_path, capsys, line, problem):
    assert run_with(tmp_path, [GOOD, line]) == 2
    error = capsys.readouterr().err
    assert "typical_cases.jsonl:2:" in error and problem in error, error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "called").exists()  # refused before any case ran


def test_an_unsliced_metadata_value_may_be_anything(tmp_path):
    line = '{"id": "x", "input": "a", "metadata": {"other": {"deep": [1, {"x": null}]}, "length": null}}'
    assert run_with(tmp_path, [GOOD, line]) == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["slices"]["length=long"]["accuracy"]["n"] == 1  # null is in no slice
    assert sorted(results["slices"]) == ["length=long"]


def test_numbers_and_booleans_name_slices_as_json_writes_them(tmp_path):
    config = CONFIG.replace("[metadata.length, tags]", "[metadata.turns, metadata.vip]")
    lines = [
        '{"id": "a", "input": "a", "metadata": {"turns": 3, "vip": true}}',
        '{"id": "b", "input": "b", "metadata": {"turns": 0.5, "vip": false}}',
    ]
    assert run_with(tmp_path, lines, config) == 0
    assert sorted(json.loads((tmp_path / "r.json").read_text())["slices"]) == [
        "turns=0.5",
        "turns=3",
        "vip=false",
        "vip=true",
    ]


def test_ten_thousand_distinct_values_are_refused_at_the_slices_entry(tmp_path, capsys):
    lines = [json.dumps({"id": f"c{i}", "input": "a", "metadata": {"user": f"u{i}"}}) for i in range(10_000)]
    config = CONFIG.replace("[metadata.length, tags]", "[tags, metadata.user]")
    assert run_with(tmp_path, lines, config) == 2
    error = capsys.readouterr().err
    assert f"evalgate.yaml:4: slices: metadata.user takes the suite beyond {MAX_SLICES} slices" in error
    assert "slice by a coarser key" in error
    assert not (tmp_path / "called").exists()


def test_a_results_file_with_too_many_slices_is_refused_by_the_gate_not_truncated():
    config = make_config(metrics=["accuracy"], slices=["metadata.user"])
    rows = [
        {"id": f"c{i}", "category": "t", "expected": "a", "output": "a", "metadata": {"user": f"u{i}"}}
        for i in range(MAX_SLICES + 1)
    ]
    with pytest.raises(InputError) as caught:
        scored_results(config, rows)
    assert f"beyond {MAX_SLICES} slices" in caught.value.message
    results = scored_results(make_config(metrics=["accuracy"]), rows)  # written without slices, gated with
    with pytest.raises(InputError):
        compare(results, results, config)


def test_a_hostile_baseline_case_is_in_no_slice_never_a_crash():
    """A results file is not checked like a dataset: a baseline's unusable values put its case in no slice."""
    config = make_config(
        [rule("accuracy", slice="length=long", max_drop=0.1)],
        metrics=["accuracy"],
        slices=["metadata.length", "tags"],
    )
    rows = [
        {"id": f"c{i}", "category": "t", "expected": "a", "output": "a", "metadata": {"length": "long"}}
        for i in range(10)
    ]
    current = scored_results(config, rows)
    baseline = json.loads(json.dumps(current))
    baseline["cases"][0]["metadata"] = {"length": {"evil": True}}
    baseline["cases"][1]["metadata"] = {"length": "x" * 100_000}
    baseline["cases"][2]["tags"] = ["\u202e", "ok"]
    del baseline["slices"]
    verdict = decide(compare(current, baseline, config), config)
    item = next(i for i in verdict.comparison.slices if i.slice == "length=long" and i.rules)
    assert item.baseline == 1.0 and verdict.verdict == "pass"  # its 8 usable cases' value
    assert item.n == 10  # paired on the current run's members of the slice, as a category is


def test_slice_names_built_to_break_a_table_or_the_log_are_shown_escaped(capsys):
    names = ["a|b", "`x`", "<script>alert(1)</script>", "::error::pwned", "[x](http://evil)"]
    config = make_config(metrics=["accuracy"], slices=["metadata.k"])
    rows = [
        {
            "id": f"c{i}",
            "category": "t",
            "expected": "a",
            "output": "a" if i % 2 else "b",
            "metadata": {"k": name},
        }
        for i, name in enumerate(names * 2)
    ]
    results = scored_results(config, rows)
    gated = make_config(
        [rule("accuracy", slice="k=::error::pwned", min=0.9)], metrics=["accuracy"], slices=["metadata.k"]
    )
    verdict = decide(compare(results, results, gated), gated)
    document = verdict.document()
    markdown = render_markdown(document, as_results(results), None)
    table = markdown.split("**By slice**")[1].split("\n\n")[1].splitlines()
    assert len(table) == 2 + len(names)
    assert {len(re.findall(r"(?<!\\)\|", line)) for line in table} == {6}  # no cell split by a name's `|`
    assert "| k=a\\|b |" in markdown and "k=\\[x\\](http://evil)" in markdown  # escaped, not a link
    assert "<script>" not in markdown and "<script>" not in render_html(document, as_results(results), None)
    assert not any(line.lstrip().startswith("::") for line in markdown.splitlines())


def test_slice_drop_rules_count_in_the_category_family_for_the_resamples_check(tmp_path):
    """Three category and three slice rougeL drop rules are one Holm family of six: 100 resamples (p >= 1/101)
    could never beat 0.05/6. Counted apart (three each), the check once let it through."""
    rules = "\n".join(
        [
            "  categories:",
            *(f"    c{i}: {{rougeL: {{max_drop: 0.01}}}}" for i in range(3)),
            "  slices:",
            *(f'    "length=v{i}": {{rougeL: {{max_drop: 0.01}}}}' for i in range(3)),
        ]
    )
    text = CONFIG + f"metrics: [rougeL]\nstats:\n  resamples: 100\ngate:\n{rules}\n"
    path = write_suite(tmp_path, text, {"model.py": MODEL, "data/typical_cases.jsonl": GOOD + "\n"})
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert (
        "stats.resamples is 100: too few" in caught.value.message
        and "with 6 drop rules" in caught.value.message
    )
