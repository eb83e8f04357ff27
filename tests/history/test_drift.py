"""Drift statistics: the published reference vectors, average run lengths by simulation, known change points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalgate.history.drift import (
    alarm_messages,
    drift_report,
    ewma,
    ewma_limits,
    lower_cusum,
    reference,
    rolling_means,
)
from evalgate.history.store import Point
from tests.conftest import reference_vectors

VECTORS = reference_vectors()["drift"]


def points(values, *, n=500, start_day=1):
    return [
        Point(f"2026-{1 + (start_day + i - 1) // 28:02d}-{1 + (start_day + i - 1) % 28:02d}T08:00:00Z",
              f"{i:07x}abc", f"run-{i}", float(v), n)
        for i, v in enumerate(values)
    ]  # fmt: skip


# ---- reference vectors (Montgomery)


def test_lower_cusum_matches_reference_vector():
    got = lower_cusum(VECTORS["standardized_series"], k=0.5)
    np.testing.assert_allclose(got, VECTORS["lower_cusum_k_0_5"], atol=1e-12)


def test_ewma_matches_reference_vector():
    got = ewma(VECTORS["standardized_series"], lam=0.2, start=0.0)
    np.testing.assert_allclose(got, VECTORS["ewma_lambda_0_2_start_0"], atol=1e-12)


def test_ewma_limits_are_the_exact_time_varying_limits():
    lam, L = 0.1, 2.814
    got = ewma_limits(50, lam, L)
    for i in (1, 2, 10, 50):
        assert got[i - 1] == pytest.approx(
            L * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i))), abs=1e-15
        )
    assert got[0] == pytest.approx(L * lam, abs=1e-15)  # the first limit is L*sigma*lambda
    assert got[-1] < L * math.sqrt(lam / (2 - lam))  # and they grow towards the asymptotic limit


def test_vectorized_statistics_agree_with_a_plain_loop_and_resume_from_a_state():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 60))
    e_loop, c_loop = np.zeros_like(z), np.zeros_like(z)
    for row in range(4):
        e = c = 0.0
        for i in range(60):
            e = 0.1 * z[row, i] + 0.9 * e
            c = max(0.0, c - z[row, i] - 0.5)
            e_loop[row, i], c_loop[row, i] = e, c
    np.testing.assert_allclose(ewma(z), e_loop, atol=1e-12)
    np.testing.assert_allclose(lower_cusum(z), c_loop, atol=1e-12)
    # in two blocks, the second starting from the state the first ended in
    first_e, first_c = ewma(z[:, :25]), lower_cusum(z[:, :25])
    np.testing.assert_allclose(ewma(z[:, 25:], start=first_e[:, -1]), e_loop[:, 25:], atol=1e-12)
    np.testing.assert_allclose(lower_cusum(z[:, 25:], start=first_c[:, -1]), c_loop[:, 25:], atol=1e-12)


# ---- average run lengths by simulation (vectorized; about a second in all)


def run_lengths(alarm_block, reps, shift, seed, block=500, cap=40_000):
    """Runs until the first alarm for `reps` independent standardized series with mean `shift`."""
    rng = np.random.default_rng(seed)
    lengths = np.full(reps, -1)
    state = np.zeros((2, reps))
    t = 0
    while (lengths < 0).any() and t < cap:
        z = rng.standard_normal((reps, block)) + shift
        state, alarm = alarm_block(z, state, t)
        first = np.argmax(alarm, axis=1)
        new = (lengths < 0) & alarm.any(axis=1)
        lengths[new] = t + first[new] + 1
        t += block
    assert (lengths > 0).all()
    return lengths


def lower_cusum_alarm(z, state, t, h=5.0):
    c = lower_cusum(z, 0.5, state[0])
    return np.stack([c[:, -1], state[1]]), c > h


def two_sided_cusum_alarm(z, state, t, h=5.0):
    lower, upper = lower_cusum(z, 0.5, state[0]), lower_cusum(-z, 0.5, state[1])
    return np.stack([lower[:, -1], upper[:, -1]]), (lower > h) | (upper > h)


def lower_ewma_alarm(z, state, t):
    e = ewma(z, 0.1, state[0])
    return np.stack([e[:, -1], state[1]]), e < -ewma_limits(z.shape[1], 0.1, 2.814, first=t + 1)


def two_sided_ewma_alarm(z, state, t):
    e = ewma(z, 0.1, state[0])
    return np.stack([e[:, -1], state[1]]), np.abs(e) > ewma_limits(z.shape[1], 0.1, 2.814, first=t + 1)


@pytest.mark.slow
def test_cusum_false_alarm_run_length_matches_montgomery():
    # Montgomery's 465 runs between false alarms (k=0.5, h=5) is the two-sided tabular CUSUM...
    two_sided = run_lengths(two_sided_cusum_alarm, 6000, 0.0, seed=11)
    assert two_sided.mean() == pytest.approx(465, rel=0.06)
    # ...so the lower (one-sided) CUSUM alone false-alarms about half as often: ~930 runs (Siegmund: 938)
    one_sided = run_lengths(lower_cusum_alarm, 6000, 0.0, seed=12)
    assert one_sided.mean() == pytest.approx(930, rel=0.07)


@pytest.mark.slow
def test_cusum_detects_a_one_sigma_drop_in_about_ten_runs():
    lengths = run_lengths(lower_cusum_alarm, 20000, -1.0, seed=13)
    assert lengths.mean() == pytest.approx(10.4, rel=0.03)


@pytest.mark.slow
def test_ewma_false_alarm_run_length_matches_lucas_and_saccucci():
    # lambda=0.1, L=2.814: ~500 runs between false alarms for the two-sided chart
    two_sided = run_lengths(two_sided_ewma_alarm, 6000, 0.0, seed=14)
    assert two_sided.mean() == pytest.approx(500, rel=0.07)
    # one-sided (only the worse side alarms): about twice as long
    one_sided = run_lengths(lower_ewma_alarm, 6000, 0.0, seed=15)
    assert one_sided.mean() == pytest.approx(1000, rel=0.1)


def test_ewma_detects_a_one_sigma_drop_within_about_ten_runs():
    # Lucas & Saccucci give 10.3 runs with the asymptotic limits; the exact, narrower early limits are faster
    lengths = run_lengths(lower_ewma_alarm, 20000, -1.0, seed=16)
    assert 7.0 < lengths.mean() < 10.5


# ---- drift_report on series with known change points


def test_a_noiseless_one_sigma_drop_alarms_when_the_hand_computed_statistics_cross():
    # target mean 0.5, sd 0.25; 15 runs on target, then a drop of exactly one sd (exact in binary floating point)
    values = [0.5] * 15 + [0.25] * 20
    for end in range(1, len(values) + 1):
        report = drift_report(points(values[:end]), True, target=(0.5, 0.25))
        after = max(0, end - 15)  # runs since the drop
        # CUSUM after i runs below: 0.5 i, alarm when > 5, i.e. from the 11th run
        assert report["cusum"]["value"] == pytest.approx(0.5 * after, abs=1e-9)
        assert report["cusum"]["alarm"] == (after >= 11)
        # EWMA after i runs below (started on target at 0): -(1 - 0.9^i); limit at run `end`
        expected = -(1 - 0.9**after)
        limit = 2.814 * math.sqrt(0.1 / 1.9 * (1 - 0.9 ** (2 * end)))
        assert report["ewma"]["value"] == pytest.approx(expected, abs=1e-9)
        assert report["ewma"]["alarm"] == (expected < -limit)
    assert report["cusum"]["since"] == "run-25"  # the 11th run after the drop
    assert report["cusum"]["change_point"] == "run-15"  # the first run below target
    assert report["ewma"]["alarm"]


@pytest.mark.slow
def test_simulated_drops_alarm_soon_after_and_rarely_before():
    rng = np.random.default_rng(21)
    delays, early = [], 0
    for _ in range(200):
        noise = rng.normal(0.0, 0.01, 80)
        values = 0.9 + noise - np.where(np.arange(80) >= 50, 0.01, 0.0)  # 20 reference + 30 in control
        first_alarm = None
        for end in range(21, 81):
            if drift_report(points(values[:end]), True)["cusum"]["alarm"]:
                first_alarm = end - 1
                break
        if first_alarm is not None and first_alarm < 50:
            early += 1
        elif first_alarm is not None:
            delays.append(first_alarm - 50 + 1)
    # false alarms in 30 in-control runs are rare (the reference is estimated from 20 runs, so more than 30/930)
    assert early / 200 < 0.15
    assert np.median(delays) <= 16
    assert len(delays) >= 150


def test_lower_is_better_metrics_alarm_when_they_rise():
    values = [100.0, 102.0, 98.0, 101.0, 99.0] * 4 + [110.0] * 12
    up = drift_report(points(values), higher_is_better=False, reference_runs=20)
    assert up["alarm"] and up["cusum"]["alarm"]
    down = drift_report(points([200.0 - v for v in values]), higher_is_better=False, reference_runs=20)
    assert not down["alarm"]  # an improvement (latency falls) never alarms
    messages = alarm_messages(up, "latency_p95_ms")
    assert {m["kind"] for m in messages} == {"ewma", "cusum"}
    assert all("drifted up (worse)" in m["message"] for m in messages)
    assert all(m["run"].startswith("run-") for m in messages)


def test_too_few_runs_and_constant_references_say_so():
    short = drift_report(points([0.9] * 5), True, reference_runs=20)
    assert short["status"] == "insufficient" and not short["alarm"]
    assert "more than 20" in short["note"]
    # not binary, and the reference runs never vary: no sd to standardize by, so any worse run is a change
    constant = drift_report(points([0.9] * 25 + [0.5]), True, reference_runs=20)
    assert constant["status"] == "alarm" and constant["constant"]["since"] == "run-25"
    [message] = alarm_messages(constant, "rougeL")
    assert message["kind"] == "constant" and "0.9 in all 20 reference runs and is 0.5" in message["message"]
    assert drift_report(points([0.9] * 25 + [0.95]), True)["status"] == "ok"  # better never alarms
    recovered = drift_report(points([0.9] * 25 + [0.5, 0.9]), True)
    assert recovered["status"] == "ok" and "any run worse" in recovered["note"]


def test_binary_reference_sd_is_the_predictive_sd_of_one_run():
    from scipy.stats import betabinom

    mean, sd = reference([0.9] * 20, [400] * 20, kind="binary")
    assert mean == pytest.approx(0.9)
    # the pooled count 7,200 of 8,000 with a Jeffreys prior; a run of 400 under its beta-binomial predictive
    assert sd == pytest.approx(math.sqrt(betabinom(400, 7200.5, 800.5).var()) / 400, rel=1e-9)
    assert sd > math.sqrt(0.9 * 0.1 / 400)  # at least the standard error of one run
    varied = [0.8, 0.95] * 10
    assert reference(varied, [400] * 20, kind="binary")[1] == pytest.approx(np.std(varied, ddof=1), rel=2e-3)
    # a deterministic model: one case flipping on 400 is not a drift
    report = drift_report(points([0.9] * 20 + [0.8975] * 3, n=400), True, kind="binary")
    assert report["status"] == "ok"


def test_rolling_means_by_run_and_by_day():
    values = list(range(40))
    by_run = rolling_means(points(values), short=7, long=30, by="run")
    assert by_run["short"] == {"window": 7, "runs": 7, "mean": pytest.approx(np.mean(values[-7:]))}
    assert by_run["long"]["mean"] == pytest.approx(np.mean(values[-30:]))
    assert by_run["delta"] == pytest.approx(np.mean(values[-7:]) - np.mean(values[-30:]))
    # two runs a day: 7 days hold 14 runs
    twice_daily = [
        Point(f"2026-03-{1 + i // 2:02d}T{8 + 10 * (i % 2):02d}:00:00Z", None, None, float(v), None)
        for i, v in enumerate(values)
    ]
    by_day = rolling_means(twice_daily, short=7, long=30, by="day")
    assert by_day["short"]["runs"] == 14
    assert by_day["short"]["mean"] == pytest.approx(np.mean(values[-14:]))
    assert by_day["long"]["runs"] == 40


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "higher_is_better"), [(0.9, True), (0.002, False)])
def test_rate_charts_rarely_alarm_in_control(rate, higher_is_better):
    """Binomial runs of 500 cases, 20 reference and 20 monitored: the count model keeps false alarms rare, a
    rare error rate included (a Gaussian chart with a binomial floor alarms on its first stray error)."""
    rng = np.random.default_rng(5)
    alarms = 0
    for _ in range(200):
        values = rng.binomial(500, rate, 40) / 500
        alarms += drift_report(points(values, n=500), higher_is_better, kind="binary")["alarm"]
    assert alarms / 200 <= 0.05
