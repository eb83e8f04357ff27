"""`outbound.redact_data` looks for secrets in the data's JSON text before walking the data: the shortcut must
redact exactly what the walk through every string and key redacts, for any secret and any data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evalgate import outbound

# characters JSON escapes (quote, backslash, controls), non-ASCII, a lone surrogate and an astral one
HOSTILE = st.sampled_from(
    ['"', "\\", "\n", "\t", "\x00", "\x1b", "é", "\u2028", "\ud800", "😀", "/", "<", "&"]
)
SECRETS = st.lists(st.one_of(HOSTILE, st.characters()), min_size=6, max_size=14).map("".join)


def walked(value: Any) -> Any:
    """The reference: every string and key through `outbound.redact`."""
    if isinstance(value, str):
        return outbound.redact(value)
    if isinstance(value, dict):
        return {walked(key): walked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [walked(item) for item in value]
    return value


def json_data(strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    leaves = st.one_of(strings, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none())
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)),
        max_leaves=12,
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(data=st.data(), secret=SECRETS)
def test_redact_data_redacts_what_walking_every_string_redacts(data: st.DataObject, secret: str) -> None:
    outbound.forget_secrets()  # each example learns its own secret
    outbound.add_secret(secret)
    forms = list(outbound._secrets)  # the secret as messages quote it: escaped, stripped, line by line
    assume(forms)  # blanks alone, or shorter than MIN_SECRET_CHARS once stripped: no secret to redact
    pieces = st.one_of(st.text(max_size=8), st.integers(0, len(forms) - 1).map(forms.__getitem__))
    strings = st.lists(pieces, max_size=3).map("".join)
    value = data.draw(json_data(strings))
    expected = walked(value)
    redacted = outbound.redact_data(value)
    assert json.dumps(redacted, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_data_without_a_secret_is_returned_as_it_is_and_data_with_one_is_copied() -> None:
    outbound.add_secret('sk-"quoted\\key"-0123')
    clean = {"cases": [{"output": "fine", "n": 3}]}
    assert outbound.redact_data(clean) is clean
    dirty = {"cases": [{"output": 'said sk-"quoted\\key"-0123 twice', 'sk-"quoted\\key"-0123': 1}]}
    assert outbound.redact_data(dirty) == {"cases": [{"output": "said [redacted] twice", "[redacted]": 1}]}
    assert dirty["cases"][0]["output"].startswith("said sk-")  # the caller's data is left alone


def test_data_json_cannot_encode_is_still_walked() -> None:
    outbound.add_secret("sk-tuple-key-0123")
    thing = object()
    value = {"thing": thing, "pair": ("x", "sk-tuple-key-0123")}
    assert outbound.redact_data(value) == {"thing": thing, "pair": ["x", "[redacted]"]}


def test_a_number_that_spells_a_secret_is_a_false_alarm_not_a_change() -> None:
    outbound.add_secret("12345678")
    value = {"tokens": 1234567890, "text": "no key"}
    assert outbound.may_show_secret(json.dumps(value, ensure_ascii=False))
    assert outbound.redact_data(value) == value


def test_a_secret_variable_holding_bytes_that_are_not_utf8_is_learnt_in_every_form() -> None:
    value = "sk-\udcff\udcfe-0123456789"  # os.environ's reading of the bytes ff fe (surrogateescape)
    assert outbound.add_env_secrets({"VENDOR_API_KEY": value}) == [
        value
    ]  # it used to raise UnicodeEncodeError
    assert (
        outbound.redact(f"key {value} in a URL ?k=sk-%FF%FE-0123456789")
        == "key [redacted] in a URL ?k=[redacted]"
    )


def test_a_blank_value_is_no_secret() -> None:
    outbound.add_env_secrets({"EMPTY_TOKEN": "        ", "TABS_API_KEY": "\t\t\t\t\t\t\t"})
    assert outbound._secrets == []
    assert outbound.redact("a+++++++b %20%20%20%20%20%20") == "a+++++++b %20%20%20%20%20%20"
