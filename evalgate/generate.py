"""Synthetic adversarial cases generated from seed cases by an LLM (the judge model, or a named provider).

Techniques: `paraphrase` (same intent, different words), `distractor` (irrelevant distracting context around
the same request), `formatting` (the same request in unusual formatting). Each generated case keeps its seed's
`expected` and records its provenance in `metadata` (seed_id, technique, model, generated_at). Candidates are
validated (the seed's type: a non-empty string, or an object with the seed's keys; different from the seed)
and deduplicated against the seeds and each other on normalized text (Unicode NFKC, whitespace collapsed;
case and punctuation are kept, since changing them is what the formatting technique does).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.fileio import write_text_atomic
from evalgate.judging import (
    JudgeFormatError,
    JudgeSession,
    as_text,
    question_id,
    render_template,
    require_keys,
)
from evalgate.model import Case

TECHNIQUES = {
    "paraphrase": "Paraphrase: reword the input thoroughly (different words, sentence structure or "
    "register, perhaps the small typos a real user makes) while keeping exactly the same request and every "
    "detail needed to answer it.",
    "distractor": "Distracting context: keep the request intact, but surround it with plausible, irrelevant "
    "context (an unrelated anecdote, a side question answered in passing, a misleading but irrelevant "
    "detail) that a careless model might respond to instead.",
    "formatting": "Unusual formatting: present the same request in an unusual form (all capitals, no "
    "punctuation, a bulleted list, a JSON or email fragment, stray markdown, extra line breaks) while "
    "keeping it answerable.",
}

GENERATE_PROMPT = """You write test cases for evaluating an AI assistant. Write {{ n }} new test input(s) \
derived from the ORIGINAL INPUT with this technique:

{{ technique }}

Each new input must keep the original's intent, so that the original's expected answer is still exactly \
right for it.{% if expected %} The expected answer is shown for reference only; do not include it.{% endif %}
{%- if structured %} The original input is a JSON object: each new input must be a JSON object with the same \
keys.{% endif %}

<original_input>
{{ input }}
</original_input>
{% if expected %}
<expected_answer>
{{ expected }}
</expected_answer>
{% endif %}
Reply with a single JSON object and nothing else, in this form:
{"inputs": [<new input 1>{% if n > 1 %}, ...{% endif %}]}
with exactly {{ n }} item(s){% if not structured %}, each a JSON string{% endif %}."""


def normalize(value: Any) -> str:
    """The text used to detect duplicates: NFKC, whitespace collapsed (case and punctuation kept)."""
    return " ".join(unicodedata.normalize("NFKC", as_text(value)).split())


def generated_id(seed_id: str, technique: str, new_input: Any) -> str:
    """`<seed id>-<technique>-<8 hex digits of the normalized input>`: stable, and unique across files
    generated at different times from the same seeds (two equal inputs are duplicates anyway)."""
    digest = hashlib.sha256(normalize(new_input).encode()).hexdigest()[:8]
    return f"{seed_id}-{technique}-{digest}"


def parse_techniques(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TECHNIQUES]
    if unknown or not names:
        raise InputError(
            f"unknown technique(s) {', '.join(unknown) or '(none)'}; expected a comma-separated list of "
            + ", ".join(TECHNIQUES)
        )
    return list(dict.fromkeys(names))


def _validate_inputs(answer: dict[str, Any]) -> list[Any]:
    require_keys(answer, "the reply", ["inputs"])
    if not isinstance(answer["inputs"], list) or not answer["inputs"]:
        raise JudgeFormatError('"inputs" must be a non-empty JSON list')
    return answer["inputs"]


def candidate_problem(candidate: Any, seed: Case) -> str | None:
    """Why a generated input cannot be used, or None: it must have the seed's shape and differ from it."""
    if isinstance(seed.input, dict):
        if not isinstance(candidate, dict) or set(candidate) != set(seed.input):
            return "not an object with the seed's keys"
    elif not isinstance(candidate, str):
        return "not a string"
    if not normalize(candidate):
        return "empty"
    if normalize(candidate) == normalize(seed.input):
        return "same as the seed"
    return None


@dataclass
class GenerationReport:
    """What generation produced and what it dropped, by reason."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


async def generate_cases(
    session: JudgeSession,
    seeds: list[Case],
    *,
    techniques: list[str],
    n_per_case: int,
    category: str = "adversarial",
) -> GenerationReport:
    """Ask for `n_per_case` variants of every seed with every technique; validate and deduplicate them."""

    async def ask(seed: Case, technique: str) -> Any:
        expected = as_text(seed.expected)
        prompt = render_template(
            GENERATE_PROMPT,
            n=n_per_case,
            technique=TECHNIQUES[technique],
            input=as_text(seed.input),
            expected=expected,
            structured=isinstance(seed.input, dict),
        )
        return await session.ask(
            question_id("generate", seed.id, technique, prompt), prompt, _validate_inputs
        )

    jobs = [(seed, technique) for seed in seeds for technique in techniques]
    answers = await asyncio.gather(*(ask(seed, technique) for seed, technique in jobs))
    report = GenerationReport()
    seen = {normalize(seed.input) for seed in seeds}
    generated_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for (seed, technique), answer in zip(jobs, answers, strict=True):
        if answer.error:
            report.errors.append(f"{seed.id} ({technique}): {answer.error}")
            continue
        for candidate in answer.value[:n_per_case]:
            problem = candidate_problem(candidate, seed)
            if problem is None and normalize(candidate) in seen:
                problem = "duplicate"
            if problem:
                report.drop(problem)
                continue
            seen.add(normalize(candidate))
            case_id = generated_id(seed.id, technique, candidate)
            report.cases.append(
                {
                    "id": case_id,
                    "input": candidate,
                    "expected": seed.expected,
                    "category": category,
                    "metadata": {
                        **seed.metadata,
                        "seed_id": seed.id,
                        "technique": technique,
                        "model": session.model,
                        "generated_at": generated_at,
                    },
                }
            )
    return report


EXISTS = "the file exists; generate never overwrites a file: choose a new --out"


def write_new_file(path: Path, text: str) -> None:
    """Write a file that must not exist yet, atomically (never over a file another process made meanwhile)."""
    try:
        write_text_atomic(path, text, overwrite=False)
    except FileExistsError:
        raise InputError(EXISTS, file=path) from None


def to_jsonl(cases: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(case, ensure_ascii=False, sort_keys=False) + "\n" for case in cases)
