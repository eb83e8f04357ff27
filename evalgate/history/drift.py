"""Drift alarms on a metric's history: EWMA and lower CUSUM on standardized runs, plus rolling means.

The setup follows Montgomery (Introduction to Statistical Quality Control): a reference period (Phase I, the
first K comparable runs, or a fixed target mean and sd) gives the in-control mean and standard deviation; every
later run (Phase II) is standardized, z = (x - mean_ref) / sd_ref, with the sign flipped for lower-is-better
metrics so that "worse" is always negative. Alarms are one-sided: only a change for the worse alarms.

- EWMA: E_i = λ z_i + (1 - λ) E_{i-1}, E_0 = 0; alarm when E_i < -L sqrt(λ/(2-λ) (1 - (1-λ)^(2i))) (the exact
  time-varying limit; σ_z = 1). λ = 0.1, L = 2.814.
- Lower CUSUM: C_i = max(0, C_{i-1} - z_i - k), C_0 = 0; alarm when C_i > h. k = 0.5, h = 5.

Rates (binary keys: accuracy, error rate) are counts of n cases, and a reference of identical runs (an error rate
of 0 in every run) has no spread to standardize by. They are standardized as counts instead (RateModel): the
reference runs' pooled count with a Jeffreys prior gives the rate's posterior, widened to the runs' own spread
when they vary more than sampling explains; a run's z is the normal score (mid-p) of its count under the
posterior predictive (beta-binomial) of a run of its size. A rise from 0 errors alarms; one stray error does not.
Other keys whose reference runs are all equal have no sd either: any run worse than that constant alarms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from evalgate.history.store import Point

EWMA_LAMBDA = 0.1
EWMA_L = 2.814
CUSUM_K = 0.5
CUSUM_H = 5.0
REFERENCE_RUNS = 20
SHORT_WINDOW = 7
LONG_WINDOW = 30


def ewma(z: Any, lam: float = EWMA_LAMBDA, start: Any = 0.0) -> np.ndarray:
    """E_i = λ z_i + (1 - λ) E_{i-1} along the last axis, from E_0 = `start` (a scalar or one per row)."""
    from scipy.signal import lfilter  # scipy.signal costs 0.6 s to import: only when a chart is computed

    z = np.asarray(z, dtype=float)
    state = np.broadcast_to(np.asarray(start, dtype=float), z.shape[:-1])[..., None] * (1.0 - lam)
    out, _ = lfilter([lam], [1.0, -(1.0 - lam)], z, axis=-1, zi=state)
    return out


def ewma_limits(count: int, lam: float = EWMA_LAMBDA, L: float = EWMA_L, first: int = 1) -> np.ndarray:
    """The exact EWMA control limits L sqrt(λ/(2-λ) (1-(1-λ)^(2i))) for i = first .. first+count-1 (σ_z = 1)."""
    i = np.arange(first, first + count, dtype=float)
    return L * np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2.0 * i)))


def lower_cusum(z: Any, k: float = CUSUM_K, start: Any = 0.0) -> np.ndarray:
    """C_i = max(0, C_{i-1} - z_i - k) along the last axis, from C_0 = `start` (a scalar or one per row)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    c = np.array(np.broadcast_to(np.asarray(start, dtype=float), z.shape[:-1]), dtype=float)
    for i in range(z.shape[-1]):
        c = np.maximum(0.0, c - z[..., i] - k)
        out[..., i] = c
    return out


