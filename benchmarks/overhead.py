"""The wrapper's cost against the bare optimizer: time per step, time per PPO iteration, memory, the probe's share.

Everything runs in one process on one thread, each comparison side by side in the same run:

* **Seed loop** (``ratios``): the design document's loop, ``step_loss(loss)`` with ``loss`` a 0-dim tensor, then
  ``step_reward(r)``, then ``step()``, against the bare ``step()``; interleaved rounds (bare, default preset, every
  rule on, in a shuffled order each round), the figure being the median over rounds of each round's time ratio to
  the bare optimizer, with a bootstrap 95% interval. ``optimizer`` times the optimizer's work alone (the worst case
  for the ratio), ``iteration`` a whole iteration (forward, backward, signals, step, zero_grad).
* **PPO** (``ppo``): SB3's PPO on CartPole-v1 at rl-zoo's hyperparameters, ``fixed`` against the default preset
  with ``AdaptiveCallback``, alternating rounds of training iterations; each iteration (rollout, logging, training
  phase) timed from one rollout's start to the next.
* **Parameter count** (``curve``): the time the wrapper adds per step, from 10^4 to 10^8 parameters. Each step is
  timed twice, around the whole call and inside the base optimizer (its own step pre- and post-hooks), and the
  wrapper's added time is the median of the difference minus the bare optimizer's (torch's step machinery), so the
  base's own time, and its noise, cancels step by step.
* **Memory** (``memory``): tracemalloc over 10^5 steps with every rule on, and the size of the controller's state.
* **Probe** (``probe``): the update-size probe's share of training time at rl-zoo's settings, read from the
  ``update_sizes`` suite's committed runs (``python -m benchmarks.rl run update_sizes``).
* **Profile** (``--profile LABEL [--code DIR]``): cProfile's top frames of the seed loop, for the code in ``DIR``
  (a checkout of another commit, such as the one before a change) or the installed one.

Run: ``python -m benchmarks.overhead`` (about 6 minutes here); ``--report`` rewrites the section of BENCHMARKS.md
from ``benchmarks/results/overhead.json`` without measuring.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import warnings
from typing import Any

import numpy as np
import torch

from benchmarks._common import RESULTS, bootstrap_ci, commit, machine, write_json
from benchmarks.overhead_memory import memory, probe_share, profile, use_source
from benchmarks.overhead_models import CURVE, EVERY_RULE, MODELS, VARIANTS, build, forward, seed_step
from benchmarks.overhead_report import write_section

OUT = RESULTS / "overhead.json"


def time_block(opt, model, x, iters: int, what: str) -> float:
    loss = forward(model, x)
    loss.backward()
    start = time.perf_counter()
    for i in range(iters):
        if what == "iteration":
            loss = forward(model, x)
            loss.backward()
        seed_step(opt, loss, i)
        if what == "iteration":
            opt.zero_grad(set_to_none=False)
    return (time.perf_counter() - start) / iters


def ratios(rounds: int, iters: int) -> dict[str, Any]:
    results = {}
    for model_name, (make, dim, batch, scale) in MODELS.items():
        n = max(10, int(iters * scale))
        for what in ("optimizer", "iteration"):
            torch.manual_seed(0)
            models = {v: make() for v in VARIANTS}
            opts = {v: build(v, models[v]) for v in VARIANTS}
            x = torch.randn(batch, dim)
            times: dict[str, list[float]] = {v: [] for v in VARIANTS}
            rng = random.Random(0)
            for _ in range(3):  # warm-up
                for v in VARIANTS:
                    time_block(opts[v], models[v], x, 20, what)
            for _ in range(rounds):
                order = list(VARIANTS)
                rng.shuffle(order)
                for v in order:
                    times[v].append(time_block(opts[v], models[v], x, n, what))
            results[f"{model_name}/{what}"] = _ratio_entry(times)
            print("ratios", model_name, what, _brief(results[f"{model_name}/{what}"]), flush=True)
    return results


def _ratio_entry(times: dict[str, list[float]]) -> dict[str, Any]:
    bare = np.array(times["bare"])
    entry: dict[str, Any] = {"bare_us": float(np.median(bare) * 1e6)}
    for v in [v for v in times if v != "bare"]:
        r = np.array(times[v]) / bare
        lo, hi = bootstrap_ci(r)
        entry[v] = {
            "median_ratio": float(np.median(r)),
            "ci95": [lo, hi],
            "median_us": float(np.median(times[v]) * 1e6),
        }
    return entry


def _brief(entry: dict[str, Any]) -> dict[str, float]:
    return {
        k: round(v if isinstance(v, (int, float)) else v["median_ratio"], 4)
        for k, v in entry.items()
        if isinstance(v, (int, float)) or (isinstance(v, dict) and "median_ratio" in v)
    }


def ppo(rounds: int, iterations: int) -> dict[str, Any]:
    """PPO iterations at rl-zoo's CartPole-v1 settings: fixed against the default preset with AdaptiveCallback."""
    return sb3_iterations("ppo", "CartPole-v1", {}, rounds, iterations)


