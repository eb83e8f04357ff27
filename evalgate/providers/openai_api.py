"""The `openai` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LM Studio,
a gateway) through the official SDK (AsyncOpenAI).

As with the anthropic provider, the SDK's own retries are off and the SDK is imported on the first cache miss.
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

API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "none"  # api_key_env: none -> local servers that need no key


def _env_name(value: Any) -> str | None:
    if value == NO_KEY or (isinstance(value, str) and value.replace("_", "").isalnum()):
        return None
    return "must be the name of an environment variable, or none"


class OpenAIProvider(LLMProvider):
    type = "openai"
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

    def prepare(self) -> None:
        env = self.options["api_key_env"]
        self._api_key = (
            "no-key"
            if env == NO_KEY
            else env_secret(
                env, config_file=self.config.file, config_line=self.config.line, purpose="the openai provider"
            )
        )
        templates = Templates(self.base_dir, config_file=self.config.file, config_line=self.config.line)
        self._prompt = ChatPrompt(self.options, templates)
        self._client: Any = None

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

    def _client_now(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.endpoint(),
                max_retries=0,
                timeout=self.options["timeout"],
            )
        return self._client

    async def send(self, request: dict[str, Any]) -> Output:
        completion = await self._client_now().chat.completions.create(
            **sdk_arguments(request, ("model", "messages"))
        )
        choices = getattr(completion, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise ProviderError("malformed response: no choices")
        choice = choices[0]
        usage = completion.usage
        return Output(
            value=choice.message.content or "",
            tokens_in=getattr(usage, "prompt_tokens", None),
            tokens_out=getattr(usage, "completion_tokens", None),
            extra={"stop_reason": choice.finish_reason},
        )

    def classify(self, exc: Exception) -> Failure | None:
        import openai

        return classify_sdk_error(openai, exc, self.options["timeout"])

    async def close_client(self) -> None:
        if getattr(self, "_client", None) is not None:
            await self._client.close()
            self._client = None
