"""Names a config refers to, checked against the names a suite really has as soon as those are known, so a typo
never disables a rule silently.

A gate rule is keyed by its metric and, for some rules, by more names: a category (`gate.categories`) or a
slice (`gate.slices`, named as evalgate.slices names them). `RULE_NAMES` lists them; a rule naming one that the suite does not have is an InputError (exit
2) at the rule's file and line, listing the names that exist, with "did you mean" when one is close. The
checks run where the names become known: the categories and slices when the cases are loaded (`evalgate run`,
before any case runs) and again when the results are read (`evalgate gate`), the metrics when the results are read.
A sample may leave a category out: there a missing one is a warning, not an error.

Adding a name-keyed rule: give `config_rules.Rule` the attribute (and `config_rules.GROUPS` its gate section), and
add one `RuleName` line below.

Other names a config keys things by, where a stray one only leaves something unused: quarantined case ids
(compare.py warns about ids no case has) and `prices:` entries no model of the suite uses (`unused_prices`).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evalgate.errors import InputError

MAX_NAMES_LISTED = 20


@dataclass(frozen=True)
class RuleName:
    """A name a gate rule can be keyed by: the Rule attribute holding it, and its noun in messages."""

    attribute: str
    noun: str
    plural: str


METRIC = RuleName("metric", "metric", "metrics")
CATEGORY = RuleName("category", "category", "categories")
SLICE = RuleName("slice", "slice", "slices")
RULE_NAMES = (METRIC, CATEGORY, SLICE)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean X or Y?)` for close candidates, else the empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def listed(names: Collection[str]) -> str:
    """Names for a message: sorted, at most MAX_NAMES_LISTED, then how many more."""
    ordered = sorted(names)
    more = len(ordered) - MAX_NAMES_LISTED
    return ", ".join(ordered[:MAX_NAMES_LISTED]) + (f" and {more} more" if more > 0 else "") or "none"


def check_rule_names(
    rules: Iterable[Any],
    known: Mapping[RuleName, Collection[str]],
    *,
    source: str,
    partial: bool = False,
) -> list[str]:
    """Every rule's names of the kinds in `known` must be among them. `source` says where the names come from
    ("the datasets", "the current results"). A missing name raises InputError at the rule; with `partial` (the
    names come from a sample of the cases) it is returned as a warning instead."""
    warnings = []
    for rule in rules:
        for kind, names in known.items():
            name = getattr(rule, kind.attribute)
            if name is None or name in names:
                continue
            if partial:
                warnings.append(
                    f"{rule.where}: not judged: no case of {kind.noun} {name!r} is in this sample of the cases"
                )
                continue
            raise InputError(
                f"{rule.where} names the {kind.noun} {name!r}, but {source} have no such {kind.noun}, so this "
                f"rule would never be judged; their {kind.plural}: {listed(names)}"
                f"{did_you_mean(name, names)}",
                file=rule.file,
                line=rule.line_of(kind.attribute),
            )
    return warnings


def check_listed_names(
    chosen: Iterable[str],
    known: Collection[str],
    *,
    option: str,
    noun: str,
    plural: str,
    file: str,
    line_of: Any,
) -> None:
    """Every name of a config list (`report.show`) must be among `known`; the first that is not is an InputError
    at its item's line (`line_of(index)`), naming it and listing the names that exist."""
    for index, name in enumerate(chosen):
        if name not in known:
            raise InputError(
                f"{option} names the {noun} {name!r}, but this suite has no such {noun}"
                f"{did_you_mean(name, known)}; its {plural}: {listed(known)}",
                file=file,
                line=line_of(index),
            )


def unused_prices(config: Any) -> list[str]:
    """Warnings for `prices:` entries that apply to no model of the suite's providers or judge (a typo there
    silently leaves the built-in price, or none, in force)."""
    from evalgate.providers.llm.pricing import price_key

    sections = [*config.providers, *([config.judge] if config.judge is not None else [])]
    models = {str(section.options["model"]) for section in sections if section.options.get("model")}
    used = {price_key(model, config.prices) for model in models}
    return [
        f"prices.{name} applies to no model of this suite (its models: {listed(models)})"
        f"{did_you_mean(name, models)}; the price of a model only applies under its own name"
        for name in sorted(set(config.prices) - used)
    ]
