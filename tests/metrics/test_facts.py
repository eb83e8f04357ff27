"""Metric facts in one place (issue 9): each family declares its keys' facts; the registry, the results file, the
gate's reasons, the report and the docs table all read them, and nothing is guessed from a key's name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalgate.gate import decide
from evalgate.metrics import FAMILIES, family_class, metric_keys
from evalgate.metrics.registry import config_names, declared, facts_of, unit_of, with_facts_table
from tests.conftest import ROOT
from tests.gatekit import compare, make_config, make_results, rule

from .metricskit import build

DOC = ROOT / "docs" / "metrics.md"


def test_the_docs_table_is_the_registry():
    text = DOC.read_text()
    assert with_facts_table(text) == text, "run: python -m evalgate.metrics.registry docs/metrics.md"


def test_no_two_families_declare_one_key():
    seen: dict[str, str] = {}
    for family in FAMILIES:
        for facts in family_class(family).FACTS:
            if facts.literal:
                assert facts.name not in seen or seen[facts.name] == family, (facts.name, family)
                seen[facts.name] = family
    assert set(seen) == {name for name, (_, facts) in declared().items() if facts.literal}


def test_config_names_are_families_aliases_and_declared_keys():
    names = config_names()
    assert names["rougeL"] == ("rouge", "rougeL") and names["latency_p95_ms"] == ("latency", "latency_p95_ms")
    assert names["f1"] == ("classification", None) and names["f1_macro"] == ("classification", "f1_macro")
    assert names["bleu"] == ("bleu", None) and names["hallucination_rate"][0] == "factual_consistency"
    assert not any("{" in name for name in names)  # a pattern (judge_{criterion}) is not a config name


def test_every_family_declares_its_keys():
    """A family without FACTS would write its keys with the defaults (a plain score), whatever they measure."""
    assert [name for name in FAMILIES if not family_class(name).FACTS] == []


def test_every_built_key_has_its_declared_facts(tmp_path):
    metrics = build(
        tmp_path,
        "metrics: [exact_match, contains, accuracy, f1, roc_auc, rouge, bleu, chrf, json_valid,"
        " compression_ratio, assertions, {classification: {labels: [a, b]}}]\n",
    )
    for metric in metrics:
        for key in metric.keys():
            facts = type(metric).facts_of(key.name)
            assert (key.quantity, key.higher_is_better, key.timing, key.shown) == (
                facts.quantity,
                facts.higher_is_better,
                facts.timing,
                facts.shown,
            ), key.name


def test_the_results_file_records_each_keys_quantity_and_unit(tmp_path):
    keys = metric_keys(build(tmp_path, "metrics: [accuracy, rougeL]\n"))
    assert (keys["accuracy"]["quantity"], keys["accuracy"]["unit"]) == ("rate", "rate")
    assert keys["rougeL"]["unit"] == "plain" and keys["latency_p95_ms"]["unit"] == "ms"
    assert keys["cost_total"]["unit"] == "usd" and keys["latency_p95_ms"]["timing"] is True


def test_a_custom_scorers_unit_comes_from_its_options_never_its_name(tmp_path):
    """Before: a continuous custom scorer named cost_delta was written in dollars, one named latency_ms in ms
    and one named ..._rate in percent (the name decided). Now: a score, or a rate with `binary: true`."""
    (tmp_path / "s.py").write_text("def f(output, expected):\n    return 0.5\n")
    keys = metric_keys(
        build(
            tmp_path,
            "metrics:\n"
            "  - custom: {function: s.py:f, name: cost_delta}\n"
            "  - custom: {function: s.py:f, name: retry_rate}\n"
            "  - custom: {function: s.py:f, name: polite, binary: true}\n",
        )
    )
    assert keys["cost_delta"]["unit"] == keys["retry_rate"]["unit"] == "plain"
    assert keys["polite"]["unit"] == "rate"


def test_reasons_and_tables_write_the_recorded_unit():
    kinds = {"cost_delta": ("continuous", False)}
    baseline = make_results({"cost_delta": [0.10] * 200}, kinds=kinds)
    current = make_results({"cost_delta": [0.20] * 200}, kinds=kinds)
    for results in (baseline, current):
        results["metric_keys"]["cost_delta"]["unit"] = "plain"
    config = make_config([rule("cost_delta", max=0.15)], resamples=200)
    verdict = decide(compare(current, baseline, config), config)
    assert verdict.reasons[0].message.startswith("cost_delta is 0.2, above the maximum 0.15")
    assert verdict.to_json()["metrics"][0]["unit"] == "plain"


def test_a_results_file_without_recorded_units_gets_the_declared_ones():
    assert unit_of("latency_p95_ms") == "ms" and unit_of("cost_total") == "usd"
    assert unit_of("rougeL", "continuous") == "plain" and unit_of("bleu", "corpus") == "plain"
    assert unit_of("accuracy") == unit_of("polite", "binary") == unit_of("hallucination_rate") == "rate"
    assert unit_of("my_latency_ms", "continuous") == "plain"  # not declared: nothing read into the name
    assert facts_of("judge_{criterion}") is None  # a pattern is no key name


PROBE = """
import json, sys
from evalgate.metrics import resolve_name
resolve_name("accuracy")
loaded_for_a_family = sorted(m for m in sys.modules if m.startswith("evalgate.metrics."))
resolve_name("rougeL")
heavy = sorted({"rouge_score", "sacrebleu", "jsonschema", "nltk"} & set(sys.modules))
print(json.dumps({"family": loaded_for_a_family, "heavy": heavy}))
"""


@pytest.mark.slow
def test_the_registry_loads_lazily():
    """Naming a family loads no other family; reading every family's FACTS loads none of their libraries."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=Path(ROOT), timeout=120
    )
    report = json.loads(out.stdout)
    assert (
        "evalgate.metrics.rouge" not in report["family"]
        and "evalgate.metrics.registry" not in report["family"]
    )
    assert report["heavy"] == []
