"""Whether the gate may trust the judge: its fingerprint, and its calibration against people.

A suite with a `judge.calibration` section (docs/judge.md) gates its judge-based metrics only while the judge is
trusted: a calibration file exists for the judge as it is now (same model, parameters, prompt and rubric, by
fingerprint), on enough labelled items, with few judge failures, with an agreement (quadratic-weighted kappa)
of at least `min_agreement` on each criterion, and with the judge's verdicts on the canary answers still
close to those it gave at calibration. Otherwise the metrics are reported, and their rules only warn, with the
reason in the verdict (`advisory`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.config import SuiteConfig
from evalgate.errors import InputError
from evalgate.files.fileio import read_text
from evalgate.gate import DEFAULT_MAX_ERROR_RATE

if TYPE_CHECKING:
    from evalgate.contracts.results import Results

CALIBRATION_SCHEMA_VERSION = 1
# provider options that change how a call is made, not what the judge answers
OPERATIONAL_OPTIONS = ("timeout", "max_attempts", "base_url")
KIND_METRIC = {"rubric": "judge", "factual": "factual_consistency"}  # gold kind -> metric family


def judge_metrics(config: SuiteConfig, built: list | None = None) -> dict[str, Any]:
    """The suite's judge-based metric objects by gold kind ("rubric", "factual")."""
    if built is None:
        from evalgate.metrics import build_metrics

        built = build_metrics(config)
    families = {metric.family: metric for metric in built}
    return {kind: families[family] for kind, family in KIND_METRIC.items() if family in families}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def judge_identity(config: SuiteConfig) -> dict[str, Any]:
    """The judge provider as it decides answers: its type and every option but the operational ones."""
    if config.judge is None:
        return {}
    options = {k: v for k, v in config.judge.options.items() if k not in OPERATIONAL_OPTIONS}
    return {"type": config.judge.type, "options": options}


def fingerprint(config: SuiteConfig, kind: str, metric: Any = None, *, margin: float | None = None) -> str:
    """The fingerprint of the judge for one kind of question: the judge model and parameters, the prompt
    template, the task it is shown (the config's `task:`, evalgate.judge.task) and the rubric (criteria, scale)
    or the pairwise tie margin."""
    if kind == "rubric":
        question = {
            "criteria": [[c.name, c.description] for c in metric.criteria],
            "scale": [metric.scale_min, metric.scale_max],
            "template": metric.template,
            "reference": metric.reference,
            **_shown_task(config, metric),
        }
    elif kind == "factual":
        question = {"template": metric.template, "source": metric.source, **_shown_task(config, metric)}
    else:
        from evalgate.judge.pairwise import PAIRWISE_PROMPT

        question = {"template": PAIRWISE_PROMPT, "margin": margin}
    return _digest({"judge": judge_identity(config), "kind": kind, "question": question})


def _shown_task(config: SuiteConfig, metric: Any) -> dict[str, str | None]:
    """The task description the metric's judge prompts show, for the fingerprint: the agreement measured with
    one task shown says nothing of the judge shown another. Nothing when there is none to show and the metric
    shows it (the default: calibrations made before the task was part of the fingerprint still match); None
    with the metric's `task` option off."""
    if not metric.options.get("task", True):
        return {"task": None}
    return {"task": config.task} if config.task else {}


def metric_fingerprints(config: SuiteConfig, built: list | None = None) -> dict[str, str]:
    """The fingerprints of the suite's judge-based metrics, by gold kind."""
    return {kind: fingerprint(config, kind, metric) for kind, metric in judge_metrics(config, built).items()}


def metric_keys_by_kind(config: SuiteConfig, built: list | None = None) -> dict[str, list[str]]:
    return {
        kind: [key.name for key in metric.keys()] for kind, metric in judge_metrics(config, built).items()
    }


def load_calibration(path: Path) -> dict[str, Any] | None:
    """A calibration file (None when there is none yet); a damaged one is an InputError."""
    if not path.is_file():
        return None
    text = read_text(path, what="judge calibration file")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg}); expected the file `evalgate judge calibrate` writes",
            file=path,
            line=exc.lineno,
        ) from None
    if not isinstance(document, dict) or document.get("kind") != "judge_calibration":
        raise InputError("not a judge calibration file (written by `evalgate judge calibrate`)", file=path)
    if document.get("schema_version") != CALIBRATION_SCHEMA_VERSION:
        raise InputError(
            f"judge calibration schema_version {document.get('schema_version')!r} is not supported; this "
            f"evalgate reads version {CALIBRATION_SCHEMA_VERSION} (re-run evalgate judge calibrate)",
            file=path,
        )
    return document


