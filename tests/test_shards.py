"""Sharded runs (`evalgate run --shard I/N`) and `evalgate merge` (evalgate.shards, evalgate.merge).

Properties (hypothesis): the split is a partition, deterministic whatever the order of the cases, balanced and
stratified; the merge of the shards of a run gives that run's metrics (every kind: binary and continuous means
and their intervals, corpus F1, BLEU, ROUGE, AUC, percentiles) and its verdict. Then the merges that must be
refused (overlap, missing, foreign, mixed config), incomplete shards, and the real command line end to end.
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgate import shards
from evalgate.config import load_config
from evalgate.contracts.results import parse_results
from evalgate.contracts.verdict import VerdictDocument
from evalgate.errors import InputError
from evalgate.merge import merge_shards
from evalgate.pipeline import judge, load_suite_cases, run_and_score
from evalgate.results import write_results

ROOT = Path(__file__).resolve().parent.parent
PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))

# a model that answers what the case tells it to: the same outputs in every run, sharded or not
MODEL = """\
def predict(x):
    if x.get("fail"):
        raise RuntimeError("the model failed on this case")
    return x["out"]
"""
LABELS_CONFIG = """\
suite: shards
datasets: [eval]
provider: {type: python, target: model.py:predict}
metrics: [accuracy, f1, bleu, rouge, latency]
gate:
  accuracy: {max_drop: 0.02}
  f1_macro: {max_drop: 0.02}
"""
SCORES_CONFIG = """\
suite: shards
datasets: [eval]
provider: {type: python, target: model.py:predict}
metrics: [roc_auc, average_precision, latency]
gate:
  roc_auc: {max_drop: 0.02}
"""

datasets = st.lists(
    st.tuples(st.text(min_size=1, max_size=8), st.sampled_from(["a", "b", "c", "d", "e", "f"])),
    min_size=1,
    max_size=150,
    unique_by=lambda case: case[0],
)


@pytest.mark.slow
@given(cases=datasets, count=st.integers(1, 50), seed=st.integers(0, 1000))
def test_the_split_is_a_balanced_stratified_partition_whatever_the_order(cases, count, seed) -> None:
    ids = [case_id for case_id, _ in cases]
    shard_of = shards.assign(cases, count)
    assert set(shard_of) == set(ids) and set(shard_of.values()) <= set(
        range(1, count + 1)
    )  # each in exactly one
    shuffled = list(cases)
    random.Random(seed).shuffle(shuffled)
    assert shards.assign(shuffled, count) == shard_of  # the order of files and lines does not matter
    sizes = Counter(shard_of.values())
    assert max(sizes[i] for i in range(1, count + 1)) - min(sizes[i] for i in range(1, count + 1)) <= 1
    for category in {category for _, category in cases}:
        in_category = Counter(shard_of[case_id] for case_id, c in cases if c == category)
        per_shard = [in_category[i] for i in range(1, count + 1)]
        assert max(per_shard) - min(per_shard) <= 1  # every shard a fair sample of every category


@pytest.mark.slow
def test_the_split_is_the_same_on_every_machine() -> None:
    """It hashes ids with SHA-256, never Python's salted hash: a fresh interpreter with another seed agrees."""
    ids = [f"case-{i}" for i in range(200)]
    here = shards.assign(((i, "x") for i in ids), 7)
    code = f"import json; from evalgate import shards; print(json.dumps(shards.assign(((i, 'x') for i in {ids!r}), 7)))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    there = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(there.stdout) == here
    assert [here[f"case-{i}"] for i in range(5)] == [2, 7, 1, 5, 3]  # pinned: a change of the split is seen


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "1/0", "a/b", "1/3/4", "-1/3", "1/1001", " "])
def test_a_bad_shard_spec_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="expected I/N"):
        shards.parse_shard(text)


