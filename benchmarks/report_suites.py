"""The report's sections for the PPO CartPole grid, LunarLander, A2C/DQN, digits and timing."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks._common import bootstrap_ci, iqm_ci, replace_section
from benchmarks.report_base import PLOTS, README_MD, default_twin, fmt_iqm, provenance, pyplot, save_figure, variants_in
from benchmarks.suites import SUITES, load
from rl_adaptive.app.stats import mean_band, on_grid


def cartpole_grid() -> dict[str, Any] | None:
    rows = load("cartpole_grid")
    if not rows:
        return None
    lrs = SUITES["cartpole_grid"]["lrs"]
    variants = variants_in(rows, "cartpole_grid")
    final: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        final[r["cell"]["variant"]][r["cell"]["lr"]].append(r["final"]["mean"])
    complete = [v for v in variants if all(final[v][lr] for lr in lrs)]  # a partial sweep reports what is whole
    if not complete:
        return None
    n_seeds = min(len(final[v][lr]) for v in complete for lr in lrs)
    # scores: runs x tasks, one task per base lr (a stratified bootstrap resamples seeds within each lr)
    scores = {v: np.array([final[v][lr][:n_seeds] for lr in lrs]).T for v in complete}
    overall = iqm_ci(scores)
    tuned = iqm_ci({v: np.array(final[v][1e-3][:n_seeds]) for v in complete})
    solved = {v: {lr: int(np.sum(np.array(final[v][lr][:n_seeds]) >= 475)) for lr in lrs} for v in complete}
    lines = [
        f"PPO on CartPole-v1 with rl-zoo's tuned settings and a constant base lr, {n_seeds} seeds x {len(lrs)} lrs, "
        "50k steps. A cell is solved when the mean return over 10 deterministic evaluation episodes is >= 475. "
        "IQM of final returns over all cells (stratified bootstrap over seeds within each lr, rliable) and at the "
        "tuned lr 1e-3.",
        "",
        "| variant | solved | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | IQM, all cells [95% CI] | "
        "IQM at lr 1e-3 [95% CI] |",
        "|---|---:|" + "---:|" * len(lrs) + "---|---|",
    ]
    total = n_seeds * len(lrs)
    for v in complete:
        n = sum(solved[v].values())
        lines.append(
            f"| {v} | {n}/{total} ({100 * n / total:.0f}%) | "
            + " | ".join(f"{solved[v][lr]}/{n_seeds}" for lr in lrs)
            + f" | {fmt_iqm(overall[v])} | {fmt_iqm(tuned[v])} |"
        )
    lines += [
        "",
        provenance(rows),
        "",
        "![robustness grid](benchmarks/results/plots/cartpole_grid.png)",
        "![performance profiles](benchmarks/results/plots/cartpole_profiles.png)",
        "![curves at lr 1e-3](benchmarks/results/plots/cartpole_curves.png)",
        "![learning-rate traces](benchmarks/results/plots/cartpole_lr_traces.png)",
    ]
    _cartpole_plots(rows, complete, lrs, solved, scores, n_seeds)
    replace_section("rl-cartpole-grid", "\n".join(lines))
    return {"solved": solved, "overall": overall, "tuned": tuned, "n_seeds": n_seeds}


def _cartpole_plots(
    rows: list[dict[str, Any]],
    complete: list[str],
    lrs: list[float],
    solved: dict[str, dict[float, int]],
    scores: dict[str, np.ndarray],
    n_seeds: int,
) -> None:
    """The CartPole grid's four plots: seeds solved per cell, performance profiles, curves at the tuned lr, and
    each variant's effective lr (seed 0)."""
    PLOTS.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(lrs) + 2, 0.5 * len(complete) + 1.5))
    grid = np.array([[solved[v][lr] for lr in lrs] for v in complete])
    ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=n_seeds, aspect="auto")
    for i in range(len(complete)):
        for j in range(len(lrs)):
            ax.text(j, i, f"{grid[i, j]}/{n_seeds}", ha="center", va="center")
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(complete)), complete)
    ax.set_xlabel("base learning rate")
    ax.set_title("PPO CartPole-v1, 50k steps: seeds solved (>= 475)")
    save_figure(fig, PLOTS / "cartpole_grid.png")
    _profiles(scores, PLOTS / "cartpole_profiles.png")
    _curves(
        [r for r in rows if r["cell"]["lr"] == 1e-3],
        complete,
        "PPO CartPole-v1, base lr 1e-3",
        PLOTS / "cartpole_curves.png",
        475,
    )
    _lr_columns(rows, complete, lrs)


