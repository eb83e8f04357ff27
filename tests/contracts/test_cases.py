"""normalize_output: the one rule for outputs JSON cannot hold (docs/reference.md, "Outputs JSON cannot hold")."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from evalgate.contracts.cases import Output, OutputError, normalize_output


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ({7: "a", None: "b", True: "c", 2.5: "d"}, {"7": "a", "null": "b", "true": "c", "2.5": "d"}),
        ((1, (2, 3)), [1, [2, 3]]),
        (frozenset({3, 1, 2}), [1, 2, 3]),
        ({"b", 1, None}, ["b", 1, None]),  # mixed types: sorted by their JSON text ('"b"' < '1' < 'null')
        (bytearray("héllo", "utf-8"), "héllo"),
        (np.float32(0.5), 0.5),
        (np.bool_(True), True),
        ({"x": np.arange(3)}, {"x": [0, 1, 2]}),
        (10**300, 10**300),  # JSON holds it, and Python reads it back
    ],
)
def test_lossless_conversions(raw, value) -> None:
    output = normalize_output(raw)
    assert output.value == value
    assert json.loads(json.dumps(output.value, allow_nan=False)) == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"text": "a", "score": math.nan}, "output.score is NaN"),
        ([{"a": [math.inf]}], "output[0].a[0] is infinite"),
        ({"k": 1, 1: 2, "1": 3}, "two keys that JSON writes as '1'"),
        ({"\udc80": 1}, "a key of output holds a lone surrogate"),
        (np.array([1.0, np.nan]), "output[1] is NaN"),
        (iter([1]), "is a list_iterator"),
    ],
)
def test_what_json_cannot_hold_is_an_error_naming_the_field(raw, message) -> None:
    with pytest.raises(OutputError, match=re.escape(message)):
        normalize_output(raw)


def test_an_output_object_is_checked_too_and_bad_usage_is_not_reported() -> None:
    """What a provider (or the cache) hands over as an Output goes through the same rule."""
    with pytest.raises(OutputError, match=re.escape("output extra.raw is NaN")):
        normalize_output(Output(value="ok", extra={"raw": math.nan}))
    output = normalize_output(Output(value="ok", tokens_in=-3, tokens_out=7, cost=math.inf, cached=True))
    assert (output.tokens_in, output.tokens_out, output.cost, output.cached) == (None, 7, None, True)
    assert normalize_output({"text": "a", "tokens_in": "12", "cost": 0.5}).tokens_in is None


class Count(int):
    """An int subclass: not the fast path's exact int, the same rule."""


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        (0, 0), (7, 7), (2**1023, 2**1023), (Count(5), 5), (np.int64(9), 9), (3.0, 3),
        (-1, None), (2**1024, None), (True, None), ("3", None), (math.nan, None), (None, None),
    ],
)  # fmt: skip
def test_a_token_count_is_a_whole_number_a_float_can_hold_or_not_reported(raw, count) -> None:
    output = normalize_output(Output(value="ok", tokens_in=raw))
    assert output.tokens_in == count and (count is None or type(output.tokens_in) is int)
