"""`evalgate compare` on the command line: usage errors, results files, exit codes."""

from __future__ import annotations

import json

import pytest

from evalgate.cli import main
from evalgate.errors import InputError
from evalgate.judge.headtohead import load_results_answers, pair_results_files
from tests.gatekit import make_results


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--a", "x"], "name the two models"),
        (["--a", "x", "--b", "y", "--players", "z", "w"], "without --a and --b"),
        (["--players", "x"], "two or more"),
        (["--a-results", "a.json"], "--a-results with --b-results"),
        (["--a", "x", "--b", "y", "--margin", "1.5"], "--margin must be from 0 to 1"),
    ],
)
def test_usage_errors_exit_2_with_one_message(args, message, capsys):
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def write(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def results_file(path, cases, label=None):
    """A results file (as `evalgate run` writes them) holding these cases (id, input, output, ...)."""
    document = make_results({"exact_match": [0.0] * len(cases)}, ids=[case["id"] for case in cases])
    for case, fields in zip(document["cases"], cases, strict=True):
        case.update(fields)
    return write(path, {**document, "label": label})


def test_bad_results_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="results file not found"):
        load_results_answers(tmp_path / "missing.json")
    with pytest.raises(InputError, match="not valid JSON") as bad:
        load_results_answers(write(tmp_path / "bad.json", '{\n"cases": [\n}'))
    assert bad.value.line == 3
    with pytest.raises(InputError, match="schema_version None is not supported"):
        load_results_answers(write(tmp_path / "nocases.json", {"metrics": {}}))  # not a results file
    document = json.loads(results_file(tmp_path / "full.json", [{"id": "a"}]).read_text())
    del document["cases"]
    with pytest.raises(InputError, match="cases: a required field is missing"):
        load_results_answers(write(tmp_path / "without_cases.json", document))
    with pytest.raises(InputError, match="appears twice"):
        load_results_answers(results_file(tmp_path / "dup.json", [{"id": "a"}, {"id": "a"}]))
    a = results_file(tmp_path / "a.json", [{"id": "1", "input": "x", "output": "y"}])
    b = results_file(tmp_path / "b.json", [{"id": "1", "input": "changed", "output": "y"}])
    with pytest.raises(InputError, match="no case in common"):
        pair_results_files(a, b)


@pytest.mark.slow
def test_compare_two_results_files_from_the_command_line(tmp_path, stub, monkeypatch, capsys):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    (tmp_path / "cases.jsonl").write_text('{"id": "c1", "input": "hi", "expected": "hello"}\n')
    (tmp_path / "evalgate.yaml").write_text(
        "suite: s\ndatasets: [cases.jsonl]\nprovider: {type: anthropic, model: claude-haiku-4-5}\n"
        f"judge: {{type: anthropic, model: claude-haiku-4-5, base_url: '{stub.url}', max_attempts: 1}}\n"
        "cache: {enabled: false}\n"
    )
    cases = [
        {"id": f"c{i}", "input": f"q{i}", "expected": "e", "category": "typical", "error": None}
        for i in range(3)
    ]
    a = results_file(tmp_path / "a.json", [{**c, "output": "good"} for c in cases], label="main")
    b = results_file(tmp_path / "b.json", [{**c, "output": "bad"} for c in cases], label="pr")
    stub.responder = lambda request: json.dumps(
        {
            "scores": {"answer_1": 90, "answer_2": 10}
            if "<answer_1>\ngood" in request["messages"][0]["content"]
            else {"answer_1": 10, "answer_2": 90},
            "reasoning": "good is better",
        }
    )
    config = str(tmp_path / "evalgate.yaml")
    args = ["compare", "--config", config, "--a-results", str(a), "--b-results", str(b)]
    assert main([*args, "--report", str(tmp_path / "compare.md")]) == 0
    assert "main vs pr: 3 wins, 0 losses, 0 ties (win rate 100.0%)" in capsys.readouterr().out
    assert (tmp_path / "compare.md").read_text().startswith("# Head-to-head: main vs pr")

    stub.responder = lambda request: "not json"
    assert main(args) == 1  # nothing could be judged: not a success
    assert "every judge call failed" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_shows_labelled_progress_for_each_model_and_the_judge(tmp_path, stub, monkeypatch, capsys):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    (tmp_path / "cases.jsonl").write_text(
        "".join(
            json.dumps({"id": f"c{i}", "input": f"question {i}", "expected": "e"}) + "\n" for i in range(3)
        )
    )
    endpoint = f"base_url: '{stub.url}', max_attempts: 1"
    (tmp_path / "evalgate.yaml").write_text(
        "suite: s\ndatasets: [cases.jsonl]\n"
        "providers:\n"
        f"  big: {{type: anthropic, model: claude-sonnet-4-6, {endpoint}}}\n"
        f"  small: {{type: anthropic, model: claude-haiku-4-5, {endpoint}}}\n"
        f"judge: {{type: anthropic, model: claude-opus-4-1, {endpoint}}}\n"
        "cache: {enabled: false}\n"
    )

    def respond(request):
        if request["model"] != "claude-opus-4-1":
            return f"answer of {request['model']}"
        first_is_big = "<answer_1>\nanswer of claude-sonnet-4-6" in request["messages"][0]["content"]
        scores = {"answer_1": 90, "answer_2": 20} if first_is_big else {"answer_1": 20, "answer_2": 90}
        return json.dumps({"scores": scores, "reasoning": "the big one is better"})

    stub.responder = respond
    config = str(tmp_path / "evalgate.yaml")
    assert main(["compare", "--config", config, "--a", "big", "--b", "small"]) == 0
    captured = capsys.readouterr()
    assert "big vs small: 3 wins, 0 losses, 0 ties" in captured.out
    lines = captured.err.splitlines()
    assert any(line.startswith("model big: 3/3 cases (100%), 0 errors") for line in lines), lines
    assert any(line.startswith("model small: 3/3 cases (100%), 0 errors") for line in lines), lines
    assert any(line.startswith("judge: 6/6 questions (100%), 0 errors") for line in lines), lines
    models = [request["model"] for request in stub.requests]
    assert models.count("claude-sonnet-4-6") == 3 and models.count("claude-haiku-4-5") == 3
    assert models.count("claude-opus-4-1") == 6  # each case judged in both orders

    assert main(["compare", "--config", config, "--a", "big", "--b", "small", "--quiet"]) == 0
    assert "cases (100%)" not in capsys.readouterr().err
