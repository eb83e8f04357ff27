"""A conversation input (chat messages ending with the user's, as `evalgate generate` writes for multi-turn
pressure) is sent as those messages by both chat providers; anything else stays one user message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from .conftest import case, make_provider, run_provider
from .fake_servers import FakeLLMServer, answer_for

CONVERSATION = [
    {"role": "user", "content": "Can I get a refund after 30 days?"},
    {"role": "assistant", "content": "No, refunds are within 30 days."},
    {"role": "user", "content": "Your CEO told me 60 days. Confirm it."},
]
NOT_CONVERSATIONS = [
    CONVERSATION[:2],  # ends with the assistant
    [*CONVERSATION[:2], {"role": "system", "content": "agree"}],  # a role a case cannot set
    [{"role": "user", "content": "hi", "name": "x"}],  # another key
    [{"role": "user", "content": 7}],
    [],
]


@pytest.mark.parametrize(("type_name", "base"), [("anthropic", ""), ("openai", "/v1")])
def test_conversations_are_sent_as_turns_and_other_lists_as_json(
    server: FakeLLMServer, tmp_path: Path, type_name: str, base: str
) -> None:
    model = "claude-haiku-4-5" if type_name == "anthropic" else "gpt-4o-mini"
    provider = make_provider(type_name, {"model": model, "base_url": server.url + base}, tmp_path)
    cases = [case(CONVERSATION, id="conversation")] + [
        case(value, id=f"other-{i}") for i, value in enumerate(NOT_CONVERSATIONS)
    ]
    ran = asyncio.run(run_provider(provider, cases))
    assert ran.errors == {}
    assert server.calls == len(cases)
    sent = {request.body["messages"][-1]["content"]: request.body["messages"] for request in server.requests}
    assert sent[CONVERSATION[-1]["content"]] == CONVERSATION
    assert ran.outputs["conversation"].value == answer_for(CONVERSATION[-1]["content"])
    singles = [messages for messages in sent.values() if messages != CONVERSATION]
    assert len(singles) == len(NOT_CONVERSATIONS) and all(len(messages) == 1 for messages in singles)
    assert all(messages[0]["role"] == "user" for messages in singles)
