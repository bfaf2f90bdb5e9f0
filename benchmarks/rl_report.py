"""Statistics, plots and BENCHMARKS.md sections from the RL benchmark's result files (``python -m benchmarks.rl
report``). Every number it writes is computed here from ``benchmarks/results/<suite>/*.json``."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks._common import RESULTS, ROOT, bootstrap_ci, iqm_ci, replace_section
from benchmarks.suites import SUITES, load, lr_mults
from rl_adaptive.app.stats import mean_band, on_grid

PLOTS = RESULTS / "plots"
README_MD = ROOT / "README.md"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, dpi: int = 100) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _plt().close(fig)


def _provenance(rows: list[dict[str, Any]]) -> str:
    commits = sorted({r["commit"] for r in rows})
    hashes = sorted({r.get("code_hash", "unrecorded") for r in rows})
    m = rows[0]["machine"]
    walls = [r["wall_s"] for r in rows]
    return (
        f"{len(rows)} runs at commit(s) {', '.join(f'`{c}`' for c in commits)} (library code hash "
        f"{', '.join(f'`{h}`' for h in hashes)}) on {m['processor']}, "
        f"{m['cpus']} CPUs, torch {m['torch']}, one process per core; median {np.median(walls):.0f} s per run, "
        f"{sum(walls) / 3600:.2f} core-hours in all."
    )


def _fmt(s: dict[str, float], digits: int = 1) -> str:
    return f"{s['iqm']:.{digits}f} [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"


def _variants(rows: list[dict[str, Any]], suite: str) -> list[str]:
    order = SUITES[suite]["variants"]
    present = {r["cell"]["variant"] for r in rows}
    return [v for v in order if v in present] + sorted(present - set(order))


def cartpole_grid() -> dict[str, Any] | None:
    rows = load("cartpole_grid")
    if not rows:
        return None
    lrs = SUITES["cartpole_grid"]["lrs"]
    variants = _variants(rows, "cartpole_grid")
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
            + f" | {_fmt(overall[v])} | {_fmt(tuned[v])} |"
        )
    lines += [
        "",
        _provenance(rows),
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
    plt = _plt()
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
    _save(fig, PLOTS / "cartpole_grid.png")
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
    plt = _plt()
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
    _save(fig, PLOTS / "cartpole_lr_traces.png", dpi=90)


def _profiles(scores: dict[str, np.ndarray], path) -> None:
    """rliable performance profiles: fraction of all cells (every lr and seed) with a final return above tau."""
    from rliable import library as rly
    from rliable import plot_utils

    plt = _plt()
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
    _save(fig, path)


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
    plt = _plt()
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
    _save(fig, path)


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
        runs, diff = _paired_differences(rows, v)
        if not runs:
            continue
        low, high = bootstrap_ci(diff, stat=np.mean)
        change = np.median([_first_change(r["curve"]) for r in runs])
        lines.append(
            f"| {v} | {len(diff)} | {diff.mean():+.1f} [{low:+.1f}, {high:+.1f}] | {int((diff > 0).sum())} / "
            f"{int((diff < 0).sum())} | {'never' if not np.isfinite(change) else f'{change:,.0f}'} |"
        )
    return lines


def _paired_differences(rows: list[dict[str, Any]], variant: str) -> tuple[list[dict[str, Any]], np.ndarray]:
    """``variant``'s runs that have a ``fixed`` run of the same seed, and their final returns minus that run's."""
    fixed = {r["cell"]["seed"]: r["final"]["mean"] for r in rows if r["cell"]["variant"] == "fixed"}
    runs = [r for r in rows if r["cell"]["variant"] == variant and r["cell"]["seed"] in fixed]
    return runs, np.array([r["final"]["mean"] - fixed[r["cell"]["seed"]] for r in runs])


def _lr_traces(rows: list[dict[str, Any]], variants: list[str], title: str, path) -> None:
    plt = _plt()
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
    _save(fig, path)


def lunarlander() -> dict[str, Any] | None:
    rows = load("lunarlander")
    if not rows:
        return None
    variants = _variants(rows, "lunarlander")
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
        head = _fmt(first[v]) if v in first and len(finals[v]) > planned else "-"
        lines.append(
            f"| {v} | {stats[v]['runs']} | {_fmt(stats[v])} | {head} | {int((finals[v] >= 200).sum())}/"
            f"{len(finals[v])} | {'never' if not np.isfinite(med) else f'{med:,.0f}'} |"
        )
    lines += ["", *_paired(rows, variants)]
    lines += [
        "",
        _provenance(rows),
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
        variants = _variants(sub, "a2c_dqn")
        finals = {v: np.array([r["final"]["mean"] for r in sub if r["cell"]["variant"] == v]) for v in variants}
        stats = iqm_ci(finals)
        for v in variants:
            lines.append(
                f"| {algo.upper()} | {v} | {stats[v]['runs']} | {_fmt(stats[v])} | "
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
    lines += ["", _provenance(rows)]
    replace_section("rl-a2c-dqn", "\n".join(lines))
    return identity


def digits() -> None:
    rows = load("digits")
    if not rows:
        return
    variants = _variants(rows, "digits")
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
        lines.append(f"| {v} | {stats[v]['runs']} | {_fmt(stats[v], 4)} |")
    lines += ["", _provenance(rows)]
    replace_section("digits", "\n".join(lines))


#: The default preset these twins are proven for (tests/test_default.py); another default has no twin.
_TWINNED_DEFAULT = {"lr_rule": "kl+trust_region_fallback"}


def default_twin(algo: str) -> str:
    """The variant whose cells the default's are, bit for bit, on ``algo`` (tests/test_default.py): on PPO the KL
    rule alone (``kl``: the trust-region fallback stands by), on the algorithms of ``FALLBACK_ALGOS`` (A2C) the
    cautious trust-region rule (``trust_region_cautious``), elsewhere the bare optimizer (``fixed``); the default
    itself (``default``) when the preset is not the one those tests prove."""
    from rl_adaptive.presets import DEFAULT_PRESET, PRESETS
    from rl_adaptive.sb3 import FALLBACK_ALGOS, KL_ALGOS

    if PRESETS[DEFAULT_PRESET] != _TWINNED_DEFAULT:
        return DEFAULT_PRESET
    name = algo.upper()
    return "kl" if name in KL_ALGOS else "trust_region_cautious" if name in FALLBACK_ALGOS else "fixed"


def default_variant(variants: list[str], algo: str = "ppo") -> str | None:
    """The evaluated variant that stands for the default on ``algo``: ``default``'s own cells, else its twin's."""
    from rl_adaptive.presets import DEFAULT_PRESET

    for v in (DEFAULT_PRESET, default_twin(algo)):
        if v in variants:
            return v
    return None


def rule_verdicts(grid: dict[str, Any] | None) -> None:
    """Each variant against fixed on the grid: cells solved and where its IQM's CI lies relative to fixed's."""
    if grid is None or "fixed" not in grid["solved"]:
        return
    fixed_n = sum(grid["solved"]["fixed"].values())
    f = grid["overall"]["fixed"]
    lines = [
        "| variant | cells solved vs `fixed` | IQM over all cells vs `fixed`'s 95% CI | reading |",
        "|---|---:|---|---|",
    ]
    for v, per_lr in grid["solved"].items():
        if v == "fixed":
            continue
        n = sum(per_lr.values())
        s = grid["overall"][v]
        where = "above" if s["ci_low"] > f["ci_high"] else "below" if s["ci_high"] < f["ci_low"] else "overlapping"
        worse_lrs = [f"{lr:g}" for lr in per_lr if per_lr[lr] < grid["solved"]["fixed"][lr]]
        margin = 0.1 * grid["n_seeds"] * len(per_lr)  # 10% of the cells
        if where == "above" or (n - fixed_n >= margin and where != "below"):
            reading = "helps"
        elif where == "below" or fixed_n - n >= margin:
            reading = "hurts"
        else:
            reading = "no clear difference"
        if worse_lrs:
            reading += f"; fewer solved than `fixed` at lr {', '.join(worse_lrs)}"
        lines.append(
            f"| {v} | {n - fixed_n:+d} | CI {where} (`{v}` [{s['ci_low']:.1f}, {s['ci_high']:.1f}], `fixed` "
            f"[{f['ci_low']:.1f}, {f['ci_high']:.1f}]) | {reading} |"
        )
    replace_section("rule-verdicts", "\n".join(lines))


def verdict(grid: dict[str, Any] | None, ll: dict[str, Any] | None, identity: dict[str, tuple[int, int]]) -> None:
    """The default's targets, checked; written to BENCHMARKS.md and to the README's evidence section."""
    from rl_adaptive.presets import DEFAULT_PRESET, PRESETS

    if grid is None:
        return
    variants = list(grid["solved"])
    default = default_variant(variants)
    lines = [
        f"The default preset (`{DEFAULT_PRESET}` = `{PRESETS[DEFAULT_PRESET]}`) is, on PPO, the evaluated variant "
        f"`{default}`. The targets set for it (issue 5), checked against the measurements in BENCHMARKS.md:",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    if default is None:
        replace_section("verdict", "The default preset has not been evaluated yet.")
        return
    total = grid["n_seeds"] * 5
    n_def, n_fix = sum(grid["solved"][default].values()), sum(grid["solved"]["fixed"].values())
    lines.append(
        f"| CartPole grid: >= 90% of cells solved, strictly more than `fixed` | `{default}` {n_def}/{total} "
        f"({100 * n_def / total:.0f}%), `fixed` {n_fix}/{total} | "
        f"{'yes' if n_def >= 0.9 * total and n_def > n_fix else 'no'} |"
    )
    t_def, t_fix = grid["tuned"][default], grid["tuned"]["fixed"]
    lines.append(
        f"| CartPole at the tuned lr 1e-3: IQM not below `fixed`'s CI | `{default}` {t_def['iqm']:.1f}, "
        f"`fixed` CI [{t_fix['ci_low']:.1f}, {t_fix['ci_high']:.1f}] | "
        f"{'yes' if t_def['iqm'] >= t_fix['ci_low'] else 'no'} |"
    )
    if ll is not None and default in ll["all"] and "fixed" in ll["all"]:
        d, f = ll["all"][default], ll["all"]["fixed"]
        measured = f"`{default}` {_fmt(d)}, `fixed` {_fmt(f)} ({d['runs']} seeds)"
        if ll["seeds"][default] > ll["planned"] and default in ll["first"] and "fixed" in ll["first"]:
            d5, f5 = ll["first"][default], ll["first"]["fixed"]
            measured += f"; first {ll['planned']} seeds: `{default}` {_fmt(d5)}, `fixed` {_fmt(f5)}"
        lines.append(
            f"| LunarLander-v3, 500k steps: IQM >= 200 and not worse than `fixed` | {measured} | "
            f"{'yes' if d['iqm'] >= 200 and d['iqm'] >= f['ci_low'] else 'no'} |"
        )
    else:
        lines.append(f"| LunarLander-v3, 500k steps: IQM >= 200 and not worse than `fixed` | `{default}` not run | - |")
    for algo, (same, total) in identity.items():
        lines.append(
            f"| {algo.upper()} on CartPole-v1 (no KL recorded): `default` is the bare optimizer | identical learning "
            f"curves and evaluations for {same}/{total} seeds | {'yes' if same == total else 'no'} |"
        )
    replace_section("verdict", "\n".join(lines))
    replace_section("verdict", "\n".join(lines), README_MD)


def _sig(x: float, digits: int = 2) -> float:
    return float(f"{x:.{digits}g}")


def update_sizes() -> dict[tuple[str, str], float]:
    """The update sizes each algorithm takes at rl-zoo's tuned settings, and the probe's share of training time.

    Returns the median of what the trust-region rule reads (the update channel's fast average, replayed through
    the same ``SignalStats``) per (algorithm, optimizer role), rounded to 2 significant digits: its targets. The
    section compares them with ``rl_adaptive.sb3.UPDATE_TARGETS``.
    """
    from rl_adaptive.sb3 import UPDATE_TARGETS
    from rl_adaptive.sb3.probe import POWERS
    from rl_adaptive.signals import SignalStats

    def smoothed(sizes: list[float]) -> list[float]:
        stats, out = SignalStats(), []  # the optimizer's default signal_betas
        for size in sizes:
            stats.push(size)
            out.append(stats.fast)
        return out

    rows = load("update_sizes")
    medians: dict[tuple[str, str], float] = {}
    if not rows:
        return medians
    kinds = {("ppo", "policy"): "kl", ("a2c", "policy"): "kl", ("dqn", "policy"): "relative"}
    kinds |= {("sac", "actor"): "kl", ("sac", "critic"): "relative"}
    kinds |= {("td3", "actor"): "action", ("td3", "critic"): "relative"}
    lines = [
        "What one measured window moves at rl-zoo's tuned hyperparameters and budgets, the lr held constant at its "
        "tuned value as on the grids (PPO's `lin_1e-3` becomes 1e-3): the wrapper with no rule (the bare optimizer, "
        "bit for bit) and `AdaptiveCallback`'s probe on 256 transitions. A window is one PPO phase, "
        "10 A2C phases (10 optimizer steps), one DQN phase (128 steps), or 100 SAC/TD3 gradient steps. `kl` is "
        "KL(old || new) of the action distribution, `relative` the relative change of Q-values or critic "
        "predictions, `action` the change of a deterministic actor's actions over the action range. The rule reads "
        "the channel's fast average (EMA 0.8, bias-corrected); the median of that average over every window of "
        "every seed (2 significant digits) is the trust-region target for the algorithm and optimizer "
        "(`rl_adaptive.sb3.UPDATE_TARGETS`). The probe's share of training time is its own measured seconds "
        "(snapshots and measures) over the run's wall time.",
        "",
        "| algorithm | env | optimizer | kind | seeds | windows | size: median [25%, 75%] | fast average: median "
        "[25%, 75%] | UPDATE_TARGETS | probe share of training time, median [min, max] | final return (median) |",
        "|---|---|---|---|---:|---:|---|---|---:|---|---:|",
    ]
    mismatched = []
    for algo in SUITES["update_sizes"]["algo"]:
        sub = [r for r in rows if r["cell"]["algo"] == algo]
        if not sub:
            continue
        shares = [r["probe_s"] / r["wall_s"] for r in sub]
        finals = np.median([r["final"]["mean"] for r in sub])
        for role in sorted({u["role"] for r in sub for u in r["updates"]}):
            per_run = [[u["size"] for u in r["updates"] if u["role"] == role] for r in sub]
            sizes = np.concatenate([np.array(x, dtype=float) for x in per_run])
            fast = np.concatenate([np.array(smoothed(x), dtype=float) for x in per_run])
            median = _sig(float(np.median(fast)))
            medians[(algo, role)] = median
            q1, q3 = np.percentile(sizes, [25, 75])
            f1, f3 = np.percentile(fast, [25, 75])
            library = UPDATE_TARGETS.get(algo.upper(), {}).get(role)
            if library != median:
                mismatched.append(f"{algo.upper()} {role}")
            kind = kinds.get((algo, role), "?")
            lines.append(
                f"| {algo.upper()} | {sub[0]['cell']['env']} | {role} | {kind} | {len(sub)} | {len(sizes)} | "
                f"{np.median(sizes):.2g} [{q1:.2g}, {q3:.2g}] | {median:.2g} [{f1:.2g}, {f3:.2g}] | "
                f"{library if library is not None else '-'} | "
                f"{100 * np.median(shares):.2f}% [{100 * min(shares):.2f}, {100 * max(shares):.2f}] | {finals:.1f} |"
            )
    lines += [
        "",
        "UPDATE_TARGETS matches these medians."
        if not mismatched
        else f"UPDATE_TARGETS differs from these medians for: {', '.join(mismatched)}.",
        "",
        f"The rule turns a size ratio into an lr ratio with the exponent of its kind ({POWERS}).",
        "",
        _provenance(rows),
    ]
    replace_section("update-sizes", "\n".join(lines))
    return medians


def screen() -> None:
    """The every-algorithm issue's screen: each new rule on PPO and A2C, CartPole-v1, lr x {0.1, 1, 10}, 3 seeds."""
    rows = load("screen")
    if not rows:
        return
    spec = SUITES["screen"]
    mults = spec["lr_mults"]
    budgets = spec["timesteps"]
    lines = [
        f"PPO and A2C on CartPole-v1 with rl-zoo's hyperparameters, {budgets['ppo'] // 1000}k and "
        f"{budgets['a2c'] // 1000}k steps (rl-zoo's budgets are 100k and 500k: shortened to fit a sitting, the same "
        "for every variant), a constant lr of the tuned value (PPO 1e-3, A2C 7e-4) times 0.1, 1 and 10. Solved: "
        "mean return >= 475 over 10 deterministic episodes. IQM of final returns over every cell of the "
        "algorithm, 95% stratified bootstrap CI over seeds within each multiplier (rliable). `kl` and "
        "`trust_region_k5` (the trust-region rule measured every 5 optimizer steps inside the phase) are PPO only; "
        "`adam_rel` needs Adam, and A2C's optimizer is RMSprop.",
        "",
    ]
    traces: dict[str, list[dict[str, Any]]] = {}
    for algo in spec["algo"]:
        sub = [r for r in rows if r["cell"]["algo"] == algo]
        if not sub:
            continue
        final: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in sub:
            final[r["cell"]["variant"]][r["cell"]["lr_mult"]].append(r["final"]["mean"])
        variants = [v for v in _variants(sub, "screen") if all(final[v][m] for m in mults)]
        if not variants:
            continue
        n = min(len(final[v][m]) for v in variants for m in mults)
        stats = iqm_ci({v: np.array([final[v][m][:n] for m in mults]).T for v in variants})
        lines += [
            f"**{algo.upper()}**, {n} seeds per cell:",
            "",
            "| variant | solved | " + " | ".join(f"lr x{m:g}" for m in mults) + " | IQM, all cells [95% CI] |",
            "|---|---:|" + "---:|" * len(mults) + "---|",
        ]
        for v in variants:
            solved = {m: int(np.sum(np.array(final[v][m][:n]) >= 475)) for m in mults}
            total = sum(solved.values())
            lines.append(
                f"| {v} | {total}/{n * len(mults)} | "
                + " | ".join(f"{solved[m]}/{n}" for m in mults)
                + f" | {_fmt(stats[v])} |"
            )
        lines.append("")
        traces[algo] = [r for r in sub if r["cell"]["seed"] == 0 and r["cell"]["variant"] in variants]
    lines.append(_provenance(rows))
    if not traces:
        replace_section("rl-screen", "\n".join(lines))
        return
    lines += ["", "![lr traces, seed 0](benchmarks/results/plots/screen_lr_traces.png)"]
    plt = _plt()
    fig, axes = plt.subplots(len(traces), len(mults), figsize=(3.4 * len(mults), 2.8 * len(traces)), squeeze=False)
    order = _variants(rows, "screen")  # one colour per variant, in the suite's order
    for row, (algo, runs) in zip(axes, traces.items(), strict=True):
        for ax, m in zip(row, mults, strict=True):
            for r in runs:
                if r["cell"]["lr_mult"] == m and r["curve"]:
                    i = order.index(r["cell"]["variant"])
                    ax.plot(
                        [c["timesteps"] for c in r["curve"]],
                        [c["lr"] for c in r["curve"]],
                        color=f"C{i}",
                        label=r["cell"]["variant"],
                    )
            ax.set_yscale("log")
            ax.set_title(f"{algo.upper()}, lr x{m:g}", fontsize=9)
        row[0].set_ylabel("effective lr")
    axes[0][-1].legend(fontsize=7)
    PLOTS.mkdir(parents=True, exist_ok=True)
    _save(fig, PLOTS / "screen_lr_traces.png", dpi=90)
    replace_section("rl-screen", "\n".join(lines))


