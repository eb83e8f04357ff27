"""Read and check `evalgate.yaml`: every unknown key, wrong type or missing file is an error naming file and line."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.files.fileio import real_path
from evalgate.files.limits import MAX_CONCURRENCY, MAX_REPEATS, MAX_RESAMPLES, MIN_RESAMPLES
from evalgate.names import did_you_mean, listed
from evalgate.options import (
    Option,
    between_0_and_1,
    check_options,
    in_range,
    line_of,
    non_negative,
    one_of,
    positive,
    seconds,
    up_to,
)
from evalgate.yamlio import LineDict, load_yaml

RULE_KEYS = ("min", "max", "max_drop", "max_drop_pct")
DROP_RULES = ("max_drop", "max_drop_pct")  # the rules judged against the baseline
MAX_ALPHA = 0.5  # a one-sided level above one half would call "no evidence of a drop" significant

RULE_OPTIONS = {
    "min": Option((float,), help="the lowest value allowed"),
    "max": Option((float,), help="the highest value allowed"),
    "max_drop": Option(
        (float,), check=non_negative, help="the largest change for the worse against the baseline"
    ),
    "max_drop_pct": Option(
        (float,), check=non_negative, help="the largest change for the worse, in percent of the baseline"
    ),
}

STATS_OPTIONS = {
    "mode": Option(
        (str,),
        default="significance",
        check=one_of("significance", "threshold"),
        help="significance: fail only on a significant drop beyond max_drop; threshold: plain comparison",
    ),
    "alpha": Option(
        (float,), default=0.05, check=in_range(0, MAX_ALPHA, low_open=True), help="the one-sided level"
    ),
    "confidence": Option((float,), default=0.95, check=between_0_and_1),
    "resamples": Option(
        (int,), default=10000, check=in_range(MIN_RESAMPLES, MAX_RESAMPLES), help="bootstrap resamples"
    ),
    "signature_mismatch": Option(
        (str,),
        default="warn",
        check=one_of("warn", "fail"),
        help="what to do when the baseline's signature differs",
    ),
    "power": Option((float,), default=0.8, check=between_0_and_1),
}

DEFAULT_CACHE_DIR = ".evalgate/cache"  # relative to the config file
CACHE_OPTIONS = {
    "enabled": Option((bool,), default=True),
    "dir": Option((str,), default=DEFAULT_CACHE_DIR, help="a folder, relative to the config file"),
}

BUDGET_OPTIONS = {
    "max_cost": Option((float,), check=positive, help="stop the run when the cost so far exceeds this (USD)"),
    "max_tokens": Option((int,), check=positive, help="stop the run when tokens in + out exceed this"),
}

REPORT_OPTIONS = {
    "max_examples": Option((int,), default=10, check=non_negative, help="regressed or failing cases shown"),
    "max_chars": Option((int,), default=400, check=positive, help="characters shown of each input/output"),
    "templates": Option((str,), help="a folder of Jinja2 templates overriding the built-in ones"),
}

HISTORY_OPTIONS = {
    "path": Option(
        (str,), default=".evalgate/history.sqlite", help="the SQLite store, relative to the config"
    ),
    "branch": Option((str,), default="main", help="runs on this branch are appended to history"),
}

CALIBRATION_OPTIONS = {
    "gold": Option((str,), required=True, help="the gold labels (JSONL), relative to the config"),
    "min_agreement": Option(
        (float,),
        default=0.6,
        check=between_0_and_1,
        help="the judge's lowest quadratic-weighted kappa with people for its metrics to gate",
    ),
    "min_items": Option(
        (int,), default=30, check=positive, help="the fewest labelled items a trusted calibration has"
    ),
    "file": Option(
        (str,), help="the calibration result (default: next to the gold file, <name>.calibration.json)"
    ),
    "canary": Option((str,), help="fixed answers re-judged on each run on main, to catch judge drift"),
    "max_canary_changed": Option(
        (float,),
        default=0.2,
        check=between_0_and_1,
        help="the share of canary verdicts that may differ from the calibration's before history alarms",
    ),
}

TOP_OPTIONS: dict[str, Option] = {
    "suite": Option((str,), required=True, help="the suite's name"),
    "description": Option((str,), default=""),
    "datasets": Option((list, str), required=True, help="JSONL files or folders, relative to this file"),
    "provider": Option((dict,), help="the model under test"),
    "providers": Option((dict,), help="several named providers compared side by side"),
    "concurrency": Option((int,), default=8, check=up_to(MAX_CONCURRENCY), help="cases run at once"),
    "timeout": Option((float,), default=60.0, check=seconds, help="seconds per case"),
    "repeats": Option(
        (int,), default=1, check=up_to(MAX_REPEATS), help="runs of each case (non-deterministic models)"
    ),
    "seed": Option((int,), default=0),
    "metrics": Option((list,), default=None, help="metric names, or mappings of a name to its options"),
    "gate": Option((dict, str), help="thresholds per metric, or a thresholds file"),
    "thresholds": Option((str,), help="a YAML file of thresholds (the same form as gate)"),
    "stats": Option((dict,), help="the gate's statistics"),
    "judge": Option((dict,), help="the model that scores answers (LLM-as-judge)"),
    "task": Option((str,), help="what the model is asked to do, in words: shown to the judge"),
    "cache": Option((dict,)),
    "budget": Option((dict,)),
    "prices": Option((dict,), help="USD per million tokens by model: {model: {input: .., output: ..}}"),
    "report": Option((dict,)),
    "history": Option((dict,)),
    "quarantine": Option((list,), help="case ids excluded from the gate (known flaky)"),
}

DEFAULT_METRICS = ["accuracy"]
TRANSFORM_OPTION = Option(
    (str,), help="a Jinja2 expression of `output`, or module:function, applied to each answer before scoring"
)


@dataclass
class ProviderConfig:
    """A provider section: its type, name, checked options and where it was written."""

    type: str
    name: str
    options: dict[str, Any]
    file: str
    line: int | None = None
    transform: str | None = None  # applied to each answer before scoring (evalgate.transforms)


@dataclass
class MetricConfig:
    name: str
    options: dict[str, Any]
    file: str
    line: int | None = None


@dataclass
class Rule:
    """A threshold on one metric, overall (category None) or in one category."""

    metric: str
    category: str | None
    min: float | None = None
    max: float | None = None
    max_drop: float | None = None
    max_drop_pct: float | None = None
    file: str = ""
    line: int | None = None
    lines: dict[str, int | None] = field(default_factory=dict)  # where each name and bound is written

    def bounds(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in RULE_KEYS if getattr(self, key) is not None}

    @property
    def where(self) -> str:
        """The rule's place in the config: gate.accuracy or gate.categories.edge.accuracy."""
        return (
            f"gate.{self.metric}"
            if self.category is None
            else f"gate.categories.{self.category}.{self.metric}"
        )

    def line_of(self, key: str) -> int | None:
        """The line of a name (metric, category) or a bound (min, max_drop...), else the rule's line."""
        return self.lines.get(key) or self.line


