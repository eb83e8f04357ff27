"""Slices (issue 12 item 2): `slices:` by metadata keys and tags, reported like categories and gated with the
same paired statistics, Holm's correction covering the category and slice rules together. Through the real
command line (`evalgate run`, `gate`, `merge` in process) on small suites, and through compare/decide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gatekit import make_config, rule, scored_results
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgate import pairing
from evalgate.cli import main
from evalgate.config import load_config
from evalgate.contracts.results import parse_results
from evalgate.errors import InputError
from evalgate.gate import decide
from evalgate.report.render import render_comment, render_html
from evalgate.results import load_results
from tests import test_gate_monotone as monotone
from tests.conftest import ROOT, write_suite
from tests.gatekit import compare

# a case's answer is wrong when its input is listed in the file `wrong` beside the model
MODEL = (
    "import pathlib\n\n"
    "def predict(x):\n"
    "    wrong = pathlib.Path(__file__).with_name('wrong')\n"
    "    listed = wrong.read_text().split() if wrong.exists() else []\n"
    "    return 'no' if x in listed else x\n"
)


def cases(n_long: int = 40, n_short: int = 40) -> str:
    """JSONL: long and short cases (metadata.length), every fourth tagged billing, every fifth refund too."""
    lines = []
    for i in range(n_long + n_short):
        length = "long" if i < n_long else "short"
        case = {"id": f"c{i:03d}", "input": f"q{i}", "expected": f"q{i}", "metadata": {"length": length}}
        if i % 4 == 0:
            case["tags"] = ["billing", "refund"] if i % 5 == 0 else ["billing"]
        lines.append(json.dumps(case))
    return "\n".join(lines) + "\n"


def suite(
    tmp_path: Path, gate: str = "", slices: str = "[metadata.length, tags]", data: str | None = None
) -> Path:
    config = (
        "suite: sliced\ndatasets: [data]\nprovider: {type: python, target: model.py:predict}\n"
        f"cache: {{enabled: false}}\nslices: {slices}\n{gate}"
    )
    return write_suite(tmp_path, config, {"model.py": MODEL, "data/typical_cases.jsonl": data or cases()})


def run(config: Path, output: Path, wrong: list[str] = ()) -> int:
    (config.parent / "wrong").write_text("\n".join(wrong))
    return main(["run", "--config", str(config), "--output", str(output), "--quiet"])


LONG_GATE = 'gate:\n  accuracy: {max_drop: 0.2}\n  slices:\n    "length=long": {accuracy: {max_drop: 0.05}}\n'


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A baseline, and a run that got 12 of the 40 long cases wrong (30 points in slice length=long, 15 overall)."""
    config = suite(tmp_path, LONG_GATE)
    assert run(config, tmp_path / "base.json") == 0
    assert run(config, tmp_path / "cur.json", [f"q{i}" for i in range(0, 24, 2)]) == 0
    return config, tmp_path / "base.json", tmp_path / "cur.json"


def gate(config: Path, current: Path, baseline: Path | None, out: Path, *extra: str) -> int:
    args = ["gate", "--current", str(current), "--config", str(config), "--json", str(out / "verdict.json")]
    return main(args + (["--baseline", str(baseline)] if baseline else []) + list(extra))


@pytest.mark.slow
def test_the_results_record_each_slice_and_each_case_its_tags(runs):
    _, base, _ = runs
    results = json.loads(base.read_text())
    assert sorted(results["slices"]) == ["length=long", "length=short", "tag=billing", "tag=refund"]
    assert results["slices"]["length=long"]["accuracy"] == {
        **results["slices"]["length=long"]["accuracy"],
        "n": 40,
    }
    assert results["slices"]["tag=billing"]["accuracy"]["n"] == 20
    assert results["slices"]["tag=refund"]["accuracy"]["n"] == 4  # i % 20 == 0
    assert results["cases"][0]["tags"] == ["billing", "refund"] and "tags" not in results["cases"][1]
    parse_results(results, file="base.json")  # the schema holds them