class RateModel:
    """A binary metric's runs as counts: run i scored k_i = value_i x n_i of n_i cases (rounded).

    The reference runs' pooled count x of N gives the rate's posterior Beta(x + 1/2, N - x + 1/2) (Jeffreys);
    when the runs vary more than sampling explains (a non-deterministic model), the rate's variance between runs
    is the runs' variance less the binomial part, if larger. A run of n cases then has the posterior predictive
    Beta-Binomial(n, a, b) with the same mean and that variance of the rate: never a zero sd, even for a rate
    that was 0 in every reference run.
    """

    def __init__(self, values: Sequence[float], ns: Sequence[int]) -> None:
        data = np.asarray(values, dtype=float)
        sizes = np.asarray(ns, dtype=float)
        events = float(np.round(data * sizes).sum())
        a, b = events + 0.5, float(sizes.sum()) - events + 0.5
        self.rate = a / (a + b)
        self.n = float(sizes.mean())
        spread = self.rate * (1.0 - self.rate)
        between = (float(data.var(ddof=1)) if len(data) > 1 else 0.0) - spread / self.n
        variance = max(a * b / ((a + b) ** 2 * (a + b + 1.0)), between)
        concentration = max(spread / variance - 1.0, 1e-9)
        self.alpha, self.beta = self.rate * concentration, (1.0 - self.rate) * concentration

    def predictive(self, n: float) -> Any:
        """The distribution of a run's count of n cases (scipy.stats.betabinom)."""
        from scipy.stats import betabinom

        return betabinom(round(n), self.alpha, self.beta)

    def sd(self, n: float | None = None) -> float:
        """The sd of a run's rate (count / n) under the predictive, at n cases (the reference's mean size)."""
        size = n or self.n
        return math.sqrt(float(self.predictive(size).var())) / round(size)

    def z(self, values: Sequence[float] | np.ndarray, ns: Sequence[int]) -> np.ndarray:
        """Each run's normal score: Φ⁻¹ of the mid-p rank of its count (positive: a higher rate than expected).
        Under the reference the scores are about standard normal whatever the rate, 0 and 1 included."""
        from scipy.stats import betabinom, norm

        sizes = np.asarray(ns, dtype=np.int64)
        counts = np.round(np.asarray(values, dtype=float) * sizes)
        dist = betabinom(sizes, self.alpha, self.beta)
        half = 0.5 * dist.pmf(counts)
        below, above = dist.cdf(counts - 1) + half, dist.sf(counts) + half
        # the smaller tail keeps its precision (a run far out has a tail of 1e-30, not 1 - 1e-30)
        return np.where(
            above < below, norm.isf(np.maximum(above, 1e-300)), norm.ppf(np.maximum(below, 1e-300))
        )

    def quantile(self, probability: float, n: float | None = None) -> float:
        """The rate a run of n cases stays at or below with at least this probability under the predictive."""
        size = n or self.n
        return float(self.predictive(size).ppf(probability)) / round(size)


def rate_model(values: Sequence[float], ns: Sequence[int | None], kind: str | None) -> RateModel | None:
    """The count model of a binary metric's runs when every run's size is known (else None: plain mean and sd)."""
    if kind != "binary" or not ns or not all(n and n > 0 for n in ns):
        return None
    if not all(0.0 <= v <= 1.0 for v in values):
        return None
    return RateModel(values, [int(n) for n in ns if n])


def reference(
    values: Sequence[float], ns: Sequence[int | None], *, kind: str | None = None
) -> tuple[float, float]:
    """The in-control mean and sd of the reference runs.

    sd is the sample standard deviation; for binary metrics (proportions) of known sizes, the sd of a run's rate
    under RateModel's predictive, which is at least the runs' own spread and never 0 (a model whose runs never
    vary, or a rate that is always 0, still has the sampling variation of its n cases).
    """
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    model = rate_model(values, ns, kind)
    if model is not None:
        return mean, model.sd()
    return mean, float(data.std(ddof=1)) if len(data) > 1 else 0.0


def rolling_means(
    points: Sequence[Point], *, short: int = SHORT_WINDOW, long: int = LONG_WINDOW, by: str = "run"
) -> dict[str, Any]:
    """The mean of the latest `short` and `long` runs (by="run") or of the runs in the latest days (by="day")."""

    def window(size: int) -> list[float]:
        if by == "run":
            return [p.value for p in points[-size:]]
        latest = _parse_time(points[-1].created_at)
        cutoff = latest - timedelta(days=size)
        return [p.value for p in points if _parse_time(p.created_at) > cutoff]

    result: dict[str, Any] = {"by": by}
    for name, size in (("short", short), ("long", long)):
        values = window(size) if points else []
        result[name] = {
            "window": size,
            "runs": len(values),
            "mean": float(np.mean(values)) if values else None,
        }
    short_mean, long_mean = result["short"]["mean"], result["long"]["mean"]
    result["delta"] = short_mean - long_mean if short_mean is not None and long_mean is not None else None
    return result


