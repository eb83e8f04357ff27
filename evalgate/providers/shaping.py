"""The model under test as the run sees it: each answer of the configured provider with its output transform
applied (evalgate.transforms) and the prompt it was sent kept for the judge (evalgate.judge.task).

The wrapper sits outside the provider, so the provider's response cache holds the raw answer: a changed
transform is applied to the cached answers, never paid for with new calls. The raw answer is kept in the case's
`extra.raw_output` when the transform changed it; a transform that fails is that case's error (TransformError).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.contracts.cases import Case, Output, normalize_output

if TYPE_CHECKING:
    from evalgate.transforms import Transform

RAW_OUTPUT = "raw_output"  # the extra field that keeps an answer before its transform
PROMPT = "prompt"  # the extra field that keeps the prompt a templated answer was asked with


class ShapedProvider:
    """A started provider's answers, transformed, with the prompt they were asked with; everything else (start,
    close, fingerprint, cache and limiter reports) is the provider's own."""

    def __init__(self, provider: Any, transform: Transform | None, *, keep_prompt: bool = True) -> None:
        self.provider = provider
        self.transform = transform
        self.keep_prompt = keep_prompt

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)

    async def complete(self, case: Case) -> Output:
        output = normalize_output(await self.provider.complete(case))
        extra = dict(output.extra)
        prompt = self.provider.task_text(case) if self.keep_prompt else None
        if prompt:
            extra[PROMPT] = prompt
        value = output.value
        if self.transform is not None:
            value = self.transform.apply(output.value, case)
            if value != output.value or type(value) is not type(output.value):
                extra[RAW_OUTPUT] = output.value
        return dataclasses.replace(output, value=value, extra=extra)


def shaped(provider: Any, provider_config: Any, base_dir: Path, *, keep_prompt: bool) -> ShapedProvider:
    """The provider with its config's transform (loaded now: a bad one is exit 2 before any call); `keep_prompt`:
    keep each templated prompt for the judge (a suite without a judge, or with a `task:`, has no use for it)."""
    spec = getattr(provider_config, "transform", None)
    if not spec:
        return ShapedProvider(provider, None, keep_prompt=keep_prompt)
    from evalgate.transforms import Transform  # Jinja2 only for a suite with a transform

    transform = Transform(spec, base_dir, file=provider_config.file, line=provider_config.line)
    return ShapedProvider(provider, transform, keep_prompt=keep_prompt)
