"""The checks of a suite config across its sections, once each section is read: every gated metric is computed,
its thresholds can both pass and fail, and the bootstrap has enough resamples for a drop rule ever to fail."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from evalgate import slices
from evalgate.config_schema import DROP_RULES
from evalgate.errors import InputError
from evalgate.names import check_listed_names, did_you_mean, listed
from evalgate.options import line_of

if TYPE_CHECKING:
    from evalgate.config import Rule, SuiteConfig


def check_suite(config: SuiteConfig) -> frozenset[str]:
    """Build the metrics once, so a bad name or option fails now; check every gated metric is computed, that
    its thresholds can be met and breached, and that the resamples can resolve the gate's p-values. Returns the
    metric keys the suite computes."""
    from evalgate.metrics import build_metrics, resolve_name

    built = build_metrics(config)
    if config.judge is None:
        for metric in built:
            if getattr(metric, "needs_judge", False):
                entry = next((m for m in config.metrics if resolve_name(m.name)[0] == metric.family), None)
                raise InputError(
                    f"metric {metric.family!r} is scored by a judge model, but the config has no judge section "
                    "(for example judge: {type: anthropic, model: claude-haiku-4-5})",
                    file=config.path,
                    line=entry.line if entry else None,
                )
    slices.check_rule_keys(config.rules, config.slices)
    keys = {key.name: key for metric in built for key in metric.keys()}
    for rule in config.rules:
        key = keys.get(rule.metric)
        if key is None:
            raise _not_computed(config, rule, set(keys))
        _check_bounds(rule, key.unit, key.higher_is_better)
    bootstrapped = {
        name for name, key in keys.items() if key.kind != "binary" or config.repeats > 1
    }  # binary keys get an exact test (McNemar) unless repeats make per-case means
    _check_resamples(config, bootstrapped)
    return frozenset(keys)


def check_shown(config: SuiteConfig, computed: frozenset[str]) -> None:
    """`report.show` names metric keys the suite computes (a typo would silently hide a metric); in a suite of
    tasks, keys of any of its tasks (`report` is set once for them all)."""
    chosen = config.report.get("show")
    if not chosen:
        return
    section = config.raw.get("report")
    listing = section.get("show") if isinstance(section, dict) else None
    check_listed_names(
        chosen,
        computed,
        option="report.show",
        noun="metric key",
        plural="metric keys",
        file=str(config.path),
        line_of=lambda index: line_of(listing, index) if listing is not None else None,
    )


def _not_computed(config: SuiteConfig, rule: Rule, computed: set[str]) -> InputError:
    """Why the gate names a metric the suite does not compute, and what to do."""
    from evalgate.metrics.registry import config_names

    names = config_names()
    file, line = rule.file, rule.line_of("metric")
    if rule.metric in names:
        family = names[rule.metric][0]
        family_keys = sorted(name for name, (fam, key) in names.items() if fam == family and key == name)
        if rule.metric not in family_keys and family_keys:
            return InputError(
                f"{rule.where}: {rule.metric!r} is a family of metrics, not one number to gate; gate one of "
                f"its keys ({', '.join(family_keys)}), computed when the family or the key is under metrics:",
                file=file,
                line=line,
            )
        where = line_of(config.raw, "metrics") if "metrics" in config.raw else None
        listing = (
            f"the metrics: list at {config.path}:{where}"
            if where
            else f"a metrics: list in {config.path} (without one a suite computes only accuracy)"
        )
        return InputError(
            f"{rule.where}: this suite does not compute {rule.metric}; add {rule.metric} to {listing}",
            file=file,
            line=line,
        )
    return InputError(
        f"{rule.where}: {rule.metric!r} is not a metric of this suite{did_you_mean(rule.metric, computed)}; "
        f"it computes: {listed(computed)}",
        file=file,
        line=line,
    )


def _check_bounds(rule: Rule, unit: str, higher_is_better: bool) -> None:
    """A rate (a share of cases, from 0 to 1: the key's declared facts) has thresholds from 0 to 1: `min: 90`
    or `max_drop: 2` (percent written for a fraction) could never be met, or never be breached."""
    if unit != "rate":
        return
    hint = "; write {fraction:g} for {value:g}%"
    for bound in ("min", "max"):
        value = getattr(rule, bound)
        if value is not None and not 0 <= value <= 1:
            fix = hint.format(fraction=value / 100, value=value) if 1 < value <= 100 else ""
            raise InputError(
                f"{rule.where}.{bound} is {value:g}, but {rule.metric} is a rate from 0 to 1 (a share of cases), "
                f"so this rule {'could never pass' if (bound == 'min') == (value > 1) else 'could never fail'}"
                f"{fix}",
                file=rule.file,
                line=rule.line_of(bound),
            )
    if rule.max_drop is not None and rule.max_drop >= 1:
        fix = hint.format(fraction=rule.max_drop / 100, value=rule.max_drop).replace("%", " points")
        raise InputError(
            f"{rule.where}.max_drop is {rule.max_drop:g}, but {rule.metric} is a rate from 0 to 1, so no change "
            f"can exceed it and this rule could never fail{fix if rule.max_drop <= 100 else ''}",
            file=rule.file,
            line=rule.line_of("max_drop"),
        )
    if higher_is_better and rule.max_drop_pct is not None and rule.max_drop_pct >= 100:
        raise InputError(
            f"{rule.where}.max_drop_pct is {rule.max_drop_pct:g}, but {rule.metric} is a rate from 0 to 1: it "
            "cannot drop by 100% of its baseline or more, so this rule could never fail",
            file=rule.file,
            line=rule.line_of("max_drop_pct"),
        )


def _drop_tests(rules: list[Rule]) -> int:
    return sum(getattr(rule, key) is not None for rule in rules for key in DROP_RULES)


def _check_resamples(config: SuiteConfig, bootstrapped: set[str]) -> None:
    """In significance mode a bootstrap p-value is at least 1/(resamples + 1), and Holm's correction makes the
    smallest of a family's m drop tests beat alpha/m: with fewer resamples than m/alpha no bootstrapped
    metric could ever fail its drop rule. A family is the overall rules, or the category and slice rules."""
    settings = config.stats
    if settings["mode"] != "significance":
        return
    grouped = [r for r in config.rules if r.category is not None or r.slice is not None]
    families = ([r for r in config.rules if r not in grouped], grouped)
    tests = max(
        (
            _drop_tests(family)
            for family in families
            if any(_drop_tests([r]) for r in family if r.metric in bootstrapped)
        ),
        default=0,
    )
    resamples, alpha = settings["resamples"], settings["alpha"]
    need = math.floor(tests / alpha + 1e-9) if tests else 0
    if resamples >= need:
        return
    raise InputError(
        f"stats.resamples is {resamples:,}: too few for the gate ever to fail a bootstrapped metric: its p-values "
        f"are at least 1/{resamples + 1:,} = {1 / (resamples + 1):.3g}, and with {tests} drop rules in one "
        f"Holm family the smallest must be below alpha/{tests} = {alpha / tests:.3g}; use at least {need:,} "
        "(the default is 10,000)",
        file=config.path,
        line=line_of(config.raw.get("stats") or config.raw, "resamples"),
    )
