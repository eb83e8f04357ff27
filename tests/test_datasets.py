"""Datasets: JSONL files and folders, categories, stable ids, every malformed line, fingerprints, sampling."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from evalgate.contracts.cases import Case
from evalgate.datasets import (
    allocate,
    category_of_file,
    dataset_fingerprint,
    load_cases,
    sample_cases,
)
from evalgate.errors import InputError

V2 = Path(__file__).parent / "fixtures" / "datasets" / "v2"


def write(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_folder_reads_all_jsonl_files_recursively_in_sorted_order_with_categories():
    cases = load_cases([V2])
    assert [(c.id, c.category) for c in cases] == [
        ("a-1", "adversarial"),
        ("a-2", "edge"),  # the case's own category wins over the file name
        ("e-1", "edge"),
        ("7", "edge"),  # integer ids become strings
        ("t-4", "typical"),  # more/typical_cases.jsonl sorts before typical_cases.jsonl
        ("t-1", "typical"),
        ("t-2", "typical"),
        ("t-3", "typical"),
        (cases[8].id, "typical"),
    ]
    assert cases[8].id.startswith("h-")
    assert cases[3].input == {"text": "???", "channel": "email"}
    assert cases[3].cluster == "empty-ish"
    assert cases[7].metadata == {"lang": "en"}
    assert cases[0].metadata == {}
    # a blank line is skipped but still counted, so sources point at the real line
    assert cases[7].source == f"{V2 / 'typical_cases.jsonl'}:4"


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("typical_cases.jsonl", "typical"),
        ("edge_cases.jsonl", "edge"),
        ("adversarial.jsonl", "adversarial"),
        ("_cases.jsonl", "_cases"),
        ("smoke.jsonl", "smoke"),
    ],
)
def test_category_from_file_name(name, category):
    assert category_of_file(Path(name)) == category


def test_dot_files_and_folders_are_not_read(tmp_path):
    write(tmp_path / "typical_cases.jsonl", '{"id": "t-1", "input": "a"}')
    write(tmp_path / "._typical_cases.jsonl", "\x00 macOS resource fork")
    write(tmp_path / ".cache" / "old_cases.jsonl", '{"id": "t-1", "input": "stale"}')
    assert [c.id for c in load_cases([tmp_path])] == ["t-1"]


def test_files_and_folders_can_be_mixed(tmp_path):
    single = write(tmp_path / "extra_cases.jsonl", '{"id": "x-1", "input": "hi"}')
    cases = load_cases([single, V2 / "more"])
    assert [(c.id, c.category) for c in cases] == [("x-1", "extra"), ("t-4", "typical")]


def test_hash_ids_are_stable_when_lines_are_reordered(tmp_path):
    lines = [json.dumps({"input": f"question {i}", "expected": i % 3}) for i in range(20)]
    first = load_cases([write(tmp_path / "a" / "typical_cases.jsonl", *lines)])
    shuffled = lines[:]
    random.Random(4).shuffle(shuffled)
    second = load_cases([write(tmp_path / "b" / "typical_cases.jsonl", *shuffled)])
    assert {c.input: c.id for c in first} == {c.input: c.id for c in second}
    assert len({c.id for c in first}) == 20


def test_hash_id_is_sha256_of_canonical_content_and_depends_on_category(tmp_path):
    line = '{"expected": "b", "input": {"y": 1, "x": "é"}}'
    case = load_cases([write(tmp_path / "edge_cases.jsonl", line)])[0]
    canonical = '[{"x":"é","y":1},"b","edge"]'
    assert case.id == "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]
    other = load_cases([write(tmp_path / "typical_cases.jsonl", line)])[0]
    assert other.id != case.id


def test_duplicate_ids_across_files_name_both_places(tmp_path):
    write(tmp_path / "a_cases.jsonl", '{"id": "c-1", "input": 1}', '{"id": "c-2", "input": 2}')
    write(tmp_path / "b_cases.jsonl", "", '{"id": "c-2", "input": 3}')
    with pytest.raises(InputError) as info:
        load_cases([tmp_path])
    error = info.value
    assert error.file == str(tmp_path / "b_cases.jsonl")
    assert error.line == 2
    assert f"{tmp_path / 'a_cases.jsonl'}:2" in error.message
    assert "'c-2'" in error.message


def test_integer_and_string_ids_collide(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"id": 5, "input": 1}', '{"id": "5", "input": 2}')
    with pytest.raises(InputError) as info:
        load_cases([path])
    assert info.value.line == 2


def test_identical_cases_without_ids_are_duplicates(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"input": "a", "expected": 1}', '{"expected": 1, "input": "a"}')
    with pytest.raises(InputError) as info:
        load_cases([path])
    assert info.value.line == 2
    assert "same content" in info.value.message
    assert f"{path}:1" in info.value.message


@pytest.mark.parametrize(
    ("line", "expected_words"),
    [
        ('{"id": "c-1", "input": "a"', "invalid JSON"),
        ("not json at all", "invalid JSON"),
        ('{"input": NaN}', "NaN is not valid JSON"),
        ('{"input": 1, "input": 2}', "duplicate key 'input'"),
        ('["input", "a"]', "must be a JSON object, got an array"),
        ('"just a string"', "must be a JSON object, got a string"),
        ("42", "must be a JSON object, got a number"),
        ('{"id": "c-1", "expected": "a"}', "no 'input'"),
        ('{"input": "a", "answer": "b"}', "unknown key 'answer'"),
        ('{"input": "a", "metadata": ["x"]}', "'metadata' must be an object"),
        ('{"input": "a", "metadata": "x"}', "'metadata' must be an object"),
        ('{"id": 1.5, "input": "a"}', "'id' must be a non-empty string or an integer"),
        ('{"id": true, "input": "a"}', "'id' must be a non-empty string or an integer"),
        ('{"id": "  ", "input": "a"}', "'id' must be a non-empty string or an integer"),
        ('{"id": null, "input": "a"}', "'id' must be a non-empty string or an integer"),
        ('{"input": "a", "category": 3}', "'category' must be a non-empty string"),
        ('{"input": "a", "category": ""}', "'category' must be a non-empty string"),
        ('{"input": "a", "cluster": [1]}', "'cluster' must be a string or an integer"),
    ],
)
def test_malformed_line_is_reported_with_file_and_line(tmp_path, line, expected_words):
    path = write(tmp_path / "typical_cases.jsonl", '{"id": "ok-1", "input": "fine"}', "", line)
    with pytest.raises(InputError) as info:
        load_cases([path])
    assert info.value.file == str(path)
    assert info.value.line == 3
    assert expected_words in info.value.message
    assert str(info.value).startswith(f"{path}:3: ")


def test_invalid_utf8_is_reported_with_its_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"input": "a"}\n{"input": "\xff"}\n')
    with pytest.raises(InputError) as info:
        load_cases([path])
    assert (info.value.line, "UTF-8" in info.value.message) == (2, True)


def test_byte_order_mark_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "input": 1}\r\n{"id": "b", "input": 2}\r\n')
    assert [c.id for c in load_cases([path])] == ["a", "b"]


def test_empty_dataset_is_an_error(tmp_path):
    path = write(tmp_path / "t.jsonl", "", "   ")
    with pytest.raises(InputError, match="no cases"):
        load_cases([path])


def test_folder_without_jsonl_and_missing_path_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no \*\.jsonl"):
        load_cases([tmp_path / "empty"])
    with pytest.raises(InputError, match="not found"):
        load_cases([tmp_path / "missing.jsonl"])


def test_fingerprint_follows_names_and_bytes_not_location(tmp_path):
    first = tmp_path / "one" / "v2"
    shutil.copytree(V2, first)
    second = tmp_path / "two" / "v2"
    shutil.copytree(V2, second)
    assert dataset_fingerprint([first]) == dataset_fingerprint([second])
    assert dataset_fingerprint([first]).startswith("sha256:")

    (second / "edge_cases.jsonl").write_text((second / "edge_cases.jsonl").read_text() + "\n")
    assert dataset_fingerprint([first]) != dataset_fingerprint([second])

    third = tmp_path / "three" / "v2"
    shutil.copytree(V2, third)
    (third / "edge_cases.jsonl").rename(third / "edge2_cases.jsonl")
    assert dataset_fingerprint([first]) != dataset_fingerprint([third])
    # files that are not *.jsonl are not part of the dataset
    (first / "README.md").write_text("notes")
    assert dataset_fingerprint([first]) == dataset_fingerprint([tmp_path / "one" / "v2"])


def make_cases(sizes: dict[str, int]) -> list[Case]:
    return [Case(id=f"{name}-{i}", input=i, category=name) for name in sizes for i in range(sizes[name])]


def test_allocation_is_proportional_with_largest_remainders():
    # quotas 10*50/100=5, 10*30/100=3, 10*20/100=2 exactly
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    # quotas 7*5/9=3.89, 7*3/9=2.33, 7*1/9=0.78: floors 3, 2, 0; the two left go to a (.89) and c (.78)
    assert allocate({"a": 5, "b": 3, "c": 1}, 7) == {"a": 4, "b": 2, "c": 1}
    # quotas 1.41, 1.41, 0.18: floors 1, 1, 0; the one left goes to a (tie with b, by name); then c gets one
    # from the category furthest above its quota (a: 2 - 1.41)
    assert allocate({"a": 8, "b": 8, "c": 1}, 3) == {"a": 1, "b": 1, "c": 1}


def test_allocation_gives_every_category_one_when_n_allows():
    counts = allocate({"big": 1000, "small": 1, "tiny": 1}, 3)
    assert counts == {"big": 1, "small": 1, "tiny": 1}
    assert allocate({"big": 1000, "small": 1, "tiny": 1}, 2) == {"big": 2, "small": 0, "tiny": 0}


def test_sample_is_stratified_deterministic_and_keeps_input_order():
    cases = make_cases({"typical": 600, "edge": 300, "adversarial": 100})
    sample = sample_cases(cases, 100, seed=1)
    assert Counter(c.category for c in sample) == {"typical": 60, "edge": 30, "adversarial": 10}
    positions = [cases.index(c) for c in sample]
    assert positions == sorted(positions)
    assert sample_cases(cases, 100, seed=1) == sample
    assert sample_cases(cases, 100, seed=2) != sample


def test_sample_does_not_depend_on_file_order():
    cases = make_cases({"typical": 50, "edge": 20, "adversarial": 7})
    reordered = cases[::-1]
    random.Random(9).shuffle(reordered)
    ids = {c.id for c in sample_cases(cases, 15, seed=3)}
    assert ids == {c.id for c in sample_cases(reordered, 15, seed=3)}


def test_sample_selection_follows_the_documented_hash():
    cases = make_cases({"only": 40})
    expected = sorted(cases, key=lambda c: hashlib.sha256(f"5\x00{c.id}".encode()).digest())[:6]
    assert {c.id for c in sample_cases(cases, 6, seed=5)} == {c.id for c in expected}


def test_sample_at_least_the_dataset_returns_everything_and_zero_is_an_error():
    cases = make_cases({"a": 3, "b": 2})
    assert sample_cases(cases, 5, seed=0) == cases
    assert sample_cases(cases, 50, seed=0) == cases
    with pytest.raises(InputError):
        sample_cases(cases, 0, seed=0)


def test_a_larger_sample_keeps_every_case_of_a_smaller_one_per_category():
    cases = make_cases({"a": 100, "b": 50})
    small = {c.id for c in sample_cases(cases, 30, seed=0)}
    large = {c.id for c in sample_cases(cases, 60, seed=0)}
    assert small <= large
