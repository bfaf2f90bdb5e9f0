"""RL benchmark: where does adaptation help? Cells run in parallel, each written to disk as soon as it finishes.

A cell is (suite, agent, variant, base lr, seed). ``run`` executes the cells of a suite that are not on disk yet
(one process per core by default), so a long sweep survives interruption and can be extended with more seeds or
variants. ``report`` reads every result file, computes the statistics with rliable (IQM, stratified bootstrap 95%
confidence intervals), draws the plots and rewrites the RL sections of BENCHMARKS.md.

    python -m benchmarks.rl run cartpole_grid            # PPO CartPole-v1, 5 lrs x 5 seeds x variants, 50k steps
    python -m benchmarks.rl run lunarlander              # PPO LunarLander-v3, 5 seeds, 500k steps
    python -m benchmarks.rl run a2c_dqn                  # A2C and DQN on CartPole-v1, fixed vs default
    python -m benchmarks.rl run digits                   # supervised sanity check (AdamW vs adaptive)
    python -m benchmarks.rl report

Variants: ``fixed`` (SB3's own optimizer at the agent's lr) and the names of rl_adaptive presets (``kl``: only the
KL rule, as rsl_rl and rl_games adapt PPO's lr; ``loss_trend``, ``reward_trend``, ``design``, ``default``...) and
the entries of :data:`EXPERIMENTS` (keyword arguments measured before they become a preset).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS, code_hash, commit, machine, write_json
from benchmarks.suites import SUITES, lr_mults

#: Variants that apply to some algorithms only: Adam-Rel needs an Adam-family optimizer (A2C's is RMSprop); the KL
#: rule reads PPO's recorded KL (elsewhere it is the bare optimizer, shown by the a2c_dqn suite).
ONLY_FOR: dict[str, frozenset[str]] = {
    "adam_rel": frozenset({"ppo", "dqn", "sac", "td3"}),
    # One target for both optimizers: the library refuses it on SAC and TD3, whose actor and critic sizes differ in
    # kind (rl_adaptive.sb3.algorithm_kwargs). Their committed trust-region cells ran when AdaptiveCallback set each
    # role's target (5691e6f and before).
    "trust_region": frozenset({"ppo", "a2c", "dqn"}),
    "trust_region_slow": frozenset({"ppo", "a2c", "dqn"}),
    "trust_region_cautious": frozenset({"ppo", "a2c", "dqn"}),
    "kl": frozenset({"ppo"}),
    "trust_region_k5": frozenset({"ppo"}),  # A2C's phase is one step
    "td_closure": frozenset({"dqn", "sac", "td3"}),  # a value network trained by TD
    "td_closure_unbounded": frozenset({"dqn", "sac", "td3"}),
    "td_closure_measure": frozenset({"dqn", "sac", "td3"}),
    "td_closure_slow": frozenset({"dqn", "sac", "td3"}),
}


#: Variants that are not presets (yet): keyword arguments of ``AdaptiveOptimizer``, measured before any of them
#: becomes a preset.
EXPERIMENTS: dict[str, dict[str, Any]] = {
    # Rules measured one channel at a time and rejected by the benchmark (BENCHMARKS.md): the library no longer
    # offers them as presets, and the rule keywords build them exactly as the presets did.
    "loss_trend": {"lr_rule": "trend"},
    "reward_trend": {"reward_rule": "trend"},
    "reward_trend_damped": {"reward_rule": "trend_damped"},
    "reward_variance": {"reward_rule": "variance"},
    "cosine_restart": {"lr_rule": "cosine_restart"},
    "kl_reward_trend": {"lr_rule": "kl", "reward_rule": "trend"},
    "trust_region": {"lr_rule": "trust_region"},
    "plateau": {"reward_rule": "plateau"},
    "collapse": {"reward_rule": "collapse"},
    "adam_rel": {"preset": "none", "adam_rel": True},  # no rule at all: Adam-Rel alone
    # The KL rule with a looser target. On LunarLander the KL stays inside the default band [0.005, 0.02] for the
    # first half of training, so `kl` leaves the lr alone there; with 0.02 the band is [0.01, 0.04].
    "kl_target_0.02": {"lr_rule": "kl", "target_kl": 0.02},
    # The trust-region rule measured inside PPO's training phase, every 5 optimizer steps (rsl_rl adapts per
    # minibatch), against once per phase (`trust_region`). PPO CartPole's phase is 20 optimizer steps (20 epochs of
    # one 256-transition minibatch), the window PPO's target was calibrated on: a KL over 5 steps is (5 / 20) ** 2
    # of the phase's.
    "trust_region_k5": {"lr_rule": "trust_region", "target_update": 0.0017 * (5 / 20) ** 2, "update_power": 0.5},
    # The trust-region rule with a slow start: the first steps at a tenth of the lr, growing by the rule's `change`
    # (1.2) per update while the update is below its target. At x10 the trust-region rule lost A2C seeds that
    # RMSprop's first steps (10x the lr) had already collapsed before the rule read one update size.
    "trust_region_slow": {"lr_rule": "trust_region_slow"},
    # The slow start, and growth only when the slow average of the update size agrees (cautious): with the slow
    # start alone, A2C at x3 (seed 0) crept up to 8x the tuned lr on phases of tiny updates between spikes, and
    # collapsed. Now a rule of the library (the default on A2C), measured as its own variant
    # on the algorithms whose grid has not chosen yet.
    "trust_region_cautious": {"lr_rule": "trust_region_cautious"},
    # The off-policy issue's screens: the lr of every network moved by the share of its batch's TD error a critic
    # step closes (ClosureRule: target 0.15, dead band 7.5%-30%), the actor's with its critic's. The first screen's
    # rule grew whenever that share was low, and raised SAC's lr into the divergence at x10 and x30 (its cells ran
    # at 7892295 as `td_closure` and were renamed `td_closure_unbounded`); the library's rule stops growing where
    # it had to shrink (ClosureRule(ceiling=True)).
    "td_closure_unbounded": {"lr_rule": "td_closure_unbounded"},
    "td_closure_measure": {"lr_rule": "td_closure_measure"},
    # The TD-closure rule with a slow start (the first steps at a tenth of the lr). TD3 at x10 fails because its
    # actor's tanh saturates in the first steps (every action at the bound from the first measure on, and none
    # moves again); rho, read after the steps, comes too late, and at x10 TD3's critic closes an ordinary share.
    "td_closure_slow": {"lr_rule": "td_closure_slow"},
    "td_closure": {"lr_rule": "td_closure"},
}
#: AdaptiveCallback keywords of the experiments that need them.
EXPERIMENT_CALLBACKS: dict[str, dict[str, Any]] = {"trust_region_k5": {"probe_every": 5}}


#: Rules of the experiments that are not registered in the library: name -> TrustRegionRule keywords.
EXPERIMENT_RULES: dict[str, dict[str, Any]] = {
    "trust_region_slow": {"start": 0.1},
}


def _trust_region_rule(keywords: dict[str, Any], options: Any) -> Any:
    from rl_adaptive.rules import TrustRegionRule

    return TrustRegionRule(options.target_update, power=options.update_power, **keywords)


def _unbounded_closure_rule(options: Any) -> Any:
    from rl_adaptive.rules import ClosureRule

    return ClosureRule(options.target_update, ceiling=False)


def _measuring_closure_rule(options: Any) -> Any:
    from rl_adaptive.rules import ClosureRule

    return ClosureRule(band=1e12)  # a dead band no rho leaves: the factor stays 1, the TD closure is fed and logged


def _slow_closure_rule(options: Any) -> Any:
    from rl_adaptive.rules import ClosureRule

    return ClosureRule(options.target_update, start=0.1)


def _register_experiment_rules() -> None:
    """Experiments' rules, registered under their own names in every process that runs a cell (module import)."""
    import functools

    from rl_adaptive.rules import available_rules, register_rule

    for name, keywords in EXPERIMENT_RULES.items():
        if name not in available_rules("lr_rule"):
            register_rule("lr_rule", name, functools.partial(_trust_region_rule, keywords))
    if "td_closure_unbounded" not in available_rules("lr_rule"):
        register_rule("lr_rule", "td_closure_unbounded", _unbounded_closure_rule)
    if "td_closure_slow" not in available_rules("lr_rule"):
        register_rule("lr_rule", "td_closure_slow", _slow_closure_rule)
    if "td_closure_measure" not in available_rules("lr_rule"):
        register_rule("lr_rule", "td_closure_measure", _measuring_closure_rule)