def _lr_columns(rows: list[dict[str, Any]], complete: list[str], lrs: list[float]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(lrs), figsize=(3.2 * len(lrs), 3), sharey=True)
    for ax, lr in zip(axes, lrs, strict=True):
        for i, v in enumerate(complete):
            run = next(
                (r for r in rows if r["cell"]["variant"] == v and r["cell"]["lr"] == lr and r["cell"]["seed"] == 0),
                None,
            )
            if run and run["curve"]:
                ax.plot([c["timesteps"] for c in run["curve"]], [c["lr"] for c in run["curve"]], color=f"C{i}", label=v)
        ax.set_yscale("log")
        ax.set_title(f"base lr {lr:g}")
        ax.set_xlabel("timesteps")
    axes[0].set_ylabel("effective lr (seed 0)")
    axes[-1].legend(fontsize=7)
    save_figure(fig, PLOTS / "cartpole_lr_traces.png", dpi=90)


def _profiles(scores: dict[str, np.ndarray], path) -> None:
    """rliable performance profiles: fraction of all cells (every lr and seed) with a final return above tau."""
    from rliable import library as rly
    from rliable import plot_utils

    plt = pyplot()
    taus = np.linspace(0.0, 499.0, 100)  # 500 is CartPole's cap: no return exceeds it
    np.random.seed(0)
    profiles, cis = rly.create_performance_profile(scores, taus, reps=2000)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(
        profiles,
        taus,
        performance_profile_cis=cis,
        colors={v: f"C{i}" for i, v in enumerate(scores)},
        xlabel="final return tau",
        ax=ax,
    )
    from matplotlib.lines import Line2D

    handles = [Line2D([0], [0], color=f"C{i}", lw=2) for i in range(len(scores))]
    ax.legend(handles, list(scores), fontsize=8, loc="lower left")
    ax.set_title("PPO CartPole-v1 lr grid: fraction of cells with final return > tau")
    save_figure(fig, path)


def timing() -> None:
    """Wall time of each suite as run here, from the runs' own records."""
    lines = ["| suite | runs | core-hours | wall time on 2 cores (core-hours / 2) |", "|---|---:|---:|---:|"]
    for suite in SUITES:
        rows = load(suite)
        if rows:
            hours = sum(r["wall_s"] for r in rows) / 3600
            minutes = 60 * hours / 2
            wall = "under 1 min" if minutes < 1 else f"about {minutes:.0f} min"
            lines.append(f"| `{suite}` | {len(rows)} | {hours:.2f} | {wall} |")
    replace_section("timing", "\n".join(lines))
    replace_section("timing", "\n".join(lines), README_MD)


def _curves(rows: list[dict[str, Any]], variants: list[str], title: str, path, threshold: float | None) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, v in enumerate(variants):
        runs = [r["curve"] for r in rows if r["cell"]["variant"] == v and r["curve"]]
        if not runs:
            continue
        grid, curves = on_grid(runs, "return")
        mean, low, high = mean_band(curves)
        ax.plot(grid, mean, color=f"C{i}", label=f"{v} ({len(runs)} seeds)")
        ax.fill_between(grid, low, high, color=f"C{i}", alpha=0.2)
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls="--", lw=1)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("training return (last 100 episodes)")
    ax.set_title(f"{title}: mean, 95% bootstrap band")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def _first_reach(curve: list[dict[str, float]], threshold: float) -> float:
    for c in curve:
        if c["return"] >= threshold:
            return c["timesteps"]
    return np.inf


def _first_change(curve: list[dict[str, float]]) -> float:
    """Timesteps at which the effective lr first differs from its starting value (inf: never)."""
    for c in curve:
        if not np.isclose(c["lr"], curve[0]["lr"], rtol=1e-9, atol=0.0):
            return c["timesteps"]
    return np.inf