@dataclass
class SuiteConfig:
    path: Path
    base_dir: Path
    suite: str
    description: str
    datasets: list[Path]
    providers: list[ProviderConfig]
    concurrency: int
    timeout: float
    repeats: int
    seed: int
    metrics: list[MetricConfig]
    rules: list[Rule]
    stats: dict[str, Any]
    judge: ProviderConfig | None
    cache: dict[str, Any]
    budget: dict[str, Any]
    prices: dict[str, Any]
    report: dict[str, Any]
    history: dict[str, Any]
    quarantine: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    judge_calibration: dict[str, Any] | None = None  # judge.calibration, paths resolved (docs/judge.md)
    task: str | None = None  # what the model is asked to do, shown to the judge (evalgate.judge.task)

    @property
    def provider(self) -> ProviderConfig:
        return self.providers[0]

    def provider_named(self, name: str) -> ProviderConfig:
        """The provider of this name under `providers:` (or the single `provider:`, named "default")."""
        for provider in self.providers:
            if provider.name == name:
                return provider
        known = ", ".join(provider.name for provider in self.providers)
        raise InputError(f"no provider named {name!r} in the config; known: {known}", file=self.path)

    def resolve(self, relative: str) -> Path:
        """A path written in the config, relative to the config's folder."""
        return real_path(self.base_dir / relative)


