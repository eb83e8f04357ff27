"""A suite of tasks (`tasks:`): one run, one results file, one baseline, one verdict, one comment with a section per
task; each task judged against the baseline's same task (evalgate.tasks, evalgate.config_tasks)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from contextlib import chdir
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.github.annotations import read_config_facts
from evalgate.github.limits import COMMENT_MAX_CHARS
from evalgate.history.store import HistoryStore
from evalgate.report.render import comment_marker
from tests.conftest import ROOT, write_suite

EXAMPLE = ROOT / "examples" / "support-tasks"


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A copy of the two-task example (intent classification, thread summaries)."""
    folder = tmp_path / "suite"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".evalgate", "__pycache__"))
    return folder


def check(folder: Path, out: str, *extra: str) -> int:
    target = folder / out
    target.mkdir(exist_ok=True)
    argv = [
        "check",
        "-q",
        "--config",
        str(folder / "evalgate.yaml"),
        "--output",
        str(target / "results.json"),
    ]
    reports = ["--report", "report.md", "--json", "verdict.json", "--comment", "comment.md"]
    reports += ["--html", "report.html", "--junit", "junit.xml"]
    for flag, name in zip(reports[::2], reports[1::2], strict=True):
        argv += [flag, str(target / name)]
    return main([*argv, *extra])


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def break_refunds(folder: Path) -> None:
    """The new version answers every refund message as billing: the intent task regresses, the summaries do not."""
    config = folder / "evalgate.yaml"
    old = "output | replace('Intent: ', '') | trim"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, old + " | replace('refund', 'billing')"))


@pytest.mark.slow
def test_the_example_runs_both_tasks_into_one_results_file_and_passes(suite: Path) -> None:
    assert check(suite, "base") == 0
    results = read_json(suite / "base" / "results.json")
    assert list(results["tasks"]) == ["intent", "summary"]
    assert results["cases"] == [] and results["metrics"] == {}
    intent, summary = results["tasks"]["intent"], results["tasks"]["summary"]
    assert intent["suite"] == "support-tasks/intent" and len(intent["cases"]) == 12
    assert summary["suite"] == "support-tasks/summary" and len(summary["cases"]) == 4
    # each task scored with its own metrics, the transform applied before scoring with the raw answer kept
    assert "f1_macro" in intent["metrics"] and "rougeL" not in intent["metrics"]
    assert "rougeL" in summary["metrics"] and "accuracy" not in summary["metrics"]
    first = intent["cases"][0]
    assert first["output"] == "billing" and first["extra"]["raw_output"] == "Intent: billing"
    verdict = read_json(suite / "base" / "verdict.json")
    assert verdict["verdict"] == "pass" and verdict["exit_code"] == 0
    assert set(verdict["tasks"]) == {"intent", "summary"}
    assert {row["task"] for row in verdict["metrics"]} == {"intent", "summary"}


@pytest.mark.slow
def test_a_regression_in_one_task_fails_the_suite_against_that_tasks_baseline(suite: Path) -> None:
    assert check(suite, "base") == 0
    break_refunds(suite)
    assert check(suite, "head", "--baseline", str(suite / "base" / "results.json")) == 1
    verdict = read_json(suite / "head" / "verdict.json")
    assert verdict["verdict"] == "fail"
    assert (
        verdict["tasks"]["intent"]["verdict"] == "fail" and verdict["tasks"]["summary"]["verdict"] == "pass"
    )
    assert (
        verdict["tasks"]["summary"]["baseline"]["available"] is True
    )  # paired with the baseline's summaries
    assert {reason["task"] for reason in verdict["reasons"]} == {"intent"}
    assert verdict["headline"].startswith("intent: ")
    report = (suite / "head" / "report.md").read_text()
    assert report.index("### Task intent") < report.index("### Task summary")
    assert "| intent | ❌ failed |" in report and "| summary | ✅ passed |" in report
    assert report.count("<sub>evalgate") == 1 and report.rstrip().endswith("</sub>")  # the footer, once
    comment = (suite / "head" / "comment.md").read_text()
    assert comment.startswith(comment_marker("support-tasks")) and comment.count("<!-- evalgate:") == 1
    junit = ET.parse(suite / "head" / "junit.xml").getroot()
    names = [element.get("name") for element in junit.iter("testsuite")]
    assert names == ["support-tasks/intent", "support-tasks/summary"]
    assert any(element.find("failure") is not None for element in junit.iter("testcase"))
    page = (suite / "head" / "report.html").read_text()
    assert page.count("<body>") == 1 and "<h2>Task intent</h2>" in page and "<h2>Task summary</h2>" in page


