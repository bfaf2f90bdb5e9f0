"""What a run or a comparison writes for a reader: the plots and tables of
:func:`~rl_adaptive.app.training.train_agent`'s results, for the ``rl-adaptive`` command and the examples."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write, write_text
from .stats import iqm_ci, mean_band, on_grid

__all__ = ["plot_compare", "plot_digits", "plot_run", "summarize"]


def summarize(results: list[dict[str, Any]], out: Path, title: str) -> dict[str, Any]:
    """Write compare.png, results.json and results.md for a list of train_agent results."""
    out.mkdir(parents=True, exist_ok=True)
    variants = [v for v in ("fixed", "adaptive") if any(r["variant"] == v for r in results)]
    finals = {v: np.array([r["final"]["mean"] for r in results if r["variant"] == v and r["final"]]) for v in variants}
    finals = {v: s for v, s in finals.items() if len(s)}
    stats = iqm_ci(finals)
    solved = results[0]["solved_threshold"]
    lines = [
        f"**{title}**: final return over 10 deterministic episodes, IQM over seeds with a 95% bootstrap CI (scipy).",
        "",
        "| variant | seeds | IQM | 95% CI | solved |",
        "|---|---:|---:|---|---:|",
    ]
    diverged = {v: sum(1 for r in results if r["variant"] == v and r.get("diverged")) for v in variants}
    for v, s in stats.items():
        n_solved = "" if solved is None else f"{int((finals[v] >= solved).sum())}/{s['runs'] + diverged[v]}"
        lines.append(f"| {v} | {s['runs']} | {s['iqm']:.1f} | [{s['ci_low']:.1f}, {s['ci_high']:.1f}] | {n_solved} |")
    lines += [
        f"\n{v}: {n} of {sum(r['variant'] == v for r in results)} runs diverged (non-finite weights); they count as "
        "not solved and are left out of the IQM."
        for v, n in diverged.items()
        if n
    ]
    table = "\n".join(lines)
    write_text(out / "results.md", table + "\n")
    write_text(
        out / "results.json",
        json.dumps(
            {
                "title": title,
                "stats": stats,
                "runs": [
                    {
                        k: r[k]
                        for k in (
                            "variant",
                            "seed",
                            "final",
                            "diverged",
                            "timesteps",
                            "trained_timesteps",
                            "adaptive",
                            "wall_s",
                        )
                    }
                    for r in results
                ],
            },
            indent=1,
        ),
    )
    plot_compare(results, out / "compare.png", title)
    return {"stats": stats, "table": table}


def plot_compare(results: list[dict[str, Any]], path: str | Path, title: str, columns: str | None = None) -> None:
    """Fixed against adaptive: the training return (mean over seeds, 95% bootstrap band) above the effective lr.

    ``columns``: a key of the results (``"lr_scale"``) that splits them into one column per value, highest first.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted({r[columns] for r in results}, reverse=True) if columns else [None]
    fig, axes = plt.subplots(
        2,
        len(values),
        figsize=(8 if columns is None else 6 * len(values), 7),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 2]},
    )
    for col, value in enumerate(values):
        top, bottom = axes[0][col], axes[1][col]
        subset = [r for r in results if columns is None or r[columns] == value]
        for variant in ("fixed", "adaptive"):
            runs = [r["curve"] for r in subset if r["variant"] == variant and r["curve"]]
            if not runs:
                continue
            grid, curves = on_grid(runs, "return")
            mean, low, high = mean_band(curves)
            top.plot(grid, mean, label=f"{variant} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            top.fill_between(grid, low, high, alpha=0.25)
            _, lrs = on_grid(runs, "lr") if all("lr" in run[0] for run in runs) else (None, None)
            if lrs is not None:
                for i, lr in enumerate(lrs):
                    bottom.plot(
                        grid,
                        lr,
                        color="C0" if variant == "fixed" else "C1",
                        alpha=0.6,
                        label=f"{variant} lr" if i == 0 else None,
                    )
        solved = subset[0].get("solved_threshold")
        if solved is not None:
            top.axhline(solved, color="gray", ls="--", lw=1, label="solved")
        seeds = max(sum(r["variant"] == v for r in subset) for v in ("fixed", "adaptive"))
        band = ": mean with 95% bootstrap band" if seeds > 1 else ""
        top.set_title(f"{title}{band}" + ("" if columns is None else f", {columns} {value:g}"))
        top.legend(loc="lower right")
        bottom.set_yscale("log")
        bottom.set_xlabel("timesteps")
        bottom.legend(loc="best", fontsize=8)
    axes[0][0].set_ylabel("training return (mean of last 100 episodes)")
    axes[1][0].set_ylabel("effective learning rate")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)


