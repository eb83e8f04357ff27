"""Prompt templates: what a template sees, and every template problem as bad input (InputError, exit 2)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evalgate.errors import InputError
from evalgate.providers.llm.prompts import PROMPT_VARIABLES, Templates, template_context

from .conftest import case, make_provider
from .fake_servers import FakeLLMServer


def start(tmp_path: Path, server: FakeLLMServer, template: str | None = None, **options):
    if template is not None:
        (tmp_path / "prompt.j2").write_text(template, encoding="utf-8")
        options["prompt"] = "prompt.j2"
    provider = make_provider(
        "anthropic", {"model": "claude-haiku-4-5", "base_url": server.url, **options}, tmp_path
    )
    asyncio.run(provider.start(1))
    return provider


def test_an_unknown_name_is_caught_before_any_call(server: FakeLLMServer, tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        start(tmp_path, server, "Question: {{ inptu }}")
    assert raised.value.file == str(tmp_path / "prompt.j2")
    assert "inptu" in raised.value.message and "input, metadata, id, category" in raised.value.message
    assert server.calls == 0


def test_expected_is_never_shown_to_the_model(server: FakeLLMServer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected answer is never shown"):
        start(tmp_path, server, "{{ input }} (answer: {{ expected }})")


def test_an_attribute_a_case_lacks_names_the_template_and_the_case(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    provider = start(tmp_path, server, "[{{ metadata.lang }}] {{ input }}")
    assert provider.build_request(case("hi", metadata={"lang": "fr"}))["messages"][0]["content"] == "[fr] hi"
    with pytest.raises(InputError) as raised:
        provider.build_request(case("hello", id="c-7"))
    assert raised.value.file == str(tmp_path / "prompt.j2")
    assert "'c-7'" in raised.value.message and "lang" in raised.value.message
    assert "cases.jsonl:1" in raised.value.message


def test_syntax_error_names_file_and_line(server: FakeLLMServer, tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        start(tmp_path, server, "line one\n{% if input %}unclosed\n")
    assert raised.value.file == str(tmp_path / "prompt.j2")
    assert raised.value.line is not None


def test_missing_template_file(server: FakeLLMServer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"prompts/nope\.j2.*not found"):
        start(tmp_path, server, prompt="prompts/nope.j2")


def test_prompt_and_messages_together_are_refused(server: FakeLLMServer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="either prompt"):
        start(tmp_path, server, "{{ input }}", messages=[{"role": "user", "content": "{{ input }}"}])


def test_inline_system_template_error(server: FakeLLMServer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"provider\.system.*catgory"):
        start(tmp_path, server, system="You handle {{ catgory }}.")


def test_system_from_a_file_and_includes(server: FakeLLMServer, tmp_path: Path) -> None:
    (tmp_path / "rules.j2").write_text("Be kind.", encoding="utf-8")
    (tmp_path / "system.j2").write_text("{% include 'rules.j2' %} Topic: {{ category }}", encoding="utf-8")
    provider = start(tmp_path, server, system="system.j2")
    request = provider.build_request(case("x", category="refunds"))
    assert request["system"] == "Be kind. Topic: refunds"


def test_bad_options_are_refused_like_the_config_loader_does(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown key 'modle'"):
        make_provider("anthropic", {"modle": "x"}, tmp_path)
    with pytest.raises(InputError, match="needs the key 'model'"):
        make_provider("anthropic", {}, tmp_path)
    with pytest.raises(InputError, match="role"):
        make_provider("anthropic", {"model": "m", "messages": [{"role": "system", "content": "x"}]}, tmp_path)
    with pytest.raises(InputError, match="must not set messages"):
        make_provider("anthropic", {"model": "m", "extra": {"messages": []}}, tmp_path)


def test_a_template_outside_the_config_folder_is_refused(server: FakeLLMServer, tmp_path: Path) -> None:
    (tmp_path / "outside.j2").write_text("{{ input }}", encoding="utf-8")
    (tmp_path / "suite").mkdir()
    provider = make_provider(
        "anthropic", {"model": "m", "base_url": server.url, "prompt": "../outside.j2"}, tmp_path / "suite"
    )
    with pytest.raises(InputError, match="may not leave"):
        asyncio.run(provider.start(1))


HOSTILE_VALUES = [
    None, "", "plain", "ünïcödé \u2028 \x00", 0, -1.5, float("nan"), True, [], [1, [2, {"a": None}]],
    {"text": "hi", "nested": {"deep": [1, 2]}}, {"": 1},
]  # fmt: skip


@pytest.mark.parametrize("name", PROMPT_VARIABLES)
@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=repr)
def test_a_bare_name_expression_is_what_jinja2_evaluates_it_to(name: str, value, tmp_path: Path) -> None:
    """The expression `{{ input }}` skips Jinja2 (its import is ~40 ms before an http run's first call): its value
    is the very object Jinja2's own evaluation returns, for every name a template sees and any value."""
    templates = Templates(tmp_path, config_file="evalgate.yaml", config_line=3)
    the_case = case(value, id="c-1", metadata={"m": value}, category=None)
    context = template_context(the_case)
    # each name in turn holds the hostile value (a case's own id and category could not hold them all)
    context[name] = value
    by_jinja2 = templates.env.compile_expression(name, undefined_to_none=False)(**context)
    assert templates.expression(name, where="provider.body.q")(context, the_case) is by_jinja2


def test_an_expression_jinja2_must_read_is_still_checked_and_evaluated(tmp_path: Path) -> None:
    templates = Templates(tmp_path, config_file="evalgate.yaml", config_line=3)
    the_case = case({"text": "hi"}, id="c-1")
    assert templates.expression("input.text | upper", where="b")(template_context(the_case), the_case) == "HI"
    with pytest.raises(InputError, match="expected answer is never shown"):
        templates.expression("expected", where="b")
    with pytest.raises(InputError, match=r"rendering case 'c-1'.*nope"):
        templates.expression("input.nope", where="b")(template_context(the_case), the_case)
