"""Builders for the calibration tests: a suite folder whose judge is the local fake judge, and gold files."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

MODEL = "def predict(text):\n    return 'the answer ' + text\n"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def rubric_gold(n: int, *, seed: int = 1, raters: int = 1, rater_noise: float = 0.0) -> list[dict[str, Any]]:
    """n rubric items of true quality 1-5; each rater scores the truth, moved one point with `rater_noise`."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        truth = rng.randint(1, 5)

        def rate(truth: int = truth) -> int:
            if rng.random() < rater_noise:
                return min(5, max(1, truth + rng.choice((-1, 1))))
            return truth

        scores = [rate() for _ in range(raters)]
        label = scores[0] if raters == 1 else scores
        rows.append(
            {
                "id": f"r{i}",
                "input": f"question {i}",
                "output": f"answer {i} [q={truth}]",
                "scores": {"relevance": label, "accuracy": label},
            }
        )
    return rows


def factual_gold(n: int, *, seed: int = 2) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hallucinated = rng.random() < 0.4
        rows.append(
            {
                "id": f"f{i}",
                "input": f"question {i}",
                "output": f"answer {i}" + (" [hallucinated]" if hallucinated else ""),
                "metadata": {"source": f"document {i}"},
                "hallucinated": hallucinated,
            }
        )
    return rows


def pairwise_gold(n: int, *, gap: int = 20, seed: int = 3) -> list[dict[str, Any]]:
    """Pairs whose better answer is `gap` points better (or equal, a tie, for every fourth pair)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a = rng.randint(30, 70)
        b = a if i % 4 == 0 else a + rng.choice((-gap, gap))
        winner = "tie" if a == b else ("a" if a > b else "b")
        rows.append(
            {"id": f"p{i}", "input": f"question {i}", "a": f"A [q={a}]", "b": f"B [q={b}]", "winner": winner}
        )
    return rows


def write_suite(
    folder: Path,
    url: str,
    *,
    gold: list[dict[str, Any]] | None = None,
    calibration: dict[str, Any] | None = None,
    cases: list[dict[str, Any]] | None = None,
    gate: str = "",
    judge_model: str = "claude-haiku-4-5",
    metrics: str = "[{judge: {criteria: [relevance, accuracy]}}, {factual_consistency: {source: metadata}}]",
) -> Path:
    """A suite folder: a python model that echoes its input, the fake judge, gold labels; returns the config."""
    (folder / "model.py").write_text(MODEL)
    write_jsonl(
        folder / "cases.jsonl",
        cases
        or [
            {"id": f"c{i}", "input": f"q{i} [q=2]", "metadata": {"source": "document"}, "category": "typical"}
            for i in range(20)
        ],
    )
    if gold is not None:
        write_jsonl(folder / "gold.jsonl", gold)
    section = ""
    if calibration is not None:
        options = {"gold": "gold.jsonl", **calibration}
        section = "  calibration: " + json.dumps(options) + "\n"
    config = folder / "evalgate.yaml"
    config.write_text(
        "suite: calib\n"
        "datasets: [cases.jsonl]\n"
        "provider: {type: python, target: model.py:predict}\n"
        "judge:\n"
        f"  type: anthropic\n  model: {judge_model}\n  base_url: '{url}'\n  max_attempts: 1\n  temperature: 0\n"
        + section
        + f"metrics: {metrics}\n"
        "cache: {enabled: false}\n"
        "concurrency: 8\n" + gate
    )
    return config
