"""The `openai` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LM Studio,
a gateway) through the official SDK (AsyncOpenAI).

As with the anthropic provider, the SDK is imported on the first call that misses the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from evalgate.model import Output, int_or_none
from evalgate.options import Option
from evalgate.providers.llm_common import (
    Prompt,
    ProviderError,
    SDKChatProvider,
    chat_options,
    mapping_at,
    sdk_arguments,
)

NO_KEY = "none"  # api_key_env: none -> local servers that need no key
NAMED_ARGUMENTS = ("model", "messages")


def _env_name(value: Any) -> str | None:
    if value == NO_KEY or (isinstance(value, str) and value.replace("_", "").isalnum()):
        return None
    return "must be the name of an environment variable, or none"


class OpenAIProvider(SDKChatProvider):
    type = "openai"
    SDK_CLIENT = "openai:AsyncOpenAI"
    API_KEY_ENV = "OPENAI_API_KEY"
    BASE_URL_ENV = "OPENAI_BASE_URL"
    DEFAULT_BASE_URL = "https://api.openai.com/v1"
    STOP_FIELD = "stop"
    OPTIONS: ClassVar[dict[str, Option]] = {
        **chat_options(
            roles=("system", "user", "assistant"),
            reserved=("model", "messages", "max_tokens", "temperature", "stop", "stream"),
            max_tokens=None,
        ),
        "api_key_env": Option(
            (str,),
            default="OPENAI_API_KEY",
            check=_env_name,
            help="the environment variable holding the key, or none for servers that need no key",
        ),
    }

    @classmethod
    def api_key_env(cls, options: Mapping[str, Any]) -> str | None:
        env = options.get("api_key_env") or cls.API_KEY_ENV
        return None if env == NO_KEY else env

    def prompt_fields(self, prompt: Prompt) -> dict[str, Any]:
        if prompt.system is None:
            return {"messages": prompt.messages}
        return {"messages": [{"role": "system", "content": prompt.system}, *prompt.messages]}

    async def create_raw(self, client: Any, request: dict[str, Any]) -> Any:
        return await client.chat.completions.with_raw_response.create(
            **sdk_arguments(request, NAMED_ARGUMENTS)
        )

    def parse_answer(self, data: Any) -> Output:
        choices = data.get("choices") if isinstance(data, dict) else None
        first = choices[0] if isinstance(choices, list) and choices else None
        message = mapping_at(first, "message")
        if not message:
            raise ProviderError("malformed response: no choices")
        content = message.get("content")
        usage = mapping_at(data, "usage")
        return Output(
            value=content if isinstance(content, str) else "",
            tokens_in=int_or_none(usage.get("prompt_tokens")),
            tokens_out=int_or_none(usage.get("completion_tokens")),
            extra={"stop_reason": first.get("finish_reason")},
        )