def write_suite(folder: Path, config: str, cases: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evalgate.yaml").write_text(config)
    (folder / "model.py").write_text(MODEL)
    (folder / "eval").mkdir(exist_ok=True)
    (folder / "eval" / "cases.jsonl").write_text("".join(json.dumps(case) + "\n" for case in cases))
    return folder / "evalgate.yaml"


def shard_files(whole: dict, config_path: Path, count: int, folder: Path) -> list[Path]:
    """The shard files of a run with the outputs of `whole`: what `run --shard I/N` writes, the same answers."""
    config = load_config(config_path)
    cases = load_suite_cases(config, whole["signature"]["sample"])
    paths = []
    for index in range(1, count + 1):
        chosen, record = shards.select(cases, shards.ShardSpec(index, count))
        ids = {case.id for case in chosen}
        part = copy.deepcopy(whole)
        part["cases"] = [entry for entry in part["cases"] if entry["id"] in ids]
        part["shard"] = record
        parse_results(part, file="shard")  # a valid results file, shard object included
        paths.append(write_results(folder / f"shard-{index}.json", part))
    return paths


def gate(current: dict, baseline: dict, config) -> VerdictDocument:
    """The verdict on two results documents, read as the gate reads results files."""
    return judge(parse_results(current, file="current"), parse_results(baseline, file="baseline"), config)


def whole_and_merged(folder: Path, config_text: str, cases: list[dict], count: int):
    """Run the suite whole, then merge `count` shards with its outputs: (config, whole, merged)."""
    config_path = write_suite(folder, config_text, cases)
    config = load_config(config_path)
    whole = run_and_score(config, progress=False)
    return config, whole, merge_shards(shard_files(whole, config_path, count, folder), config)


def assert_same_numbers(merged: dict, whole: dict) -> None:
    assert (
        merged["metrics"] == whole["metrics"]
    )  # every number, to the last bit: values, n, stderr, intervals
    assert merged["categories"] == whole["categories"]
    assert merged["metric_keys"] == whole["metric_keys"]
    assert [case["id"] for case in merged["cases"]] == [case["id"] for case in whole["cases"]]
    assert merged["signature"] == whole["signature"]


label_cases = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),  # category
        st.sampled_from(["yes", "no", "maybe"]),  # expected
        st.sampled_from(["yes", "no", "maybe", "yes indeed", "no way"]),  # output
        st.integers(0, 4).map(lambda draw: draw == 0),  # an error now and then
    ),
    min_size=1,
    max_size=60,
)