def drift_report(
    series: Sequence[Point],
    higher_is_better: bool,
    *,
    kind: str | None = None,
    reference_runs: int = REFERENCE_RUNS,
    target: tuple[float, float] | None = None,
    lam: float = EWMA_LAMBDA,
    L: float = EWMA_L,
    k: float = CUSUM_K,
    h: float = CUSUM_H,
    short: int = SHORT_WINDOW,
    long: int = LONG_WINDOW,
    by: str = "run",
) -> dict[str, Any]:
    """EWMA and lower-CUSUM drift alarms and rolling means for one metric's series (oldest first).

    The reference is the first `reference_runs` points, or `target` = (mean, sd) given by the user, in which case
    every point is monitored. Returns the latest statistics, alarm flags, the run where each active alarm started
    and (CUSUM) the estimated change point, plus per-run values under "runs".
    """
    report: dict[str, Any] = {
        "count": len(series),
        "higher_is_better": higher_is_better,
        "parameters": {"lambda": lam, "L": L, "k": k, "h": h, "reference_runs": reference_runs},
        "rolling": rolling_means(series, short=short, long=long, by=by),
        "latest": _point_json(series[-1]) if series else None,
        "reference": None,
        "ewma": None,
        "cusum": None,
        "alarm": False,
        "status": "insufficient",
        "note": None,
        "runs": [],
    }
    if target is None and len(series) <= reference_runs:
        report["note"] = (
            f"drift needs more than {reference_runs} comparable runs (the first {reference_runs} are "
            f"the reference); there are {len(series)}"
        )
        return report
    monitored, mean, sd, model, report["reference"] = _reference_of(series, reference_runs, target, kind)
    if not monitored:
        report["note"] = "no run after the reference to monitor"
        return report
    sign = 1.0 if higher_is_better else -1.0
    values = np.array([p.value for p in monitored], dtype=float)
    if model is None and not sd > 1e-12 * max(1.0, abs(mean)):  # identical runs, up to rounding
        return _constant_report(report, monitored, values, mean, sign)

    if model is not None:
        z = sign * model.z(values, [p.n or 0 for p in monitored])  # every n is set: the model needs them
    else:
        z = sign * (values - mean) / sd
    return _chart_report(report, monitored, z, lam=lam, L=L, k=k, h=h)


def _reference_of(
    series: Sequence[Point], reference_runs: int, target: tuple[float, float] | None, kind: str | None
) -> tuple[list[Point], float, float, RateModel | None, dict[str, Any]]:
    """The runs to monitor, the reference's mean and sd, the rate model (when every monitored run has its
    count), and the report's `reference`: `target` = (mean, sd) given by the user, else the first runs."""
    if target is not None:
        mean, sd = float(target[0]), float(target[1])
        return list(series), mean, sd, None, {"source": "target", "runs": 0, "mean": mean, "sd": sd}
    head = series[:reference_runs]
    monitored = list(series[reference_runs:])
    mean, sd = reference([p.value for p in head], [p.n for p in head], kind=kind)
    model = (
        rate_model([p.value for p in head], [p.n for p in head], kind)
        if all(p.n for p in monitored)
        else None
    )
    described = {
        "source": f"first {reference_runs} runs",
        "runs": reference_runs,
        "mean": mean,
        "sd": sd,
        "from": head[0].name,
        "to": head[-1].name,
    }
    if model is not None:
        described["model"] = "beta-binomial (Jeffreys prior on the pooled count)"
    return monitored, mean, sd, model, described