@pytest.mark.slow
def test_a_drop_in_one_slice_fails_its_rule_and_says_where(runs, tmp_path):
    config, base, cur = runs
    report, junit = tmp_path / "report.md", tmp_path / "junit.xml"
    code = gate(config, cur, base, tmp_path, "--report", str(report), "--junit", str(junit))
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert code == 1, verdict["headline"]
    reason = next(r for r in verdict["reasons"] if r.get("slice") == "length=long")
    assert reason["severity"] == "fail" and reason["message"].startswith(
        "accuracy in slice 'length=long' dropped"
    )
    overall = [r for r in verdict["reasons"] if r["category"] is None and r.get("slice") is None]
    assert [r["severity"] for r in overall] == ["warn"]  # 15 points: significant, but within its 20
    row = next(r for r in verdict["slices"] if r["slice"] == "length=long" and r["metric"] == "accuracy")
    assert row["delta"] == pytest.approx(-0.3) and row["n"] == 40 and row["status"] == "fail"
    assert row["method"] == "mcnemar_exact" and row["p_adjusted"] is not None
    short = next(r for r in verdict["slices"] if r["slice"] == "length=short" and r["metric"] == "accuracy")
    assert short["delta"] == 0 and short["status"] == "info"
    text = report.read_text()
    assert "**By slice** (largest regression first" in text and "| Slice | n |" in text
    assert text.index("| length=long | 40 |") < text.index("| length=short | 40 |")  # worst first
    assert 'classname="evalgate.sliced.slice.length=long"' in junit.read_text()
    assert "<failure" in junit.read_text()


@pytest.mark.slow
def test_an_identical_run_passes_with_slice_rules(runs, tmp_path):
    config, base, _ = runs
    assert gate(config, base, base, tmp_path) == 0


def test_a_slice_rule_without_a_baseline_checks_its_absolute_bounds(tmp_path):
    gate_text = 'gate:\n  slices:\n    "tag=billing": {accuracy: {min: 0.9}}\n'
    config = suite(tmp_path, gate_text)
    assert run(config, tmp_path / "cur.json", ["q0", "q4", "q8"]) == 0  # 17 of 20 billing cases right
    assert gate(config, tmp_path / "cur.json", None, tmp_path) == 1
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert "accuracy in slice 'tag=billing' is 85.0%, below the minimum 90.0%" in verdict["headline"]


@pytest.mark.slow
def test_a_baseline_written_before_slices_gets_its_slices_from_its_cases(runs, tmp_path):
    config, base, cur = runs
    old = json.loads(base.read_text())
    del old["slices"]
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old))
    assert gate(config, cur, old_path, tmp_path) == 1
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    row = next(r for r in verdict["slices"] if r["slice"] == "length=long" and r["metric"] == "accuracy")
    assert row["baseline"] == 1.0 and row["current"] == pytest.approx(0.7)


