"""Slices: groups of cases that cut across categories, by the value of a metadata key or by a case's tags.

A suite's `slices:` lists entries (docs/reference.md, "Slices"): `metadata.KEY` makes one slice per distinct value
of the cases' `metadata[KEY]`, named `KEY=VALUE` (`length=long`); `tags` makes one slice per tag of the cases'
`tags` lists, named `tag=TAG` (`tag=billing`). A case may be in several slices; a case without the key (or with
`null` there) is in none of that key's slices. The names are decided here only (`slice_name`), the membership
only by `groups`, which every reader calls on the case records (the run, the merge of shards, the pairing of both
runs), so a baseline's slices are recomputed from its own cases whatever its file recorded.

A slice's name lands in tables, comments and log lines, so a value must be text a line can hold: a string,
number or boolean (`true`, `3`, `0.5`), at most limits.MAX_SLICE_VALUE_CHARS characters, without control
characters (`value_problem`); and a suite has at most limits.MAX_SLICES slices (each is compared key by key and
tested in the gate's family of rules). Beyond either, the run stops before any case runs (exit 2): truncating
would merge or drop slices silently.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evalgate.errors import InputError
from evalgate.files.limits import MAX_SLICE_VALUE_CHARS, MAX_SLICES

TAGS = "tags"
METADATA = "metadata."
TAG_KEY = "tag"  # the key of a tag slice's name (`tag=billing`): not a metadata key a slice may use
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
EXPECTED = f"expected `{TAGS}` or `{METADATA}KEY` (a metadata key of letters, digits, `_`, `.`, `-`)"


@dataclass(frozen=True)
class SliceSpec:
    """One entry of `slices:`: a metadata key (`key`), or the cases' tags (`key` None); where it is written."""

    key: str | None
    file: str = ""
    line: int | None = None

    @property
    def entry(self) -> str:
        return TAGS if self.key is None else METADATA + self.key


def parse_slices(entries: Any, *, file: str, line_of: Any) -> tuple[SliceSpec, ...]:
    """The `slices:` list checked: each entry `tags` or `metadata.KEY`, none twice. `line_of(index)` is the line
    of an entry."""
    if entries is None:
        return ()
    specs: list[SliceSpec] = []
    for index, entry in enumerate(entries):
        line = line_of(index)
        if not isinstance(entry, str):
            raise InputError(f"slices[{index}] is {entry!r}; {EXPECTED}", file=file, line=line)
        if entry == TAGS:
            spec = SliceSpec(None, file, line)
        elif entry.startswith(METADATA) and KEY_PATTERN.fullmatch(entry[len(METADATA) :]):
            key = entry[len(METADATA) :]
            if key == TAG_KEY:
                raise InputError(
                    f"slices: {entry} would name its slices `{TAG_KEY}=VALUE`, as the `{TAGS}` slices are named; "
                    f"rename the metadata key",
                    file=file,
                    line=line,
                )
            spec = SliceSpec(key, file, line)
        else:
            raise InputError(f"slices: {entry!r} is not a slice; {EXPECTED}", file=file, line=line)
        if any(spec.key == other.key for other in specs):
            raise InputError(f"slices: {entry} is listed twice", file=file, line=line)
        specs.append(spec)
    return tuple(specs)


def check_rule_keys(rules: Iterable[Any], specs: tuple[SliceSpec, ...]) -> None:
    """When the config is read: a `gate.slices` rule's name must be one some `slices:` entry can make (`KEY=...`
    of a listed `metadata.KEY`, `tag=...` with `tags`); whether the cases have that slice is checked once they
    are read (evalgate.names)."""
    keys = {spec.key or TAG_KEY for spec in specs}
    for rule in rules:
        if rule.slice is None or rule.slice.partition("=")[0] in keys:
            continue
        key, equals, _ = rule.slice.partition("=")
        fix = (
            f"add `{TAGS if key == TAG_KEY else METADATA + key}` to the config's slices: list"
            if equals and (key == TAG_KEY or KEY_PATTERN.fullmatch(key))
            else "a slice is named KEY=VALUE (`length=long`, `tag=billing`)"
        )
        raise InputError(
            f"{rule.where}: no slices: entry makes the slice {rule.slice!r} "
            f"(slices: {', '.join(spec.entry for spec in specs) or 'none'}); {fix}",
            file=rule.file,
            line=rule.line_of("slice"),
        )