_register_experiment_rules()


def adaptive_kwargs(variant: str) -> dict[str, Any] | None:
    """``AdaptiveOptimizer`` keyword arguments of a variant; ``None`` for ``fixed`` (SB3's own optimizer) and the
    competitors (their own optimizers, :mod:`benchmarks.competitors`)."""
    if variant == "fixed" or variant in _competitors():
        return None
    if variant in EXPERIMENTS:
        return dict(EXPERIMENTS[variant])
    return {"preset": variant}


def _competitors() -> dict[str, Any]:
    from benchmarks.competitors import COMPETITORS

    return COMPETITORS


def valid_variants() -> list[str]:
    from rl_adaptive.presets import PRESETS

    return ["fixed", *PRESETS, *EXPERIMENTS, *_competitors()]


def check_variants(variants: list[str]) -> None:
    """Refuse an unknown variant, or a competitor whose package is not installed, with one line."""
    valid = valid_variants()
    for v in variants:
        if v not in valid:
            raise ValueError(f"variants: unknown variant {v!r}; choose from {', '.join(valid)}")
        if v in _competitors():
            _competitors()[v].load()  # ImportError naming the extra that brings it


@dataclass(frozen=True)
class Cell:
    suite: str
    algo: str
    env: str
    variant: str
    lr: float | None
    seed: int
    timesteps: int | None
    lr_mult: float | None = None
    zoo: bool = False

    @property
    def cell_id(self) -> str:
        if self.lr_mult is not None:
            return f"{self.algo}_{self.env}_{self.variant}_x{self.lr_mult:g}_s{self.seed}"
        lr = "agent" if self.lr is None else f"{self.lr:g}"
        return f"{self.algo}_{self.env}_{self.variant}_lr{lr}_s{self.seed}"

    @property
    def path(self) -> Path:
        return RESULTS / self.suite / f"{self.cell_id}.json"


