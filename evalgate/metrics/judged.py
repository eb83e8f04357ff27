"""What the LLM-as-judge metrics share (the rubric scorer, evalgate/metrics/judge.py; factual consistency,
evalgate/metrics/factual.py): asking the suite's `judge:` model about every case during `prepare` (all cases
concurrently, at most `concurrency` at a time), a prompt template from a file, and the verdict of a case the
judge could not decide. A case whose run errored is not judged and scores as a failure; so does a case whose
judge reply stayed invalid after the repair attempt (its error is kept in the record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalgate.files.fileio import read_text, real_path
from evalgate.files.limits import MAX_TEXT_FILE_BYTES
from evalgate.judge.client import JudgeAnswer, open_judge, question_id
from evalgate.judge.task import task_text
from evalgate.metrics.base import CaseRecord, Metric


def load_template(path: str | None, base_dir: Path, default: str) -> str:
    if path is None:
        return default
    return read_text(real_path(base_dir / path), what="judge template", max_bytes=MAX_TEXT_FILE_BYTES)


async def ask_all(
    metric: str,
    records: list[CaseRecord],
    context: Any,
    build: Callable[[CaseRecord], str],
    validate: Callable[[dict[str, Any]], Any],
    not_judged: Callable[[CaseRecord], str | None],
) -> tuple[list[JudgeAnswer], dict[str, Any]]:
    """Ask the judge about every record (a record with a reason `not_judged` gets it as its error); the
    answers, and the judge's usage (calls, cached, tokens, cost)."""
    async with open_judge(context, purpose=f"the metric {metric}") as session:

        async def one(record: CaseRecord) -> JudgeAnswer:
            reason = not_judged(record)
            if reason:
                return JudgeAnswer(error=f"not judged: {reason}")
            prompt = build(record)
            return await session.ask(question_id(metric, str(record.get("id")), prompt), prompt, validate)

        answers = await asyncio.gather(*(one(record) for record in records))
    return list(answers), session.usage.to_json()


def errored(record: CaseRecord) -> str | None:
    return "the case errored (no answer)" if record.get("error") else None


def failed_verdict(answer: JudgeAnswer, empty: str) -> dict[str, Any]:
    return {empty: None, "reasoning": None, "error": answer.error, "invalid_reply": answer.invalid_reply}


class JudgedMetric(Metric):
    """A metric scored by the config's judge model (the config must have a `judge` section)."""

    needs_judge = True

    def _with_task(
        self, prompt: Callable[[CaseRecord, str], str], context: Any
    ) -> Callable[[CaseRecord], str]:
        """The prompt builder for each case, with the case's task unless the `task` option turns it off."""
        if not self.options.get("task", True):
            return lambda record: prompt(record, "")
        return lambda record: prompt(record, task_text(record, context))