def slice_name(key: str, text: str) -> str:
    """The one way a slice is named: `length=long`, `tag=billing`."""
    return f"{key}={text}"


def value_problem(value: Any) -> str | None:
    """Why a metadata value or a tag cannot name a slice, or None when it can (null names none: no problem)."""
    if isinstance(value, dict | list):
        return f"is {'an object' if isinstance(value, dict) else 'an array'}, not a string, number or boolean"
    text = value if isinstance(value, str) else json.dumps(value)
    if not text.strip():
        return "is empty"
    if len(text) > MAX_SLICE_VALUE_CHARS:
        return (
            f"is {len(text):,} characters long, more than the {MAX_SLICE_VALUE_CHARS} a slice's name may hold"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in text):
        return "holds a control or format character (a line break, a tab, a direction mark)"
    return None


def value_text(value: Any) -> str | None:
    """A metadata value as it appears in a slice's name (`long`, `3`, `true`); None when it names no slice (null,
    or a value `value_problem` refuses)."""
    if value is None or value_problem(value) is not None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def names_of(record: Any, specs: Iterable[SliceSpec]) -> list[str]:
    """The slices a case is in: a case record (a dict, a results-file CaseRecord) or a Case."""
    metadata = _field(record, "metadata") or {}
    tags = _field(record, "tags") or ()
    names: list[str] = []
    for spec in specs:
        if spec.key is None:
            names += [slice_name(TAG_KEY, tag) for tag in dict.fromkeys(tags) if value_text(tag) is not None]
        elif isinstance(metadata, Mapping) and (text := value_text(metadata.get(spec.key))) is not None:
            names.append(slice_name(spec.key, text))
    return names


def groups(records: Iterable[Any], specs: Iterable[SliceSpec]) -> dict[str, list[int]]:
    """Each slice's cases (their positions among `records`), by name, sorted; an InputError at the `slices:`
    entry that takes the suite beyond limits.MAX_SLICES slices."""
    specs = tuple(specs)
    found: dict[str, list[int]] = {}
    if not specs:
        return found
    for index, record in enumerate(records):
        for name in names_of(record, specs):
            if name not in found and len(found) >= MAX_SLICES:
                raise _too_many(name, specs)
            found.setdefault(name, []).append(index)
    return {name: found[name] for name in sorted(found)}


def _too_many(name: str, specs: tuple[SliceSpec, ...]) -> InputError:
    key = name.partition("=")[0]
    spec = next((s for s in specs if (s.key or TAG_KEY) == key), specs[0])
    return InputError(
        f"slices: {spec.entry} takes the suite beyond {MAX_SLICES} slices (at {name!r}); each slice is compared "
        "and tested on its own, so a key with that many values (an id, free text) is no slice: slice by a "
        "coarser key, or leave it out",
        file=spec.file or None,
        line=spec.line,
    )


def check_cases(specs: tuple[SliceSpec, ...], cases: Iterable[Any]) -> dict[str, list[int]]:
    """Before any case runs: each sliced metadata value must name a slice (`value_problem`: an InputError at the
    case's file and line), and the slices must be at most MAX_SLICES. Returns the slices (`groups`)."""
    cases = list(cases)
    for case in cases:
        for spec in specs:
            if spec.key is None or spec.key not in case.metadata:
                continue
            problem = value_problem(case.metadata[spec.key])
            if problem is not None:
                file, _, line = case.source.rpartition(":")
                raise InputError(
                    f"metadata.{spec.key} {problem}, so it cannot name a slice (slices: {spec.entry}); a sliced "
                    f"value is a string (1 to {MAX_SLICE_VALUE_CHARS} characters, one line), a number, a boolean "
                    "or null (in no slice)",
                    file=file or None,
                    line=int(line) if line.isdigit() else None,
                )
    return groups(cases, specs)


def unused(specs: Iterable[SliceSpec], found: Mapping[str, Any]) -> list[str]:
    """Warnings for `slices:` entries no case has (a typo in a metadata key leaves its slices out)."""
    keys = {name.partition("=")[0] for name in found}
    return [
        f"slices: {spec.entry} makes no slice: no case has "
        + (f"{TAGS}" if spec.key is None else f"a value for metadata.{spec.key}")
        for spec in specs
        if (spec.key or TAG_KEY) not in keys
    ]


def _field(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)