@pytest.mark.slow
def test_an_identical_run_passes_and_an_old_single_suite_baseline_checks_thresholds_only(suite: Path) -> None:
    assert check(suite, "base") == 0
    assert check(suite, "again", "--baseline", str(suite / "base" / "results.json")) == 0
    old = read_json(suite / "base" / "results.json")["tasks"]["intent"]
    old["suite"] = "support-tasks"  # a baseline written before the suite had tasks
    (suite / "old.json").write_text(json.dumps(old))
    assert check(suite, "after", "--baseline", str(suite / "old.json")) == 0
    verdict = read_json(suite / "after" / "verdict.json")
    assert "has no results of task intent" in verdict["tasks"]["intent"]["baseline"]["note"]
    assert verdict["tasks"]["intent"]["baseline"]["available"] is False


@pytest.mark.slow
def test_results_of_tasks_are_refused_where_one_suite_is_read(suite: Path, capsys) -> None:
    assert check(suite, "base") == 0
    results = str(suite / "base" / "results.json")
    (suite / "single").mkdir()
    single = write_suite(
        suite / "single",
        """
        suite: support-tasks
        datasets: [../eval/intent.jsonl]
        provider: {type: python, target: ../app/support.py:classify}
        """,
    )
    capsys.readouterr()
    assert main(["gate", "--config", str(single), "--current", results]) == 2
    assert "results of a suite of tasks" in capsys.readouterr().err
    assert main(["merge", results, "--config", str(single), "--output", str(suite / "m.json")]) == 2
    assert "results of a suite of tasks" in capsys.readouterr().err
    single_results = str(suite / "single.json")
    assert main(["run", "-q", "--config", str(single), "--output", single_results]) == 0
    argv = ["run", "-q", "--config", str(suite / "evalgate.yaml"), "--output", str(suite / "r.json")]
    assert main([*argv, "--retry-errors", single_results]) == 2
    assert "have no results of task intent, summary" in capsys.readouterr().err
    assert not (suite / "r.json").exists()


FLAKY = """\
import os
def predict(x):
    with open('calls.log', 'a') as log:
        log.write(x + '\\n')
    if x in ('c1', 'd2') and os.path.exists('flaky'):
        raise RuntimeError('flaky backend')
    return x.upper()
"""


def test_retry_errors_reruns_only_each_tasks_errored_cases(tmp_path: Path, capsys) -> None:
    first = "".join(
        json.dumps({"id": f"c{i}", "input": f"c{i}", "expected": f"C{i}"}) + "\n" for i in range(4)
    )
    second = "".join(
        json.dumps({"id": f"d{i}", "input": f"d{i}", "expected": f"D{i}"}) + "\n" for i in range(4)
    )
    config = write_suite(
        tmp_path,
        """
        suite: two
        provider: {type: python, target: model.py:predict}
        metrics: [exact_match]
        gate: {error_rate: {max: 0.5}}
        tasks:
          first: {datasets: [first.jsonl]}
          second: {datasets: [second.jsonl]}
        """,
        {"first.jsonl": first, "second.jsonl": second, "model.py": FLAKY, "flaky": ""},
    )
    output = str(tmp_path / "results.json")
    argv = ["run", "-q", "--config", str(config), "--output", output]
    with chdir(tmp_path):
        assert main(argv) == 0
        errored = read_json(Path(output))
        assert [c["id"] for t in errored["tasks"].values() for c in t["cases"] if c["error"]] == ["c1", "d2"]
        (tmp_path / "flaky").unlink()
        (tmp_path / "calls.log").write_text("")
        assert main([*argv, "--retry-errors", output]) == 0
        assert (tmp_path / "calls.log").read_text().split() == ["c1", "d2"]  # only the errored case runs
    retried = read_json(Path(output))
    assert all(c["error"] is None for t in retried["tasks"].values() for c in t["cases"])
    assert retried["tasks"]["first"]["signature"]["assembled"]["cases_reused"] == 3
    (tmp_path / "other.json").write_text(
        json.dumps({**errored, "tasks": {"first": errored["tasks"]["first"]}})
    )
    assert main([*argv, "--retry-errors", str(tmp_path / "other.json")]) == 2
    assert "no results of task second" in capsys.readouterr().err