def _paired(rows: list[dict[str, Any]], variants: list[str]) -> list[str]:
    """Each variant against ``fixed`` seed by seed: a seed's runs are the same run until the lr first moves."""
    lines = [
        "Paired by seed (same seed: the same run as `fixed` until the variant first moves the lr): mean difference "
        "of the final return against `fixed`, percentile bootstrap 95% CI over seeds.",
        "",
        "| variant | paired seeds | mean difference vs `fixed` [95% CI] | seeds better / worse | median step of the "
        "first lr change |",
        "|---|---:|---|---:|---:|",
    ]
    for v in variants:
        if v == "fixed":
            continue
        runs, diff = paired_differences(rows, v)
        if not runs:
            continue
        low, high = bootstrap_ci(diff, stat=np.mean)
        change = np.median([_first_change(r["curve"]) for r in runs])
        lines.append(
            f"| {v} | {len(diff)} | {diff.mean():+.1f} [{low:+.1f}, {high:+.1f}] | {int((diff > 0).sum())} / "
            f"{int((diff < 0).sum())} | {'never' if not np.isfinite(change) else f'{change:,.0f}'} |"
        )
    return lines


def paired_differences(rows: list[dict[str, Any]], variant: str) -> tuple[list[dict[str, Any]], np.ndarray]:
    """``variant``'s runs that have a ``fixed`` run of the same seed, and their final returns minus that run's."""
    fixed = {r["cell"]["seed"]: r["final"]["mean"] for r in rows if r["cell"]["variant"] == "fixed"}
    runs = [r for r in rows if r["cell"]["variant"] == variant and r["cell"]["seed"] in fixed]
    return runs, np.array([r["final"]["mean"] - fixed[r["cell"]["seed"]] for r in runs])


