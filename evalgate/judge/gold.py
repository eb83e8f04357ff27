"""Gold labels: people's judgements of answers, one JSON object a line, to measure a judge against.

Three kinds of line, told apart by their label key:
- rubric: `{"id", "input", "output", "scores": {"relevance": 4, "accuracy": [5, 4]}}` (a list: several raters);
- factual consistency: `{"id", "output", "metadata": {"source": ...}, "hallucinated": true}`, or
  `"claims": [{"claim": ..., "supported": false}]` (hallucinated = any unsupported claim);
- pairwise: `{"id", "input", "a": "<answer>", "b": "<answer>", "winner": "a" | "b" | "tie"}` (or a list).
Every line may also carry `expected`, `metadata`, `category` and a free-text `note`. A canary file (fixed answers
re-judged to watch the judge drift) has the same lines without labels.

A bad line is an InputError naming the file and line, as for datasets (evalgate/datasets.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.datasets import _is_id, _json_type, text_lines
from evalgate.errors import InputError
from evalgate.files.jsonio import JSONProblem, parse_json

MAX_ITEMS = 10_000  # more labels than this is a mistake (50 to 200 measure a judge; each one is a judge call)
COMMON_KEYS = ("id", "input", "expected", "metadata", "category", "note")
KIND_KEYS = {
    "rubric": ("output", "scores"),
    "factual": ("output", "hallucinated", "claims"),
    "pairwise": ("a", "b", "winner"),
}
LABEL_KEYS = {"rubric": ("scores",), "factual": ("hallucinated", "claims"), "pairwise": ("winner",)}
WINNERS = ("b", "tie", "a")  # ordered: b better, tie, a better
_EXAMPLE = '{"id": "g-1", "input": "...", "output": "...", "scores": {"relevance": 4}}'


class _BadLine(Exception):
    """What is wrong with one line; becomes an InputError with the file and line."""


@dataclass
class GoldItem:
    """One labelled (or, in a canary file, unlabelled) item."""

    id: str
    kind: str  # rubric | factual | pairwise
    line: int
    input: Any = None
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    category: str = "gold"
    output: Any = None
    a: Any = None
    b: Any = None
    scores: dict[str, list[int]] = field(default_factory=dict)  # rubric: criterion -> the raters' scores
    hallucinated: list[bool] = field(default_factory=list)  # factual: the raters' verdicts
    consistency: float | None = None  # factual, from claims: supported claims / claims
    winner: list[str] = field(default_factory=list)  # pairwise: the raters' winners

    def record(self) -> dict[str, Any]:
        """The item as a case record, as the judge metrics read one."""
        return {
            "id": self.id,
            "category": self.category,
            "input": self.input,
            "expected": self.expected,
            "output": self.output,
            "metadata": self.metadata or None,
            "error": None,
            "scores": {},
        }


@dataclass
class GoldSet:
    path: Path
    sha256: str
    items: list[GoldItem]

    def of_kind(self, kind: str) -> list[GoldItem]:
        return [item for item in self.items if item.kind == kind]


def load_gold(path: str | Path, *, labelled: bool = True, what: str = "gold file") -> GoldSet:
    """Read and check a gold file (`labelled=False`: a canary file, whose lines need no labels)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror or exc})", file=path) from None
    items: list[GoldItem] = []
    seen: dict[str, int] = {}
    for number, text in text_lines(data, path):
        try:
            item = _parse(text, number, labelled)
        except _BadLine as problem:
            raise InputError(str(problem), file=path, line=number) from None
        if item.id in seen:
            raise InputError(
                f"duplicate id {item.id!r}: line {seen[item.id]} has it too; ids must be unique",
                file=path,
                line=number,
            )
        seen[item.id] = number
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise InputError(
                f"the {what} holds more than {MAX_ITEMS:,} items; 50 to 200 labels measure a judge "
                "(each item is a judge call)",
                file=path,
                line=number,
            )
    if not items:
        raise InputError(
            f"the {what} has no items; expected one JSON object a line, such as {_EXAMPLE}", file=path
        )
    return GoldSet(path, "sha256:" + hashlib.sha256(data).hexdigest(), items)