@pytest.mark.slow
def test_shards_of_a_suite_of_tasks_merge_into_the_results_of_the_whole_run(suite: Path, capsys) -> None:
    config = str(suite / "evalgate.yaml")
    assert check(suite, "whole") == 0
    paths = []
    for index in (1, 2, 3):
        paths.append(str(suite / f"shard{index}.json"))
        assert main(["run", "-q", "--config", config, "--shard", f"{index}/3", "--output", paths[-1]]) == 0
        shard = read_json(Path(paths[-1]))
        assert shard["shard"]["index"] == index and shard["shard"]["count"] == 3
        assert all(task["shard"]["index"] == index for task in shard["tasks"].values())
    assert main(["gate", "--config", config, "--current", paths[0]]) == 2  # a shard is never gated
    assert "merge the shards first" in capsys.readouterr().err
    merged = str(suite / "merged.json")
    assert main(["merge", *paths, "--config", config, "--output", merged]) == 0
    whole, joined = read_json(suite / "whole" / "results.json"), read_json(Path(merged))
    assert "shard" not in joined and joined["run"]["complete"] is True
    for name in ("intent", "summary"):
        ids = [case["id"] for case in whole["tasks"][name]["cases"]]
        assert [case["id"] for case in joined["tasks"][name]["cases"]] == ids
        for key in ("accuracy", "f1_macro", "rougeL", "assertions"):
            if key in whole["tasks"][name]["metrics"]:
                assert (
                    joined["tasks"][name]["metrics"][key]["value"]
                    == whole["tasks"][name]["metrics"][key]["value"]
                )
    assert (
        main(
            [
                "gate",
                "--config",
                config,
                "--current",
                merged,
                "--baseline",
                str(suite / "whole" / "results.json"),
            ]
        )
        == 0
    )
    assert (
        main(["merge", *paths[:2], "--config", config, "--output", str(suite / "two.json")]) == 2
    )  # one missing
    assert "shard" in capsys.readouterr().err


def test_a_command_that_works_on_one_suite_asks_for_task(suite: Path, capsys) -> None:
    config = str(suite / "evalgate.yaml")
    assert main(["thresholds", "suggest", "--config", config]) == 2
    assert "add --task NAME" in capsys.readouterr().err
    assert main(["thresholds", "suggest", "--config", config, "--task", "nope"]) == 2
    assert "no such task; the config's tasks are intent, summary" in capsys.readouterr().err
    assert load_config(config, task="summary").suite == "support-tasks/summary"


@pytest.mark.slow
def test_history_append_keeps_each_task_as_its_own_series(suite: Path) -> None:
    assert check(suite, "base") == 0
    config = str(suite / "evalgate.yaml")
    store = suite / "history.db"
    argv = [
        "history",
        "--config",
        config,
        "--history",
        str(store),
        "--append",
        str(suite / "base" / "results.json"),
    ]
    assert main([*argv, "--branch", "main"]) == 0
    with HistoryStore(store) as history:
        assert history.run_count("support-tasks/intent") == 1
        assert history.run_count("support-tasks/summary") == 1
        assert history.run_count("support-tasks") == 0
    assert main(["history", "--config", config, "--history", str(store), "--task", "intent"]) == 0


