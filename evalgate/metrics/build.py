"""Resolve the config's metric names to configured metric families (evalgate.metrics.registry)."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.metrics.base import Metric
from evalgate.options import check_options


@dataclass
class _Entry:
    """One metric named in the config (or added because every suite computes it)."""

    name: str
    options: dict[str, Any]
    file: str | None
    line: int | None


@dataclass
class _Group:
    """The config entries that configure one metric instance, and their merged options."""

    family: str
    first: _Entry
    options: dict[str, Any] = field(default_factory=dict)
    owners: dict[str, _Entry] = field(default_factory=dict)  # option -> the entry that set it
    wanted: set[str] | None = field(default_factory=set)  # keys asked for; None = all (KEY_OPTION families)


@contextmanager
def _located(entry: _Entry) -> Iterator[None]:
    """Give an InputError raised while configuring `entry` its file and line when it has none (an error about
    another file, such as a metric's data file, keeps its own file and gets no line of the config)."""
    try:
        yield
    except InputError as exc:
        if exc.file is None or (exc.line is None and str(exc.file) == str(entry.file)):
            raise InputError(exc.message, file=exc.file or entry.file, line=exc.line or entry.line) from None
        raise


def family_class(family: str) -> type[Metric]:
    """The class of a family registered in FAMILIES (imported now)."""
    from evalgate.metrics import FAMILIES

    module_name, _, class_name = FAMILIES[family].partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise InputError(
            f"the metric family {family!r} is not available in this installation ({exc})"
        ) from None


def resolve_name(name: str) -> tuple[str, str | None]:
    """(family, key) for a config name; InputError listing the known names (with a close match) otherwise.
    A family's name is resolved without loading the other families."""
    from evalgate.metrics import FAMILIES

    if name in FAMILIES:
        return name, None
    from evalgate.metrics.registry import config_names

    names = config_names()
    if name in names:
        return names[name]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise InputError(f"unknown metric {name!r}{hint}; known metrics: {', '.join(sorted(names))}")


def build_metrics(config: Any) -> list[Metric]:
    """The configured metric families of a suite: `config.metrics` (MetricConfig-like: name, options, file,
    line) resolved against `config.base_dir`, duplicates merged, plus error_rate, latency and usage (and the
    streaming keys when a provider streams)."""
    from evalgate.metrics import ALWAYS, WHEN_STREAMING

    entries = [_Entry(m.name, m.options or {}, m.file, m.line) for m in config.metrics]
    streams = any(provider.options.get("stream") for provider in getattr(config, "providers", ()))
    entries += [_Entry(name, {}, None, None) for name in (*ALWAYS, *([WHEN_STREAMING] if streams else []))]
    groups: dict[tuple[str, str], _Group] = {}
    for entry in entries:
        with _located(entry):
            family, key = resolve_name(entry.name)
            cls = family_class(family)
            check_options(entry.options, cls.OPTIONS, file=entry.file or "", context=f"metrics.{entry.name}")
            identity = (family, str(entry.options.get("name") or entry.options.get("function") or ""))
            group = groups.setdefault(identity, _Group(family, entry))
            _merge(group, entry, key, cls)
    metrics: list[Metric] = []
    seen: dict[str, _Entry] = {}
    for group in groups.values():
        cls = family_class(group.family)
        options = dict(group.options)
        if cls.KEY_OPTION is not None and group.wanted is not None:
            options[cls.KEY_OPTION] = sorted(group.wanted)
        with _located(group.first):
            metric = cls(
                check_options(options, cls.OPTIONS, file=group.first.file or "", context=group.family),
                Path(config.base_dir),
            )
            for metric_key in metric.keys():
                if metric_key.name in seen:
                    earlier = seen[metric_key.name]
                    where = f" (line {earlier.line})" if earlier.line else ""
                    raise InputError(
                        f"metric {group.first.name!r} writes the key {metric_key.name!r}, "
                        f"as {earlier.name!r}{where} does; give one of them another `name`"
                    )
                seen[metric_key.name] = group.first
        metrics.append(metric)
    return metrics


def _merge(group: _Group, entry: _Entry, key: str | None, cls: type[Metric]) -> None:
    """Add one entry's options to its group; two entries setting one option differently is an error."""
    for option, value in entry.options.items():
        if option == cls.KEY_OPTION:
            continue
        earlier = group.owners.get(option)
        if earlier is not None and group.options[option] != value:
            where = f" (line {earlier.line})" if earlier.line else ""
            raise InputError(
                f"metric {entry.name!r} sets {group.family}.{option} to {value!r}, "
                f"but {earlier.name!r}{where} set it to {group.options[option]!r}; "
                "a family is computed once, with one set of options"
            )
        group.options[option] = value
        group.owners.setdefault(option, entry)
    if cls.KEY_OPTION is None or group.wanted is None:
        return
    listed = entry.options.get(cls.KEY_OPTION)
    if listed:
        group.wanted.update(listed)
    elif key is not None:
        group.wanted.add(key)
    else:
        group.wanted = None  # the family named without a key list: all its keys
