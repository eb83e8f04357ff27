"""Resolving config names to metric families: keys, merging, always-on families, errors with file and line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evalgate.config import MetricConfig
from evalgate.errors import InputError
from evalgate.metrics import FAMILIES, build_metrics, metric_keys
from evalgate.metrics.registry import config_names

from .metricskit import build, only


def keys_of(metrics) -> list[str]:
    return list(metric_keys(metrics))


def test_always_adds_error_rate_latency_and_usage(tmp_path):
    metrics = build(tmp_path, "metrics: [accuracy]\n")
    assert [m.family for m in metrics] == ["accuracy", "error_rate", "latency", "usage"]
    keys = keys_of(metrics)
    for key in ("error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_mean_ms"):
        assert key in keys
    for key in ("tokens_in", "tokens_out", "tokens_per_s", "cost_total", "cost_per_1k_requests"):
        assert key in keys


def test_key_names_resolve_to_one_family_computed_once(tmp_path):
    metrics = build(
        tmp_path, "metrics: [f1_macro, precision_micro, classification, latency_p95_ms, latency]\n"
    )
    assert [m.family for m in metrics].count("classification") == 1
    assert [m.family for m in metrics].count("latency") == 1
    assert "recall_weighted" in keys_of(metrics)


def test_listed_always_family_keeps_its_options(tmp_path):
    metrics = build(tmp_path, "metrics:\n  - latency_p99_ms: {method: nearest_rank}\n")
    assert only(metrics, "latency").method == "inverted_cdf"


def test_every_registered_name_resolves_to_a_family():
    for name, (family, key) in config_names().items():
        assert family in FAMILIES, name
        assert key is None or isinstance(key, str)


def test_metric_keys_have_kind_direction_and_description(tmp_path):
    keys = metric_keys(build(tmp_path, "metrics: [exact_match, rougeL, bleu, roc_auc, compression_ratio]\n"))
    assert keys["exact_match"]["kind"] == "binary"
    assert keys["rougeL"]["kind"] == "continuous"
    assert keys["bleu"]["kind"] == "corpus" and "tok:13a" in keys["bleu"]["description"]
    assert keys["roc_auc"]["kind"] == "corpus"
    assert keys["error_rate"]["higher_is_better"] is False
    assert keys["latency_p95_ms"]["higher_is_better"] is False
    assert keys["compression_ratio"]["higher_is_better"] is False
    assert all(entry["description"] for entry in keys.values())


def test_unknown_name_names_the_line_and_a_close_match(tmp_path):
    with pytest.raises(InputError) as info:
        build(tmp_path, "# the metrics\nmetrics:\n  - accuracy\n  - rougeL\n  - f1_marco\n")
    error = info.value
    assert error.line == 5
    assert error.file.endswith("evalgate.yaml")
    assert "f1_marco" in error.message and "did you mean f1_macro" in error.message
    assert "known metrics:" in error.message and "exact_match" in error.message


def test_unknown_option_names_its_line(tmp_path):
    with pytest.raises(InputError) as info:
        build(
            tmp_path,
            "metrics:\n  - accuracy\n  - exact_match:\n      ignore_case: true\n      strip_all: true\n",
        )
    assert info.value.line == 5
    assert "strip_all" in info.value.message and "normalize_whitespace" in info.value.message


def test_wrong_option_type_and_value(tmp_path):
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - rouge: {use_stemmer: yes please}\n")
    assert info.value.line == 2 and "true or false" in info.value.message
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - latency:\n      method: median\n")
    assert info.value.line == 3 and "linear, nearest_rank" in info.value.message
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - rouge: {types: [rouge3]}\n")
    assert info.value.line == 2 and "rougeLsum" in info.value.message


def test_bad_regex_pattern_names_the_metric_line(tmp_path):
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - accuracy\n  - regex: {pattern: '(unclosed'}\n")
    assert info.value.line == 3 and "regular expression" in info.value.message


def test_conflicting_options_of_one_family_are_an_error(tmp_path):
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - rouge1: {use_stemmer: false}\n  - rougeL: {use_stemmer: true}\n")
    assert info.value.line == 3 and "line 2" in info.value.message


def test_same_family_twice_with_names(tmp_path):
    metrics = build(
        tmp_path, "metrics:\n  - exact_match\n  - exact_match: {name: exact_match_ci, ignore_case: true}\n"
    )
    assert [m.family for m in metrics].count("exact_match") == 2
    assert {"exact_match", "exact_match_ci"} <= set(keys_of(metrics))


def test_two_metrics_writing_one_key_is_an_error(tmp_path):
    with pytest.raises(InputError) as info:
        build(tmp_path, "metrics:\n  - accuracy\n  - exact_match: {name: accuracy}\n")
    assert info.value.line == 3 and "'accuracy'" in info.value.message


def test_accepts_any_object_with_metrics_and_base_dir(tmp_path):
    config = SimpleNamespace(
        metrics=[MetricConfig("exact_match", {"ignore_case": True}, "cfg.yaml", 7)], base_dir=tmp_path
    )
    metrics = build_metrics(config)
    assert only(metrics, "exact_match").options["ignore_case"] is True
    bad = SimpleNamespace(
        metrics=[MetricConfig("exact_match", {"nope": 1}, "cfg.yaml", 7)], base_dir=tmp_path
    )
    with pytest.raises(InputError) as info:
        build_metrics(bad)
    assert (info.value.file, info.value.line) == ("cfg.yaml", 7)