#: Why the default's cells are its twin's, as the grid's row label says it.
_TWIN_WHY = {
    "fixed": "the bare optimizer",
    "kl": "the same rule",
    "trust_region_cautious": "the same rule",
}
#: The learning-rate-free optimizers the evidence issue measures the default against.
GRID_COMPETITORS = ("prodigy", "schedulefree", "dadaptation")


def algos_grid() -> None:
    """The evidence issue: every algorithm's lr grid, the competitors on it, and the default's targets."""
    from rl_adaptive.app.training import SOLVED
    from rl_adaptive.presets import DEFAULT_PRESET, PRESETS

    rows = load("algos_grid")
    if not rows:
        return
    spec = SUITES["algos_grid"]
    budgets = spec["timesteps"]
    shared = lr_mults("algos_grid", "ppo")  # the grid every algorithm has unless it was widened
    widened = spec.get("widened", {})
    lines = [
        "Every algorithm at rl-zoo's tuned hyperparameters (read from the installed rl_zoo3's hyperparams files), a "
        "constant lr of the tuned value times "
        + ", ".join(f"{m:g}" for m in shared)
        + "".join(
            f" ({a.upper()}: {', '.join(f'{m:g}' for m in lr_mults('algos_grid', a))}, widened: {why})"
            for a, why in widened.items()
        )
        + "; each competitor's grid "
        "is the same multipliers of its own recommended lr (1.0 for Prodigy and D-Adaptation, 0.0025 for "
        "Schedule-Free AdamW). Budgets: rl-zoo's, except PPO's, shortened from 100k to "
        f"{budgets['ppo'] // 1000}k steps because fixed PPO at the tuned lr is solved by then. Solved: mean return "
        "over 10 deterministic episodes >= 475 (CartPole-v1) or >= -200 (Pendulum-v1). IQM of the final returns "
        "over every cell, 95% stratified bootstrap CI over seeds within each multiplier (rliable).",
        "",
    ]
    verdicts = [
        f"The default preset (`{DEFAULT_PRESET}` = `{PRESETS[DEFAULT_PRESET]}`) on every algorithm's lr grid "
        '(section "Every algorithm: lr grids against the learning-rate-free optimizers" of BENCHMARKS.md). '
        "On each algorithm one rule of it acts, and where the default's own cells are not on disk its row is that "
        "rule's cells (the same training bit for bit, tests/test_default.py): "
        + ", ".join(f"{a.upper()} `{default_twin(a)}`" for a in spec["algo"])
        + ". `not run yet`: the cells are not all on disk.",
        "",
        "| algorithm | target | measured | met |",
        "|---|---|---|---|",
    ]
    for algo in spec["algo"]:
        sub = [r for r in rows if r["cell"]["algo"] == algo]
        env = spec["env"][algo]
        mults = lr_mults("algos_grid", algo)
        grid = _grid_cells(sub, mults, SOLVED[env])
        twin = default_twin(algo)
        if "default" not in grid and twin in grid:
            grid["default"] = grid[twin]
        if not grid:
            verdicts.append(f"| {algo.upper()} | all | no cell run | not run yet |")
            continue
        stats = iqm_ci({v: g["scores"] for v, g in grid.items()})
        steps = max(r["trained_timesteps"] for r in sub)
        lines += [
            f"**{algo.upper()}** on {env}, {steps:,} steps, seeds per cell as shown:",
            "",
            "| variant | seeds | solved | fixed, same seeds | "
            + " | ".join(f"lr x{m:g}" for m in mults)
            + " | IQM, all cells [95% CI] |",
            "|---|---:|---:|---:|" + "---:|" * len(mults) + "---|",
        ]
        for v, g in grid.items():
            total = g["n"] * len(mults)
            stands_in = v == "default" and g is grid.get(twin)  # the twin's cells, not the default's own
            label = f"default (= {twin}: {_TWIN_WHY[twin]})" if stands_in else v
            lines.append(
                f"| {label} | {g['n']} | {sum(g['solved'].values())}/{total} | "
                f"{_fixed_on_seeds(grid, g['n'], SOLVED[env], total)} | "
                + " | ".join(f"{g['solved'][m]}/{g['n']}" for m in mults)
                + f" | {_fmt(stats[v])} |"
            )
        if "fixed" in grid and all(s == grid["fixed"]["n"] for s in grid["fixed"]["solved"].values()):
            lines += ["", f"Fixed {algo.upper()} solves every cell: this grid cannot show a gain; widen it."]
        if algo == "ppo":
            mode = [k for r in sub if r["cell"]["variant"] == "schedulefree" for k in r.get("mode_kl", [])]
            if mode:
                lines += [
                    "",
                    f"Schedule-Free's train/eval switch: KL(pi_x || pi_y) between the averaged weights that collect "
                    f"the rollout and the weights PPO's first minibatch steps from, median {np.median(mode):.2g} "
                    f"[25%: {np.percentile(mode, 25):.2g}, 75%: {np.percentile(mode, 75):.2g}] over {len(mode)} "
                    "phases: the probability ratio starts away from 1 before any gradient step.",
                ]
        lines.append("")
        verdicts += _grid_targets(algo, grid)
    verdicts.append(_lunarlander_paired())
    lines += [*_twin_checks(), _provenance(rows)]
    replace_section("algos-grid", "\n".join(lines))
    replace_section("algos-verdict", "\n".join(verdicts))
    replace_section("algos-verdict", "\n".join(verdicts), README_MD)


