"""The verdict contract (evalgate/contracts/verdict.py): what the gate writes is what the model says, and the
report fixtures are verdicts the gate could have written (no key, shape or value no producer writes)."""

from __future__ import annotations

import json

import pytest
from reportkit import FIXTURES

from evalgate.contracts.verdict import VerdictDocument, parse_verdict
from evalgate.errors import InputError
from evalgate.gate import decide
from tests.gatekit import SIGNATURE, compare, make_config, make_results, rule

PASSED = [1.0] * 90 + [0.0] * 10
DROPPED = [1.0] * 70 + [0.0] * 30


def producer_verdicts() -> dict[str, dict]:
    """Verdicts of the real pairing and gate: fail, warn (a changed signature), pass, and no baseline."""
    config = make_config([rule("accuracy", min=0.8, max_drop=0.02), rule("accuracy", "edge", min=0.5)])
    categories = ["edge" if i % 3 == 0 else "typical" for i in range(100)]
    errors = ["TimeoutError: slow" if i == 5 else None for i in range(100)]

    def run(scores: list[float], **options) -> dict:
        return make_results({"accuracy": scores}, categories=categories, errors=errors, **options)

    return {
        "fail": decide(compare(run(DROPPED), run(PASSED), config), config).to_json(),
        "warn": decide(
            compare(run(PASSED, signature={**SIGNATURE, "datasets": "sha256:e"}), run(PASSED), config), config
        ).to_json(),
        "pass": decide(compare(run(PASSED), run(PASSED), config), config).to_json(),
        "no_baseline": decide(compare(run(DROPPED), None, config), config).to_json(),
    }


def test_every_verdict_the_gate_writes_is_a_valid_document() -> None:
    verdicts = producer_verdicts()
    assert {name: v["verdict"] for name, v in verdicts.items()} == {
        "fail": "fail",
        "warn": "warn",
        "pass": "pass",
        "no_baseline": "fail",
    }
    for name, verdict in verdicts.items():
        document = parse_verdict(json.loads(json.dumps(verdict)), file=name)
        assert document.model_dump(exclude_unset=True) == json.loads(json.dumps(verdict))
    fail = parse_verdict(verdicts["fail"], file="fail")
    assert fail.cases.regressed and fail.cases.regressed[0].metric == "accuracy"
    assert parse_verdict(verdicts["warn"], file="warn").baseline.signature_diff[0].field == "datasets"


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("verdict_*.json")))
def test_each_report_fixture_is_a_verdict_the_gate_could_write(name: str) -> None:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(parse_verdict(data, file=name), VerdictDocument)


def test_a_key_no_producer_writes_is_refused() -> None:
    verdict = producer_verdicts()["warn"]
    verdict["baseline"]["signature_diff"][0]["key"] = verdict["baseline"]["signature_diff"][0].pop("field")
    with pytest.raises(InputError, match=r"baseline.signature_diff\[0\]\.(field|key)"):
        parse_verdict(verdict, file="verdict.json")