@PROPERTY
@given(rows=label_cases, count=st.integers(1, 12))
@pytest.mark.slow
def test_merged_label_metrics_equal_the_unsharded_run(rows, count, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("labels")
    cases = [
        {"id": f"c{i}", "category": category, "expected": expected, "input": {"out": out, "fail": fail}}
        for i, (category, expected, out, fail) in enumerate(rows)
    ]
    config, whole, merged = whole_and_merged(folder, LABELS_CONFIG, cases, count)
    assert_same_numbers(merged, whole)
    assert merged["run"]["complete"] is True and len(merged["run"]["shards"]) == count
    baseline = copy.deepcopy(whole)  # a baseline that the current run may or may not fall below
    for entry in baseline["cases"][: len(rows) // 3]:
        entry["scores"] = {key: 1.0 for key in entry["scores"]}
    merged_verdict, whole_verdict = gate(merged, baseline, config), gate(whole, baseline, config)
    assert merged_verdict.verdict == whole_verdict.verdict
    assert merged_verdict.metrics == whole_verdict.metrics and merged_verdict.reasons == whole_verdict.reasons


score_cases = st.lists(
    st.tuples(
        st.sampled_from(["x", "y"]),
        st.sampled_from([0, 1]),
        st.floats(0, 1, allow_nan=False).map(lambda v: round(v, 2)),  # ties, to test them
    ),
    min_size=2,
    max_size=60,
)


@pytest.mark.slow
@PROPERTY
@given(rows=score_cases, count=st.integers(1, 50))
def test_merged_auc_and_percentiles_equal_the_unsharded_run(rows, count, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("scores")
    cases = [
        {"id": f"s{i}", "category": category, "expected": label, "input": {"out": score}}
        for i, (category, label, score) in enumerate(rows)
    ]
    _, whole, merged = whole_and_merged(folder, SCORES_CONFIG, cases, count)
    assert_same_numbers(merged, whole)
    assert merged["metrics"]["latency_p99_ms"]["value"] == whole["metrics"]["latency_p99_ms"]["value"]


@pytest.fixture
def suite(tmp_path: Path) -> tuple[Path, dict, list[Path]]:
    """A run of 30 cases in three categories and its three shards."""
    cases = [
        {
            "id": f"c{i}",
            "category": "abc"[i % 3],
            "expected": "yes",
            "input": {"out": "yes" if i % 4 else "no"},
        }
        for i in range(30)
    ]
    config_path = write_suite(tmp_path / "suite", LABELS_CONFIG, cases)
    whole = run_and_score(load_config(config_path), progress=False)
    return config_path, whole, shard_files(whole, config_path, 3, tmp_path)


def refused(paths: list[Path], config_path: Path) -> str:
    with pytest.raises(InputError) as caught:
        merge_shards(paths, load_config(config_path))
    return str(caught.value)


def test_a_missing_shard_is_refused_naming_it_and_its_cases(suite) -> None:
    config_path, _, paths = suite
    message = refused([paths[0], paths[2]], config_path)
    assert "shard 2/3 is missing" in message and "10 cases" in message


def test_overlapping_shards_are_refused_naming_the_files_and_cases(suite) -> None:
    config_path, _, paths = suite
    message = refused([paths[0], paths[1], paths[2], paths[1]], config_path)
    assert f"{paths[1]} and {paths[1]} are both shard 2/3" in message and "both hold 10 cases" in message
    sneaky = json.loads(paths[0].read_text())  # shard 1 carrying a case of shard 2
    sneaky["cases"].append(json.loads(paths[1].read_text())["cases"][0])
    paths[0].write_text(json.dumps(sneaky))
    message = refused(paths, config_path)
    stray = sneaky["cases"][-1]["id"]
    assert f"{paths[0]} (shard 1/3) holds cases not of that shard: 1 case ({stray!r})" in message
    assert "both hold 1 case" in message


def test_foreign_files_are_refused(suite, tmp_path: Path) -> None:
    config_path, whole, paths = suite
    unsharded = write_results(tmp_path / "whole.json", whole)
    assert "whole.json is not the results of a shard" in refused([*paths, unsharded], config_path)
    other = json.loads(paths[1].read_text())
    other["suite"] = "elsewhere"
    paths[1].write_text(json.dumps(other))
    assert f"{paths[1]} is not of the same run as {paths[0]}: its suite differ" in refused(paths, config_path)
    other.update(suite="shards", git={"sha": "0" * 40, "ref": "x"})
    paths[1].write_text(json.dumps(other))
    assert "its commit differ" in refused(paths, config_path)
    other["git"] = whole["git"]
    other["shard"]["count"] = 4
    paths[1].write_text(json.dumps(other))
    assert "its split (shard count, dataset fingerprint) differ" in refused(paths, config_path)
    paths[1].write_text("{not json")
    assert "shard-2.json" in refused(paths, config_path)


def test_a_shard_beyond_the_last_is_refused(suite) -> None:
    config_path, _, paths = suite
    stray = json.loads(paths[2].read_text())
    stray["shard"]["index"], stray["cases"] = 5, []
    (paths[2].parent / "stray.json").write_text(json.dumps(stray))
    assert "says it is shard 5/3, beyond the last shard" in refused(
        [*paths, paths[2].parent / "stray.json"], config_path
    )


def test_a_shard_that_claims_completion_but_lacks_cases_is_refused(suite) -> None:
    config_path, _, paths = suite
    short = json.loads(paths[2].read_text())
    dropped = short["cases"].pop()["id"]
    paths[2].write_text(json.dumps(short))
    assert f"says it completed but lacks 1 case ({dropped!r})" in refused(paths, config_path)


def test_a_changed_config_or_dataset_is_refused(suite) -> None:
    config_path, _, paths = suite
    config_path.write_text(LABELS_CONFIG.replace("0.02}\n  f1", "0.03}\n  f1"))
    assert "are not those the shards ran with: config differ" in refused(paths, config_path)
    config_path.write_text(LABELS_CONFIG)
    dataset = config_path.parent / "eval" / "cases.jsonl"
    dataset.write_text(dataset.read_text() + json.dumps({"id": "new", "input": {"out": "yes"}}) + "\n")
    assert "datasets differ" in refused(paths, config_path)


@pytest.mark.slow
def test_an_incomplete_shard_makes_the_merged_run_incomplete(suite) -> None:
    config_path, whole, paths = suite
    part = json.loads(paths[1].read_text())
    part["cases"] = part["cases"][:4]
    part["run"].update(complete=False, aborted="budget exceeded: test", not_run=6)
    paths[1].write_text(json.dumps(part))
    config = load_config(config_path)
    merged = merge_shards(paths, config)
    assert merged["run"]["complete"] is False and merged["run"]["not_run"] == 6
    assert "shard 2/3" in merged["run"]["aborted"] and "budget exceeded" in merged["run"]["aborted"]
    verdict = gate(merged, whole, config)
    assert verdict.verdict != "pass" and verdict.exit_code == 3


def test_a_shard_is_never_gated_as_a_whole_run(suite) -> None:
    config_path, whole, paths = suite
    shard = json.loads(paths[0].read_text())
    config = load_config(config_path)
    with pytest.raises(InputError, match="the results file is shard 1/3 of a run"):
        gate(shard, whole, config)
    with pytest.raises(InputError, match="the baseline is shard 1/3"):
        gate(whole, shard, config)


def test_a_shard_never_joins_the_history(suite, tmp_path: Path) -> None:
    from evalgate.commands.history import append_results

    _, _, paths = suite
    shard = parse_results(json.loads(paths[0].read_text()), file="shard")
    done = append_results(tmp_path / "h.sqlite", shard, suite="shards", history_branch=None)
    assert done["added"] is False and "shard 1/3 of a run" in done["message"]


def evalgate(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-P", "-m", "evalgate", *argv], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
@pytest.mark.parametrize("count", [2, 3, 7])
def test_the_command_line_shards_merge_and_gate_like_one_run(tmp_path: Path, count: int) -> None:
    """Real runs (`evalgate run`, `run --shard`, `merge`, `gate`) of a sampled suite: the same cases, the same
    numbers except the measured latencies, the same verdict against the same baseline."""
    cases = [
        {
            "id": f"c{i}",
            "category": "abcd"[i % 4],
            "expected": "yes",
            "input": {"out": "no" if i % 9 == 0 else "yes"},
        }
        for i in range(80)
    ]
    write_suite(tmp_path, LABELS_CONFIG.replace("bleu, rouge, ", ""), cases)  # faster to start
    baseline = tmp_path / "baseline.json"
    (tmp_path / "model.py").write_text("def predict(x):\n    return 'yes'\n")
    assert (
        evalgate("run", "-q", "--no-cache", "--sample", "60", "-o", str(baseline), cwd=tmp_path).returncode
        == 0
    )
    (tmp_path / "model.py").write_text(MODEL)
    assert (
        evalgate("run", "-q", "--no-cache", "--sample", "60", "-o", "whole.json", cwd=tmp_path).returncode
        == 0
    )
    names = []
    for index in range(1, count + 1):
        name = f"part{index}.json"
        done = evalgate(
            "run",
            "-q",
            "--no-cache",
            "--sample",
            "60",
            "--shard",
            f"{index}/{count}",
            "-o",
            name,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        names.append(name)
    done = evalgate("merge", *reversed(names), "-o", "merged.json", cwd=tmp_path)  # any order
    assert done.returncode == 0, done.stderr
    whole, merged = (json.loads((tmp_path / name).read_text()) for name in ("whole.json", "merged.json"))
    timing = {key for key, info in whole["metric_keys"].items() if info.get("timing")}
    assert {k: v for k, v in merged["metrics"].items() if k not in timing} == {
        k: v for k, v in whole["metrics"].items() if k not in timing
    }
    assert [c["id"] for c in merged["cases"]] == [c["id"] for c in whole["cases"]] and len(
        whole["cases"]
    ) == 60
    gates = [
        evalgate("gate", "--current", name, "--baseline", str(baseline), "--json", f"v-{name}", cwd=tmp_path)
        for name in ("whole.json", "merged.json")
    ]
    assert gates[0].returncode == gates[1].returncode == 1  # the same failure (accuracy fell)
    verdicts = [json.loads((tmp_path / f"v-{name}").read_text()) for name in ("whole.json", "merged.json")]
    assert verdicts[0]["verdict"] == verdicts[1]["verdict"] == "fail"
    assert [r["message"] for r in verdicts[0]["reasons"]] == [r["message"] for r in verdicts[1]["reasons"]]
    missing = evalgate("merge", *names[1:], "-o", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and f"shard 1/{count} is missing" in missing.stderr
    assert not (tmp_path / "nope.json").exists() and "Traceback" not in missing.stderr
    assert "Traceback" not in missing.stderr
    over = evalgate("merge", *names, "-o", names[0], cwd=tmp_path)
    assert over.returncode == 2 and "--output names the shard" in over.stderr
    assert json.loads((tmp_path / names[0]).read_text())["shard"]["index"] == 1  # the shard is kept
    shard_gate = evalgate("gate", "--current", names[0], cwd=tmp_path)
    assert shard_gate.returncode == 2 and "merge the shards first" in shard_gate.stderr


@pytest.mark.slow
def test_repeated_runs_merge_like_the_unsharded_run(tmp_path: Path) -> None:
    """With `repeats: 3` a case entry holds its runs; corpus values are over every run of every case."""
    cases = [
        {
            "id": f"r{i}",
            "category": "ab"[i % 2],
            "expected": "yes",
            "input": {"out": ["yes", "no"][i % 3 == 0]},
        }
        for i in range(25)
    ]
    _, whole, merged = whole_and_merged(tmp_path, LABELS_CONFIG + "repeats: 3\n", cases, 4)
    assert len(whole["cases"][0]["repeats"]) == 3
    assert_same_numbers(merged, whole)
