"""The quality ratchet: propose tighter `min`/`max` thresholds from the recent history of the main branch.

For a `min` rule the proposal is a conservative floor of recent performance: mean - z * spread over the last N
comparable runs, never above the worst of those runs, rounded down to a step of the margin's order of magnitude;
spread is the runs' sample sd. For binary metrics (rates of n cases) the floor is the rate a run of the same
quality stays above with probability Φ(z) (97.7% at z = 2) under drift.RateModel's predictive distribution, which
never has a zero spread (an error rate that was 0 in every run still gets a ceiling that one stray error does not
breach). `max` rules on lower-is-better metrics (latency, error rate) are the mirror image. Only the bound on the
worse side is ratcheted (a `max` on accuracy is a sanity bound); a proposal never loosens a rule unless asked to;
relative rules (max_drop, max_drop_pct) are left alone. No bound is tightened while a drift alarm is active on
its metric: a window that is drifting is not evidence of what the model does. The history keeps only measured
values (no timing of cached answers), so those never enter a window.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from evalgate.config import Rule
from evalgate.errors import InputError
from evalgate.files.fileio import read_text, write_text_atomic
from evalgate.files.limits import MAX_TEXT_FILE_BYTES
from evalgate.history.drift import alarm_messages, rate_model, reference
from evalgate.history.store import HistoryStore, Point
from evalgate.history.trend import metric_history
from evalgate.yamlio import LineDict, load_yaml

RUNS = 10
MIN_RUNS = 5
Z = 2.0


@dataclass
class Proposal:
    """One bound of one rule: what it is, what the history supports, and what to do."""

    metric: str
    category: str | None
    bound: str  # "min" | "max"
    current: float
    proposed: float | None  # the new value when action is tighten or loosen
    action: str  # tighten | loosen | keep | insufficient
    reason: str
    evidence: dict[str, Any]
    file: str
    text: str | None = None  # the proposed number as written in the file

    @property
    def where(self) -> str:
        scope = (
            f"gate.{self.metric}"
            if self.category is None
            else f"gate.categories.{self.category}.{self.metric}"
        )
        return f"{scope}.{self.bound}"

    @property
    def changes(self) -> bool:
        return self.action in ("tighten", "loosen")


def propose_bound(
    values: Sequence[float],
    ns: Sequence[int | None],
    bound: str,
    current: float,
    *,
    kind: str | None = None,
    z: float = Z,
    allow_loosen: bool = False,
) -> tuple[str, float | None, str | None, dict[str, Any]]:
    """(action, proposed value, proposed text, evidence) for one `min` or `max` bound given recent values."""
    data = np.asarray(values, dtype=float)
    mean, spread = reference(values, ns, kind=kind)
    sd = float(data.std(ddof=1)) if len(data) > 1 else 0.0
    worst = float(data.min() if bound == "min" else data.max())
    model = rate_model(values, ns, kind)
    if model is not None:  # the predictive quantile of a run's rate, whose tail is Φ(-z)
        tail = NormalDist().cdf(-z)
        limit = model.quantile(tail if bound == "min" else 1.0 - tail)
        margin = abs(mean - limit)
    else:
        margin = z * spread
        limit = mean - margin if bound == "min" else mean + margin
    raw = min(limit, worst) if bound == "min" else max(limit, worst)
    step = _step(margin, mean)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    snapped = (math.floor if bound == "min" else math.ceil)(round(raw / step, 9)) * step
    proposed = round(snapped, decimals)
    evidence = {
        "runs": len(data),
        "mean": mean,
        "sd": sd,
        "spread": spread,
        "margin": margin,
        "z": z,
        "worst": worst,
        "method": "predictive quantile" if model is not None else "mean and sd",
    }
    tighter = proposed > current if bound == "min" else proposed < current
    if proposed == current or (not tighter and not allow_loosen):
        return "keep", None, None, evidence
    return ("tighten" if tighter else "loosen"), proposed, f"{proposed:.{decimals}f}", evidence


def suggest(
    store: HistoryStore,
    suite: str,
    rules: Sequence[Rule],
    *,
    runs: int = RUNS,
    min_runs: int = MIN_RUNS,
    z: float = Z,
    allow_loosen: bool = False,
) -> list[Proposal]:
    """A proposal for every `min` and `max` bound of `rules`, from the last `runs` comparable runs. Slice rules
    have none: the history records values overall and per category only, never a slice's (a slice rule read as
    an overall one would be moved by another number)."""
    since, _ = store.comparable_since(suite)
    kinds = store.metric_keys(suite)
    proposals = []
    for rule in rules:
        if getattr(rule, "slice", None) is not None:
            continue
        alarms = _active_alarms(store, suite, rule) if since else []
        for bound in ("min", "max"):
            current = getattr(rule, bound)
            if current is None:
                continue
            points = store.series(suite, rule.metric, rule.category, limit=runs, since=since) if since else []
            action, proposed, text, evidence, reason = _decide(
                rule.metric,
                bound,
                current,
                points,
                kinds.get(rule.metric, {}),
                alarms,
                min_runs=min_runs,
                z=z,
                allow_loosen=allow_loosen,
            )
            proposals.append(
                Proposal(
                    metric=rule.metric,
                    category=rule.category,
                    bound=bound,
                    current=current,
                    proposed=proposed,
                    action=action,
                    reason=reason,
                    evidence=evidence,
                    file=rule.file,
                    text=text,
                )
            )
    return proposals


def _decide(
    metric: str,
    bound: str,
    current: float,
    points: list[Point],
    spec: dict[str, Any],
    alarms: list[str],
    *,
    min_runs: int,
    z: float,
    allow_loosen: bool,
) -> tuple[str, float | None, str | None, dict[str, Any], str]:
    """What to do with one bound: (action, proposed value, its text, the evidence, the reason)."""
    higher_is_better = spec.get("higher_is_better", True)
    if points and (bound == "max") == higher_is_better:
        better = "higher" if higher_is_better else "lower"
        reason = f"{metric} is better {better}: a {bound} on it is a sanity bound, not ratcheted"
        return "keep", None, None, {"runs": len(points)}, reason
    if len(points) < min_runs:
        reason = f"too little history: {len(points)} comparable runs, need at least {min_runs}"
        return "insufficient", None, None, {"runs": len(points)}, reason
    action, proposed, text, evidence = propose_bound(
        [p.value for p in points],
        [p.n for p in points],
        bound,
        current,
        kind=spec.get("kind"),
        z=z,
        allow_loosen=allow_loosen,
    )
    if action == "tighten" and alarms:
        reason = (
            f"not tightened while a drift alarm is active ({'; '.join(alarms)}): a drifting window "
            "is no evidence of what the model does"
        )
        return "keep", None, None, evidence, reason
    return action, proposed, text, evidence, _reason(action, bound, evidence)


def _active_alarms(store: HistoryStore, suite: str, rule: Rule) -> list[str]:
    """The drift alarms active on the rule's metric (and category), as "kind since run X"."""
    if rule.metric not in store.metric_keys(suite):
        return []
    _, report = metric_history(store, suite, rule.metric, category=rule.category)
    return [f"{alarm['kind']} since run {alarm['run']}" for alarm in alarm_messages(report, rule.metric)]


