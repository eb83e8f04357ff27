"""evalgate.yaml: what is accepted, and every mistake reported with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalgate.config import load_config
from evalgate.errors import InputError
from tests.conftest import write_suite

MODEL = {
    "model.py": "def predict(x):\n    return x\n",
    "data/cases.jsonl": '{"input": "a", "expected": "a"}\n',
}

GOOD = """
suite: demo
datasets: [data]
provider:
  type: python
  target: model.py:predict
concurrency: 4
metrics: [accuracy, rougeL, {regex: {pattern: "^a"}}]
gate:
  accuracy: {min: 0.9, max_drop: 0.02}
  latency_p95_ms: {max: 500}
  error_rate: {max: 0.05}
  categories:
    edge:
      accuracy: {min: 0.8}
"""


def error_of(tmp_path: Path, config: str, files: dict[str, str] | None = None) -> InputError:
    path = write_suite(tmp_path, config, {**MODEL, **(files or {})})
    with pytest.raises(InputError) as caught:
        load_config(path)
    return caught.value


def test_a_good_config_is_read_with_paths_relative_to_it(tmp_path: Path) -> None:
    config = load_config(write_suite(tmp_path, GOOD, MODEL))
    assert config.suite == "demo"
    assert config.datasets == [(tmp_path / "data").resolve()]
    assert config.provider.type == "python"
    assert config.provider.options["target"] == "model.py:predict"
    assert config.concurrency == 4
    assert [m.name for m in config.metrics] == ["accuracy", "rougeL", "regex"]
    rules = {(r.metric, r.category): r.bounds() for r in config.rules}
    assert rules[("accuracy", None)] == {"min": 0.9, "max_drop": 0.02}
    assert rules[("accuracy", "edge")] == {"min": 0.8}
    assert rules[("latency_p95_ms", None)] == {"max": 500.0}
    assert config.stats["mode"] == "significance"


def test_the_folder_of_a_config_can_be_named(tmp_path: Path) -> None:
    write_suite(tmp_path, GOOD, MODEL)
    assert load_config(tmp_path).suite == "demo"


def test_an_unknown_top_level_key_names_its_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + "concurency: 8\n")
    assert error.file.endswith("evalgate.yaml")
    assert error.line == 15
    assert "unknown key 'concurency'" in error.message


def test_a_typo_in_a_threshold_key_is_an_error_not_a_silently_missing_threshold(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("max_drop: 0.02", "max_dorp: 0.02"))
    assert error.line == 9
    assert "max_dorp" in error.message and "max_drop" in error.message


def test_a_gate_on_a_metric_the_suite_does_not_compute_is_an_error(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("  accuracy: {min: 0.9", "  acuracy: {min: 0.9"))
    assert error.line == 9
    assert "acuracy" in error.message and "accuracy" in error.message


def test_a_wrong_type_is_an_error_with_the_expected_type(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("concurrency: 4", "concurrency: many"))
    assert error.line == 6
    assert "concurrency must be an integer" in error.message


def test_a_missing_dataset_is_an_error(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("datasets: [data]", "datasets: [nowhere]"))
    assert error.line == 2
    assert "nowhere" in error.message


def test_an_unknown_provider_type_lists_the_known_ones(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("type: python", "type: pyton"))
    assert error.line == 4
    assert "python" in error.message and "command" in error.message


def test_an_unknown_provider_option_is_an_error(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, GOOD.replace("  target: model.py:predict", "  target: model.py:predict\n  tagret: x")
    )
    assert error.line == 6
    assert "tagret" in error.message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("concurrency: 4", "concurrency: [4"))
    assert error.line is not None and error.line >= 6
    assert "invalid YAML" in error.message


def test_a_duplicate_key_is_an_error(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD + "suite: again\n")
    assert error.line == 15
    assert "duplicate key 'suite'" in error.message


def test_min_above_max_is_an_error(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, GOOD.replace("latency_p95_ms: {max: 500}", "latency_p95_ms: {min: 600, max: 500}")
    )
    assert error.line == 10


def test_thresholds_may_live_in_their_own_file_with_its_own_lines(tmp_path: Path) -> None:
    config_text = GOOD.split("gate:")[0] + "thresholds: thresholds.yaml\n"
    path = write_suite(
        tmp_path, config_text, {**MODEL, "thresholds.yaml": "accuracy:\n  min: 0.9\nf1_macro:\n  min: 0.5\n"}
    )
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert caught.value.file.endswith("thresholds.yaml")
    assert caught.value.line == 3
    (tmp_path / "thresholds.yaml").write_text("accuracy:\n  min: 0.9\n")
    assert [r.metric for r in load_config(path).rules] == ["accuracy"]


def test_a_missing_config_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_an_empty_config_says_what_is_expected(tmp_path: Path) -> None:
    error = error_of(tmp_path, "")
    assert "empty" in error.message and "suite" in error.message


def test_every_config_key_is_documented_in_the_reference() -> None:
    from evalgate.config_schema import STATS_OPTIONS, TOP_OPTIONS
    from tests.conftest import ROOT

    reference = (ROOT / "docs" / "reference.md").read_text()
    for key in [*TOP_OPTIONS, *STATS_OPTIONS]:
        assert f"`{key}`" in reference, f"docs/reference.md does not document the config key {key!r}"


def test_a_judged_metric_without_a_judge_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    error = error_of(tmp_path, GOOD.replace("metrics: [accuracy,", "metrics: [accuracy, judge,"))
    assert error.line == 7
    assert "no judge section" in error.message


def test_gate_and_thresholds_together_is_an_error_before_either_file_is_read(tmp_path: Path) -> None:
    config_text = GOOD.split("gate:")[0] + "gate: missing.yaml\nthresholds: also-missing.yaml\n"
    error = error_of(tmp_path, config_text)
    assert error.line == 9
    assert "use either gate or thresholds, not both" in error.message