def test_a_slice_rule_naming_no_slice_stops_the_run_before_any_case(tmp_path, capsys):
    config = suite(tmp_path, 'gate:\n  slices:\n    "length=lng": {accuracy: {min: 0.5}}\n')
    assert run(config, tmp_path / "r.json") == 2
    error = capsys.readouterr().err
    assert f"{config}:8: gate.slices.length=lng.accuracy names the slice 'length=lng'" in error
    assert (
        "their slices: length=long, length=short, tag=billing, tag=refund (did you mean length=long" in error
    )
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_a_slice_rule_naming_no_slice_of_the_results_is_refused_by_the_gate(runs, tmp_path, capsys):
    _, base, cur = runs
    other = suite(tmp_path / "other", 'gate:\n  slices:\n    "tag=biling": {accuracy: {min: 0.5}}\n')
    assert gate(other, cur, base, tmp_path) == 2
    assert "names the slice 'tag=biling', but the cases of the current results have no such slice" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ("[metadata.]", "slices: 'metadata.' is not a slice; expected `tags` or `metadata.KEY`"),
        ("[length]", "slices: 'length' is not a slice"),
        ("[{metadata: length}]", "slices[0] is {'metadata': 'length'}; expected"),
        ("[metadata.tag]", "slices: metadata.tag would name its slices `tag=VALUE`"),
        ("[tags, tags]", "slices: tags is listed twice"),
        ("metadata.length", "slices must be"),
    ],
)
def test_a_bad_slices_entry_is_exit_2_at_its_line(tmp_path, capsys, slices, message):
    config = suite(tmp_path, slices=slices)
    assert main(["run", "--config", str(config), "--output", str(tmp_path / "r.json"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert f"{config}:5:" in error and message in error, error


def test_a_gate_slices_section_that_is_not_a_mapping_is_exit_2(tmp_path):
    with pytest.raises(InputError) as caught:
        load_config(suite(tmp_path, "gate:\n  slices: [length=long]\n"))
    assert "gate.slices must map slice names to thresholds" in caught.value.message
    assert caught.value.line == 7


def test_an_entry_no_case_has_is_a_warning(tmp_path, capsys):
    config = suite(tmp_path, slices="[metadata.lenght]")
    assert run(config, tmp_path / "r.json") == 0
    assert "slices: metadata.lenght makes no slice: no case has a value for metadata.lenght" in (
        capsys.readouterr().err
    )


# -- the statistics: Holm over categories and slices together, each slice's detectable drop ---------------


def _labels(n: int, wrong: set[int], length: str = "long") -> list[dict]:
    return [
        {
            "id": f"c{i:04d}",
            "category": "edge" if i % 2 else "typical",
            "expected": "a",
            "output": "b" if i in wrong else "a",
            "metadata": {"length": length if i < n // 2 else "short"},
        }
        for i in range(n)
    ]


def test_holm_covers_the_category_and_slice_rules_as_one_family():
    rules = [rule("accuracy", "edge", max_drop=0.01), rule("accuracy", slice="length=long", max_drop=0.01)]
    config = make_config(rules, metrics=["accuracy"], slices=["metadata.length"])
    base = scored_results(config, _labels(200, set()))
    cur = scored_results(config, _labels(200, set(range(0, 60, 3))))
    comparison = compare(cur, base, config)
    edge = comparison.metric("accuracy", "edge")
    long = next(i for i in comparison.slices if i.slice == "length=long" and i.metric == "accuracy")
    tests = [edge.tests["max_drop"], long.tests["max_drop"]]
    smallest, largest = sorted(tests, key=lambda test: test["p_value"])
    assert smallest["p_adjusted"] == pytest.approx(min(1.0, 2 * smallest["p_value"]))  # m = 2: one family
    assert largest["p_adjusted"] >= smallest["p_adjusted"]
    alone = make_config(rules[1:], metrics=["accuracy"], slices=["metadata.length"])
    single = next(i for i in compare(cur, base, alone).slices if i.slice == "length=long" and i.rules)
    assert single.tests["max_drop"]["p_adjusted"] == single.tests["max_drop"]["p_value"]


def test_a_slice_too_small_to_detect_its_margin_says_so():
    config = make_config(
        [rule("accuracy", slice="length=long", max_drop=0.02)],
        metrics=["accuracy"],
        slices=["metadata.length"],
    )
    base = scored_results(config, _labels(16, {9}))
    verdict = decide(compare(base, base, config), config)
    item = next(i for i in verdict.comparison.slices if i.slice == "length=long" and i.rules)
    assert item.n == 8 and item.note and "With 8 paired cases this suite is too small" in item.note
    assert verdict.verdict == "pass"
    assert any(w.startswith("accuracy [length=long]: With 8 paired cases") for w in verdict.warnings)


def test_a_slice_whose_cases_are_all_quarantined_says_it_was_not_judged():
    config = make_config(
        [rule("accuracy", slice="length=rare", min=0.9)],
        metrics=["accuracy"],
        slices=["metadata.length"],
        quarantine=["r1"],
    )
    rows = [
        *_labels(10, set()),
        {"id": "r1", "category": "x", "expected": "a", "output": "b", "metadata": {"length": "rare"}},
    ]
    results = scored_results(config, rows)
    verdict = decide(compare(results, results, config), config)
    assert verdict.verdict == "pass"
    assert (
        "gate.slices.length=rare.accuracy: not judged: every case of slice 'length=rare' is quarantined"
        in (verdict.warnings)
    )
    assert not [i for i in verdict.comparison.slices if i.slice == "length=rare"]


def test_a_sample_that_left_a_slice_out_warns_instead():
    config = make_config([rule("accuracy", slice="tag=vip", min=0.5)], metrics=["accuracy"], slices=["tags"])
    results = scored_results(config, _labels(10, set()))
    results["signature"]["sample"] = 10
    verdict = decide(compare(results, results, config), config)
    assert any("gate.slices.tag=vip.accuracy: not judged" in w for w in verdict.warnings)


# -- sharded runs: the merged run's slices are recomputed from the merged cases ------------------------------


@pytest.mark.slow
def test_the_slices_of_merged_shards_equal_those_of_one_run(tmp_path):
    config = suite(tmp_path, LONG_GATE, data=cases(23, 17))
    wrong = ["q1", "q2", "q5", "q30", "q31", "q35"]
    assert run(config, tmp_path / "whole.json", wrong) == 0
    for index in (1, 2, 3):
        args = ["run", "--config", str(config), "--quiet", "--shard", f"{index}/3"]
        assert main([*args, "--output", str(tmp_path / f"s{index}.json")]) == 0
    shards = [str(tmp_path / f"s{index}.json") for index in (1, 2, 3)]
    assert main(["merge", *shards, "--config", str(config), "--output", str(tmp_path / "merged.json")]) == 0
    whole = json.loads((tmp_path / "whole.json").read_text())
    merged = json.loads((tmp_path / "merged.json").read_text())
    parts = [json.loads(Path(path).read_text())["slices"] for path in shards]
    quality = ("accuracy", "error_rate")  # the latency keys differ run to run
    assert {name: {k: v[k] for k in quality} for name, v in merged["slices"].items()} == {
        name: {k: v[k] for k in quality} for name, v in whole["slices"].items()
    }
    assert merged["slices"]["length=long"]["accuracy"]["value"] == pytest.approx(20 / 23)
    # each shard recorded only its own part: the merge never sums or averages them
    assert sum(part["length=long"]["accuracy"]["n"] for part in parts) == 23
    assert all(part["length=long"]["accuracy"]["n"] < 23 for part in parts)


# -- invariant 1 per slice (the everyday loop; tests/test_gate_monotone.py takes it to every kind and size) --

SLICE_SPECS = st.lists(
    st.tuples(
        st.sampled_from(["limit", "max_drop", "max_drop_pct"]),
        st.sampled_from(["length=long", "tag=billing", "edge"]),
        st.floats(0.0, 1.0),
    ),
    min_size=1,
    max_size=3,
)
SLICED_SUITES = monotone.suites.map(lambda suite: suite | {"n": min(suite["n"], 120)}).flatmap(
    lambda suite: SLICE_SPECS.map(lambda specs: suite | {"specs": specs})
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["accuracy", "rougeL"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suite=SLICED_SUITES)
def test_a_larger_drop_in_a_slice_never_gets_a_milder_verdict(name, suite):
    monotone.check_larger_drop_not_milder(name, suite, resamples=300)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["accuracy", "rougeL"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suite=SLICED_SUITES)
def test_an_identical_run_always_passes_its_slice_rules(name, suite):
    monotone.check_identical_run_passes(name, suite, resamples=300)


# -- the report: the per-slice table in every format, the comment within its limit, the documented example --


@pytest.mark.slow
def test_the_html_report_and_a_tight_comment_show_or_drop_the_slice_table(runs, tmp_path):
    config, base, cur = runs
    current, baseline = load_results(cur), load_results(base)
    loaded = load_config(config)
    verdict = decide(pairing.compare(current, baseline, loaded), loaded).document()
    page = render_html(verdict, current, baseline)
    assert "<h2>By slice (largest regression first)</h2>" in page and "<th>Slice</th>" in page
    assert "<td>length=long</td>" in page
    full = render_comment(verdict, current, baseline)
    assert "**By slice**" in full
    limit = len(full)
    while "**By slice**" in (tight := render_comment(verdict, current, baseline, max_length=limit)):
        assert len(tight) <= limit
        limit -= 250
    assert (
        len(tight) <= limit and "the per-slice table" in tight
    )  # dropped with the per-category one, said so
    assert "accuracy in slice 'length=long' dropped" in tight  # the reason stays


def test_the_documented_slices_example_loads(tmp_path):
    text = (ROOT / "docs" / "reference.md").read_text()
    section = text[text.index("### Slices") :]
    yaml_block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    json_line = section.split("```json\n", 1)[1].split("```", 1)[0]
    case = json.loads(json_line)
    lines = [
        {
            **case,
            "id": f"c{i}",
            "metadata": {"length": "long", "language": "en"},
            "tags": ["billing", "refund"],
        }
        for i in range(3)
    ]
    config = write_suite(
        tmp_path,
        "suite: s\ndatasets: [data]\nprovider: {type: python, target: model.py:predict}\n"
        "metrics: [accuracy, rougeL]\n" + yaml_block,
        {"model.py": MODEL, "data/typical_cases.jsonl": "\n".join(json.dumps(line) for line in lines) + "\n"},
    )
    loaded = load_config(config)
    assert [spec.entry for spec in loaded.slices] == ["metadata.length", "metadata.language", "tags"]
    assert {(r.metric, r.slice) for r in loaded.rules if r.slice} == {
        ("accuracy", "length=long"),
        ("rougeL", "tag=refund"),
    }
    assert run(config, tmp_path / "r.json") == 0


@pytest.mark.parametrize(
    ("slices", "name", "message"),
    [
        (
            "[tags]",
            "length=long",
            "no slices: entry makes the slice 'length=long' (slices: tags); add `metadata.length`",
        ),
        (
            "[metadata.length]",
            "tag=vip",
            "(slices: metadata.length); add `tags` to the config's slices: list",
        ),
        ("[tags]", "long", "a slice is named KEY=VALUE"),
    ],
)
def test_a_slice_rule_no_slices_entry_can_make_is_refused_when_the_config_is_read(
    tmp_path, slices, name, message
):
    with pytest.raises(InputError) as caught:
        load_config(
            suite(tmp_path, f'gate:\n  slices:\n    "{name}": {{accuracy: {{min: 0.5}}}}\n', slices=slices)
        )
    assert message in caught.value.message and caught.value.line == 8  # the slice's name


# -- a suite of tasks: each task has its own slices ------------------------------------------------------------


@pytest.mark.slow
def test_each_task_of_a_suite_has_its_own_slices_and_slice_rules(tmp_path):
    config = write_suite(
        tmp_path,
        "suite: multi\nprovider: {type: python, target: model.py:predict}\ncache: {enabled: false}\n"
        "tasks:\n"
        "  intent:\n    datasets: [data/intent.jsonl]\n    slices: [metadata.length]\n"
        '    gate: {slices: {"length=long": {accuracy: {max_drop: 0.05}}}}\n'
        "  tagged:\n    datasets: [data/tagged.jsonl]\n    slices: [tags]\n",
        {
            "model.py": MODEL,
            "data/intent.jsonl": cases(20, 20),
            "data/tagged.jsonl": cases(0, 12).replace('"id": "c', '"id": "t'),
        },
    )
    assert run(config, tmp_path / "base.json") == 0
    assert run(config, tmp_path / "cur.json", [f"q{i}" for i in range(10)]) == 0
    results = json.loads((tmp_path / "cur.json").read_text())
    assert sorted(results["tasks"]["intent"]["slices"]) == ["length=long", "length=short"]
    assert sorted(results["tasks"]["tagged"]["slices"]) == ["tag=billing", "tag=refund"]
    report = tmp_path / "report.md"
    code = gate(config, tmp_path / "cur.json", tmp_path / "base.json", tmp_path, "--report", str(report))
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert code == 1
    reason = next(r for r in verdict["reasons"] if r.get("slice"))
    assert reason["task"] == "intent" and reason["slice"] == "length=long"
    assert {(row["task"], row["slice"]) for row in verdict["slices"]} >= {
        ("intent", "length=long"),
        ("tagged", "tag=billing"),
    }
    assert "**By slice**" in report.read_text()


@pytest.mark.slow
def test_a_baseline_without_tags_warns_that_its_tag_slice_drop_was_not_checked(runs, tmp_path):
    _, base, cur = runs
    old = json.loads(base.read_text())
    del old["slices"]
    for case in old["cases"]:
        case.pop("tags", None)
    (tmp_path / "old.json").write_text(json.dumps(old))
    other = suite(tmp_path / "other", 'gate:\n  slices:\n    "tag=billing": {accuracy: {max_drop: 0.05}}\n')
    assert (
        gate(other, cur, tmp_path / "old.json", tmp_path) == 0
    )  # a warning, not a pass of an unchecked rule
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "warn"
    reason = next(r for r in verdict["reasons"] if r.get("slice") == "tag=billing")
    assert reason["severity"] == "warn" and "so its max_drop was not checked" in reason["message"]


@pytest.mark.slow
def test_a_regressed_case_names_the_slices_it_is_in(runs, tmp_path):
    """The cases listed as regressed say which slices they are in, so a reader of a slice's regression finds
    its cases (the comment, the HTML page and the verdict JSON)."""
    config, base, cur = runs
    current, baseline = load_results(cur), load_results(base)
    loaded = load_config(config)
    verdict = decide(pairing.compare(current, baseline, loaded), loaded).document()
    listed = {entry.id: entry.slices for entry in verdict.cases.regressed}
    assert listed["c000"] == ["length=long", "tag=billing", "tag=refund"]  # i % 20 == 0: both tags
    assert listed["c002"] == ["length=long"]
    assert "<b>c000</b> · typical · length=long, tag=billing, tag=refund" in render_comment(
        verdict, current, baseline, max_examples=30
    )
    assert "<b>c002</b> · typical · length=long" in render_html(verdict, current, baseline, max_examples=30)


@pytest.mark.slow
def test_a_case_with_many_tags_names_five_of_its_slices_and_counts_the_rest(tmp_path):
    many = "".join(
        json.dumps(
            {"id": f"c{i}", "input": f"q{i}", "expected": f"q{i}", "tags": [f"t{k}" for k in range(8)]}
        )
        + "\n"
        for i in range(4)
    )
    config = suite(tmp_path, slices="[tags]", data=many)
    assert run(config, tmp_path / "base.json") == 0
    assert run(config, tmp_path / "cur.json", ["q1"]) == 0
    current, baseline = load_results(tmp_path / "cur.json"), load_results(tmp_path / "base.json")
    loaded = load_config(config)
    verdict = decide(pairing.compare(current, baseline, loaded), loaded).document()
    comment = render_comment(verdict, current, baseline)
    assert "<b>c1</b> · typical · tag=t0, tag=t1, tag=t2, tag=t3, tag=t4 and 3 more" in comment
