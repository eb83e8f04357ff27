"""assertions: the share of cases whose every assertion (the dataset's per-case `assert` list) passes.

Each case with assertions scores 1 when all of them pass and 0 otherwise (0 when its run errored); a case without
assertions is not scored (it is neither a pass nor a failure). The outcome of each assertion is kept in the case
record for the report: `record["assertion_results"]`, one `{"pass": bool, "reason": why}` per assertion of
`record["assert"]`, in its order (a passing deterministic assertion has no reason: `{"pass": true}`). Deterministic assertions are
checked by evalgate.assertions; `rubric` assertions are asked of the suite's judge in `prepare`, all at once, with
the task (evalgate.judge.task) and the output.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from evalgate.assertions import ASSERT_KEY, RUBRIC, check, kind_of
from evalgate.facts import KeyFacts
from evalgate.judge.client import JudgeFormatError, as_text, open_judge, question_id, render_template
from evalgate.judge.task import TASK_BLOCK, TASK_OPTION, task_text
from evalgate.metrics.base import CaseRecord, Metric, MetricKey, case_scores, mean_score
from evalgate.options import Option

RESULTS_KEY = "assertion_results"

RUBRIC_PROMPT = (
    """You grade an answer against a rubric. Decide whether the ANSWER meets the RUBRIC.

"""
    + TASK_BLOCK
    + """<question>
{{ input }}
</question>

<answer>
{{ output }}
</answer>

<rubric>
{{ rubric }}
</rubric>

Reply with a single JSON object and nothing else, in this form:
{"pass": true, "reasoning": "<one or two sentences>"}"""
)


def _validate(answer: dict[str, Any]) -> dict[str, Any]:
    if set(answer) != {"pass", "reasoning"}:
        raise JudgeFormatError('the reply must have exactly the keys "pass" and "reasoning"')
    if not isinstance(answer["pass"], bool) or not isinstance(answer["reasoning"], str):
        raise JudgeFormatError('"pass" must be true or false and "reasoning" a string')
    return answer


def _outcome(passed: bool, reason: str) -> dict[str, Any]:
    return {"pass": passed, "reason": reason} if reason else {"pass": passed}


class Assertions(Metric):
    family = "assertions"
    FACTS = (KeyFacts("assertions", "rate"),)
    OPTIONS: ClassVar[dict[str, Option]] = {"task": TASK_OPTION}

    def __init__(self, options: dict[str, Any], base_dir: Any) -> None:
        super().__init__(options, base_dir)
        self.judge_usage: dict[str, Any] | None = None  # set by prepare when a case has a rubric assertion

    def keys(self) -> list[MetricKey]:
        return [
            self.declared_key(
                "assertions", "binary", "share of the cases with assertions whose every assertion passes"
            )
        ]

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:
        rubrics: list[tuple[list[dict[str, Any]], int, CaseRecord, dict[str, Any]]] = []
        for record in records:
            specs = record.get(ASSERT_KEY) or []
            if not specs:
                continue
            if record.get("error") is not None:
                record[RESULTS_KEY] = None  # not checked: the case has no answer
                continue
            outcomes: list[dict[str, Any]] = []
            for spec in specs:
                if kind_of(spec["type"]).base == RUBRIC:
                    rubrics.append((outcomes, len(outcomes), record, spec))
                    outcomes.append(_outcome(False, "not judged"))
                else:
                    outcomes.append(_outcome(*check(spec, record.get("output"))))
            record[RESULTS_KEY] = outcomes
        if rubrics:
            await self._judge(rubrics, context)

    async def _judge(
        self, rubrics: list[tuple[list[dict[str, Any]], int, CaseRecord, dict[str, Any]]], context: Any
    ) -> None:
        show_task = self.options.get("task", True)
        async with open_judge(context, purpose="a rubric assertion") as session:

            async def one(outcomes: list[dict[str, Any]], index: int, record: CaseRecord, spec: dict) -> None:
                prompt = render_template(
                    RUBRIC_PROMPT,
                    task=task_text(record, context) if show_task else "",
                    input=as_text(record.get("input")),
                    output=as_text(record.get("output")),
                    rubric=spec["value"],
                )
                answer = await session.ask(
                    question_id("assertions", str(record.get("id")), prompt), prompt, _validate
                )
                inverse = kind_of(spec["type"]).inverse
                if answer.error:
                    outcomes[index] = _outcome(False, answer.error)
                else:
                    met = answer.value["pass"]
                    outcomes[index] = _outcome(met != inverse, answer.value["reasoning"])

            await asyncio.gather(*(one(*item) for item in rubrics))
        self.judge_usage = session.usage.to_json()

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        if not record.get(ASSERT_KEY):
            return {}
        outcomes = record.get(RESULTS_KEY)
        if record.get("error") is not None or not outcomes:
            return {"assertions": 0.0}
        return {"assertions": float(all(outcome["pass"] for outcome in outcomes))}

    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        return {"assertions": mean_score(records, "assertions")}

    def sizes(self, records: list[CaseRecord]) -> dict[str, int]:
        return {"assertions": len(case_scores(records, "assertions"))}