def _parse(text: str, line: int, labelled: bool) -> GoldItem:
    try:
        obj = parse_json(text, unique_keys=True)  # strict, as datasets are read: no NaN, 1e400, deep nesting
    except JSONProblem as problem:
        if problem.syntax:
            raise _BadLine(
                f"invalid JSON ({problem.message}); expected one JSON object a line, such as {_EXAMPLE}"
            ) from None
        raise _BadLine(problem.message) from None
    if not isinstance(obj, dict):
        raise _BadLine(f"an item must be a JSON object, got {_json_type(obj)}; such as {_EXAMPLE}")
    kind = _kind(obj, labelled)
    allowed = COMMON_KEYS + KIND_KEYS[kind]
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise _BadLine(f"unknown key {unknown[0]!r} in a {kind} item; allowed keys: {', '.join(allowed)}")
    if "id" not in obj:
        raise _BadLine("the item has no 'id'; every gold item needs a unique id")
    if not _is_id(obj["id"]) or (isinstance(obj["id"], str) and not obj["id"].strip()):
        raise _BadLine(f"'id' must be a non-empty string or an integer, got {json.dumps(obj['id'])}")
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _BadLine(f"'metadata' must be an object, got {_json_type(metadata)}")
    category = obj.get("category", "gold")
    if not isinstance(category, str) or not category.strip():
        raise _BadLine(f"'category' must be a non-empty string, got {json.dumps(category)}")
    note = obj.get("note")
    if note is not None and not isinstance(note, str):
        raise _BadLine(f"'note' must be a string, got {_json_type(note)}")
    item = GoldItem(
        id=str(obj["id"]),
        kind=kind,
        line=line,
        input=obj.get("input"),
        expected=obj.get("expected"),
        metadata=metadata,
        category=category,
    )
    if kind == "pairwise":
        for side in ("a", "b"):
            if obj.get(side) is None:
                raise _BadLine(f"a pairwise item needs both answers 'a' and 'b'; '{side}' is missing")
        item.a, item.b = obj["a"], obj["b"]
        if "winner" in obj:
            item.winner = _raters(obj["winner"], "winner", _winner)
        return item
    if obj.get("output") is None:
        raise _BadLine(f"a {kind} item needs the judged answer as 'output'")
    item.output = obj["output"]
    if kind == "rubric" and "scores" in obj:
        item.scores = _scores(obj["scores"])
    if kind == "factual":
        _factual(obj, item)
    return item


def _kind(obj: dict[str, Any], labelled: bool) -> str:
    found = [kind for kind, keys in LABEL_KEYS.items() if any(key in obj for key in keys)]
    if len(found) > 1:
        keys = ", ".join(key for kind in found for key in LABEL_KEYS[kind] if key in obj)
        raise _BadLine(f"the item mixes labels of different kinds ({keys}); give one kind of label a line")
    if found:
        return found[0]
    if "a" in obj or "b" in obj:
        if labelled:
            raise _BadLine('a pairwise item needs \'winner\': "a", "b" or "tie"')
        return "pairwise"
    if labelled:
        raise _BadLine(
            "the item has no label: give 'scores' (a rubric), 'hallucinated' or 'claims' (factual "
            "consistency), or 'a', 'b' and 'winner' (pairwise)"
        )
    return "rubric"


def _raters(value: Any, name: str, check: Any) -> list[Any]:
    """One rater's label, or a non-empty list of several raters' labels, each checked by `check`."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise _BadLine(f"'{name}' is an empty list; expected one label, or one per rater")
    return [check(v, name) for v in values]


def _score(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadLine(
            f"{name} must be an integer score (or a list of them, one per rater), got {json.dumps(value)}"
        )
    return value


def _scores(value: Any) -> dict[str, list[int]]:
    if not isinstance(value, dict) or not value:
        raise _BadLine(
            f"'scores' must be an object of criterion scores such as {{\"relevance\": 4}}, got {json.dumps(value)}"
        )
    return {str(name): _raters(score, f'scores["{name}"]', _score) for name, score in value.items()}


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise _BadLine(
            f"'{name}' must be true or false (or a list of them, one per rater), got {json.dumps(value)}"
        )
    return value


def _winner(value: Any, name: str) -> str:
    if value not in ("a", "b", "tie"):
        raise _BadLine(
            f'\'{name}\' must be "a", "b" or "tie" (or a list of them, one per rater), got {json.dumps(value)}'
        )
    return value


def _factual(obj: dict[str, Any], item: GoldItem) -> None:
    if "claims" in obj and "hallucinated" in obj:
        raise _BadLine(
            "give either 'claims' or 'hallucinated', not both (hallucinated follows from the claims)"
        )
    if "hallucinated" in obj:
        item.hallucinated = _raters(obj["hallucinated"], "hallucinated", _boolean)
        return
    claims = obj["claims"]
    if not isinstance(claims, list):
        raise _BadLine(
            f'\'claims\' must be a list of {{"claim": ..., "supported": true}}, got {_json_type(claims)}'
        )
    for index, claim in enumerate(claims):
        if (
            not isinstance(claim, dict)
            or set(claim) != {"claim", "supported"}
            or not isinstance(claim["claim"], str)
            or not isinstance(claim["supported"], bool)
        ):
            raise _BadLine(f'claims[{index}] must be {{"claim": "<text>", "supported": true or false}}')
    supported = sum(claim["supported"] for claim in claims)
    item.hallucinated = [supported < len(claims)]
    item.consistency = supported / len(claims) if claims else 1.0