def _twin_checks() -> list[str]:
    """What ``benchmarks.default_twins`` found: today's default run again on full-length cells, against the cells
    the default's rows report."""
    path = RESULTS / "default_twins.json"
    if not path.exists():
        return []
    checks = json.loads(path.read_text())
    same = [c for c in checks if c["identical"]]

    def outcome(c: dict[str, Any]) -> str:
        if c["identical"]:
            return "identical"
        now = c.get("twin_now_identical")
        text = f"different (final {c['final']:.1f} against {c['reference_final']:.1f})"
        if now is not None:
            text += f"; against the twin run at `{c['commit']}`: {'identical' if now else 'different'}"
        return text

    listed = "; ".join(
        f"{c['cell_id']} at `{c['commit']}` against {c['reference']} at `{c['reference_commit']}`: {outcome(c)}"
        for c in checks
    )
    return [
        f"The default run again on full-length cells (`python -m benchmarks.default_twins`): identical learning "
        f"curves and final evaluations to the cells its rows report for {len(same)} of {len(checks)} ({listed}).",
        "",
    ]


def _fixed_on_seeds(grid: dict[str, dict[str, Any]], n: int, threshold: float, total: int) -> str:
    """Cells ``fixed`` solved on a variant's seeds (the lowest ``n``, as :func:`_grid_cells` keeps), or "-"."""
    fixed = grid.get("fixed")
    if fixed is None or fixed["n"] < n:
        return "-"
    return f"{int(np.sum(fixed['scores'][:n] >= threshold))}/{total}"