def cells(suite: str, variants: list[str] | None = None, seeds: int | None = None) -> list[Cell]:
    spec = SUITES[suite]
    if suite == "digits":
        return [
            Cell(suite, "adamw", "digits", v, 1e-3, s, None)
            for v in (variants or spec["variants"])
            for s in range(seeds or spec["seeds"])
        ]
    algos = _suite_algos(suite)
    envs = spec["env"] if isinstance(spec["env"], dict) else dict.fromkeys(algos, spec["env"])
    zoo = bool(spec.get("zoo", False))
    competitors = _competitors()
    grid: list[tuple[str, str, float | None, float | None]]
    if "lr_mults" in spec:
        tuned = {algo: tuned_lr(algo, envs[algo], zoo) for algo in algos}  # one agent file read per algorithm

        def base_lr(variant: str, algo: str) -> float:  # a competitor's grid is around its own recommended lr
            return competitors[variant].lr if variant in competitors else tuned[algo]

        mults = {algo: lr_mults(suite, algo) for algo in algos}
        grid = [
            (algo, variant, base_lr(variant, algo) * m, m)
            for m in sorted(set().union(*mults.values()))  # ascending, each algorithm at its own multipliers
            for algo in algos
            if m in mults[algo]
            for variant in (variants or spec["variants"])
        ]
    else:
        grid = [
            (algo, variant, competitors[variant].lr if lr is None and variant in competitors else lr, None)
            for lr in spec["lrs"]
            for algo in algos
            for variant in (variants or spec["variants"])
        ]
    budgets = spec["timesteps"] if isinstance(spec["timesteps"], dict) else dict.fromkeys(algos, spec["timesteps"])
    return [
        Cell(suite, algo, envs[algo], variant, lr, seed, budgets[algo], mult, zoo)
        for seed in range(seeds or spec["seeds"])
        for algo, variant, lr, mult in grid
        if algo in ONLY_FOR.get(variant, {algo})
    ]