def load_config(path: str | Path) -> SuiteConfig:
    """Read, check and resolve a suite config."""
    path = Path(path)
    if path.is_dir():
        path = path / "evalgate.yaml"
    file = str(path)
    data = load_yaml(path, what="config file")
    if data is None:
        raise InputError(
            "the config is empty; expected a mapping with at least suite, datasets and provider", file=file
        )
    top = check_options(data, TOP_OPTIONS, file=file, context="the config")
    base_dir = real_path(path).parent

    providers = _providers(data, top, file)
    metrics = _metrics(data, top, file)
    rules = _rules(data, top, file, base_dir)
    section = {
        name: check_options(
            data.get(name) or LineDict(), spec, file=file, context=name, line=line_of(data, name)
        )
        for name, spec in (
            ("stats", STATS_OPTIONS),
            ("cache", CACHE_OPTIONS),
            ("budget", BUDGET_OPTIONS),
            ("report", REPORT_OPTIONS),
            ("history", HISTORY_OPTIONS),
        )
    }
    judge, calibration = _judge(top["judge"], file, base_dir)
    config = SuiteConfig(
        path=path,
        base_dir=base_dir,
        suite=top["suite"],
        description=top["description"],
        datasets=_datasets(data, top, file, base_dir),
        providers=providers,
        concurrency=top["concurrency"],
        timeout=top["timeout"],
        repeats=top["repeats"],
        seed=top["seed"],
        metrics=metrics,
        rules=rules,
        stats=section["stats"],
        judge=judge,
        cache=section["cache"],
        budget=section["budget"],
        prices=_prices(top, file),
        report=section["report"],
        history=section["history"],
        quarantine=[str(item) for item in (top["quarantine"] or [])],
        raw=data,
        judge_calibration=calibration,
        task=top["task"],
    )
    _check_metric_names(config)
    return config


def _datasets(data: LineDict, top: dict[str, Any], file: str, base_dir: Path) -> list[Path]:
    entries = top["datasets"]
    if isinstance(entries, str):
        entries = [entries]
    if not entries:
        raise InputError(
            "datasets is empty; expected at least one JSONL file or folder",
            file=file,
            line=data.line_of("datasets"),
        )
    paths = []
    for index, entry in enumerate(entries):
        line = (
            line_of(top["datasets"], index)
            if not isinstance(top["datasets"], str)
            else data.line_of("datasets")
        )
        if not isinstance(entry, str):
            raise InputError(
                f"datasets[{index}] must be a path (a string), got {entry!r}", file=file, line=line
            )
        resolved = real_path(base_dir / entry)
        if not resolved.exists():
            problem = "is a symbolic link loop" if resolved.is_symlink() else "not found"
            raise InputError(f"dataset {entry!r} {problem} (looked for {resolved})", file=file, line=line)
        paths.append(resolved)
    return paths


def _provider_config(mapping: Any, name: str, file: str, *, context: str) -> ProviderConfig:
    from evalgate.providers import PROVIDER_CLASSES, provider_class

    if not isinstance(mapping, dict):
        raise InputError(
            f"{context} must be a mapping with a type", file=file, line=getattr(mapping, "line", None)
        )
    type_name = mapping.get("type")
    if type_name is None:
        raise InputError(
            f"{context} needs a type: one of {', '.join(PROVIDER_CLASSES)}",
            file=file,
            line=getattr(mapping, "line", None),
        )
    if type_name not in PROVIDER_CLASSES:
        raise InputError(
            f"{context}.type {type_name!r} is not a provider type; expected one of {', '.join(PROVIDER_CLASSES)}",
            file=file,
            line=line_of(mapping, "type"),
        )
    cls = provider_class(type_name)
    spec = {"type": Option((str,), required=True), **cls.OPTIONS}
    if context != "judge":  # the model under test's answers only
        spec["transform"] = TRANSFORM_OPTION
    options = check_options(mapping, spec, file=file, context=context)
    options.pop("type")
    transform = options.pop("transform", None)
    if transform is not None:  # an expression's syntax is checked now (Jinja2 loaded only for a transform)
        from evalgate.transforms import compile_expression, is_function

        if not is_function(transform):
            compile_expression(transform, file=file, line=line_of(mapping, "transform"))
    return ProviderConfig(
        type=type_name,
        name=name,
        options=options,
        file=file,
        line=getattr(mapping, "line", None),
        transform=transform,
    )


