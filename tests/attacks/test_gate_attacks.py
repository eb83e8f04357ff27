"""Attacks on the gate's verdict and the config it reads (issue 8: #1, #2, #3, #12, #21), kept as regressions.

Each input here once got a wrong verdict, was silently ignored, or said the wrong thing: a drop so large its
exact p-value underflowed to 0 passed as "p=1"; NaN and infinite thresholds passed; a category rule with a typo
was never judged; a ROUGE-L drop read "3.0 points" in the reason and "-0.0300" in the table; a gate on a metric
the suite does not compute said "did you mean accuracy or tokens_out?"; another suite's baseline was compared.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from gatekit import make_config, make_results, rule, scored_results

from evalgate.cli import main
from evalgate.config import load_config
from evalgate.errors import InputError
from evalgate.gate import decide
from evalgate.metrics.registry import unit_of
from evalgate.report import formatting as fmt
from evalgate.report.render import render_markdown
from tests.conftest import write_suite
from tests.gatekit import as_results, compare

MODEL = {
    "model.py": "import pathlib\n\ndef predict(x):\n    pathlib.Path(__file__).with_name('called').touch()\n    return x\n",
    "data/typical_cases.jsonl": '{"id": "t1", "input": "a", "expected": "a"}\n',
    "data/edge_cases.jsonl": '{"id": "e1", "input": "b", "expected": "b"}\n',
}
HEAD = """
suite: demo
datasets: [data]
provider: {type: python, target: model.py:predict}
"""


def config_error(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> InputError:
    path = write_suite(tmp_path, HEAD + text, {**MODEL, **(files or {})})
    with pytest.raises(InputError) as caught:
        load_config(path)
    return caught.value


def line_of(text: str, needle: str) -> int:
    """The line number of `needle` in the config HEAD + text (1-based; write_suite strips the first newline)."""
    lines = (HEAD + text).lstrip("\n").splitlines()
    return next(number for number, line in enumerate(lines, 1) if needle in line)


def labels(n: int, wrong: int) -> list[dict]:
    """n classification cases, the first `wrong` of them answered wrongly."""
    return [
        {"id": f"c{i:05d}", "category": "typical", "expected": "a", "output": "b" if i < wrong else "a"}
        for i in range(n)
    ]


# -- #1: a huge drop on a large suite ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "before", "after"), [pytest.param(10_000, 500, 3_500, marks=pytest.mark.slow), (2_000, 0, 2_000)]
)
def test_a_huge_drop_on_a_large_suite_fails(n, before, after):
    """10,000 cases 95% -> 65%, and 2,000 cases 100% -> 0%: the exact McNemar p underflows to 0.0, which Holm
    once read as 1.0 (`p or 1.0`): "WARN ... not significantly (p=1 after Holm)", exit 0."""
    config = make_config([rule("accuracy", max_drop=0.02)], metrics=["accuracy"])
    baseline, current = scored_results(config, labels(n, before)), scored_results(config, labels(n, after))
    verdict = decide(compare(current, baseline, config), config)
    item = verdict.comparison.metric("accuracy")
    assert item.tests["max_drop"]["p_value"] == 0.0 and item.tests["max_drop"]["p_adjusted"] == 0.0
    assert verdict.verdict == "fail" and verdict.exit_code == 1, verdict.headline


def test_a_zero_p_value_stays_zero_after_holm_among_other_metrics():
    scores = {"accuracy": [0.0] * 1500 + [1.0] * 500, "exact": [1.0] * 2000}
    base = {"accuracy": [1.0] * 2000, "exact": [1.0] * 2000}
    config = make_config([rule("accuracy", max_drop=0.02), rule("exact", max_drop=0.02)])
    comparison = compare(make_results(scores), make_results(base), config)
    assert comparison.metric("accuracy").p_adjusted == 0.0
    assert comparison.metric("exact").p_adjusted == 1.0


# -- #2: NaN, infinite, negative and absurd numbers in the config ------------------------------------------

NON_FINITE = [
    ("gate: {accuracy: {min: .nan}}", "min: .nan", "gate.accuracy.min must be a finite number, got .nan"),
    ("gate: {accuracy: {max: .inf}}", "max: .inf", "gate.accuracy.max must be a finite number, got .inf"),
    ("gate: {error_rate: {max: .nan}}", "error_rate", "gate.error_rate.max must be a finite number"),
    ("gate: {accuracy: {max_drop: .inf}}", "max_drop", "gate.accuracy.max_drop must be a finite number"),
    ("gate: {accuracy: {max_drop_pct: .NaN}}", "max_drop_pct", "must be a finite number, got .nan"),
    ("gate: {accuracy: {min: -.inf}}", "min:", "gate.accuracy.min must be a finite number, got -.inf"),
    ("gate: {accuracy: {min: 1.0e+999}}", "min:", "the number 1.0e+999 is beyond the range of a float"),
    (f"gate: {{accuracy: {{min: {10**400}}}}}", "min:", "has more than 308 digits"),
    ("stats: {alpha: .nan}", "alpha", "stats.alpha must be a finite number"),
    ("stats: {confidence: .inf}", "confidence", "stats.confidence must be a finite number"),
    ("stats: {power: .nan}", "power", "stats.power must be a finite number"),
    ("timeout: .inf", "timeout", "the config.timeout must be a finite number"),
    ("budget: {max_cost: .nan}", "max_cost", "budget.max_cost must be a finite number"),
    ("prices: {m: {input: .nan, output: 1}}", "prices", "prices.m.input must be a finite number"),
    ("metrics: [{custom: {function: model.py:predict, error_score: .nan}}]", "custom", "finite number"),
    ("judge: {type: anthropic, model: m, temperature: .nan}", "judge", "judge.temperature must be a finite"),
    ("judge: {type: anthropic, model: m, timeout: .inf}", "judge", "judge.timeout must be a finite number"),
]


@pytest.mark.parametrize(("text", "where", "message"), NON_FINITE, ids=[t for t, _, _ in NON_FINITE])
def test_a_number_that_is_not_finite_is_refused_with_its_line(tmp_path, text, where, message):
    error = config_error(tmp_path, text + "\n")
    assert message in error.message
    assert error.file.endswith("evalgate.yaml") and error.line == line_of(text, where)


ABSURD = [
    ("concurrency: 0", "concurrency must be from 1 to 1,024"),
    ("concurrency: 100000", "concurrency must be from 1 to 1,024"),
    ("timeout: 0", "timeout must be above 0 and at most 86,400 seconds (a day)"),
    ("timeout: 1000000", "timeout must be above 0 and at most 86,400 seconds (a day)"),
    ("repeats: 1000000", "repeats must be from 1 to 1,000"),
    ("stats: {alpha: 0.7}", "stats.alpha must be above 0 and at most 0.5"),
    ("stats: {alpha: 0}", "stats.alpha must be above 0 and at most 0.5"),
    ("stats: {resamples: 0}", "stats.resamples must be from 100 to 1,000,000"),
    ("stats: {resamples: 10000000000}", "stats.resamples must be from 100 to 1,000,000"),
    ("stats: {power: 1}", "stats.power must be between 0 and 1"),
    ("budget: {max_cost: -1}", "budget.max_cost must be greater than 0"),
    ("budget: {max_tokens: 0}", "budget.max_tokens must be greater than 0"),
    ("prices: {m: {input: -1, output: 1}}", "prices.m.input must be 0 or more"),
    ("report: {max_examples: -1}", "report.max_examples must be 0 or more"),
    ("report: {max_chars: 0}", "report.max_chars must be greater than 0"),
    ("gate: {accuracy: {max_drop: -0.01}}", "gate.accuracy.max_drop must be 0 or more"),
    ("judge: {type: anthropic, model: m, temperature: -1}", "judge.temperature must be 0 or more"),
    ("metrics: [{chrf: {word_order: -2}}]", "word_order must be 0 or more"),
]


@pytest.mark.parametrize(("text", "message"), ABSURD, ids=[t for t, _ in ABSURD])
def test_a_number_that_makes_no_sense_is_refused_with_its_line(tmp_path, text, message):
    error = config_error(tmp_path, text + "\n")
    assert message in error.message
    assert error.file.endswith("evalgate.yaml") and error.line == line_of(text, text.split(":")[0])


RATES = [
    ("gate: {accuracy: {min: 90}}", "min", "could never pass; write 0.9 for 90%"),
    ("gate: {error_rate: {max: 5}}", "max", "could never fail; write 0.05 for 5%"),
    ("gate: {accuracy: {max_drop: 2}}", "max_drop", "could never fail; write 0.02 for 2 points"),
    ("gate: {accuracy: {max_drop_pct: 100}}", "max_drop_pct", "cannot drop by 100% of its baseline"),
    ("gate: {accuracy: {min: -0.1}}", "min", "could never fail"),
    ("gate: {categories: {edge: {accuracy: {max: 2}}}}", "max", "gate.categories.edge.accuracy.max is 2"),
]


@pytest.mark.parametrize(("text", "bound", "message"), RATES, ids=[t for t, _, _ in RATES])
def test_a_rate_threshold_written_as_a_percent_is_refused(tmp_path, text, bound, message):
    """accuracy and error rates are shares from 0 to 1: `min: 90` always fails, `max: 5` or `max_drop: 2`
    never can; each is refused (a typo never silently disables a threshold)."""
    error = config_error(tmp_path, text + "\n")
    assert message in error.message
    assert "is a rate from 0 to 1" in error.message and error.line == line_of(text, bound)


def test_the_same_numbers_are_fine_on_metrics_that_are_not_rates(tmp_path):
    config = load_config(
        write_suite(
            tmp_path,
            HEAD + "metrics: [bleu]\ngate: {bleu: {min: 20, max_drop: 2}, latency_p95_ms: {max: 500}}\n",
            MODEL,
        )
    )
    assert {r.metric: r.bounds() for r in config.rules}["bleu"] == {"min": 20.0, "max_drop": 2.0}


def test_too_few_resamples_for_holm_to_ever_fail_a_bootstrapped_metric_are_refused(tmp_path):
    """100 resamples give bootstrap p-values of at least 1/101; six rougeL drop rules in one Holm family
    need one below 0.05/6: no rougeL drop could ever fail."""
    categories = "\n".join(f"    c{i}: {{rougeL: {{max_drop: 0.01}}}}" for i in range(6))
    text = f"metrics: [rougeL]\nstats:\n  resamples: 100\ngate:\n  categories:\n{categories}\n"
    error = config_error(tmp_path, text)
    assert "stats.resamples is 100: too few" in error.message and "use at least 120" in error.message
    assert error.line == line_of(text, "resamples")
    pass_fail = text.replace("[rougeL]", "[accuracy]").replace("rougeL:", "accuracy:")
    assert load_config(write_suite(tmp_path, HEAD + pass_fail, MODEL)).stats["resamples"] == 100  # exact test


def test_nan_thresholds_through_the_command_line_exit_2_naming_the_line(tmp_path, capsys):
    path = write_suite(tmp_path, HEAD + "gate: {accuracy: {min: .nan}}\n", MODEL)
    results = tmp_path / "results.json"
    config = make_config(metrics=["accuracy"])
    results.write_text(json.dumps(scored_results(config, labels(10, 0))))
    assert main(["gate", "--current", str(results), "--config", str(path)]) == 2
    assert f"{path}:4: gate.accuracy.min must be a finite number, got .nan" in capsys.readouterr().err


# -- #3: names that match nothing ---------------------------------------------------------------------------


def test_a_category_rule_naming_no_category_stops_the_run_before_any_case(tmp_path, capsys):
    text = "gate:\n  categories:\n    typicall: {accuracy: {min: 0.5}}\n"
    path = write_suite(tmp_path, HEAD + text, MODEL)
    assert main(["run", "--config", str(path), "--output", str(tmp_path / "r.json"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert (
        f"{path}:{line_of(text, 'typicall')}: gate.categories.typicall.accuracy names the category" in error
    )
    assert "their categories: edge, typical (did you mean typical?)" in error
    assert not (tmp_path / "called").exists()  # refused before the model was called
    assert not (tmp_path / "r.json").exists()


def test_a_category_rule_naming_no_category_of_the_results_is_refused_by_the_gate():
    config = make_config([rule("accuracy", "typicall", min=0.5)], metrics=["accuracy"])
    results = scored_results(config, labels(20, 0))
    with pytest.raises(InputError) as caught:
        compare(results, results, config)
    assert "names the category 'typicall'" in caught.value.message
    assert "(did you mean typical?)" in caught.value.message and caught.value.line == 3


def test_a_sample_that_left_a_category_out_warns_instead():
    config = make_config([rule("accuracy", "edge", min=0.5)], metrics=["accuracy"])
    results = scored_results(config, labels(20, 0))
    results["signature"]["sample"] = 20
    verdict = decide(compare(results, results, config), config)
    assert verdict.verdict == "pass"
    assert any("gate.categories.edge.accuracy: not judged" in w for w in verdict.warnings)


def test_a_gated_metric_the_results_do_not_have_is_refused():
    """Results computed with another config lack the gated key: the rule was silently never judged."""
    config = make_config([rule("f1_macro", min=0.5)], metrics=["accuracy"])
    results = scored_results(config, labels(20, 0))
    with pytest.raises(InputError) as caught:
        compare(results, results, config)
    assert "gate.f1_macro names the metric 'f1_macro', but the current results have no such metric" in str(
        caught.value
    )


def test_quarantined_ids_that_match_no_case_are_named_in_a_warning():
    config = make_config(metrics=["accuracy"], quarantine=["c00001", "c-0001", "gone"])
    results = scored_results(config, labels(20, 0))
    warnings = decide(compare(results, results, config), config).warnings
    assert "1 quarantined case(s) left out of the gate: c00001" in warnings
    assert any(
        "2 quarantined id(s) match no case of either run" in w and "c-0001, gone" in w for w in warnings
    )


def test_a_category_rule_whose_cases_are_all_quarantined_says_it_was_not_judged():
    config = make_config([rule("accuracy", "edge", min=0.9)], metrics=["accuracy"], quarantine=["e1"])
    rows = [*labels(5, 0), {"id": "e1", "category": "edge", "expected": "a", "output": "b"}]
    results = scored_results(config, rows)
    verdict = decide(compare(results, results, config), config)
    assert "gate.categories.edge.accuracy: not judged: every case of category 'edge' is quarantined" in (
        verdict.warnings
    )


# -- #12: one rule for units ---------------------------------------------------------------------------------


def test_a_rouge_drop_reads_the_same_in_the_reason_and_in_the_table():
    """rougeL 0.53 -> 0.50 once read "dropped 3.0 points" (the reason guessed a rate from the values' range)
    and "-0.0300 (-5.7%)" (the table, by name); both now say what the metric is: a score, not a share."""
    kinds = {"rougeL": ("continuous", True)}
    baseline = make_results({"rougeL": [0.53] * 400}, kinds=kinds)
    current = make_results({"rougeL": [0.50] * 400}, kinds=kinds)
    config = make_config([rule("rougeL", max_drop=0.01)], resamples=1000)
    verdict = decide(compare(current, baseline, config), config)
    assert verdict.reasons[0].message.startswith(
        "rougeL dropped by 0.03 (0.53 → 0.5), beyond the 0.01 margin"
    )
    report = render_markdown(verdict.document(), as_results(current), as_results(baseline))
    row = next(line for line in report.splitlines() if line.startswith("| rougeL"))
    assert "0.530" in row and "-0.0300 (-5.7%)" in row and " pp" not in row and "%" not in row.split("|")[2]


def test_the_unit_follows_what_the_metric_is_never_its_values():
    assert unit_of("bleu", "corpus") == "plain"  # sacrebleu's 0-100, even when a run scores 0.8
    assert unit_of("rougeL", "continuous") == "plain" and unit_of("f1_macro", "corpus") == "plain"
    assert unit_of("accuracy") == unit_of("polite", "binary") == unit_of("hallucination_rate", "continuous")
    assert unit_of("latency_p95_ms", "corpus") == "ms" and unit_of("cost_total", "corpus") == "usd"


def test_reasons_write_values_in_their_unit():
    kinds = {"latency_mean_ms": ("continuous", False)}
    baseline = make_results({"latency_mean_ms": [300.0] * 50 + [310.0] * 50}, kinds=kinds)
    current = make_results({"latency_mean_ms": [420.0] * 50 + [430.0] * 50}, kinds=kinds)
    config = make_config([rule("latency_mean_ms", max_drop=20.0, max=400.0)], resamples=1000)
    messages = [r.message for r in decide(compare(current, baseline, config), config).reasons]
    assert "latency_mean_ms is 425 ms, above the maximum 400 ms" in messages
    assert any(
        m.startswith("latency_mean_ms rose by 120 ms (305 ms → 425 ms), beyond the 20 ms margin")
        for m in messages
    )


def test_a_value_just_below_its_minimum_is_written_with_the_digits_that_show_it():
    config = make_config([rule("accuracy", min=0.9)])
    results = make_results({"accuracy": [1.0] * 8999 + [0.0] * 1001})
    message = decide(compare(results, None, config), config).reasons[0].message
    assert message == "accuracy is 89.99%, below the minimum 90.0%"
    assert fmt.distinct(0.8999, 0.9, "rate") == "89.99%"


def test_categories_are_listed_worst_regression_first():
    """The table once put an unchanged category first and one down 26 points last (both without a rule)."""
    categories = ["calm"] * 100 + ["broken"] * 100 + ["slipping"] * 100
    base = [1.0] * 300
    now = [1.0] * 100 + [0.0] * 26 + [1.0] * 74 + [0.0] * 3 + [1.0] * 97
    config = make_config([rule("accuracy", max_drop=0.5)])
    baseline = make_results({"accuracy": base}, categories=categories)
    current = make_results({"accuracy": now}, categories=categories)
    verdict = decide(compare(current, baseline, config), config).document()
    report = render_markdown(verdict, as_results(current), as_results(baseline))
    table = report[report.index("| Category |") :].split("\n\n")[0].splitlines()[2:]
    assert [row.split("|")[1].strip() for row in table] == ["broken", "slipping", "calm"]


# -- #21: the wrong metric, the wrong suite ------------------------------------------------------------------


def test_a_gate_on_a_known_metric_the_suite_does_not_compute_says_to_add_it(tmp_path):
    text = "metrics: [accuracy]\ngate: {f1_macro: {min: 0.8}}\n"
    error = config_error(tmp_path, text)
    assert error.line == line_of(text, "f1_macro")
    assert "this suite does not compute f1_macro; add f1_macro to the metrics: list at" in error.message
    assert f"evalgate.yaml:{line_of(text, 'metrics:')}" in error.message
    assert "did you mean" not in error.message and "tokens_out" not in error.message


def test_without_a_metrics_list_the_message_says_where_to_write_one(tmp_path):
    error = config_error(tmp_path, "gate: {rougeL: {min: 0.3}}\n")
    assert "add rougeL to a metrics: list in" in error.message and "computes only accuracy" in error.message


def test_a_gate_on_a_family_names_its_keys(tmp_path):
    error = config_error(tmp_path, "metrics: [rouge]\ngate: {rouge: {min: 0.3}}\n")
    assert "'rouge' is a family of metrics" in error.message
    assert "rouge1, rouge2, rougeL, rougeLsum" in error.message


def test_a_typo_in_a_gated_metric_suggests_only_close_names(tmp_path):
    error = config_error(tmp_path, "gate: {acuracy: {min: 0.3}}\n")
    assert "(did you mean accuracy?)" in error.message and "tokens_out?" not in error.message


def test_a_baseline_of_another_suite_is_refused_whatever_signature_mismatch_says(tmp_path, capsys):
    config = make_config(metrics=["accuracy"], signature_mismatch="warn")
    current = scored_results(config, labels(20, 0))
    other = dict(current, suite="summarizer")
    with pytest.raises(InputError) as caught:
        compare(current, other, config, baseline_path="base.json")
    assert caught.value.file == "base.json"
    assert "the baseline is of suite 'summarizer', but this run is of suite 'demo'" in caught.value.message
    path = write_suite(tmp_path, HEAD, MODEL)
    (tmp_path / "cur.json").write_text(json.dumps(current))
    (tmp_path / "base.json").write_text(json.dumps(other))
    args = ["gate", "--current", str(tmp_path / "cur.json"), "--baseline", str(tmp_path / "base.json")]
    assert main([*args, "--config", str(path)]) == 2
    assert "base.json: the baseline is of suite 'summarizer'" in capsys.readouterr().err


def test_results_of_another_suite_are_not_gated_with_this_config():
    config = make_config(metrics=["accuracy"])
    results = dict(scored_results(config, labels(20, 0)), suite="summarizer")
    with pytest.raises(InputError) as caught:
        compare(results, None, config)
    assert "the results to gate are of suite 'summarizer', but this config is of suite 'demo'" in str(
        caught.value
    )


# -- siblings: numbers read by the command line --------------------------------------------------------------


def test_compare_sample_zero_is_refused_not_read_as_all_cases(tmp_path, capsys):
    """`evalgate compare --sample 0` ran every case (`if sample:`); it is refused as `run --sample 0` is."""
    providers = "\n".join(f"  {name}: {{type: python, target: model.py:predict}}" for name in "ab")
    text = f"suite: demo\ndatasets: [data]\nproviders:\n{providers}\njudge: {{type: anthropic, model: m}}\n"
    path = write_suite(tmp_path, text, MODEL)
    assert main(["compare", "--config", str(path), "--a", "a", "--b", "b", "--sample", "0"]) == 2
    assert "--sample must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "called").exists()


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_a_command_line_number_that_is_not_finite_is_refused(value):
    from evalgate.commands.history import positive

    with pytest.raises(argparse.ArgumentTypeError, match="expected a positive number"):
        positive(float)(value)


def test_a_price_for_a_model_no_provider_uses_is_named_before_the_run(tmp_path, capsys):
    """`prices: {claude-sonet-4-5: ...}` (a typo) once left the built-in price in force without a word."""
    text = (
        "suite: demo\ndatasets: [data]\nprovider: {type: python, target: model.py:predict}\n"
        "judge: {type: anthropic, model: claude-sonnet-4-5-20250929}\n"
        "prices:\n  claude-sonet-4-5: {input: 1, output: 2}\n  claude-sonnet-4-5: {input: 3, output: 4}\n"
    )
    path = write_suite(tmp_path, text, MODEL)
    assert main(["run", "--config", str(path), "--output", str(tmp_path / "r.json"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "evalgate: warning: prices.claude-sonet-4-5 applies to no model of this suite" in err
    assert "(did you mean claude-sonnet-4-5-20250929?)" in err
    assert "prices.claude-sonnet-4-5 " not in err  # the dated snapshot takes its family's price