def render(proposals: Sequence[Proposal]) -> str:
    """One line per bound: where, current -> proposed, and the evidence."""
    width = max([len(p.where) for p in proposals] + [10])
    lines = []
    for p in proposals:
        change = f"{_plain(p.current)} -> {p.text}" if p.changes else _plain(p.current)
        lines.append(f"{p.where:<{width}}  {change:<18}  {p.action:<12}  {p.reason}")
    return "\n".join(lines)


def edited_files(proposals: Sequence[Proposal], config_path: str | Path) -> dict[Path, tuple[str, str]]:
    """{file: (old text, new text)} with only the proposed numbers changed, each on its own line."""
    by_file: dict[Path, list[Proposal]] = {}
    for p in proposals:
        if p.changes:
            by_file.setdefault(Path(p.file).resolve(), []).append(p)
    result = {}
    for path, items in by_file.items():
        old = read_text(path, what="thresholds file", max_bytes=MAX_TEXT_FILE_BYTES)
        data = load_yaml(path, what="thresholds file")
        is_config = path == Path(config_path).resolve()
        root = data.get("gate") if is_config and isinstance(data, dict) else data
        lines = old.splitlines(keepends=True)
        for p in items:
            number = _bound_line(root, p, path)
            lines[number - 1] = _replace_number(lines[number - 1], p.bound, p.text or "", path, number)
        result[path] = (old, "".join(lines))
    return result


def diff(files: dict[Path, tuple[str, str]]) -> str:
    """The edits as a unified diff, with paths relative to the working folder when they are inside it."""
    return "".join(
        "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), shown, shown))
        for path, (old, new) in files.items()
        for shown in [shown_path(path)]
    )


def shown_path(path: str | Path) -> str:
    """A path as shown to the user: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write(files: dict[Path, tuple[str, str]]) -> list[Path]:
    """Write each edited file atomically (write_text_atomic keeps its permissions)."""
    for path, (_, new) in files.items():
        write_text_atomic(path, new)
    return list(files)


def _bound_line(root: Any, p: Proposal, path: Path) -> int:
    body = root
    for key in (["categories", p.category] if p.category is not None else []) + [p.metric]:
        body = body.get(key) if isinstance(body, dict) else None
    if not isinstance(body, LineDict) or p.bound not in body:
        raise InputError(f"cannot find {p.where} in the file to edit it; edit it by hand", file=path)
    return body.line_of(p.bound)


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _replace_number(line: str, bound: str, text: str, path: Path, number: int) -> str:
    pattern = re.compile(rf"(?<![\w-])(([\"']?){bound}\2\s*:\s*){_NUMBER}(?![\w.])")
    matches = list(pattern.finditer(line))
    if len(matches) != 1:
        raise InputError(
            f"cannot edit the {bound} threshold on this line safely; edit it by hand", file=path, line=number
        )
    match = matches[0]
    return line[: match.start()] + match.group(1) + text + line[match.end() :]


def _step(margin: float, mean: float) -> float:
    """The rounding step: the margin's order of magnitude, or 1% of the mean's when there is no margin."""
    scale = margin if margin > 0 else abs(mean) / 100
    return 10.0 ** math.floor(math.log10(scale)) if scale > 0 else 1.0


def _reason(action: str, bound: str, evidence: dict[str, Any]) -> str:
    if evidence.get("method") == "predictive quantile":
        side = "below" if bound == "min" else "above"
        margin = f"a run of this quality lands {side} it {NormalDist().cdf(-evidence['z']):.1%} of the time"
    else:
        margin = f"margin {evidence['z']:g}×{evidence['spread']:.3g}"
    stats = (
        f"{evidence['runs']} runs, mean {evidence['mean']:.4g}, sd {evidence['sd']:.3g}, {margin}, "
        f"{'lowest' if bound == 'min' else 'highest'} {evidence['worst']:.4g}"
    )
    if action == "keep":
        return f"history supports no tighter {bound} ({stats})"
    if action == "loosen":
        return f"recent runs do not support the current {bound} ({stats})"
    return stats


def _plain(value: float) -> str:
    return f"{value:g}"
