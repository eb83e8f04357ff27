"""The rubric scorer (`judge`): Likert scores from the suite's `judge:` model on named criteria.

It asks the judge during `prepare` (evalgate/metrics/judged.py), keeps the judge's verdict in the case record
(`record["judge"]`) for the report, and scores from it in `score_case`. Factual consistency, the other judged
family, is in evalgate/metrics/factual.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from evalgate.errors import InputError
from evalgate.facts import KeyFacts
from evalgate.judge.client import (
    as_text,
    render_template,
    require_keys,
    require_number,
    require_string,
)
from evalgate.judge.task import CASE_BLOCK, TASK_BLOCK, TASK_OPTION
from evalgate.metrics.base import CaseRecord, MetricKey, mean_score
from evalgate.metrics.judged import JudgedMetric, ask_all, errored, failed_verdict, load_template
from evalgate.options import Option

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
    + CASE_BLOCK
    + """<answer>
{{ output }}
</answer>

{{ reply_format }}"""
)

RUBRIC_REPLY_FORMAT = """Reply with a single JSON object and nothing else, in this form:
{"scores": { {{- scores_example -}} }, "reasoning": "<two or three sentences explaining the scores>"}"""

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


class RubricJudge(JudgedMetric):
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
        self.template = load_template(options.get("rubric"), base_dir, RUBRIC_PROMPT)
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
        answers, self.judge_usage = await ask_all(
            "judge", records, context, self._with_task(self.prompt, context), self.validate, errored
        )
        for record, answer in zip(records, answers, strict=True):
            if answer.error:
                record["judge"] = failed_verdict(answer, "scores")
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
