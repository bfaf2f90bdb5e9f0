"""Statistics for comparing runs: the interquartile mean with a stratified bootstrap interval, bootstrap bands.

scipy only (``scipy.stats.trim_mean`` and ``scipy.stats.bootstrap``): the command needs no rliable, so no pandas pin.
``tests/test_stats.py`` checks that the IQM and its interval agree with rliable's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap_interval", "iqm_ci", "mean_band", "on_grid"]


def iqm_ci(scores: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """IQM and its 95% stratified bootstrap CI per variant; ``scores[variant]`` has shape (runs,) or (runs, tasks).

    The IQM is the 25% trimmed mean of every score (rliable's ``aggregate_iqm``). The interval is a percentile
    bootstrap that resamples runs within each task (rliable's ``StratifiedBootstrap``), with its own generator
    seeded by ``seed``: equal scores get equal intervals, and numpy's global generator is left alone.
    """
    from scipy.stats import bootstrap, trim_mean

    def iqm(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
        return trim_mean(np.concatenate(tasks, axis=axis), 0.25, axis=axis)

    out = {}
    for k, v in scores.items():
        matrix = np.asarray(v, dtype=float).reshape(len(v), -1)
        tasks = tuple(matrix[:, j] for j in range(matrix.shape[1]))
        point = float(trim_mean(matrix, 0.25, axis=None))
        if matrix.shape[0] < 2 or np.ptp(matrix, axis=0).max() == 0.0:  # nothing to resample
            low = high = point
        else:
            res = bootstrap(
                tasks,
                iqm,
                n_resamples=reps,
                confidence_level=0.95,
                method="percentile",
                paired=False,
                random_state=np.random.default_rng(seed),
            )
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        out[k] = {"iqm": point, "ci_low": low, "ci_high": high, "runs": int(matrix.shape[0])}
    return out


def bootstrap_interval(
    sample: np.ndarray, stat: Callable[..., Any] = np.mean, reps: int = 2000, seed: int = 0, axis: int = 0
) -> tuple[Any, Any]:
    """95% percentile bootstrap interval of ``stat`` over ``sample`` along ``axis`` (``scipy.stats.bootstrap``).

    ``stat`` takes an ``axis`` keyword (``np.mean``, ``np.median``). The resamples come from the function's own
    generator, seeded by ``seed``. Fewer than two values along ``axis`` have nothing to resample, and scipy refuses
    them: the interval is then the statistic itself.
    """
    from scipy.stats import bootstrap

    sample = np.asarray(sample, dtype=float)
    if sample.shape[axis] < 2:
        point = stat(sample, axis=axis)
        return point, point
    res = bootstrap(
        (sample,),
        stat,
        axis=axis,
        confidence_level=0.95,
        n_resamples=reps,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(seed),
    )
    return res.confidence_interval.low, res.confidence_interval.high


def mean_band(curves: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (axis 0) with a 95% percentile bootstrap band per point (:func:`bootstrap_interval`)."""
    curves = np.asarray(curves, dtype=float)
    low, high = bootstrap_interval(curves, np.mean, reps=reps, seed=seed, axis=0)
    return curves.mean(axis=0), low, high


def on_grid(runs: Sequence[Sequence[dict[str, float]]], key: str, points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate each run's ``key`` onto a shared grid of timesteps (NaNs before the first episode dropped)."""
    end = min(run[-1]["timesteps"] for run in runs)
    start = max(run[0]["timesteps"] for run in runs)
    grid = np.linspace(start, end, points)
    rows = []
    for run in runs:
        t = np.array([r["timesteps"] for r in run], dtype=float)
        v = np.array([r.get(key, np.nan) for r in run], dtype=float)
        ok = np.isfinite(v)
        rows.append(np.interp(grid, t[ok], v[ok]) if ok.any() else np.full_like(grid, np.nan))
    return grid, np.array(rows)
