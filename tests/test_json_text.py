"""How evalgate writes JSON files (evalgate.files.fileio.json_text): the same JSON values `json.dumps` writes,
indented, strict, with each object of a list of objects on one line."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalgate.files.fileio import json_text

KEYS = st.one_of(
    st.text(max_size=6),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
LEAVES = st.one_of(st.text(max_size=8), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.booleans(), st.none())  # fmt: skip
DATA = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(DATA)
def test_the_text_reads_back_as_json_dumps_writes_the_value(value: Any) -> None:
    text = json_text(value)
    assert text.endswith("\n")
    assert json.loads(text) == json.loads(json.dumps(value))


def test_data_without_lists_of_objects_is_written_as_json_dumps_indents_it() -> None:
    value = {"a": [1, 2.5, "é", None, [True, []]], "b": {"c": {}, 1: "one", None: "null"}, "d": "x\ny\u2028"}
    assert json_text(value) == json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def test_each_object_of_a_list_of_objects_is_one_line() -> None:
    cases = [{"id": f"c{i}", "scores": {"exact_match": 1.0}, "notes": ["a", "b"]} for i in range(3)]
    text = json_text({"suite": "s", "cases": cases, "empty": []})
    lines = text.splitlines()
    assert lines[:3] == ["{", '  "suite": "s",', '  "cases": [']
    assert lines[3:6] == [
        f"    {json.dumps(case, ensure_ascii=False)}{',' if i < 2 else ''}" for i, case in enumerate(cases)
    ]
    assert lines[6:] == ["  ],", '  "empty": []', "}"]
    assert sum('"id": "c1"' in line for line in lines) == 1  # a search for the id finds the whole case


@pytest.mark.parametrize(
    "value", [math.nan, {"a": [{"b": math.inf}]}, {"cases": [{"x": -math.inf}]}], ids=["nan", "inf", "-inf"]
)
def test_a_value_json_cannot_hold_strictly_is_refused_as_before(value: Any) -> None:
    with pytest.raises(ValueError):
        json_text(value)


def test_a_key_json_cannot_hold_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        json_text({("a", "b"): 1})
    with pytest.raises(TypeError):
        json_text({"cases": [{("a", "b"): 1}]})
