"""The report's verdicts: the rules' screen, the summary verdict, the measured update sizes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks._common import iqm_ci, replace_section
from benchmarks.report_base import (
    PLOTS,
    README_MD,
    default_variant,
    fmt_iqm,
    provenance,
    pyplot,
    save_figure,
    significant,
    variants_in,
)
from benchmarks.suites import SUITES, load


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
    from rl_adaptive.presets import DEFAULT_PRESET
    from rl_adaptive.sb3 import ALGORITHMS

    if grid is None:
        return
    variants = list(grid["solved"])
    default = default_variant(variants)
    lines = [
        f"The default preset (`{DEFAULT_PRESET}`, on PPO `{dict(ALGORITHMS['PPO'].default)}`) is, on PPO, the "
        "evaluated variant "
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
        measured = f"`{default}` {fmt_iqm(d)}, `fixed` {fmt_iqm(f)} ({d['runs']} seeds)"
        if ll["seeds"][default] > ll["planned"] and default in ll["first"] and "fixed" in ll["first"]:
            d5, f5 = ll["first"][default], ll["first"]["fixed"]
            measured += f"; first {ll['planned']} seeds: `{default}` {fmt_iqm(d5)}, `fixed` {fmt_iqm(f5)}"
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
            median = significant(float(np.median(fast)))
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
        provenance(rows),
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
        variants = [v for v in variants_in(sub, "screen") if all(final[v][m] for m in mults)]
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
                + f" | {fmt_iqm(stats[v])} |"
            )
        lines.append("")
        traces[algo] = [r for r in sub if r["cell"]["seed"] == 0 and r["cell"]["variant"] in variants]
    lines.append(provenance(rows))
    if not traces:
        replace_section("rl-screen", "\n".join(lines))
        return
    lines += ["", "![lr traces, seed 0](benchmarks/results/plots/screen_lr_traces.png)"]
    plt = pyplot()
    fig, axes = plt.subplots(len(traces), len(mults), figsize=(3.4 * len(mults), 2.8 * len(traces)), squeeze=False)
    order = variants_in(rows, "screen")  # one colour per variant, in the suite's order
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
    save_figure(fig, PLOTS / "screen_lr_traces.png", dpi=90)
    replace_section("rl-screen", "\n".join(lines))


#: Why the default's cells are its twin's, as the grid's row label says it.


def closure_sizes() -> None:
    """What a gradient step of the value network closes of its own batch's TD error, per lr multiplier: the
    ``ClosureRule``'s target and dead band, checked against the tuned lr's median (suite ``closure_sizes``)."""
    from rl_adaptive.rules import ClosureRule
    from rl_adaptive.sb3 import TD_LOSSES

    rows = load("closure_sizes")
    if not rows:
        return
    rule = ClosureRule()
    assert rule.target is not None
    low, high = rule.target / rule.band, rule.target * rule.band
    lines = [
        "`rho`: the share of its own batch's TD error one gradient step of the value network closed, its targets "
        "frozen (`rl_adaptive.sb3.closure`), measured every 10 steps at rl-zoo's hyperparameters and a constant lr "
        "of the tuned value times the multiplier, the optimizer otherwise bare (a `ClosureRule` that never moves). "
        "Budgets are the first steps of each algorithm's run (the suite says how many). The median and quartiles are "
        "over the values after the first third of the measured steps (the first third, while the Q-values grow "
        f"from their start, is its own column). `ClosureRule`'s target is {rule.target:g}, its dead band "
        f"[{low:g}, {high:g}]: the rule leaves an lr alone while the fast average of `rho` stays inside.",
        "",
        "| algorithm | env | lr multiplier | values | first third: median | rest: median [25%, 75%] | "
        "above 1 (overshoot) | 0 (no step toward the targets) |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    for algo in SUITES["closure_sizes"]["algo"]:
        role = TD_LOSSES[algo.upper()][0]
        for r in sorted((r for r in rows if r["cell"]["algo"] == algo), key=lambda r: r["cell"]["lr_mult"]):
            ups = [(u["timesteps"], u["size"]) for u in r["updates"] if u["role"] == role]
            if not ups:
                continue
            t = np.array([u[0] for u in ups], dtype=float)
            v = np.array([u[1] for u in ups], dtype=float)
            cut = t[0] + (t[-1] - t[0]) / 3
            early, rest = v[t <= cut], v[t > cut]
            q1, med, q3 = np.percentile(rest, [25, 50, 75]) if len(rest) else (np.nan,) * 3
            lines.append(
                f"| {algo.upper()} | {r['cell']['env']} | x{r['cell']['lr_mult']:g} | {len(v)} | "
                f"{np.median(early):.3g} | {med:.3g} [{q1:.3g}, {q3:.3g}] | {np.mean(rest > 1):.0%} | "
                f"{np.mean(rest == 0):.0%} |"
            )
    lines += ["", provenance(rows)]
    replace_section("closure-sizes", "\n".join(lines))
