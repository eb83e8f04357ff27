"""Helpers for the metrics tests: case records and metric configs read from a real evalgate.yaml."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from evalgate.config import _metrics
from evalgate.config_schema import TOP_OPTIONS
from evalgate.metrics import build_metrics
from evalgate.metrics.base import Metric
from evalgate.options import check_options
from evalgate.yamlio import load_yaml


def record(output: Any, expected: Any = None, **fields: Any) -> dict[str, Any]:
    """A results.json case record."""
    base = {
        "id": fields.pop("id", "c"),
        "category": "default",
        "input": "",
        "expected": expected,
        "output": output,
        "error": None,
        "latency_ms": 10.0,
        "tokens_in": None,
        "tokens_out": None,
        "cost": None,
        "scores": {},
    }
    base.update(fields)
    return base


def suite(tmp_path: Path, metrics_yaml: str) -> SimpleNamespace:
    """A config with `config.metrics` read from YAML by the config module (lines kept) and `base_dir`.

    Only the metrics section is loaded: build_metrics needs nothing else.
    """
    path = tmp_path / "evalgate.yaml"
    path.write_text(metrics_yaml)
    data = load_yaml(path)
    top = check_options(data, {"metrics": TOP_OPTIONS["metrics"]}, file=str(path), context="the config")
    return SimpleNamespace(metrics=_metrics(data, top, str(path)), base_dir=tmp_path, path=path)


def build(tmp_path: Path, metrics_yaml: str) -> list[Metric]:
    return build_metrics(suite(tmp_path, metrics_yaml))


def only(metrics: list[Metric], family: str) -> Metric:
    (metric,) = [m for m in metrics if m.family == family]
    return metric
