"""The `anthropic` provider: Claude through the Messages API of the official SDK (AsyncAnthropic).

The SDK is imported on the first call that misses the cache, so a fully cached run never pays for importing it.
"""

from __future__ import annotations

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

NAMED_ARGUMENTS = ("model", "max_tokens", "messages")


class AnthropicProvider(SDKChatProvider):
    type = "anthropic"
    SDK_CLIENT = "anthropic:AsyncAnthropic"
    API_KEY_ENV = "ANTHROPIC_API_KEY"
    BASE_URL_ENV = "ANTHROPIC_BASE_URL"
    DEFAULT_BASE_URL = "https://api.anthropic.com"
    STOP_FIELD = "stop_sequences"
    OPTIONS: ClassVar[dict[str, Option]] = chat_options(
        roles=("user", "assistant"),
        reserved=("model", "messages", "system", "max_tokens", "temperature", "stop_sequences", "stream"),
        max_tokens=1024,
    )

    def prompt_fields(self, prompt: Prompt) -> dict[str, Any]:
        fields: dict[str, Any] = {"messages": prompt.messages}
        if prompt.system is not None:
            fields["system"] = prompt.system
        return fields

    async def create_raw(self, client: Any, request: dict[str, Any]) -> Any:
        return await client.messages.with_raw_response.create(**sdk_arguments(request, NAMED_ARGUMENTS))

    def parse_answer(self, data: Any) -> Output:
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, list):
            raise ProviderError("malformed response: no content blocks")
        text = "".join(
            block["text"]
            for block in content
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
        )
        usage = mapping_at(data, "usage")
        return Output(
            value=text,
            tokens_in=int_or_none(usage.get("input_tokens")),
            tokens_out=int_or_none(usage.get("output_tokens")),
            extra={"stop_reason": data.get("stop_reason")},
        )
