"""Sharded runs: which cases shard I of N runs (`evalgate run --shard I/N`), decided so every machine agrees.

The split is a function of the cases' ids and categories only (never of file order, the machine or the Python
hash seed): within each category, sorted by name, the cases are ordered by a SHA-256 of their id and dealt to the
shards in turn, the deal carrying on from one category to the next. So every case is in exactly one shard, every
shard holds the same number of cases to within one, and so does every category within every shard (a fair
sample of the suite). `evalgate merge` (evalgate.merge) reads the dataset again and recomputes the split, to check
each shard's cases and to put the merged cases back in dataset order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from evalgate.errors import InputError

MAX_SHARDS = 1000
_SPEC = re.compile(r"([0-9]{1,4})/([0-9]{1,4})")


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, *, what: str = "--shard") -> ShardSpec:
    """`I/N` with 1 <= I <= N <= MAX_SHARDS; anything else is an InputError naming `what`."""
    match = _SPEC.fullmatch(text.strip())
    if match:
        index, count = int(match[1]), int(match[2])
        if 1 <= index <= count <= MAX_SHARDS:
            return ShardSpec(index, count)
    raise InputError(
        f"{what} is {text!r}; expected I/N, shard I of N, with 1 <= I <= N <= {MAX_SHARDS} (for example 2/4)"
    )


def _order_key(case_id: str) -> tuple[bytes, str]:
    return hashlib.sha256(case_id.encode("utf-8")).digest(), case_id


def assign(cases: Iterable[tuple[str, str]], count: int) -> dict[str, int]:
    """Each case's shard (1-based), for cases given as (id, category) pairs."""
    by_category: dict[str, list[str]] = {}
    for case_id, category in cases:
        by_category.setdefault(category, []).append(case_id)
    shard_of: dict[str, int] = {}
    dealt = 0
    for category in sorted(by_category):
        for case_id in sorted(by_category[category], key=_order_key):
            shard_of[case_id] = dealt % count + 1
            dealt += 1
    return shard_of


def fingerprint(case_ids: Iterable[str]) -> str:
    """The identity of a set of cases: a SHA-256 of their sorted ids (each length-prefixed)."""
    digest = hashlib.sha256()
    for case_id in sorted(case_ids):
        data = case_id.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def select(cases: Sequence, spec: ShardSpec) -> tuple[list, dict]:
    """The cases of shard `spec` (in dataset order), and the results file's `shard` object for them."""
    shard_of = assign(((case.id, case.category) for case in cases), spec.count)
    record = {
        "index": spec.index,
        "count": spec.count,
        "dataset_cases": len(cases),
        "dataset_fingerprint": fingerprint(case.id for case in cases),
    }
    return [case for case in cases if shard_of[case.id] == spec.index], record
