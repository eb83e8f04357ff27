"""The `anthropic` provider: Claude through the Messages API of the official SDK (AsyncAnthropic).

The SDK's own retries are off (max_retries=0): LLMProvider retries, so that 429 and 529 also slow the adaptive
limiter down. The SDK is imported on the first call that misses the cache, so a fully cached run never pays
for importing it.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from evalgate.model import Case, Output
from evalgate.options import Option
from evalgate.providers.llm_common import (
    ChatPrompt,
    Failure,
    LLMProvider,
    ProviderError,
    Templates,
    chat_options,
    classify_sdk_error,
    env_secret,
    sdk_arguments,
)

API_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider(LLMProvider):
    type = "anthropic"
    OPTIONS: ClassVar[dict[str, Option]] = chat_options(
        roles=("user", "assistant"),
        reserved=("model", "messages", "system", "max_tokens", "temperature", "stop_sequences", "stream"),
        max_tokens=1024,
    )

    def prepare(self) -> None:
        self._api_key = env_secret(
            API_KEY_ENV,
            config_file=self.config.file,
            config_line=self.config.line,
            purpose="the anthropic provider",
        )
        templates = Templates(self.base_dir, config_file=self.config.file, config_line=self.config.line)
        self._prompt = ChatPrompt(self.options, templates)
        self._client: Any = None

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

    def _client_now(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(
                api_key=self._api_key,
                base_url=self.endpoint(),
                max_retries=0,
                timeout=self.options["timeout"],
            )
        return self._client

    async def send(self, request: dict[str, Any]) -> Output:
        message = await self._client_now().messages.create(
            **sdk_arguments(request, ("model", "max_tokens", "messages"))
        )
        if not isinstance(getattr(message, "content", None), list):
            raise ProviderError("malformed response: no content blocks")
        text = "".join(getattr(block, "text", "") for block in message.content if block.type == "text")
        usage = message.usage
        return Output(
            value=text,
            tokens_in=getattr(usage, "input_tokens", None),
            tokens_out=getattr(usage, "output_tokens", None),
            extra={"stop_reason": message.stop_reason},
        )

    def classify(self, exc: Exception) -> Failure | None:
        import anthropic

        return classify_sdk_error(anthropic, exc, self.options["timeout"])

    async def close_client(self) -> None:
        if getattr(self, "_client", None) is not None:
            await self._client.close()
            self._client = None
