"""Adversarial case generation against a local Messages API server, through the real anthropic SDK."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re

import pytest

from evalgate.cli import main
from evalgate.errors import InputError
from evalgate.generate import generate_cases, normalize, parse_techniques, to_jsonl, write_new_file
from evalgate.judging import open_judge
from evalgate.model import Case

from .anthropic_stub import user_text


def original(prompt: str) -> str:
    return re.search(r"<original_input>\n(.*?)\n</original_input>", prompt, re.S).group(1)


def technique(prompt: str) -> str:
    return re.search(r"technique:\n\n(\w+)", prompt).group(1).lower()


def generate(suite, seeds, techniques, n):
    async def go():
        async with open_judge(suite) as session:
            return await generate_cases(session, seeds, techniques=techniques, n_per_case=n)

    return asyncio.run(go())


SEEDS = [
    Case("s1", "How do I reset my password?", "Use the 'Forgot password' link.", "typical", {"lang": "en"}),
    Case("s2", "Can I get a refund after 30 days?", "No, refunds are within 30 days.", "typical"),
]


def test_variants_are_validated_deduplicated_and_carry_provenance(suite, stub):
    def respond(request):
        prompt = user_text(request)
        seed, kind = original(prompt), technique(prompt)
        if seed.startswith("How do I reset"):
            if kind == "paraphrase":
                # the second is the first with extra spaces: a duplicate; the third restates the seed
                return json.dumps(
                    {
                        "inputs": [
                            "I forgot my password, how can I set a new one?",
                            "I forgot my password,  how can I set a new one? ",
                            "How do I reset my password?",
                        ]
                    }
                )
            return json.dumps({"inputs": ["HOW DO I RESET MY PASSWORD???", "   "]})
        if kind == "paraphrase":
            return "Here are some: " + json.dumps({"inputs": ["x"]})  # prose both times: a generator error
        return json.dumps(
            {"inputs": ["can i get a refund after 30 days", "Can I get a refund after 30 days?"]}
        )

    stub.responder = respond
    report = generate(suite, SEEDS, ["paraphrase", "formatting"], 3)
    inputs = [case["input"] for case in report.cases]
    assert inputs == [
        "I forgot my password, how can I set a new one?",
        "HOW DO I RESET MY PASSWORD???",
        "can i get a refund after 30 days",
    ]
    assert report.dropped == {"duplicate": 1, "same as the seed": 2, "empty": 1}
    assert len(report.errors) == 1 and report.errors[0].startswith("s2 (paraphrase): invalid judge reply")
    first = report.cases[0]
    assert first["id"] == "s1-paraphrase-" + hashlib.sha256(first["input"].encode()).hexdigest()[:8]
    assert first["category"] == "adversarial"
    assert first["expected"] == "Use the 'Forgot password' link."
    meta = first["metadata"]
    assert meta["lang"] == "en" and meta["seed_id"] == "s1" and meta["technique"] == "paraphrase"
    assert meta["model"] == "claude-haiku-4-5"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["generated_at"])
    assert len({case["id"] for case in report.cases}) == len(report.cases)
    assert "with exactly 3 item(s), each a JSON string" in stub.prompts()[0]
    assert "No, refunds are within 30 days." in next(p for p in stub.prompts() if "refund" in p)


def test_structured_inputs_keep_their_keys(suite, stub):
    seed = Case("o1", {"question": "Where is my order?", "order_id": "A-17"}, "It ships tomorrow.")
    stub.responder = lambda request: json.dumps(
        {
            "inputs": [
                {"question": "wheres my order??", "order_id": "A-17"},
                {"question": "Where is my order?"},
                "Where is my order A-17?",
            ]
        }
    )
    report = generate(suite, [seed], ["paraphrase"], 3)
    assert [case["input"] for case in report.cases] == [{"question": "wheres my order??", "order_id": "A-17"}]
    assert report.dropped == {"not an object with the seed's keys": 2}
    assert "each new input must be a JSON object with the same keys" in stub.prompts()[0]


def test_generated_lines_parse_back_as_cases(suite, stub):
    stub.responder = lambda request: json.dumps({"inputs": ["Reset pwd pls — I'm locked out 🙁"]})
    report = generate(suite, SEEDS[:1], ["distractor"], 1)
    lines = to_jsonl(report.cases).splitlines()
    assert [json.loads(line)["input"] for line in lines] == ["Reset pwd pls — I'm locked out 🙁"]


def test_never_overwrites_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "v3" / "adversarial_generated.jsonl"
    write_new_file(target, "first\n")  # creates the new version folder
    with pytest.raises(InputError, match="never overwrites"):
        write_new_file(target, "second\n")
    assert target.read_text() == "first\n"
    assert [p.name for p in target.parent.iterdir()] == ["adversarial_generated.jsonl"]


def test_the_command_refuses_an_existing_output_with_exit_2(tmp_path, capsys):
    out = tmp_path / "existing.jsonl"
    out.write_text('{"id": "keep"}\n')
    code = main(
        [
            "generate",
            "--config",
            str(tmp_path / "evalgate.yaml"),
            "--from",
            str(tmp_path / "seeds.jsonl"),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert "never overwrites" in capsys.readouterr().err
    assert out.read_text() == '{"id": "keep"}\n'


def test_techniques_and_normalization():
    assert parse_techniques("formatting, paraphrase,formatting") == ["formatting", "paraphrase"]
    with pytest.raises(InputError, match="unknown technique"):
        parse_techniques("paraphrase,translate")
    assert normalize("  a\u00a0 b\n") == "a b"
    assert normalize("A B") != normalize("a b")
