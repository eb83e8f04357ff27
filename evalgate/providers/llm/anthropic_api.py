"""The `anthropic` provider: Claude through the Messages API, sent as the official SDK (AsyncAnthropic) sends it.

The SDK's headers are taken (or read from where they are kept, providers/llm/wire.py) on the first call that misses
the cache, in a worker thread, outside any call's time: a fully cached run never needs them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalgate.contracts.cases import Output, int_or_none
from evalgate.options import Option
from evalgate.providers.llm.answers import StreamError, StreamReader, mapping_at
from evalgate.providers.llm.options import chat_options
from evalgate.providers.llm.prompts import Prompt
from evalgate.providers.llm.retry import Failure, ProviderError, failure_for_status
from evalgate.providers.llm.sdk import SDKChatProvider


class AnthropicProvider(SDKChatProvider):
    type = "anthropic"
    SDK = "anthropic"
    SDK_CLIENT = "AsyncAnthropic"
    SDK_METHOD = "messages.create"
    API_KEY_ENV = "ANTHROPIC_API_KEY"
    BASE_URL_ENV = "ANTHROPIC_BASE_URL"
    DEFAULT_BASE_URL = "https://api.anthropic.com"
    PATH = "/v1/messages"
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

    def stream_fields(self) -> dict[str, Any]:
        return {"stream": True}

    def stream_reader(self) -> StreamReader:
        return MessageEvents()


class MessageEvents(StreamReader):
    """The Messages API's streamed events: message_start (input usage), content_block_delta (text),
    message_delta (stop reason, output usage), error (an overload mid-answer is retried like a 529)."""

    def event(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = mapping_at(event, "delta")
            text = delta.get("text")
            if delta.get("type") == "text_delta" and isinstance(text, str) and text:
                self.text.append(text)
                return True
        elif kind == "message_start":
            usage = mapping_at(mapping_at(event, "message"), "usage")
            self.tokens_in = int_or_none(usage.get("input_tokens"))
            self.tokens_out = int_or_none(usage.get("output_tokens"))
        elif kind == "message_delta":
            self.stop_reason = mapping_at(event, "delta").get("stop_reason", self.stop_reason)
            usage = mapping_at(event, "usage")
            self.tokens_out = int_or_none(usage.get("output_tokens")) or self.tokens_out
        elif kind == "error":
            error = mapping_at(event, "error")
            raise StreamError(stream_failure(error.get("type"), str(error.get("message") or "")))
        return False


def stream_failure(error_type: Any, message: str) -> Failure:
    """An error event inside a streamed answer (its status was 200): retried and counted as overload like the
    status its type stands for (overloaded_error: 529, api_error: 500), any other type is this case's error."""
    status = 529 if error_type == "overloaded_error" else 500 if error_type == "api_error" else 400
    rule = failure_for_status(status, message, error_type=str(error_type))
    return Failure(f"{error_type} in the streamed answer: {message}", rule.retryable, rule.overload)