def off_policy(rounds: int, iterations: int) -> dict[str, Any]:
    """SAC at rl-zoo's Pendulum-v1 settings, one environment step and one gradient step an iteration: fixed
    against the TD-closure rule (``lr_rule="td_closure"``, measured every 10 critic steps) with AdaptiveCallback."""
    return sb3_iterations("sac", "Pendulum-v1", {"lr_rule": "td_closure"}, rounds, iterations)


def sb3_iterations(algo: str, env_id: str, adaptive: dict[str, Any], rounds: int, iterations: int) -> dict[str, Any]:
    """Side by side, alternating rounds: an SB3 algorithm at rl-zoo's settings with its own optimizer against the
    AdaptiveOptimizer (``adaptive`` keywords; ``{}``: the default preset) with AdaptiveCallback. An iteration is
    timed from one rollout's start to the next (collection, logging, training); the figure per round is the
    median iteration. Off-policy models first collect past ``learning_starts``, untimed."""
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.env_util import make_vec_env

    from rl_adaptive.app.agents import load_zoo_agent
    from rl_adaptive.sb3 import AdaptiveCallback, adaptive_policy_kwargs

    class Clock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.starts: list[float] = []

        def _on_rollout_start(self) -> None:
            self.starts.append(time.perf_counter())

        def _on_step(self) -> bool:
            return True

    agent = load_zoo_agent(algo, env_id)
    n = agent.n_envs * agent.model_kwargs.get("n_steps", 1)
    models, clocks = {}, {}
    for v in ("fixed", "default"):
        policy_kwargs = dict(agent.policy_kwargs)
        if v == "default":
            policy_kwargs = adaptive_policy_kwargs(algo, policy_kwargs=policy_kwargs, **adaptive)
        env = make_vec_env(agent.env_id, n_envs=agent.n_envs, seed=0)
        models[v] = agent.algo_class(
            agent.policy, env, seed=0, device="cpu", policy_kwargs=policy_kwargs or None, **agent.model_kwargs
        )
        clocks[v] = Clock()
        warm = int(getattr(models[v], "learning_starts", 0))
        if warm:
            models[v].learn(warm + n, callback=AdaptiveCallback() if v == "default" else None)
    callback = {
        "fixed": lambda: clocks["fixed"],
        "default": lambda: CallbackList([AdaptiveCallback(), clocks["default"]]),
    }
    per_round: dict[str, list[float]] = {"fixed": [], "default": []}
    rng = random.Random(0)
    for r in range(rounds + 1):
        order = ["fixed", "default"]
        rng.shuffle(order)
        for v in order:
            clock = clocks[v]
            clock.starts = []
            models[v].learn((iterations + 1) * n, callback=callback[v](), reset_num_timesteps=False)
            if r:  # the first round warms up
                per_round[v].append(float(np.median(np.diff(clock.starts))))
    entry = _ratio_entry({"bare": per_round["fixed"], "default": per_round["default"]})
    entry.update(
        {
            "algo": algo,
            "env": env_id,
            "adaptive": adaptive or {"preset": "default"},
            "optimizer_steps_per_iteration": agent.model_kwargs.get(
                "n_epochs", agent.model_kwargs.get("gradient_steps", 1)
            ),
            "env_steps": n,
        }
    )
    print(algo, _brief(entry), flush=True)
    return entry


def _outside_base(opt: torch.optim.Optimizer, base: torch.optim.Optimizer, loss, steps: int) -> np.ndarray:
    """Per step: the whole call's time minus the base optimizer's own, between its step pre- and post-hooks."""
    marks: dict[str, float] = {}
    handles = [
        base.register_step_pre_hook(lambda *a: marks.__setitem__("in", time.perf_counter())),
        base.register_step_post_hook(lambda *a: marks.__setitem__("out", time.perf_counter())),
    ]
    out = []
    try:
        for i in range(steps):
            start = time.perf_counter()
            seed_step(opt, loss, i)
            out.append(time.perf_counter() - start - (marks["out"] - marks["in"]))
    finally:
        for handle in handles:
            handle.remove()
    return np.array(out) * 1e6


def _with_gradients(make: Any) -> torch.nn.Module:
    """A curve model, seeded, with small random gradients set once (its steps need no forward pass)."""
    torch.manual_seed(0)
    model = make()
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    return model


