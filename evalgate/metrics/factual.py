"""Factual consistency / hallucination rate: the suite's `judge:` model lists an output's factual claims and
marks each supported by the case's source or not.

It asks the judge during `prepare` (evalgate/metrics/judged.py), keeps the judge's verdict in the case record
(`record["factual"]`) for the report, and scores from it in `score_case`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from evalgate.facts import KeyFacts
from evalgate.judge.client import JudgeFormatError, as_text, render_template, require_keys, require_string
from evalgate.judge.task import TASK_BLOCK, TASK_OPTION
from evalgate.metrics.base import CaseRecord, MetricKey, mean_score
from evalgate.metrics.judged import JudgedMetric, ask_all, errored, failed_verdict, load_template
from evalgate.options import Option, one_of

FACTUAL_PROMPT = (
    """You check answers for factual consistency with a source.

Break the ANSWER into its factual claims: statements that can be true or false (skip greetings, questions, \
offers of help and opinions). For each claim decide whether the SOURCE supports it. A claim that the source \
contradicts, or that the source does not state or directly imply, is unsupported.

"""
    + TASK_BLOCK
    + """<source>
{{ source }}
</source>

<answer>
{{ output }}
</answer>

Reply with a single JSON object and nothing else, in this form:
{"claims": [{"claim": "<one claim, quoted or paraphrased from the answer>", "supported": true}], \
"reasoning": "<one or two sentences>"}
An answer without factual claims has an empty claims list."""
)


def _validate_claims(answer: dict[str, Any]) -> dict[str, Any]:
    require_keys(answer, "the reply", ["claims", "reasoning"])
    claims = answer["claims"]
    if not isinstance(claims, list):
        raise JudgeFormatError('"claims" must be a JSON list')
    checked = []
    for index, item in enumerate(claims):
        require_keys(item, f"claims[{index}]", ["claim", "supported"])
        if not isinstance(item["claim"], str) or not isinstance(item["supported"], bool):
            raise JudgeFormatError(
                f'claims[{index}] needs "claim" as a string and "supported" as true or false'
            )
        checked.append({"claim": item["claim"], "supported": item["supported"]})
    return {"claims": checked, "reasoning": require_string(answer, "reasoning")}


class FactualConsistency(JudgedMetric):
    """Factual consistency of the output with a source, by claim checking.

    The judge lists the output's factual claims and marks each supported or not by the source: the case's
    `metadata.source`, else its `expected`, else its `input` (option `source` picks one). Keys:
    `factual_consistency` = supported claims / claims (1.0 when the output makes no claim), continuous;
    `hallucination_rate` = 1 when any claim is unsupported, binary, lower is better. A case that errored or
    could not be judged scores factual_consistency 0 and hallucination 1.
    """

    family = "factual_consistency"
    FACTS = (
        KeyFacts("factual_consistency", "score"),
        KeyFacts("hallucination_rate", "rate", higher_is_better=False),
    )
    OPTIONS: ClassVar[dict[str, Option]] = {
        "source": Option(
            (str,),
            default="auto",
            check=one_of("auto", "metadata", "expected", "input"),
            help="what the output is checked against: metadata.source, expected, input, or auto (that order)",
        ),
        "prompt": Option((str,), help="a Jinja2 prompt template file replacing the built-in one"),
        "task": TASK_OPTION,
    }

    def __init__(self, options: dict[str, Any], base_dir: Path) -> None:
        super().__init__(options, base_dir)
        self.judge_usage: dict[str, Any] | None = None  # set by prepare: judge calls, cached, tokens, cost
        self.source = options.get("source") or "auto"
        self.template = load_template(options.get("prompt"), base_dir, FACTUAL_PROMPT)

    def keys(self) -> list[MetricKey]:
        return [
            self.declared_key(
                "factual_consistency", "continuous", "share of the output's claims the source supports"
            ),
            self.declared_key(
                "hallucination_rate", "binary", "share of cases with at least one unsupported claim"
            ),
        ]

    def not_judged(self, record: CaseRecord) -> str | None:
        """Why a case cannot be checked: it errored, or it has no source to check against."""
        if record.get("error"):
            return errored(record)
        if not self.source_text(record).strip():
            where = {"auto": "metadata.source, expected and input", "metadata": "metadata.source"}.get(
                self.source, self.source
            )
            return f"the case has no source to check against ({where} is empty)"
        return None

    def source_text(self, record: CaseRecord) -> str:
        metadata = record.get("metadata") or {}
        choices = {
            "metadata": metadata.get("source"),
            "expected": record.get("expected"),
            "input": record.get("input"),
        }
        if self.source != "auto":
            return as_text(choices[self.source])
        return as_text(next((value for value in choices.values() if value not in (None, "")), None))

    def prompt(self, record: CaseRecord, task: str = "") -> str:
        return render_template(
            self.template,
            task=task,
            source=self.source_text(record),
            output=as_text(record.get("output")),
            input=as_text(record.get("input")),
            metadata=record.get("metadata") or {},
        )

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:
        answers, self.judge_usage = await ask_all(
            "factual_consistency",
            records,
            context,
            self._with_task(self.prompt, context),
            _validate_claims,
            self.not_judged,
        )
        for record, answer in zip(records, answers, strict=True):
            if answer.error:
                record["factual"] = failed_verdict(answer, "claims")
            else:
                claims = answer.value["claims"]
                supported = sum(claim["supported"] for claim in claims)
                record["factual"] = {
                    **answer.value,
                    "consistency": supported / len(claims) if claims else 1.0,
                    "hallucination": supported < len(claims),
                    "error": None,
                    "repaired": answer.repaired,
                }

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        verdict = record.get("factual") or {}
        if record.get("error") or verdict.get("claims") is None:
            return {"factual_consistency": 0.0, "hallucination_rate": 1.0}
        return {
            "factual_consistency": float(verdict["consistency"]),
            "hallucination_rate": float(verdict["hallucination"]),
        }

    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        return {key.name: mean_score(records, key.name) for key in self.keys()}
