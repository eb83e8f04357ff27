"""docs/judge.md documents the prompts evalgate actually sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalgate.judge.client import REPAIR_PROMPT
from evalgate.judge.generate import GENERATE_PROMPT, STRATEGIES
from evalgate.judge.pairwise import PAIRWISE_PROMPT
from evalgate.metrics.factual import FACTUAL_PROMPT
from evalgate.metrics.judge import DEFAULT_CRITERIA, RUBRIC_PROMPT, RUBRIC_REPLY_FORMAT

DOC = (Path(__file__).resolve().parents[2] / "docs" / "judge.md").read_text()


@pytest.mark.parametrize(
    "text",
    [
        RUBRIC_PROMPT,
        RUBRIC_REPLY_FORMAT,
        FACTUAL_PROMPT,
        REPAIR_PROMPT,
        PAIRWISE_PROMPT,
        GENERATE_PROMPT,
        *DEFAULT_CRITERIA.values(),
        *(strategy.instruction for strategy in STRATEGIES.values()),
        *(strategy.safe_behavior for strategy in STRATEGIES.values()),
    ],
)
def test_the_docs_quote_the_prompts_in_use(text):
    assert text in DOC