def _chart_report(
    report: dict[str, Any], monitored: list[Point], z: np.ndarray, *, lam: float, L: float, k: float, h: float
) -> dict[str, Any]:
    """The EWMA and lower-CUSUM charts of the monitored runs' standardized values `z` (positive = better): each
    run's statistics, the latest values and limits, and since when an active alarm has lasted."""
    e = ewma(z, lam)
    limits = ewma_limits(len(z), lam, L)
    c = lower_cusum(z, k)
    ewma_alarm = e < -limits
    cusum_alarm = c > h
    report["runs"] = [
        {
            **_point_json(p),
            "z": float(z[i]),
            "ewma": float(e[i]),
            "ewma_limit": float(-limits[i]),
            "cusum": float(c[i]),
        }
        for i, p in enumerate(monitored)
    ]
    report["ewma"] = {
        "value": float(e[-1]),
        "limit": float(-limits[-1]),
        "alarm": bool(ewma_alarm[-1]),
        "since": monitored[_episode_start(ewma_alarm)].name if ewma_alarm[-1] else None,
    }
    report["cusum"] = {
        "value": float(c[-1]),
        "limit": h,
        "alarm": bool(cusum_alarm[-1]),
        "since": monitored[_episode_start(cusum_alarm)].name if cusum_alarm[-1] else None,
        "change_point": monitored[_episode_start(c > 0)].name if cusum_alarm[-1] else None,
    }
    report["alarm"] = bool(ewma_alarm[-1] or cusum_alarm[-1])
    report["status"] = "alarm" if report["alarm"] else "ok"
    return report


def _constant_report(
    report: dict[str, Any], monitored: list[Point], values: np.ndarray, mean: float, sign: float
) -> dict[str, Any]:
    """Reference runs that all scored the same have no sd to standardize by: any run worse than that constant
    is a change (the limit of the charts as the sd goes to 0), and alarms until a run is back at it."""
    worse = sign * (values - mean) < -1e-9 * max(1.0, abs(mean))
    report["constant"] = {
        "value": mean,
        "alarm": bool(worse[-1]),
        "since": monitored[_episode_start(worse)].name if worse[-1] else None,
    }
    report["runs"] = [_point_json(p) for p in monitored]
    report["alarm"] = bool(worse[-1])
    report["status"] = "alarm" if report["alarm"] else "ok"
    report["note"] = "the reference runs are all equal (sd = 0): any run worse than them alarms"
    return report


def alarm_messages(report: dict[str, Any], metric: str) -> list[dict[str, str]]:
    """The active alarms as {"kind", "run", "message"} (run = where the alarm started)."""
    alarms = list(report.get("extra_alarms") or [])  # alarms of other checks (evalgate.judge.canary_history)
    if report.get("status") != "alarm":
        return alarms
    ref = report["reference"]
    direction = "down" if report["higher_is_better"] else "up"
    constant = report.get("constant")
    if constant is not None:
        latest = report["latest"]["value"]
        return [
            {
                "kind": "constant",
                "run": constant["since"],
                "message": f"{metric} drifted {direction} (worse): it was {constant['value']:.4g} in all "
                f"{ref['runs']} reference runs and is {latest:.4g} since run {constant['since']}",
            }
        ]
    baseline = f"reference mean {ref['mean']:.4g}, sd {ref['sd']:.3g}"
    if report["ewma"]["alarm"]:
        e = report["ewma"]
        p = report["parameters"]
        alarms.append(
            {
                "kind": "ewma",
                "run": e["since"],
                "message": f"{metric} drifted {direction} (worse): the EWMA of standardized runs, "
                f"{e['value']:.3f}, is past its limit {e['limit']:.3f} (λ={p['lambda']}, L={p['L']}) since run {e['since']}; {baseline}",
            }
        )
    if report["cusum"]["alarm"]:
        c = report["cusum"]
        p = report["parameters"]
        alarms.append(
            {
                "kind": "cusum",
                "run": c["since"],
                "message": f"{metric} drifted {direction} (worse): lower CUSUM {c['value']:.2f} > h={p['h']} "
                f"(k={p['k']}) since run {c['since']}; the change likely began at run {c['change_point']}; "
                f"{baseline}",
            }
        )
    return alarms


def _episode_start(flags: np.ndarray) -> int:
    """The index where the final run of True values in `flags` begins (flags[-1] must be True)."""
    off = np.flatnonzero(~flags)
    return int(off[-1]) + 1 if len(off) else 0


def _point_json(point: Point) -> dict[str, Any]:
    return {
        "run": point.name,
        "created_at": point.created_at,
        "sha": point.sha,
        "value": point.value,
        "n": point.n,
    }


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)
