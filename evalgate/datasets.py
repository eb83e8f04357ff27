"""Eval cases from JSON Lines files or folders of them, with stable ids and categories."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalgate.assertions import ASSERT_KEY, AssertionSpecError, parse_assertions
from evalgate.contracts.cases import Case
from evalgate.errors import InputError
from evalgate.files.fileio import read_bytes
from evalgate.files.jsonio import JSONProblem, parse_json
from evalgate.slices import value_problem

CASE_KEYS = ("id", "input", "expected", "category", "metadata", "tags", "cluster", ASSERT_KEY)
HASH_ID_PREFIX = "h-"
_EXPECTED_LINE = 'expected one JSON object a line, such as {"id": "c-1", "input": "...", "expected": "..."}'


def dataset_files(paths: Iterable[Path]) -> list[Path]:
    """The JSONL files named by `paths`.

    A file is taken as given; a folder is searched for `**/*.jsonl` (skipping dot files and dot folders),
    sorted by path within the folder.
    """
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(
                (file for file in path.rglob("*.jsonl") if not _hidden(file.relative_to(path))),
                key=lambda file: file.relative_to(path).as_posix(),
            )
            if not found:
                raise InputError("the dataset folder holds no *.jsonl file", file=path)
            files.extend(found)
        elif path.exists():  # a file: reading it checks that it is a regular one
            files.append(path)
        elif path.is_symlink():
            raise InputError(
                "the dataset is a symbolic link that leads nowhere (a loop, or a missing target)", file=path
            )
        else:
            raise InputError("dataset not found; expected a JSONL file or a folder of them", file=path)
    return files


def _hidden(relative: Path) -> bool:
    """Dot files and folders (editor locks, macOS `._` files, `.git`) are not part of a dataset."""
    return any(part.startswith(".") for part in relative.parts)


def category_of_file(path: Path) -> str:
    """A file's default category: its stem without a trailing `_cases` (`edge_cases.jsonl` -> edge)."""
    stem = path.stem
    if stem.endswith("_cases") and len(stem) > len("_cases"):
        stem = stem[: -len("_cases")]
    return stem


def load_cases(paths: Iterable[Path]) -> list[Case]:
    """Read every case of the given files and folders, in file order then line order.

    Raises InputError (with file and line) on a malformed line, a duplicate id, or an empty dataset.
    """
    files = dataset_files(paths)
    cases: list[Case] = []
    seen: dict[str, str] = {}  # id -> "file:line" where it was first read
    for file in files:
        for line, case in _read_file(file):
            first = seen.get(case.id)
            if first is not None:
                how = "has the same content as" if case.id.startswith(HASH_ID_PREFIX) else "repeats the id of"
                raise InputError(
                    f"duplicate case id {case.id!r}: this case {how} {first}; ids must be unique",
                    file=file,
                    line=line,
                )
            seen[case.id] = case.source
            cases.append(case)
    if not cases:
        names = ", ".join(str(f) for f in files)
        raise InputError(f"the dataset has no cases (read {names}); {_EXPECTED_LINE}")
    return cases


def _read_file(file: Path) -> list[tuple[int, Case]]:
    data = read_bytes(file, what="dataset")
    default_category = category_of_file(file)
    cases = []
    for number, text in text_lines(data, file):
        try:
            cases.append((number, _parse_case(text, f"{file}:{number}", default_category)))
        except _BadLine as problem:
            raise InputError(str(problem), file=file, line=number) from None
    return cases