def curve() -> dict[str, Any]:
    """The wrapper's added µs per step against the parameter count (gradients set once, no forward)."""
    from scipy.stats import bootstrap

    results = {}
    for name, (make, steps) in CURVE.items():
        model = _with_gradients(make)
        params = sum(p.numel() for p in model.parameters())
        loss = torch.tensor(1.0)
        outside, base_us = {}, 0.0
        for v in VARIANTS:
            opt = build(v, model)
            base = getattr(opt, "optimizer", opt)
            _outside_base(opt, base, loss, 3)  # warm-up: state allocated
            start = time.perf_counter()
            outside[v] = _outside_base(opt, base, loss, steps)
            base_us = (time.perf_counter() - start) / steps * 1e6 if v == "bare" else base_us
            del opt, base
            gc.collect()
        entry: dict[str, Any] = {"params": params, "steps": steps, "bare_step_us": base_us}
        for v in VARIANTS[1:]:
            diff = float(np.median(outside[v]) - np.median(outside["bare"]))
            ci = bootstrap(
                (outside[v], outside["bare"]),
                lambda a, b, axis=-1: np.median(a, axis=axis) - np.median(b, axis=axis),
                n_resamples=2000,
                method="percentile",
                random_state=np.random.default_rng(0),
            ).confidence_interval
            entry[v] = {"added_us": diff, "ci95": [float(ci.low), float(ci.high)]}
        results[name] = entry
        print("curve", name, params, {v: round(entry[v]["added_us"], 2) for v in VARIANTS[1:]}, flush=True)
        del model
        gc.collect()
    return results


def cold_cache() -> dict[str, Any]:
    """Why the added time grows with the model although the wrapper never touches a parameter: the same wrapper
    call (``step_reward(1.0)``, O(1) work) timed right after a base step, whose sweep over the model's memory
    evicts the interpreter's data from the CPU caches, and again at once, warm."""
    from rl_adaptive import AdaptiveOptimizer

    out = {}
    for name, (make, steps) in CURVE.items():
        model = _with_gradients(make)
        base = torch.optim.AdamW(model.parameters(), lr=3e-4)
        wrapper = AdaptiveOptimizer(base)
        cold, warm = [], []
        for _ in range(min(steps, 400)):
            base.step()
            t0 = time.perf_counter()
            wrapper.step_reward(1.0)
            t1 = time.perf_counter()
            wrapper.step_reward(1.0)
            warm.append(time.perf_counter() - t1)
            cold.append(t1 - t0)
        out[name] = {"cold_us": float(np.median(cold) * 1e6), "warm_us": float(np.median(warm) * 1e6)}
        print("cold_cache", name, out[name], flush=True)
        del model, base, wrapper
        gc.collect()
    return out


#: The parts of a full run, in order: name in overhead.json -> measurement.
PARTS = {
    "results": lambda args: ratios(args.rounds, args.iters),
    "ppo": lambda args: ppo(rounds=12, iterations=5),
    "off_policy": lambda args: off_policy(rounds=12, iterations=200),
    "curve": lambda args: curve(),
    "cold_cache": lambda args: cold_cache(),
    "memory": lambda args: memory(),
    "probe": lambda args: probe_share(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--report", action="store_true", help="rewrite BENCHMARKS.md from overhead.json, no timing")
    parser.add_argument("--profile", metavar="LABEL", help="only profile the seed loop, saved under LABEL")
    parser.add_argument("--code", metavar="DIR", help="with --profile: import rl_adaptive from this source tree")
    parser.add_argument("--only", nargs="+", choices=list(PARTS), help="measure these parts again, keep the others")
    args = parser.parse_args()
    if args.code and not args.profile:
        parser.error("--code: only with --profile")
    payload = json.loads(OUT.read_text()) if OUT.exists() else {}
    if args.report:
        write_section(payload)
        return
    if args.code:
        use_source(args.code)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    if args.profile:
        payload.setdefault("profiles", {})[args.profile] = profile(args.profile)
        print(json.dumps(payload["profiles"][args.profile], indent=1))
    elif args.only:
        for part in args.only:  # measured now, at this commit; the other parts stay as they were
            payload[part] = PARTS[part](args)
            payload.setdefault("provenance", {})[part] = {"commit": commit(), "finished": time.strftime("%F %T")}
    else:
        start = time.time()
        payload.update(
            {
                "benchmark": "overhead",
                "commit": commit(),
                "machine": machine(),
                "rounds": args.rounds,
                "iters_per_round": args.iters,
                "base": "torch.optim.AdamW",
                "every_rule": EVERY_RULE,
                "provenance": {},
                **{part: measure(args) for part, measure in PARTS.items()},
            }
        )
        payload["wall_s"] = time.time() - start
    write_json(OUT, payload)
    write_section(payload)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