def _judge(section: Any, file: str, base_dir: Path) -> tuple[ProviderConfig | None, dict[str, Any] | None]:
    """The judge's provider section, and its `calibration` subsection (checked, paths resolved) if any."""
    if section is None:
        return None, None
    if not isinstance(section, dict) or "calibration" not in section:
        return _provider_config(section, "judge", file, context="judge"), None
    provider = LineDict({key: value for key, value in section.items() if key != "calibration"})
    provider.line, provider.key_lines = getattr(section, "line", 0), getattr(section, "key_lines", {})
    line = line_of(section, "calibration")
    options = check_options(
        section["calibration"], CALIBRATION_OPTIONS, file=file, context="judge.calibration", line=line
    )
    for key in ("gold", "canary"):
        if options[key] is not None:
            resolved = (base_dir / options[key]).resolve()
            if not resolved.is_file():
                raise InputError(
                    f"judge.calibration.{key} {options[key]!r} not found (looked for {resolved})",
                    file=file,
                    line=line_of(section["calibration"], key),
                )
            options[key] = resolved
    gold = options["gold"]
    options["file"] = (
        (base_dir / options["file"]).resolve()
        if options["file"]
        else gold.with_name(gold.name.removesuffix(".jsonl") + ".calibration.json")
    )
    return _provider_config(provider, "judge", file, context="judge"), options


def _providers(data: LineDict, top: dict[str, Any], file: str) -> list[ProviderConfig]:
    if top["provider"] is not None and top["providers"] is not None:
        raise InputError(
            "use either provider or providers, not both", file=file, line=data.line_of("providers")
        )
    if top["provider"] is not None:
        return [_provider_config(top["provider"], "default", file, context="provider")]
    if top["providers"]:
        return [
            _provider_config(mapping, str(name), file, context=f"providers.{name}")
            for name, mapping in top["providers"].items()
        ]
    raise InputError("the config needs a provider (the model under test)", file=file, line=data.line)


def _metrics(data: LineDict, top: dict[str, Any], file: str) -> list[MetricConfig]:
    entries = top["metrics"] if top["metrics"] is not None else DEFAULT_METRICS
    result = []
    for index, entry in enumerate(entries):
        line = line_of(entries, index) if top["metrics"] is not None else None
        if isinstance(entry, str):
            result.append(MetricConfig(entry, {}, file, line))
        elif isinstance(entry, dict) and len(entry) == 1:
            ((name, options),) = entry.items()
            if options is None:
                options = {}
            if not isinstance(options, dict):
                raise InputError(
                    f"the options of metric {name!r} must be a mapping, got {options!r}", file=file, line=line
                )
            result.append(MetricConfig(str(name), options, file, line))
        else:
            raise InputError(
                f"metrics[{index}] must be a metric name or a mapping of one name to its options, got {entry!r}",
                file=file,
                line=line,
            )
    return result