@pytest.mark.slow
def test_the_comment_of_many_failing_cases_in_every_task_fits_githubs_limit(suite: Path) -> None:
    long_text = "x" * 3000
    for name in ("intent", "summary"):
        case = (
            {"category": "refund"} if name == "intent" else {"assert": [{"type": "contains", "value": "zz"}]}
        )
        lines = [
            json.dumps({"id": f"{name}-{i}", "input": f"refund {long_text} {i}", "expected": "never", **case})
            for i in range(300)
        ]
        (suite / "eval" / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    assert check(suite, "big") == 1
    comment = (suite / "big" / "comment.md").read_text()
    assert len(comment) <= COMMENT_MAX_CHARS
    assert comment.startswith(comment_marker("support-tasks")) and "### Task summary" in comment


def load(tmp_path: Path, config: str, **options) -> object:
    files = {"a.jsonl": '{"id": "1", "input": "x", "expected": "x"}\n', "t.py": "def f(x):\n    return x\n"}
    files["th.yaml"] = "accuracy: {min: 0.5}\n"
    return load_config(write_suite(tmp_path, config, files), **options)


def test_a_task_inherits_the_top_level_options_and_replaces_what_it_sets(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        suite: s
        datasets: [a.jsonl]
        provider: {type: python, target: t.py:f}
        metrics: [accuracy]
        thresholds: th.yaml
        timeout: 7
        tasks:
          one: {}
          two:
            metrics: [exact_match]
            gate: {exact_match: {min: 0.5}}
            timeout: 9
        """,
        whole=True,
    )
    one, two = config.tasks["one"], config.tasks["two"]
    assert (one.suite, one.timeout, [m.name for m in one.metrics]) == ("s/one", 7, ["accuracy"])
    assert (two.suite, two.timeout, [m.name for m in two.metrics]) == ("s/two", 9, ["exact_match"])
    assert [(rule.metric, rule.min) for rule in two.rules] == [
        ("exact_match", 0.5)
    ]  # thresholds: not inherited
    assert config.suite == "s" and config.datasets == []


@pytest.mark.parametrize(
    ("tasks", "message", "line"),
    [
        ("tasks: []", "tasks must map task names to their sections", 4),
        ("tasks: {}", "tasks must map task names to their sections", 4),
        ("tasks:\n  'a b': {}", "task name 'a b': expected letters, digits", 5),
        ("tasks:\n  one:\n    cache: {enabled: false}", "tasks.one.cache is set for the whole suite", 6),
        ("tasks:\n  one:\n    colour: red", "tasks.one.colour is unknown; a task may set: description", 6),
        ("tasks:\n  one: [1]", "tasks.one must be a mapping of the task's options, got a list", 5),
        ("tasks:\n  one:\n    timeout: -1", "timeout", 6),
    ],
)
def test_a_bad_tasks_section_is_one_message_with_its_line(
    tmp_path: Path, tasks: str, message: str, line: int
) -> None:
    text = "suite: s\ndatasets: [a.jsonl]\nprovider: {type: python, target: t.py:f}\n" + tasks + "\n"
    with pytest.raises(InputError) as raised:
        load(tmp_path, text, whole=True)
    assert message in raised.value.message
    assert raised.value.line == line


def test_too_many_tasks_is_bad_input(tmp_path: Path) -> None:
    from evalgate.files.limits import MAX_TASKS

    tasks = "".join(f"  t{i}: {{}}\n" for i in range(MAX_TASKS + 1))
    text = "suite: s\ndatasets: [a.jsonl]\nprovider: {type: python, target: t.py:f}\ntasks:\n" + tasks
    with pytest.raises(InputError, match=f"at most {MAX_TASKS} fit one suite"):
        load(tmp_path, text, whole=True)


def test_the_action_masks_every_tasks_secrets_and_finds_its_rule_lines(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        """
        suite: s
        tasks:
          one:
            provider: {type: http, url: "http://127.0.0.1/x", headers: {Authorization: "Bearer ${ONE_KEY}"}}
            gate:
              accuracy: {min: 0.5}
          two:
            provider: {type: openai, model: m, api_key_env: TWO_KEY}
        """,
    )
    facts = read_config_facts(path)
    assert {"ONE_KEY", "TWO_KEY"} <= facts.secret_env_names
    assert facts.rule_lines[("one", "accuracy", None)] == (path, 6)


def test_the_budget_is_the_runs_each_task_gets_what_the_ones_before_left() -> None:
    from evalgate.tasks import _charge, _left

    spent = {"max_cost": 0.0, "max_tokens": 0}
    cases = [
        {"cost": 0.25, "tokens_in": 10, "tokens_out": 5, "cached": False},
        {"cost": 9.0, "tokens_in": 900, "tokens_out": 900, "cached": True},  # a cached answer costs nothing
        {"cost": None, "tokens_in": None, "tokens_out": None},
    ]
    _charge(spent, {"cases": cases})
    assert _left({"max_cost": 1.0, "max_tokens": None}, spent) == {"max_cost": 0.75, "max_tokens": None}
