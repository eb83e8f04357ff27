"""Read and check `evalgate.yaml`: every unknown key, wrong type or missing file is an error naming file and line.

The sections' options are in `evalgate.config_schema`; the checks across sections (gated metrics computed,
thresholds that can pass and fail, enough resamples) in `evalgate.config_checks`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.config_checks import check_shown, check_suite
from evalgate.config_rules import Rule, read_gate
from evalgate.config_schema import (
    BUDGET_OPTIONS,
    CACHE_OPTIONS,
    CALIBRATION_OPTIONS,
    DEFAULT_METRICS,
    DROP_RULES,  # noqa: F401 - pairing imports it from here (being retyped in i9-contracts)
    HISTORY_OPTIONS,
    REPORT_OPTIONS,
    STATS_OPTIONS,
    TOP_OPTIONS,
    TRANSFORM_OPTION,
)
from evalgate.config_sections import dataset_paths, prices
from evalgate.errors import InputError
from evalgate.files.fileio import real_path
from evalgate.options import Option, check_options, line_of
from evalgate.slices import SliceSpec, parse_slices
from evalgate.yamlio import LineDict, load_yaml


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
    tasks: dict[str, SuiteConfig] = field(default_factory=dict)  # a suite of several tasks: each one's config
    task_name: str | None = None  # in a suite of tasks: this task's name (its progress is labelled with it)
    computed_keys: frozenset[str] = (
        frozenset()
    )  # the metric keys the suite computes (config_checks.check_suite)
    judge_calibration: dict[str, Any] | None = None  # judge.calibration, paths resolved (docs/judge.md)
    task: str | None = None  # what the model is asked to do, shown to the judge (evalgate.judge.task)
    slices: tuple[SliceSpec, ...] = ()  # `slices:` (evalgate.slices)

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

    @property
    def cache_enabled(self) -> bool:
        """Whether answers are read from and stored in the response cache (`evalgate run --no-cache` turns it off)."""
        return bool(self.cache.get("enabled", True))

    def resolve(self, relative: str) -> Path:
        """A path written in the config, relative to the config's folder."""
        return real_path(self.base_dir / relative)


def load_config(path: str | Path, *, task: str | None = None, whole: bool = False) -> SuiteConfig:
    """Read, check and resolve a suite config.

    A config with `tasks:` (evalgate.config_tasks) is several suites in one file: `task` picks one of them; `whole`
    returns the suite with its `tasks` (for the commands that run, gate and record every task); neither is an
    InputError naming the tasks, so a command that works on one suite never runs only part of one silently."""
    path = Path(path)
    if path.is_dir():
        path = path / "evalgate.yaml"
    data = load_yaml(path, what="config file")
    if data is None:
        raise InputError(
            "the config is empty; expected a mapping with at least suite, datasets and provider",
            file=str(path),
        )
    if isinstance(data, dict) and "tasks" in data:
        from evalgate.config_tasks import tasks_config

        return tasks_config(data, path, task=task, whole=whole)
    if task is not None:
        raise InputError(f"--task {task}: this config has no tasks", file=str(path))
    config = suite_config(data, path)
    check_shown(config, config.computed_keys)
    return config


def suite_config(data: Any, path: Path) -> SuiteConfig:
    """The config of one suite (or one task) from its YAML mapping."""
    file = str(path)
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
        datasets=dataset_paths(data, top, file, base_dir),
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
        prices=prices(top, file),
        report=section["report"],
        history=section["history"],
        quarantine=[str(item) for item in (top["quarantine"] or [])],
        raw=data,
        judge_calibration=calibration,
        task=top["task"],
        slices=parse_slices(top["slices"], file=file, line_of=lambda i: line_of(top["slices"], i)),
    )
    config.computed_keys = check_suite(config)
    return config


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
    return read_gate(gate, gate_file)
