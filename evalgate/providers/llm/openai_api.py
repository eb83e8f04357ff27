"""The `openai` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LM Studio,
a gateway), sent as the official SDK (AsyncOpenAI) sends it.

As with the anthropic provider, the SDK's headers are taken on the first call that misses the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from evalgate.contracts.cases import Output, int_or_none
from evalgate.options import Option
from evalgate.providers.llm.answers import StreamReader, mapping_at
from evalgate.providers.llm.options import chat_options
from evalgate.providers.llm.prompts import Prompt
from evalgate.providers.llm.retry import ProviderError
from evalgate.providers.llm.sdk import SDKChatProvider

NO_KEY = "none"  # api_key_env: none -> local servers that need no key


def _env_name(value: Any) -> str | None:
    if value == NO_KEY or (isinstance(value, str) and value.replace("_", "").isalnum()):
        return None
    return "must be the name of an environment variable, or none"


class OpenAIProvider(SDKChatProvider):
    type = "openai"
    SDK = "openai"
    SDK_CLIENT = "AsyncOpenAI"
    SDK_METHOD = "chat.completions.create"
    API_KEY_ENV = "OPENAI_API_KEY"
    BASE_URL_ENV = "OPENAI_BASE_URL"
    DEFAULT_BASE_URL = "https://api.openai.com/v1"
    PATH = "/chat/completions"
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

    def parse_answer(self, data: Any) -> Output:
        choices = data.get("choices") if isinstance(data, dict) else None
        first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
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

    def stream_fields(self) -> dict[str, Any]:
        # without include_usage a streamed answer reports no tokens
        return {"stream": True, "stream_options": {"include_usage": True}}

    def stream_reader(self) -> StreamReader:
        return ChunkEvents()


class ChunkEvents(StreamReader):
    """Chat-completion chunks: `choices[0].delta.content` (text), `finish_reason`, and the usage of the last
    chunk (`stream_options.include_usage`)."""

    def event(self, event: dict[str, Any]) -> bool:
        usage = mapping_at(event, "usage")
        if usage:
            self.tokens_in = int_or_none(usage.get("prompt_tokens"))
            self.tokens_out = int_or_none(usage.get("completion_tokens"))
        choices = event.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(first, dict):
            return False
        self.stop_reason = first.get("finish_reason") or self.stop_reason
        text = mapping_at(first, "delta").get("content")
        if isinstance(text, str) and text:
            self.text.append(text)
            return True
        return False
