"""The results file contract (evalgate/contracts/results.py): the generated JSON Schema, version 1 files read
through the migration, one clear exit-2 message for a bad file, and readable signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.contracts.results import Results, parse_results, schema_text
from evalgate.contracts.signature import describe, metric_spec, metric_spec_hash
from evalgate.contracts.versions import RESULTS_SCHEMA_VERSION
from evalgate.errors import InputError
from evalgate.results import load_results
from tests.conftest import FIXTURES, ROOT
from tests.gatekit import SIGNATURE, as_results, compare, make_config, make_results, rule

V1_SUITE = FIXTURES / "results"  # the suite that wrote v1_repeats.json with evalgate at schema_version 1
V1_FILE = V1_SUITE / "v1_repeats.json"


def test_the_committed_schema_is_the_one_generated_from_the_models() -> None:
    committed = (ROOT / "evalgate" / "results.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "run `python scripts/results_schema.py` and commit the schema"
    schema = json.loads(committed)
    assert schema["properties"]["schema_version"]["const"] == RESULTS_SCHEMA_VERSION
    assert set(schema["required"]) >= {"suite", "created_at", "signature", "metrics", "cases"}


def test_a_version_1_file_loads_through_the_migration() -> None:
    raw = json.loads(V1_FILE.read_text(encoding="utf-8"))
    assert raw["schema_version"] == 1 and "metric_spec" not in raw["signature"]
    results = load_results(V1_FILE)
    assert isinstance(results, Results) and results.schema_version == 2
    assert len(results.cases) == 12 and results.signature.metric_spec is None
    case = results.cases[0]
    assert case.repeats is not None and len(case.repeats) == 2  # repeats: 2, typed per run
    assert case.scores == raw["cases"][0]["scores"]
    assert results.metrics["exact_match"].value == raw["metrics"]["exact_match"]["value"]
    assert results.metric_keys["rougeL"].kind == "continuous"
    dumped = results.to_json()
    assert (
        dumped["metric_keys"]["rougeL"]["description"] == raw["metric_keys"]["rougeL"]["description"]
    )  # kept
    assert {**dumped, "schema_version": 1} == raw  # nothing else changed: the migration is the version


@pytest.mark.slow
def test_a_version_1_baseline_gates_a_version_2_run_of_the_same_suite(tmp_path: Path) -> None:
    """The `metrics` hash is computed as in version 1, so an old baseline of the same config still matches."""
    for name in ("evalgate.yaml", "cases.jsonl", "model.py"):
        (tmp_path / name).write_bytes((V1_SUITE / name).read_bytes())
    assert main(["run", "-c", str(tmp_path / "evalgate.yaml"), "-o", str(tmp_path / "now.json"), "-q"]) == 0
    now = load_results(tmp_path / "now.json")
    assert json.loads((tmp_path / "now.json").read_text())["schema_version"] == 2
    assert now.signature.metric_spec is not None
    assert now.signature.metrics == load_results(V1_FILE).signature.metrics
    code = main(
        [
            "gate",
            "-c",
            str(tmp_path / "evalgate.yaml"),
            "--current",
            str(tmp_path / "now.json"),
            "-b",
            str(V1_FILE),
        ]
    )
    assert code == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d.update(schema_version=3),
            "schema_version 3 is not supported; this evalgate reads versions 1, 2",
        ),
        (lambda d: d.update(schema_version=True), "schema_version True is not supported"),
        (lambda d: d["cases"][3].pop("id"), "cases[3].id: a required field is missing"),
        (
            lambda d: d["cases"][0]["scores"].update(exact_match="1"),
            "cases[0].scores.exact_match: Input should be a",
        ),
        (
            lambda d: d["metrics"]["rougeL"].update(value=[1]),
            "metrics.rougeL.value: Input should be a valid number",
        ),
        (
            lambda d: d["cases"][5].update(id=d["cases"][2]["id"]),
            "cases: case id 'c2' appears twice (cases[2] and",
        ),
        (
            lambda d: d["metric_keys"]["rougeL"].update(kind="ratio"),
            "metric_keys.rougeL.kind: Input should be",
        ),
        (lambda d: d["signature"].pop("datasets"), "signature.datasets: a required field is missing"),
    ],
)
def test_a_bad_results_file_is_one_clear_exit_2_line(tmp_path: Path, capsys, change, message) -> None:
    data = json.loads(V1_FILE.read_text(encoding="utf-8"))
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=None) as caught:
        load_results(bad)
    assert message in str(caught.value)
    code = main(["gate", "-c", str(V1_SUITE / "evalgate.yaml"), "--current", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and str(bad) in err
    assert "Traceback" not in err and "pydantic" not in err and "errors.pydantic.dev" not in err


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InputError, match="the top level is list, expected an object"):
        parse_results([1, 2], file="x.json")


def test_fields_a_newer_evalgate_adds_are_kept() -> None:
    data = make_results({"accuracy": [1.0, 0.0]})
    data["run"] = {"shard": {"index": 1, "of": 2}}
    data["cases"][0]["journal"] = "resumed"
    results = as_results(data)
    assert results.run.model_extra == {"shard": {"index": 1, "of": 2}}
    assert results.to_json()["cases"][0]["journal"] == "resumed"


# --- readable signatures ---------------------------------------------------------------------------


def _signature(*metrics: tuple[str, dict]) -> dict:
    spec = [{"metric": name, "options": options} for name, options in metrics]
    return {**SIGNATURE, "metric_spec": spec, "metrics": metric_spec_hash(spec)}


def test_the_spec_hash_is_the_version_1_hash() -> None:
    config = make_config(metrics=["accuracy", ("rouge", {"use_stemmer": True, "keys": ["rougeL"]})])
    spec = metric_spec(config.metrics)
    assert spec[1] == {"metric": "rouge", "options": {"keys": ["rougeL"], "use_stemmer": True}}
    # pipeline.signature's hash before schema 2: sha256 of the sorted JSON of [[name, options], ...]
    import hashlib

    old = json.dumps([[m.name, m.options] for m in config.metrics], sort_keys=True, default=str)
    assert metric_spec_hash(spec) == "sha256:" + hashlib.sha256(old.encode()).hexdigest()


def test_a_refused_baseline_names_the_option_that_differs() -> None:
    now = _signature(("accuracy", {}), ("rougeL", {"use_stemmer": False}), ("bleu", {}))
    before = _signature(("accuracy", {}), ("rougeL", {"use_stemmer": True}))
    config = make_config(signature_mismatch="fail")
    with pytest.raises(InputError) as caught:
        compare(
            make_results({"accuracy": [1.0]}, signature=now),
            make_results({"accuracy": [1.0]}, signature=before),
            config,
        )
    text = str(caught.value)
    assert "rougeL.use_stemmer: true → false" in text
    assert 'bleu: absent → "configured"' in text
    assert "sha256" not in text


def test_a_baseline_without_the_spec_compares_by_hash() -> None:
    now = _signature(("rougeL", {"use_stemmer": False}))
    before = {**SIGNATURE, "metrics": "sha256:old"}  # a version 1 signature: the hash only
    comparison = compare(
        make_results({"accuracy": [1.0]}, signature=now),
        make_results({"accuracy": [1.0]}, signature=before),
        make_config(),
    )
    assert [item["field"] for item in comparison.signature_diff] == ["metrics"]
    assert describe(comparison.signature_diff[0]) == f'metrics: "sha256:old" → "{now["metrics"]}"'
    same = compare(
        make_results({"accuracy": [1.0]}, signature={**SIGNATURE, "metrics": now["metrics"]}),
        make_results({"accuracy": [1.0]}, signature=now),
        make_config([rule("accuracy", min=0.5)]),
    )
    assert same.signature_match and same.signature_diff == []


def test_head_to_head_reads_results_files_through_the_same_parser(tmp_path: Path) -> None:
    from evalgate.judge.headtohead import pair_results_files

    entries, players, warnings = pair_results_files(V1_FILE, V1_FILE)  # a version 1 file, migrated
    assert len(entries) == 12 and [p.name for p in players] == ["v1-fixture (a)", "v1-fixture (b)"]
    assert warnings == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "label": "x", "cases": [{"id": 3}]}))
    with pytest.raises(InputError, match="not a valid evalgate results file"):
        pair_results_files(bad, V1_FILE)  # before: its own looser reader accepted this file
