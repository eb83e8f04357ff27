"""The options every LLM chat provider shares (model, prompt, messages, sampling, the call's timeout and attempts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evalgate.files.limits import MAX_ATTEMPTS
from evalgate.options import Option, non_negative, positive, seconds, up_to


def _messages_check(roles: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        for item in value:
            if not isinstance(item, dict) or set(item) != {"role", "content"}:
                return "must be a list of mappings with exactly the keys role and content"
            if item["role"] not in roles or not isinstance(item["content"], str):
                return f"items need a role ({', '.join(roles)}) and a content template (a string)"
        return None if value else "must not be empty"

    return check


def _extra_check(reserved: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        clash = sorted(set(value) & set(reserved))
        return f"must not set {', '.join(clash)} (use the provider's own keys)" if clash else None

    return check


def _str_list(value: Any) -> str | None:
    return None if all(isinstance(item, str) for item in value) else "must be a list of strings"


def chat_options(
    *, roles: tuple[str, ...], reserved: tuple[str, ...], max_tokens: int | None
) -> dict[str, Option]:
    """The options of a chat provider (anthropic, openai)."""
    return {
        "model": Option((str,), required=True, help="the model name, for example claude-sonnet-4-5"),
        "prompt": Option(
            (str,), help="a Jinja2 template file, relative to the config, rendered as the user message"
        ),
        "messages": Option(
            (list,),
            check=_messages_check(roles),
            help="a list of {role, content} with Jinja2 content templates",
        ),
        "system": Option(
            (str,), help="the system prompt: a Jinja2 template, or a .j2 file relative to the config"
        ),
        "max_tokens": Option(
            (int,), default=max_tokens, check=positive, help="the most tokens an answer may have"
        ),
        "temperature": Option((float,), check=non_negative, help="sampling temperature"),
        "stop_sequences": Option((list,), check=_str_list, help="strings that end the answer"),
        "extra": Option((dict,), default={}, check=_extra_check(reserved), help="more request parameters"),
        "base_url": Option((str,), help="the API's address (a proxy, a gateway, a local server)"),
        "stream": Option(
            (bool,),
            default=False,
            help="stream the answer, to record the time to its first token (latency_ttft_*) per case",
        ),
        **CALL_OPTIONS,
    }


CALL_OPTIONS: dict[str, Option] = {
    "timeout": Option((float,), default=60.0, check=seconds, help="seconds one HTTP request may take"),
    "max_attempts": Option(
        (int,), default=4, check=up_to(MAX_ATTEMPTS), help="tries per case, the first one included"
    ),
}