def _rules(data: LineDict, top: dict[str, Any], file: str, base_dir: Path) -> list[Rule]:
    gate = top["gate"]
    if top["thresholds"] is not None:
        if gate is not None:
            raise InputError(
                "use either gate or thresholds, not both", file=file, line=data.line_of("thresholds")
            )
        gate = top["thresholds"]
    gate_file = file
    if isinstance(gate, str):  # a thresholds file
        gate_file = str(real_path(base_dir / gate))
        gate = load_yaml(gate_file, what="thresholds file") or LineDict()
    if gate is None:
        return []
    if not isinstance(gate, dict):
        raise InputError(
            "the thresholds must be a mapping of metric names to rules",
            file=gate_file,
            line=getattr(gate, "line", None),
        )
    rules = []
    for metric, rule in gate.items():
        if metric == "categories":
            if not isinstance(rule, dict):
                raise InputError(
                    "gate.categories must map category names to thresholds",
                    file=gate_file,
                    line=line_of(gate, metric),
                )
            for category, per_metric in rule.items():
                if not isinstance(per_metric, dict):
                    raise InputError(
                        f"gate.categories.{category} must map metric names to rules",
                        file=gate_file,
                        line=line_of(rule, category),
                    )
                for name, body in per_metric.items():
                    line = line_of(per_metric, name)
                    found = _rule(str(name), str(category), body, gate_file, line)
                    found.lines["category"] = line_of(rule, category)
                    rules.append(found)
            continue
        rules.append(_rule(str(metric), None, rule, gate_file, line_of(gate, metric)))
    return rules


def _rule(metric: str, category: str | None, body: Any, file: str, line: int | None) -> Rule:
    found = Rule(metric=metric, category=category, file=file, line=line)
    values = check_options(body, RULE_OPTIONS, file=file, context=found.where, line=line)
    if not any(values[key] is not None for key in RULE_KEYS):
        raise InputError(
            f"{found.where} sets no threshold; expected one of {', '.join(RULE_KEYS)}", file=file, line=line
        )
    if values["min"] is not None and values["max"] is not None and values["min"] > values["max"]:
        raise InputError(f"{found.where}: min is above max", file=file, line=line)
    for key, value in values.items():
        setattr(found, key, value)
    found.lines = {"metric": line, **{key: line_of(body, key) for key in body if key in RULE_KEYS}}
    return found


def _prices(top: dict[str, Any], file: str) -> dict[str, Any]:
    prices = top["prices"] or {}
    spec = {
        "input": Option((float,), required=True, check=non_negative, help="USD per million input tokens"),
        "output": Option((float,), required=True, check=non_negative, help="USD per million output tokens"),
    }
    return {
        str(model): check_options(
            body, spec, file=file, context=f"prices.{model}", line=line_of(prices, model)
        )
        for model, body in prices.items()
    }


def _check_metric_names(config: SuiteConfig) -> None:
    """Build the metrics once, so a bad name or option fails now; check every gated metric is computed, that
    its thresholds can be met and breached, and that the resamples can resolve the gate's p-values."""
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


def _not_computed(config: SuiteConfig, rule: Rule, computed: set[str]) -> InputError:
    """Why the gate names a metric the suite does not compute, and what to do."""
    from evalgate.metrics.registry import config_names

    names = config_names()
    located = dict(file=rule.file, line=rule.line_of("metric"))
    if rule.metric in names:
        family = names[rule.metric][0]
        family_keys = sorted(name for name, (fam, key) in names.items() if fam == family and key == name)
        if rule.metric not in family_keys and family_keys:
            return InputError(
                f"{rule.where}: {rule.metric!r} is a family of metrics, not one number to gate; gate one of "
                f"its keys ({', '.join(family_keys)}), computed when the family or the key is under metrics:",
                **located,
            )
        where = line_of(config.raw, "metrics") if "metrics" in config.raw else None
        listing = (
            f"the metrics: list at {config.path}:{where}"
            if where
            else f"a metrics: list in {config.path} (without one a suite computes only accuracy)"
        )
        return InputError(
            f"{rule.where}: this suite does not compute {rule.metric}; add {rule.metric} to {listing}",
            **located,
        )
    return InputError(
        f"{rule.where}: {rule.metric!r} is not a metric of this suite{did_you_mean(rule.metric, computed)}; "
        f"it computes: {listed(computed)}",
        **located,
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
    metric could ever fail its drop rule. A family is the overall rules, or the category rules."""
    settings = config.stats
    if settings["mode"] != "significance":
        return
    families = ([r for r in config.rules if r.category is None], [r for r in config.rules if r.category])
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
