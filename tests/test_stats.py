"""rl_adaptive.app.stats: the statistics behind `rl-adaptive compare` and the benchmark report."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import trim_mean

from rl_adaptive.app.stats import iqm_ci, mean_band, on_grid


def test_iqm_is_the_interquartile_mean_inside_its_interval():
    rng = np.random.default_rng(0)
    scores = {"a": rng.normal(100.0, 30.0, size=12), "b": rng.normal(0.0, 1.0, size=8)}
    stats = iqm_ci(scores)
    for k, v in scores.items():
        assert np.isclose(stats[k]["iqm"], trim_mean(v, 0.25))
        assert stats[k]["ci_low"] <= stats[k]["iqm"] <= stats[k]["ci_high"]
        assert stats[k]["runs"] == len(v)
    assert stats["a"]["ci_high"] - stats["a"]["ci_low"] > stats["b"]["ci_high"] - stats["b"]["ci_low"]


def test_equal_scores_get_equal_intervals_whatever_the_other_variants():
    # DQN's final returns in the benchmark, where `default` is `fixed` run for run.
    same = np.array([404.8, 166.1, 183.4, 113.6, 117.6])
    other = np.array([100.8, 160.0, 293.3, 180.2, 114.6])
    stats = iqm_ci({"fixed": same, "loss_trend": other, "default": same.copy()})
    assert stats["fixed"] == stats["default"]
    assert iqm_ci({"default": same})["default"] == stats["default"]
    assert iqm_ci({"loss_trend": other})["loss_trend"] == stats["loss_trend"]


def test_mean_band_brackets_the_mean_and_collapses_for_one_run():
    curves = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [1.0, 2.0, 3.0]])
    mean, low, high = mean_band(curves)
    assert np.allclose(mean, [1.0, 2.0, 3.0])
    assert np.all(low <= mean) and np.all(mean <= high) and np.all(high - low > 0)
    one_mean, one_low, one_high = mean_band(curves[:1])
    assert np.array_equal(one_mean, one_low) and np.array_equal(one_mean, one_high)


def test_on_grid_interpolates_onto_the_shared_range_and_drops_leading_nans():
    runs = [
        [{"timesteps": 0, "return": np.nan}, {"timesteps": 10, "return": 0.0}, {"timesteps": 20, "return": 10.0}],
        [{"timesteps": 5, "return": 5.0}, {"timesteps": 30, "return": 30.0}],
    ]
    grid, values = on_grid(runs, "return", points=3)
    assert np.allclose(grid, [5.0, 12.5, 20.0])
    assert np.allclose(values[0], [0.0, 2.5, 10.0])  # before its first finite value: held at it
    assert np.allclose(values[1], [5.0, 12.5, 20.0])


def test_scipy_iqm_and_interval_agree_with_rliables_on_a_single_task():
    # The command's statistics are scipy's; the benchmark report's are rliable's. Same point estimate, and
    # intervals equal up to the bootstrap's Monte Carlo error (2000 resamples each).
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks._common import iqm_ci as rliable_iqm_ci

    rng = np.random.default_rng(3)
    for runs in (5, 10, 20):
        scores = {"x": rng.normal(200.0, 80.0, size=runs)}
        ours, theirs = iqm_ci(scores)["x"], rliable_iqm_ci(scores)["x"]
        assert ours["iqm"] == pytest.approx(theirs["iqm"], rel=1e-12)
        width = theirs["ci_high"] - theirs["ci_low"]
        assert abs(ours["ci_low"] - theirs["ci_low"]) <= 0.15 * width
        assert abs(ours["ci_high"] - theirs["ci_high"]) <= 0.15 * width


def test_iqm_ci_leaves_numpys_global_generator_alone():
    state = np.random.get_state()
    iqm_ci({"a": np.arange(10.0)})
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_benchmark_bootstrap_ci_is_scipys_percentile_bootstrap_with_its_own_generator():
    # benchmarks._common.bootstrap_ci delegates to scipy.stats.bootstrap. Its resamples are the ones a plain loop
    # draws from default_rng(seed) (the published intervals did not move when it switched), and it touches no
    # global generator.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks._common import bootstrap_ci

    values = np.random.default_rng(7).normal(10.0, 30.0, size=12)
    for stat in (np.median, np.mean):
        rng = np.random.default_rng(0)
        loop = [stat(rng.choice(values, size=len(values), replace=True)) for _ in range(2000)]
        expected = (np.percentile(loop, 2.5), np.percentile(loop, 97.5))
        state = np.random.get_state()
        low, high = bootstrap_ci(values, stat=stat)
        assert np.array_equal(np.random.get_state()[1], state[1])
        assert (low, high) == pytest.approx(expected, rel=1e-9)
        assert low < stat(values) < high
    assert bootstrap_ci(np.array([4.0])) == (4.0, 4.0)
    assert bootstrap_ci(np.full(5, -2.5), stat=np.mean) == (-2.5, -2.5)