def _grid_cells(sub: list[dict[str, Any]], mults: list[float], threshold: float) -> dict[str, dict[str, Any]]:
    """Per variant with every multiplier run: seeds per cell (the fewest over the multipliers, the lowest seeds
    kept), seeds solved (final return >= ``threshold``) per multiplier, and the final returns as a (seeds,
    multipliers) matrix."""
    by: dict[str, dict[float, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in sub:
        by[r["cell"]["variant"]][r["cell"]["lr_mult"]].append(r)
    out = {}
    for v in _variants(sub, "algos_grid"):
        if not all(by[v][m] for m in mults):
            continue
        n = min(len(by[v][m]) for m in mults)
        kept = {m: sorted(by[v][m], key=lambda r: r["cell"]["seed"])[:n] for m in mults}
        scores = np.array([[r["final"]["mean"] for r in kept[m]] for m in mults]).T
        out[v] = {
            "n": n,
            "solved": {m: int(np.sum(scores[:, j] >= threshold)) for j, m in enumerate(mults)},
            "scores": scores,
        }
    return out


def _lunarlander_paired(planned: int = 10) -> str:
    """The verdict row of PPO on LunarLander-v3: the default's paired difference against ``fixed``, seed by seed."""
    target = f"LunarLander-v3, 500k steps, {planned} seeds: paired difference against `fixed`"
    rows = load("lunarlander")
    default = default_variant(sorted({r["cell"]["variant"] for r in rows}))
    runs, diff = _paired_differences(rows, default) if default else ([], np.array([]))
    if len(runs) < planned:
        return f"| PPO | {target} | {len(runs)} paired seeds on disk | not run yet |"
    low, high = bootstrap_ci(diff, stat=np.mean)
    reading = "better" if low > 0 else "worse" if high < 0 else "no difference shown (the CI covers 0)"
    return (
        f"| PPO | {target} (a reading, not a pass/fail target) | `{default}` - `fixed`: mean {diff.mean():+.1f} "
        f"[{low:+.1f}, {high:+.1f}] over {len(diff)} seeds, {int((diff > 0).sum())} better / "
        f"{int((diff < 0).sum())} worse | {reading} |"
    )


def _grid_targets(algo: str, grid: dict[str, dict[str, Any]]) -> list[str]:
    """The evidence issue's targets for one algorithm: rows of the verdict table."""
    name = algo.upper()

    def frac(v: str) -> tuple[float, str]:
        g = grid[v]
        n, total = sum(g["solved"].values()), g["n"] * len(g["solved"])
        return n / total, f"`{v}` {n}/{total} ({100 * n / total:.0f}%)"

    def verdict(met: bool, *variants: str, why_not: str = "") -> str:
        """yes / no (with ``why_not``'s reason) once every variant has the seeds the issue asks for, else how many
        it has so far."""
        short = [
            f"`{v}` {grid[v]['n']} of {_seeds_needed(v)} seeds" for v in variants if grid[v]["n"] < _seeds_needed(v)
        ]
        return f"not yet: {', '.join(short)}" if short else "yes" if met else f"no: {why_not}" if why_not else "no"

    rows = []
    if "default" not in grid or "fixed" not in grid:
        return [f"| {name} | the default against `fixed` | `default` or `fixed` not on disk | not run yet |"]
    (fd, d_text), (ff, f_text) = frac("default"), frac("fixed")
    met = fd >= 0.9 and (fd > ff or fd == 1.0)
    bare = f"no rule acts on {name} (the default is the bare optimizer there)" if default_twin(algo) == "fixed" else ""
    outcome = verdict(met, "default", "fixed", why_not=bare)
    rows.append(f"| {name} | >= 90% of cells, more than `fixed` (or every cell) | {d_text}, {f_text} | {outcome} |")
    d1, f1 = grid["default"]["solved"][1.0], grid["fixed"]["solved"][1.0]
    nd, nf = grid["default"]["n"], grid["fixed"]["n"]
    rows.append(
        f"| {name} | at the tuned lr, no fewer seeds solved than `fixed` | `default` {d1}/{nd}, `fixed` "
        f"{f1}/{nf} | {verdict(d1 / nd >= f1 / nf, 'default', 'fixed')} |"
    )
    for c in GRID_COMPETITORS:
        if c not in grid:
            rows.append(f"| {name} | solved fraction above {c}'s | `{c}` not on disk | not run yet |")
            continue
        fc, c_text = frac(c)
        rows.append(f"| {name} | solved fraction above {c}'s | {d_text}, {c_text} | {verdict(fd > fc, 'default', c)} |")
    return rows


def _seeds_needed(variant: str) -> int:
    """Seeds the evidence issue asks for: 5 for the default and for fixed, 3 for a screening variant."""
    return 5 if variant in ("default", "fixed") else 3


def report() -> None:
    update_sizes()
    screen()
    algos_grid()
    grid = cartpole_grid()
    ll = lunarlander()
    identity = a2c_dqn()
    digits()
    verdict(grid, ll, identity)
    rule_verdicts(grid)
    timing()
    print("BENCHMARKS.md updated; plots in", PLOTS)
