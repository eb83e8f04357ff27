"""TEMPORARY test adapter: the real `anthropic` SDK behind the Provider interface, until
evalgate/providers/anthropic_api.py lands; then the tests use `type: anthropic` with `base_url` instead."""

from __future__ import annotations

from typing import ClassVar

from anthropic import AsyncAnthropic

from evalgate.model import Case, Output
from evalgate.options import Option
from evalgate.providers.base import Provider


class SdkAnthropicProvider(Provider):
    type = "test-anthropic"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "model": Option((str,), required=True),
        "base_url": Option((str,), required=True),
        "max_tokens": Option((int,), default=1024),
    }

    async def start(self, slots: int) -> None:
        self.client = AsyncAnthropic(base_url=self.options["base_url"], api_key="test", max_retries=0)

    async def complete(self, case: Case) -> Output:
        message = await self.client.messages.create(
            model=self.options["model"],
            max_tokens=self.options["max_tokens"],
            messages=[{"role": "user", "content": case.input}],
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        return Output(
            value=text, tokens_in=message.usage.input_tokens, tokens_out=message.usage.output_tokens
        )

    async def close(self) -> None:
        await self.client.close()
