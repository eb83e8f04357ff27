"""The `anthropic` provider: Claude through the Messages API of the official SDK (AsyncAnthropic).

The SDK is imported on the first call that misses the cache, so a fully cached run never pays for importing it.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from evalgate.model import Case, Output
from evalgate.options import Option
from evalgate.providers.llm_common import (
    ProviderError,
    SDKChatProvider,
    chat_options,
    env_secret,
    int_or_none,
    mapping_at,
    sdk_arguments,
)

API_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_BASE_URL = "https://api.anthropic.com"
NAMED_ARGUMENTS = ("model", "max_tokens", "messages")


class AnthropicProvider(SDKChatProvider):
    type = "anthropic"
    SDK_CLIENT = "anthropic:AsyncAnthropic"
    OPTIONS: ClassVar[dict[str, Option]] = chat_options(
        roles=("user", "assistant"),
        reserved=("model", "messages", "system", "max_tokens", "temperature", "stop_sequences", "stream"),
        max_tokens=1024,
    )

    def api_key(self) -> str:
        return env_secret(
            API_KEY_ENV,
            config_file=self.config.file,
            config_line=self.config.line,
            purpose="the anthropic provider",
        )

    def endpoint(self) -> str:
        return self.options.get("base_url") or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL

    def build_request(self, case: Case) -> dict[str, Any]:
        prompt = self._prompt.render(case)
        request: dict[str, Any] = {
            "model": self.options["model"],
            "max_tokens": self.options["max_tokens"],
            "messages": prompt.messages,
        }
        if prompt.system is not None:
            request["system"] = prompt.system
        if self.options.get("temperature") is not None:
            request["temperature"] = self.options["temperature"]
        if self.options.get("stop_sequences"):
            request["stop_sequences"] = list(self.options["stop_sequences"])
        request.update(self.options.get("extra") or {})
        return request

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