def text_lines(data: bytes, file: Path) -> Iterable[tuple[int, str]]:
    """The non-blank lines of a JSON Lines file's bytes, stripped, with their line numbers (a UTF-8 byte-order
    mark is skipped; a line that is not UTF-8 is an InputError naming it)."""
    for number, raw in enumerate(data.split(b"\n"), 1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InputError(f"the line is not valid UTF-8 ({exc.reason})", file=file, line=number) from None
        if text:
            yield number, text


class _BadLine(Exception):
    """What is wrong with one line; turned into an InputError with the file and line."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_CASE_KEY_SET = frozenset(CASE_KEYS)


def _parse_case(text: str, source: str, default_category: str) -> Case:
    try:
        obj = parse_json(text, unique_keys=True)
    except JSONProblem as problem:
        if problem.syntax:
            raise _BadLine(f"invalid JSON ({problem.message}); {_EXPECTED_LINE}") from None
        raise _BadLine(problem.message) from None
    if not isinstance(obj, dict):
        raise _BadLine(f"a case must be a JSON object, got {_json_type(obj)}; {_EXPECTED_LINE}")
    if not obj.keys() <= _CASE_KEY_SET:
        unknown = sorted(obj.keys() - _CASE_KEY_SET)
        raise _BadLine(f"unknown key {unknown[0]!r} in the case; allowed keys: {', '.join(CASE_KEYS)}")
    if "input" not in obj:
        raise _BadLine("the case has no 'input' (what the model is given); " + _EXPECTED_LINE)
    category = obj.get("category", default_category)
    if not isinstance(category, str) or not category.strip():
        raise _BadLine(f"'category' must be a non-empty string, got {json.dumps(category)}")
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise _BadLine(f"'metadata' must be an object (a mapping), got {_json_type(metadata)}")
    tags = _tags(obj.get("tags"))
    cluster = obj.get("cluster")
    if cluster is not None and not _is_id(cluster):
        raise _BadLine(f"'cluster' must be a string or an integer, got {_json_type(cluster)}")
    try:
        assertions = parse_assertions(obj[ASSERT_KEY]) if ASSERT_KEY in obj else ()
    except AssertionSpecError as problem:
        raise _BadLine(str(problem)) from None
    if "id" in obj:
        case_id = obj["id"]
        if not _is_id(case_id) or (isinstance(case_id, str) and not case_id.strip()):
            raise _BadLine(f"'id' must be a non-empty string or an integer, got {json.dumps(case_id)}")
        case_id = str(case_id)
    else:
        case_id = content_id(obj["input"], obj.get("expected"), category)
    return Case(
        id=case_id,
        input=obj["input"],
        expected=obj.get("expected"),
        category=category,
        metadata=metadata,
        tags=tags,
        cluster=None if cluster is None else str(cluster),
        source=source,
        assertions=assertions,
    )


def _tags(value: Any) -> tuple[str, ...]:
    """A case's `tags`: a list of strings, each one a slice's name can hold (evalgate.slices), once each."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _BadLine(
            f'\'tags\' must be a list of strings, such as ["billing", "refund"], got {_json_type(value)}'
        )
    for index, tag in enumerate(value):
        problem = "is not a string" if not isinstance(tag, str) else value_problem(tag)
        if problem is not None:
            raise _BadLine(f'tags[{index}] {problem}: a tag is a string of one line, such as "billing"')
    return tuple(dict.fromkeys(value))


def _is_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return _CANONICAL.encode(value)


def content_id(input: Any, expected: Any, category: str) -> str:
    """The id of a case without one: a short hash of its content, so reordering lines keeps ids."""
    digest = hashlib.sha256(canonical_json([input, expected, category]).encode("utf-8")).hexdigest()
    return HASH_ID_PREFIX + digest[:12]


def dataset_fingerprint(paths: Iterable[Path]) -> str:
    """A hash of the dataset's files: their names (relative to the named file or folder) and their bytes."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        for file in dataset_files([path]):
            name = file.name if file == path else f"{path.name}/{file.relative_to(path).as_posix()}"
            data = read_bytes(file, what="dataset")
            for part in (name.encode("utf-8"), data):
                digest.update(len(part).to_bytes(8, "big"))
                digest.update(part)
    return "sha256:" + digest.hexdigest()


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Split `n` draws over strata of the given sizes: proportional, largest remainders rounded up.

    When n reaches the number of strata, every stratum gets at least one (taken from the stratum that got
    most beyond its proportional share).
    """
    total = sum(sizes.values())
    n = min(n, total)
    quotas = {name: n * size / total for name, size in sizes.items()}
    counts = {name: math.floor(quota) for name, quota in quotas.items()}
    by_remainder = sorted(sizes, key=lambda name: (-(quotas[name] - counts[name]), name))
    for name in by_remainder[: n - sum(counts.values())]:
        counts[name] += 1
    if n >= len(sizes):
        empties = sorted((name for name in sizes if not counts[name]), key=lambda name: (-quotas[name], name))
        for empty in empties:
            donor = max(
                (name for name in sizes if counts[name] > 1),
                key=lambda name: (counts[name] - quotas[name], counts[name], name),
            )
            counts[donor] -= 1
            counts[empty] = 1
    return counts


def sample_cases(cases: list[Case], n: int, seed: int) -> list[Case]:
    """A deterministic sample of `n` cases stratified by category, in input order.

    Within a category the cases with the smallest hash of (seed, id) are taken, so the same n and seed give
    the same cases whatever the order of files and lines.
    """
    if n < 1:
        raise InputError(f"the sample size must be at least 1, got {n}")
    if n >= len(cases):
        return list(cases)
    by_category: dict[str, list[Case]] = {}
    for case in cases:
        by_category.setdefault(case.category, []).append(case)
    counts = allocate({name: len(members) for name, members in by_category.items()}, n)
    chosen: set[str] = set()
    for name, members in by_category.items():
        ranked = sorted(members, key=lambda case: (_draw_key(seed, case.id), case.id))
        chosen.update(case.id for case in ranked[: counts[name]])
    return [case for case in cases if case.id in chosen]


def _draw_key(seed: int, case_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{case_id}".encode()).digest()