def assess(
    config: SuiteConfig,
    *,
    fingerprints: dict[str, str] | None = None,
    canary: dict[str, Any] | None = None,
    built: list | None = None,
    document: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Whether each judge-based metric may gate (None when the suite has no judge.calibration section).

    `fingerprints` are those of the judge that scored the run (by default, the config's judge); `canary` is the
    run's canary check (evalgate.judge.canary); `document` a calibration not yet written (else the file's). Returns {"status", "file", "created_at", "min_agreement",
    "min_items", "fingerprints", "metrics": {key: {"trusted", "reason", "agreement", ...}}, "reasons", "canary"}.
    """
    settings = config.judge_calibration
    if settings is None:
        return None
    keys = metric_keys_by_kind(config, built)
    current = fingerprints if fingerprints is not None else metric_fingerprints(config, built)
    path = Path(settings["file"])
    document = document if document is not None else load_calibration(path)
    metrics: dict[str, dict[str, Any]] = {}
    for kind, names in keys.items():
        verdicts = _kind_trust(kind, names, document, current.get(kind), settings, config)
        metrics.update(verdicts)
    if canary and canary.get("alarm"):
        for verdict in metrics.values():
            if verdict["trusted"]:
                verdict["trusted"], verdict["reason"] = False, canary["message"]
    reasons = list(dict.fromkeys(v["reason"] for v in metrics.values() if v["reason"]))
    if document is None:
        status = "uncalibrated"
    else:
        status = "trusted" if all(v["trusted"] for v in metrics.values()) else "untrusted"
    return {
        "status": status,
        "file": _shown(path, config.base_dir),
        "created_at": (document or {}).get("created_at"),
        "min_agreement": settings["min_agreement"],
        "min_items": settings["min_items"],
        "fingerprints": current,
        "metrics": metrics,
        "reasons": reasons,
        "canary": canary,
    }


def advisory(assessment: dict[str, Any] | None) -> dict[str, str]:
    """The metrics whose gate rules only warn, with the reason (what gate.decide takes)."""
    if not assessment:
        return {}
    return {key: v["reason"] for key, v in assessment["metrics"].items() if not v["trusted"]}


def _kind_trust(
    kind: str,
    names: list[str],
    document: dict[str, Any] | None,
    current: str | None,
    settings: dict[str, Any],
    config: SuiteConfig,
) -> dict[str, dict[str, Any]]:
    """The trust verdict of each key of one judge metric."""
    section = (document or {}).get(kind)
    problem = None
    if document is None:
        problem = (
            f"the judge has no calibration yet ({_shown(Path(settings['file']), config.base_dir)} is missing): "
            f"run `evalgate judge calibrate --config {config.path.name}`"
        )
    elif section is None:
        problem = f"the gold file has no {kind} items, so the judge's {KIND_METRIC[kind]} is not calibrated"
    elif section.get("fingerprint") != current:
        problem = (
            f"the judge's model, prompt or rubric changed since the calibration of {document.get('created_at')}"
            " (its fingerprint differs): re-run `evalgate judge calibrate`"
        )
    elif section.get("judged", 0) < settings["min_items"]:
        problem = (
            f"the calibration has {section.get('judged', 0)} judged {kind} items, fewer than the "
            f"{settings['min_items']} a trusted calibration needs (judge.calibration.min_items)"
        )
    elif section.get("items") and section.get("judge_errors", 0) / section["items"] > DEFAULT_MAX_ERROR_RATE:
        problem = (
            f"the judge failed on {section['judge_errors']} of {section['items']} {kind} gold items, more "
            f"than {DEFAULT_MAX_ERROR_RATE:.0%}"
        )
    if problem is not None or section is None:  # section is None only with a problem
        return {name: {"trusted": False, "reason": problem, "agreement": None} for name in names}
    minimum = settings["min_agreement"]
    criteria = section["criteria"]
    verdicts = {}
    for name in names:
        parts = _criteria_of(kind, name, criteria)
        if parts is None:
            continue
        low = [part for part in parts if not _agrees(criteria.get(part), minimum)]
        # a mean of criteria is as trustworthy as its weakest criterion
        kappas = [(criteria.get(part) or {}).get("kappa") or {} for part in parts]
        kappa = min(kappas, key=lambda k: -2.0 if k.get("value") is None else k["value"], default=None)
        reason = None
        if low:
            shown = ", ".join(f"{part} {_kappa_text(criteria.get(part))}" for part in low)
            reason = f"the judge agrees too little with people ({shown}; minimum kappa {minimum:g})"
        verdicts[name] = {
            "trusted": not low,
            "reason": reason,
            "agreement": kappa.get("value") if kappa else None,
            "ci_low": kappa.get("ci_low") if kappa else None,
            "ci_high": kappa.get("ci_high") if kappa else None,
            "items": section.get("judged"),
        }
    return verdicts


def _criteria_of(kind: str, key: str, criteria: dict[str, Any]) -> list[str] | None:
    """The calibrated criteria a metric key depends on (a mean score depends on all of them)."""
    if kind == "factual":
        return ["hallucinated"]
    if key.startswith("judge_score"):
        return list(criteria)
    return [key.removeprefix("judge_")]


def _agrees(entry: dict[str, Any] | None, minimum: float) -> bool:
    value = ((entry or {}).get("kappa") or {}).get("value")
    return value is not None and value >= minimum


def _kappa_text(entry: dict[str, Any] | None) -> str:
    if not entry or not entry.get("pairs"):
        return "not labelled"
    value = (entry.get("kappa") or {}).get("value")
    return "kappa undefined (every label the same)" if value is None else f"kappa {value:.2f}"


def _shown(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def gate_assessment(current: Results, config: SuiteConfig) -> dict[str, Any] | None:
    """The judge's trust for the gate: assessed with the config's calibration settings, for the judge that
    scored the run (the fingerprints stored with the results) and the run's canary check."""
    stored = current.judge_calibration or {}
    return assess(config, fingerprints=stored.get("fingerprints"), canary=current.judge_canary)