def _lr_traces(rows: list[dict[str, Any]], variants: list[str], title: str, path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, v in enumerate(variants):
        for j, r in enumerate(r for r in rows if r["cell"]["variant"] == v and r["curve"]):
            steps = [c["timesteps"] for c in r["curve"]]
            ax.plot(steps, [c["lr"] for c in r["curve"]], color=f"C{i}", alpha=0.6, lw=1, label=v if j == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("effective learning rate")
    ax.set_title(f"{title}: effective lr of every run")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def lunarlander() -> dict[str, Any] | None:
    rows = load("lunarlander")
    if not rows:
        return None
    variants = variants_in(rows, "lunarlander")
    by_seed = {
        v: sorted((r for r in rows if r["cell"]["variant"] == v), key=lambda r: r["cell"]["seed"]) for v in variants
    }
    finals = {v: np.array([r["final"]["mean"] for r in by_seed[v]]) for v in variants}
    stats = iqm_ci(finals)
    planned = SUITES["lunarlander"]["seeds"]  # the suite's own seed count, before any extension with --seeds
    first = iqm_ci({v: finals[v][:planned] for v in variants if len(finals[v]) >= planned})
    lines = [
        "PPO on LunarLander-v3 with rl-zoo's settings, 500k steps. Final return: mean of 10 deterministic evaluation "
        "episodes; IQM over seeds with a 95% stratified bootstrap CI (rliable). Steps to 200: first time the training "
        "return (mean of the last 100 episodes) reaches 200; median over seeds (a seed that never does counts as "
        f"never). Seeds 0-{planned - 1} were the suite's planned run; where a variant has more, the column 'first "
        f"{planned} seeds' shows what those alone gave, so that adding seeds cannot hide a first answer.",
        "",
        f"| variant | seeds | IQM final return [95% CI] | first {planned} seeds | seeds >= 200 at the end | "
        "median steps to 200 |",
        "|---|---:|---|---|---:|---:|",
    ]
    for v in variants:
        reach = [_first_reach(r["curve"], 200.0) for r in by_seed[v]]
        med = np.median(reach)
        head = fmt_iqm(first[v]) if v in first and len(finals[v]) > planned else "-"
        lines.append(
            f"| {v} | {stats[v]['runs']} | {fmt_iqm(stats[v])} | {head} | {int((finals[v] >= 200).sum())}/"
            f"{len(finals[v])} | {'never' if not np.isfinite(med) else f'{med:,.0f}'} |"
        )
    lines += ["", *_paired(rows, variants)]
    lines += [
        "",
        provenance(rows),
        "",
        "![LunarLander curves](benchmarks/results/plots/lunarlander_curves.png)",
        "![LunarLander lr traces](benchmarks/results/plots/lunarlander_lr_traces.png)",
    ]
    PLOTS.mkdir(parents=True, exist_ok=True)
    _curves(rows, variants, "PPO LunarLander-v3", PLOTS / "lunarlander_curves.png", 200)
    _lr_traces(rows, variants, "PPO LunarLander-v3", PLOTS / "lunarlander_lr_traces.png")
    replace_section("rl-lunarlander", "\n".join(lines))
    return {"all": stats, "first": first, "planned": planned, "seeds": {v: len(finals[v]) for v in variants}}


def a2c_dqn() -> dict[str, tuple[int, int]]:
    """Write the A2C/DQN section; return, per algorithm, (seeds where `default` is `fixed` exactly, seeds paired)."""
    rows = load("a2c_dqn")
    identity: dict[str, tuple[int, int]] = {}
    if not rows:
        return identity
    lines = [
        "A2C and DQN on CartPole-v1 at the agents' budgets (rl-zoo: A2C 500k steps, DQN 200k steps). Final return "
        "over 10 deterministic episodes; IQM over seeds, 95% stratified bootstrap CI (rliable).",
        "",
        "| algorithm | variant | seeds | IQM final return [95% CI] | solved (>= 475) |",
        "|---|---|---:|---|---:|",
    ]
    for algo in ("a2c", "dqn"):
        sub = [r for r in rows if r["cell"]["algo"] == algo]
        if not sub:
            continue
        variants = variants_in(sub, "a2c_dqn")
        finals = {v: np.array([r["final"]["mean"] for r in sub if r["cell"]["variant"] == v]) for v in variants}
        stats = iqm_ci(finals)
        for v in variants:
            lines.append(
                f"| {algo.upper()} | {v} | {stats[v]['runs']} | {fmt_iqm(stats[v])} | "
                f"{int((finals[v] >= 475).sum())}/{len(finals[v])} |"
            )
    for algo in ("a2c", "dqn"):  # where today's default is the bare optimizer: are its runs the fixed runs, exactly?
        pairs = {(r["cell"]["variant"], r["cell"]["seed"]): r for r in rows if r["cell"]["algo"] == algo}
        if default_twin(algo) != "fixed":
            commits = sorted({r["commit"] for (v, _), r in pairs.items() if v == "default"})
            lines += [
                "",
                f"{algo.upper()}: these `default` runs are of the default at `{'`, `'.join(commits)}`, the KL rule "
                "alone, the bare optimizer here. Today's default acts on "
                f"{algo.upper()} (the cautious trust-region rule): see the lr grids section.",
            ]
            continue
        same = differ = 0
        for (variant, seed), run in sorted(pairs.items()):
            twin = pairs.get(("fixed", seed))
            if variant == "default" and twin is not None:
                identical = run["final"]["returns"] == twin["final"]["returns"] and [
                    c["return"] for c in run["curve"]
                ] == [c["return"] for c in twin["curve"]]
                same += identical
                differ += not identical
        if same + differ:
            identity[algo] = (same, same + differ)
            lines += [
                "",
                f"{algo.upper()}: `default` and `fixed` give identical learning curves and final evaluations for "
                f"{same} of {same + differ} seeds.",
            ]
    lines += ["", provenance(rows)]
    replace_section("rl-a2c-dqn", "\n".join(lines))
    return identity


def digits() -> None:
    rows = load("digits")
    if not rows:
        return
    variants = variants_in(rows, "digits")
    finals = {v: np.array([r["final"]["mean"] for r in rows if r["cell"]["variant"] == v]) for v in variants}
    stats = iqm_ci(finals)
    lines = [
        "Supervised sanity check: a 64-128-10 MLP on scikit-learn's digits, AdamW (lr 1e-3, weight decay 0.01), "
        f"{SUITES['digits']['epochs']} epochs, batch 64; `fixed` is plain AdamW. Held-out accuracy after the last "
        "epoch; IQM over seeds, 95% stratified bootstrap CI (rliable).",
        "",
        "| variant | seeds | IQM test accuracy [95% CI] |",
        "|---|---:|---|",
    ]
    for v in variants:
        lines.append(f"| {v} | {stats[v]['runs']} | {fmt_iqm(stats[v], 4)} |")
    lines += ["", provenance(rows)]
    replace_section("digits", "\n".join(lines))


#: The default preset these twins are proven for (tests/test_default.py); another default has no twin.
