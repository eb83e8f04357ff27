"""LLM-as-judge metrics: a rubric scorer (`judge`) and factual consistency / hallucination rate.

Both ask the suite's `judge:` model during `prepare` (all cases concurrently, at most `concurrency` at a
time), keep the judge's verdict in the case record (`record["judge"]`, `record["factual"]`) for the report,
and score from it in `score_case`. A case whose run errored is not judged and scores as a failure; so does
a case whose judge reply stayed invalid after the repair attempt (its error is kept in the record).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from evalgate.errors import InputError
from evalgate.facts import KeyFacts
from evalgate.files.fileio import read_text, real_path
from evalgate.files.limits import MAX_TEXT_FILE_BYTES
from evalgate.judge.client import (
    JudgeAnswer,
    JudgeFormatError,
    as_text,
    open_judge,
    question_id,
    render_template,
    require_keys,
    require_number,
    require_string,
)
from evalgate.judge.task import TASK_BLOCK, TASK_OPTION, task_text
from evalgate.metrics.base import CaseRecord, Metric, MetricKey, mean_score
from evalgate.options import Option, one_of

DEFAULT_CRITERIA = {
    "relevance": "Does the answer address the question that was asked, without drifting to other topics?",
    "accuracy": "Is every statement correct (consistent with the reference answer and the source, if given)?",
    "clarity": "Is the answer clear, well organized and easy to follow?",
    "completeness": "Does the answer cover everything the question needs, leaving out no key step or fact?",
}

RUBRIC_PROMPT = (
    """You are an impartial evaluator. Score the ANSWER to the QUESTION on each criterion below, \
with an integer from {{ scale_min }} (worst) to {{ scale_max }} (best).

Criteria:
{% for criterion in criteria %}- {{ criterion.name }}: {{ criterion.description }}
{% endfor %}
"""
    + TASK_BLOCK
    + """<question>
{{ input }}
</question>
{% if source %}
<source_document>
{{ source }}
</source_document>
{% endif %}
{% if expected %}
<reference_answer>
{{ expected }}
</reference_answer>
{% endif %}
<answer>
{{ output }}
</answer>

{{ reply_format }}"""
)

RUBRIC_REPLY_FORMAT = """Reply with a single JSON object and nothing else, in this form:
{"scores": { {{- scores_example -}} }, "reasoning": "<two or three sentences explaining the scores>"}"""

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

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_scale(value: Any) -> str | None:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and value[0] < value[1]
    )
    return None if ok else "must be a list of two integers [lowest, highest], lowest first"


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str


def parse_criteria(entries: list[Any] | None) -> list[Criterion]:
    """Criteria from the options: names (the default descriptions apply) or {name: description} mappings."""
    if entries is None:
        return [Criterion(name, text) for name, text in DEFAULT_CRITERIA.items()]
    if not entries:
        raise InputError("judge.criteria is empty; expected at least one criterion")
    criteria = []
    for entry in entries:
        if isinstance(entry, str):
            name, description = entry, DEFAULT_CRITERIA.get(entry)
            if description is None:
                raise InputError(
                    f"judge criterion {entry!r} needs a description: {{{entry}: <what a good answer does>}}"
                )
        elif isinstance(entry, dict) and len(entry) == 1 and isinstance(next(iter(entry.values())), str):
            ((name, description),) = entry.items()
        else:
            raise InputError(
                f"each judge criterion must be a name or a mapping {{name: description}}, got {entry!r}"
            )
        if not _NAME.match(str(name)):
            raise InputError(f"judge criterion name {name!r} must be lower-case letters, digits and _")
        criteria.append(Criterion(str(name), description))
    names = [c.name for c in criteria]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"judge criteria repeat {', '.join(duplicates)}")
    return criteria


def _load_template(path: str | None, base_dir: Path, default: str) -> str:
    if path is None:
        return default
    return read_text(real_path(base_dir / path), what="judge template", max_bytes=MAX_TEXT_FILE_BYTES)


async def _ask_all(
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


def _errored(record: CaseRecord) -> str | None:
    return "the case errored (no answer)" if record.get("error") else None


def _failed_verdict(answer: JudgeAnswer, empty: str) -> dict[str, Any]:
    return {empty: None, "reasoning": None, "error": answer.error, "invalid_reply": answer.invalid_reply}


class _JudgedMetric(Metric):
    """A metric scored by the config's judge model (the config must have a `judge` section)."""

    needs_judge = True

    def _with_task(
        self, prompt: Callable[[CaseRecord, str], str], context: Any
    ) -> Callable[[CaseRecord], str]:
        """The prompt builder for each case, with the case's task unless the `task` option turns it off."""
        if not self.options.get("task", True):
            return lambda record: prompt(record, "")
        return lambda record: prompt(record, task_text(record, context))


