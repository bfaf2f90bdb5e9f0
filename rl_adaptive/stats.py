"""Statistics for comparing runs: rliable's IQM with stratified bootstrap intervals, scipy's bootstrap bands.

Needs the ``examples`` extra (rliable, scipy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["iqm_ci", "mean_band", "on_grid"]


def iqm_ci(scores: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """IQM and its 95% stratified bootstrap CI per variant; ``scores[variant]`` has shape (runs,) or (runs, tasks)."""
    from rliable import library as rly
    from rliable import metrics

    out = {}
    for k, v in scores.items():
        matrix = np.asarray(v, dtype=float).reshape(len(v), -1)
        # rliable draws from numpy's global generator. Reseeding per variant gives every variant the same resamples,
        # so equal scores get equal intervals, whatever the other variants and their order.
        np.random.seed(seed)
        point, interval = rly.get_interval_estimates(
            {k: matrix}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps
        )
        out[k] = {
            "iqm": float(point[k][0]),
            "ci_low": float(interval[k][0, 0]),
            "ci_high": float(interval[k][1, 0]),
            "runs": int(matrix.shape[0]),
        }
    return out


def mean_band(curves: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (axis 0) with a 95% percentile bootstrap band per point (scipy.stats.bootstrap)."""
    from scipy.stats import bootstrap

    curves = np.asarray(curves, dtype=float)
    mean = curves.mean(axis=0)
    if curves.shape[0] < 2:
        return mean, mean, mean
    res = bootstrap(
        (curves,),
        np.mean,
        axis=0,
        confidence_level=0.95,
        n_resamples=reps,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return mean, res.confidence_interval.low, res.confidence_interval.high


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
