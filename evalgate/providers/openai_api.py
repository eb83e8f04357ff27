"""The `openai` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LM Studio,
a gateway) through the official SDK (AsyncOpenAI).

As with the anthropic provider, the SDK is imported on the first call that misses the cache.
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

API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "none"  # api_key_env: none -> local servers that need no key
NAMED_ARGUMENTS = ("model", "messages")


def _env_name(value: Any) -> str | None:
    if value == NO_KEY or (isinstance(value, str) and value.replace("_", "").isalnum()):
        return None
    return "must be the name of an environment variable, or none"


class OpenAIProvider(SDKChatProvider):
    type = "openai"
    SDK_CLIENT = "openai:AsyncOpenAI"
    OPTIONS: ClassVar[dict[str, Option]] = {
        **chat_options(
            roles=("system", "user", "assistant"),
            reserved=("model", "messages", "max_tokens", "temperature", "stop", "stream"),
            max_tokens=None,
        ),
        "api_key_env": Option(
            (str,),
            default=API_KEY_ENV,
            check=_env_name,
            help="the environment variable holding the key, or none for servers that need no key",
        ),
    }

    def api_key(self) -> str:
        env = self.options["api_key_env"]
        if env == NO_KEY:
            return "no-key"
        return env_secret(
            env, config_file=self.config.file, config_line=self.config.line, purpose="the openai provider"
        )

    def endpoint(self) -> str:
        return self.options.get("base_url") or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL

    def build_request(self, case: Case) -> dict[str, Any]:
        prompt = self._prompt.render(case)
        messages = prompt.messages
        if prompt.system is not None:
            messages = [{"role": "system", "content": prompt.system}, *messages]
        request: dict[str, Any] = {"model": self.options["model"], "messages": messages}
        if self.options.get("max_tokens") is not None:
            request["max_tokens"] = self.options["max_tokens"]
        if self.options.get("temperature") is not None:
            request["temperature"] = self.options["temperature"]
        if self.options.get("stop_sequences"):
            request["stop"] = list(self.options["stop_sequences"])
        request.update(self.options.get("extra") or {})
        return request

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