class RubricJudge(_JudgedMetric):
    """Likert scores from a judge model on a rubric (default: relevance, accuracy, clarity, completeness).

    Keys: `judge_<criterion>` per criterion and `judge_score`, the mean of the criteria, on the rubric's
    scale; with `normalized: true` also `judge_score_norm` = (judge_score − lowest) / (highest − lowest).
    A case that errored or could not be judged scores 0 on every key (below the scale: a failure).
    """

    family = "judge"
    FACTS = (
        KeyFacts("judge_score", "score"),
        KeyFacts("judge_score_norm", "score"),
        KeyFacts("judge_{criterion}", "score"),
    )
    OPTIONS: ClassVar[dict[str, Option]] = {
        "criteria": Option((list,), help="criterion names, or {name: description} mappings"),
        "scale": Option((list,), default=[1, 5], check=_check_scale, help="[lowest, highest] integer score"),
        "rubric": Option((str,), help="a Jinja2 prompt template file, relative to the config"),
        "reference": Option(
            (bool,), default=True, help="show the expected answer to the judge as a reference"
        ),
        "normalized": Option((bool,), default=False, help="also write judge_score_norm (0 to 1)"),
        "task": TASK_OPTION,
    }

    def __init__(self, options: dict[str, Any], base_dir: Path) -> None:
        super().__init__(options, base_dir)
        self.judge_usage: dict[str, Any] | None = None  # set by prepare: judge calls, cached, tokens, cost
        self.criteria = parse_criteria(options.get("criteria"))
        scale = options.get("scale") or [1, 5]
        problem = _check_scale(scale)
        if problem:
            raise InputError(f"judge.scale {problem}, got {scale!r}")
        self.scale_min, self.scale_max = scale
        self.template = _load_template(options.get("rubric"), base_dir, RUBRIC_PROMPT)
        self.reference = options.get("reference", True)
        self.normalized = bool(options.get("normalized", False))

    def keys(self) -> list[MetricKey]:
        scale = f"{self.scale_min}–{self.scale_max}"
        keys = [
            self.declared_key(f"judge_{c.name}", "continuous", f"judge score for {c.name} ({scale})")
            for c in self.criteria
        ]
        keys.append(
            self.declared_key("judge_score", "continuous", f"mean judge score over the criteria ({scale})")
        )
        if self.normalized:
            keys.append(self.declared_key("judge_score_norm", "continuous", "judge_score rescaled to 0–1"))
        return keys

    def prompt(self, record: CaseRecord, task: str = "") -> str:
        """The rendered judge prompt for one case (`task`: what the model was asked to do, shown when given)."""
        example = ", ".join(f'"{c.name}": <{self.scale_min}-{self.scale_max}>' for c in self.criteria)
        reply_format = render_template(RUBRIC_REPLY_FORMAT, scores_example=example)
        expected = as_text(record.get("expected")) if self.reference else ""
        return render_template(
            self.template,
            input=as_text(record.get("input")),
            output=as_text(record.get("output")),
            expected=expected,
            source=as_text((record.get("metadata") or {}).get("source")),
            metadata=record.get("metadata") or {},
            task=task,
            criteria=self.criteria,
            scale_min=self.scale_min,
            scale_max=self.scale_max,
            reply_format=reply_format,
        )

    def validate(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Check a parsed reply: exactly the criteria's scores, each within the scale, and a reasoning."""
        require_keys(answer, "the reply", ["scores", "reasoning"])
        names = [c.name for c in self.criteria]
        scores = require_keys(answer["scores"], "scores", names)
        values = {
            n: require_number(scores[n], f'scores["{n}"]', self.scale_min, self.scale_max) for n in names
        }
        return {"scores": values, "reasoning": require_string(answer, "reasoning")}

    async def prepare(self, records: list[CaseRecord], context: Any) -> None:
        answers, self.judge_usage = await _ask_all(
            "judge", records, context, self._with_task(self.prompt, context), self.validate, _errored
        )
        for record, answer in zip(records, answers, strict=True):
            if answer.error:
                record["judge"] = _failed_verdict(answer, "scores")
            else:
                record["judge"] = {**answer.value, "error": None, "repaired": answer.repaired}

    def score_case(self, record: CaseRecord) -> dict[str, float]:
        verdict = record.get("judge") or {}
        keys = [key.name for key in self.keys()]
        if record.get("error") or not verdict.get("scores"):
            return dict.fromkeys(keys, 0.0)
        scores = {f"judge_{name}": value for name, value in verdict["scores"].items()}
        mean = sum(verdict["scores"].values()) / len(verdict["scores"])
        scores["judge_score"] = mean
        if self.normalized:
            scores["judge_score_norm"] = (mean - self.scale_min) / (self.scale_max - self.scale_min)
        return scores

    def aggregate(self, records: list[CaseRecord]) -> dict[str, float | None]:
        return {key.name: mean_score(records, key.name) for key in self.keys()}


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


class FactualConsistency(_JudgedMetric):
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
        self.template = _load_template(options.get("prompt"), base_dir, FACTUAL_PROMPT)

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
            return _errored(record)
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
        answers, self.judge_usage = await _ask_all(
            "factual_consistency",
            records,
            context,
            self._with_task(self.prompt, context),
            _validate_claims,
            self.not_judged,
        )
        for record, answer in zip(records, answers, strict=True):
            if answer.error:
                record["factual"] = _failed_verdict(answer, "claims")
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