def _suite_algos(suite: str) -> list[str]:
    algos = SUITES[suite].get("algo", [])
    return list(algos) if isinstance(algos, list) else [algos]


def load_cell_agent(algo: str, env: str, zoo: bool) -> Any:
    from rl_adaptive.app.agents import load_agent, load_zoo_agent

    return load_zoo_agent(algo, env) if zoo else load_agent(algo, env)


def tuned_lr(algo: str, env: str, zoo: bool) -> float:
    """The agent's tuned learning rate: its initial value if it is a schedule, the algorithm's default if unset."""
    import inspect

    agent = load_cell_agent(algo, env, zoo)
    lr = agent.model_kwargs.get("learning_rate")
    if lr is None:
        lr = inspect.signature(agent.algo_class.__init__).parameters["learning_rate"].default
    return float(getattr(lr, "initial", lr))


def _downsample(curve: list[dict[str, float]], n: int = 100) -> list[dict[str, float]]:
    if len(curve) <= n:
        return curve
    idx = np.unique(np.linspace(0, len(curve) - 1, n).round().astype(int))
    return [curve[i] for i in idx]


def _run_digits(cell: Cell, epochs: int) -> dict[str, Any]:
    from rl_adaptive.app.digits import train_digits

    adaptive = adaptive_kwargs(cell.variant)
    history = train_digits(adaptive, cell.seed, epochs, cell.lr or 1e-3)
    return {
        "final": {"mean": history["accuracy"][-1]},
        "accuracy": history["accuracy"],
        "lr": history["lr"][:: max(1, len(history["lr"]) // 100)],
    }


def run_cell(cell: Cell) -> str:
    """Run one cell and write its JSON; returns a one-line summary."""
    return _write(compute_cell(cell))


def _write(payload: dict[str, Any]) -> str:
    cell = Cell(**payload["cell"])
    write_json(cell.path, payload)
    from rl_adaptive.app.training import outcome

    return f"{cell.suite}/{cell.cell_id}: {outcome(payload, digits=2)} ({payload['wall_s']:.0f} s)"


def compute_cell(cell: Cell) -> dict[str, Any]:
    """Run one cell and return its result record (what :func:`run_cell` writes). Any process or Ray worker can run
    it: the record comes back to the runner, which writes it."""
    import torch

    torch.set_num_threads(1)
    start = time.time()
    provenance = {"commit": commit(), "code_hash": code_hash()}  # the code this process imports, at its start
    if cell.suite == "digits":
        result = _run_digits(cell, SUITES["digits"]["epochs"])
    else:
        from rl_adaptive.app.training import train_agent

        agent = load_cell_agent(cell.algo, cell.env, cell.zoo)
        adaptive = adaptive_kwargs(cell.variant)
        optimizer_kwargs, extra, modes = None, [], None
        if cell.variant in _competitors():
            from benchmarks.competitors import COMPETITORS, EntropyCoefLr, ScheduleFreeModes, competitor_policy_kwargs

            optimizer_kwargs = competitor_policy_kwargs(cell.variant)
            modes = ScheduleFreeModes() if COMPETITORS[cell.variant].schedule_free else None
            # SAC's entropy coefficient keeps fixed's lr at this multiplier: only the networks' optimizer competes
            extra = [
                *([modes] if modes else []),
                EntropyCoefLr(tuned_lr(cell.algo, cell.env, cell.zoo) * (cell.lr_mult or 1.0)),
            ]
        result = train_agent(
            agent,
            variant=cell.variant,
            adaptive_kwargs=adaptive,
            timesteps=cell.timesteps,
            seed=cell.seed,
            learning_rate=cell.lr,
            final_episodes=10,
            tensorboard=False,
            callback_kwargs={**SUITES[cell.suite].get("callback", {}), **EXPERIMENT_CALLBACKS.get(cell.variant, {})},
            optimizer_policy_kwargs=optimizer_kwargs,
            extra_callbacks=extra,
        )
        if modes is not None:
            result["mode_kl"] = modes.mode_kl
        result["curve"] = _downsample(result["curve"])
    payload = {
        "cell": asdict(cell),
        "cell_id": cell.cell_id,
        **provenance,
        "machine": machine(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_s": time.time() - start,
        **result,
    }
    return payload


def run(
    suite: str,
    workers: int,
    variants: list[str] | None,
    seeds: int | None,
    algos: list[str] | None = None,
    backend: str = "local",
    address: str | None = None,
    mults: list[float] | None = None,
) -> None:
    """Run the suite's cells that are not on disk yet (resumes), writing each as it finishes."""
    execute(suite, plan(suite, variants, seeds, algos, mults), workers, backend, address)


def plan(
    suite: str,
    variants: list[str] | None,
    seeds: int | None,
    algos: list[str] | None = None,
    mults: list[float] | None = None,
) -> list[Cell]:
    """The cells :func:`run` would run; ValueError or ImportError (one line) on an unknown algorithm, variant or
    multiplier, or a competitor that is not installed."""
    check_variants(variants or [])
    spec_algos = _suite_algos(suite)
    for algo in algos or []:
        if algo not in spec_algos:
            raise ValueError(f"algos: {suite} has no algorithm {algo!r}; choose from {', '.join(spec_algos)}")
    if mults:
        if "lr_mults" not in SUITES[suite]:
            grids = ", ".join(name for name, spec in SUITES.items() if "lr_mults" in spec)
            raise ValueError(f"lr_mults: {suite} has no lr multipliers; suites with them: {grids}")
        known = sorted({m for algo in (algos or spec_algos) for m in lr_mults(suite, algo)})
        for m in mults:
            if m not in known:
                choices = ", ".join(f"{k:g}" for k in known)
                raise ValueError(f"lr_mults: {suite} has no multiplier {m:g}; choose from {choices}")
    return [
        c
        for c in cells(suite, variants, seeds)
        if not c.path.exists() and (not algos or c.algo in algos) and (not mults or c.lr_mult in mults)
    ]


def execute(suite: str, todo: list[Cell], workers: int, backend: str = "local", address: str | None = None) -> None:
    where = f"{workers} workers" if backend == "local" else f"Ray ({address or f'local, {workers} CPUs'})"
    print(f"{suite}: {len(todo)} cells to run with {where}", flush=True)
    from rl_adaptive.app.parallel import imap_jobs

    start = time.time()
    with contextlib.closing(imap_jobs(compute_cell, todo, workers, backend, address)) as payloads:
        for done, payload in enumerate(payloads, 1):
            line = _write(payload)  # written here, as each finishes: a cell on disk is a whole cell
            left = (time.time() - start) / done * (len(todo) - done)
            print(f"[{done}/{len(todo)}, about {left / 60:.0f} min left] {line}", flush=True)


def main() -> None:
    from rl_adaptive.app.parallel import BACKENDS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the cells of a suite that are not on disk yet")
    p_run.add_argument("suite", choices=list(SUITES))
    p_run.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p_run.add_argument(
        "--variants",
        nargs="+",
        choices=valid_variants(),
        metavar="VARIANT",
        help="subset or extension of the suite's variants",
    )
    p_run.add_argument("--seeds", type=int, help="number of seeds (default: the suite's)")
    p_run.add_argument("--algos", nargs="+", metavar="ALGO", help="run only these algorithms of the suite")
    p_run.add_argument(
        "--lr-mults", nargs="+", type=float, metavar="MULT", help="run only these lr multipliers of the suite"
    )
    p_run.add_argument("--backend", choices=BACKENDS, default="local", help="process pool (default) or Ray")
    p_run.add_argument("--address", help="Ray cluster address (default: a local Ray with --workers CPUs)")
    sub.add_parser("report", help="statistics, plots and the RL sections of BENCHMARKS.md")
    args = parser.parse_args()
    if args.command == "run":
        try:
            todo = plan(args.suite, args.variants, args.seeds, args.algos, args.lr_mults)
        except (ValueError, ImportError) as error:  # an unknown algorithm, a competitor not installed: one line
            p_run.error(str(error))
        execute(args.suite, todo, args.workers, args.backend, args.address)  # a cell's own error is a traceback
    else:
        from benchmarks.rl_report import report

        report()


if __name__ == "__main__":
    main()