_KNOB_GROUPS = (
    ("lr", "learning rate", True),
    ("beta1|beta2|momentum|alpha", "betas / momentum / alpha", False),
    ("wd", "weight decay", False),
)


def plot_run(result: dict[str, Any], path: str | Path) -> None:
    """A PNG: the return curve above the knob traces (lr, betas or momentum, weight decay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    names = {k for row in curve for k in row} - {"timesteps", "return", "episodes"}
    panels = [
        (pattern, title, log)
        for pattern, title, log in _KNOB_GROUPS
        if any(n.split("/")[-1] in pattern.split("|") for n in names)
    ]
    fig, axes = plt.subplots(1 + len(panels), 1, figsize=(8, 2.6 * (1 + len(panels))), sharex=True, squeeze=False)
    axes = axes[:, 0]
    t = [row["timesteps"] for row in curve]
    axes[0].plot(t, [row["return"] for row in curve], label="training (mean of last 100 episodes)")
    if result["evals"]:
        axes[0].plot(
            [e["timesteps"] for e in result["evals"]],
            [e["mean"] for e in result["evals"]],
            "o-",
            label="evaluation (deterministic)",
        )
    if result.get("solved_threshold"):
        axes[0].axhline(result["solved_threshold"], color="gray", ls="--", lw=1, label="solved")
    axes[0].set_ylabel("episode return")
    axes[0].legend(loc="lower right", fontsize=8)
    axes[0].set_title(f"{result['algo'].upper()} {result['env']} ({result['variant']}, seed {result['seed']})")
    for ax, (pattern, title, log) in zip(axes[1:], panels, strict=True):
        for name in sorted(names):
            if name.split("/")[-1] in pattern.split("|"):
                ax.plot(t, [row.get(name, math.nan) for row in curve], label=name)
        ax.set_ylabel(title)
        if log:
            ax.set_yscale("log")
        ax.legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("timesteps")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)


def _smooth(values: list[float], width: int = 20) -> np.ndarray:
    v = np.asarray(values)
    return np.convolve(v, np.ones(width) / width, mode="valid") if len(v) > width else v


def plot_digits(results: dict[str, list[dict[str, list[float]]]], path: str | Path) -> None:
    """Loss, accuracy, lr and weight decay of :func:`~rl_adaptive.app.digits.train_digits` runs: mean and min-max band
    over seeds, one line per name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [
        ("loss", "training loss (smoothed)", axes[0, 0], True),
        ("accuracy", "test accuracy", axes[0, 1], False),
        ("lr", "learning rate", axes[1, 0], False),
        ("wd", "weight decay", axes[1, 1], False),
    ]
    for name, runs in results.items():
        for key, title, ax, smoothed in panels:
            curves = np.array([_smooth(r[key]) if smoothed else np.asarray(r[key]) for r in runs])
            x = np.arange(curves.shape[1])
            ax.plot(x, curves.mean(0), label=name)
            ax.fill_between(x, curves.min(0), curves.max(0), alpha=0.2)
            ax.set_title(title)
    axes[0, 0].set_yscale("log")
    axes[1, 0].set_yscale("log")
    axes[0, 0].set_xlabel("step")
    axes[0, 1].set_xlabel("epoch")
    axes[1, 0].set_xlabel("step")
    axes[1, 1].set_xlabel("step")
    axes[0, 0].legend()
    fig.suptitle("AdamW vs AdaptiveOptimizer(AdamW) on digits (mean, min-max band over seeds)")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
