"""The report's section on every algorithm's lr grid, the competitors on it, the default's
targets."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks._common import RESULTS, bootstrap_ci, iqm_ci, replace_section
from benchmarks.report_base import README_MD, default_twin, default_variant, fmt_iqm, provenance, variants_in
from benchmarks.report_suites import paired_differences
from benchmarks.suites import SUITES, load, lr_mults

_TWIN_WHY = {
    "fixed": "the bare optimizer",
    "kl": "the same rule",
    "trust_region_cautious": "the same rule",
}
#: The learning-rate-free optimizers the lr grids measure the default against.
GRID_COMPETITORS = ("prodigy", "schedulefree", "dadaptation")


def algos_grid() -> None:
    """Every algorithm's lr grid (suite ``algos_grid``), the competitors on it, and the default's targets."""
    from rl_adaptive.app.training import SOLVED
    from rl_adaptive.presets import DEFAULT_PRESET

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
        "Schedule-Free AdamW), and SAC's entropy coefficient, which SB3 trains with a plain Adam at the "
        "algorithm's lr, keeps `fixed`'s lr at the same multiplier (at lr 1.0 it blew SAC up within 100 steps). "
        "Budgets: rl-zoo's, except PPO's, shortened from 100k to "
        f"{budgets['ppo'] // 1000}k steps because fixed PPO at the tuned lr is solved by then. Solved: mean return "
        "over 10 deterministic episodes >= 475 (CartPole-v1) or >= -200 (Pendulum-v1); a cell whose policy weights "
        "became non-finite (diverged) has no return and is not solved. IQM of the final returns over every cell, 95% "
        "stratified bootstrap CI over seeds within each multiplier (rliable); none where a cell diverged.",
        "",
    ]
    verdicts = [
        f"The default preset (`{DEFAULT_PRESET}`) on every algorithm's lr grid "
        '(section "Every algorithm: lr grids against the learning-rate-free optimizers" of BENCHMARKS.md). '
        "On each algorithm the optimizer is built with its row of `rl_adaptive.sb3.ALGORITHMS` "
        f"({_rows(spec['algo'])}), and where the default's own cells are not on disk its row is that "
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
        stats = iqm_ci({v: g["scores"] for v, g in grid.items() if np.isfinite(g["scores"]).all()})
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
                + f" | {fmt_iqm(stats[v]) if v in stats else _diverged(g['scores'])} |"
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
    lines += [*_twin_checks(), provenance(rows)]
    replace_section("algos-grid", "\n".join(lines))
    replace_section("algos-verdict", "\n".join(verdicts))
    replace_section("algos-verdict", "\n".join(verdicts), README_MD)


def _rows(algos: list[str]) -> str:
    """Each algorithm's default keywords as its optimizers are built with them (``{'preset': 'none'}``: the bare
    optimizer)."""
    from rl_adaptive.sb3 import algorithm_kwargs

    return ", ".join(f"{a.upper()} `{algorithm_kwargs(a, {})}`" for a in algos)


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


def _diverged(scores: np.ndarray) -> str:
    """The IQM cell of a variant with diverged cells: a policy with non-finite weights has no return to rank."""
    return f"none: {int(np.isnan(scores).sum())} of {scores.size} cells diverged"


def _grid_cells(sub: list[dict[str, Any]], mults: list[float], threshold: float) -> dict[str, dict[str, Any]]:
    """Per variant with every multiplier run: seeds per cell (the fewest over the multipliers, the lowest seeds
    kept), seeds solved (final return >= ``threshold``) per multiplier, and the final returns as a (seeds,
    multipliers) matrix."""
    by: dict[str, dict[float, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in sub:
        by[r["cell"]["variant"]][r["cell"]["lr_mult"]].append(r)
    out = {}
    for v in variants_in(sub, "algos_grid"):
        if not all(by[v][m] for m in mults):
            continue
        n = min(len(by[v][m]) for m in mults)
        kept = {m: sorted(by[v][m], key=lambda r: r["cell"]["seed"])[:n] for m in mults}
        scores = np.array([[r["final"]["mean"] if r["final"] else np.nan for r in kept[m]] for m in mults]).T
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
    runs, diff = paired_differences(rows, default) if default else ([], np.array([]))
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
    """The default's targets on the lr grid for one algorithm: rows of the verdict table."""
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
    """Seeds a grid verdict needs: 5 for the default and for fixed, 3 for a screening variant."""
    return 5 if variant in ("default", "fixed") else 3
