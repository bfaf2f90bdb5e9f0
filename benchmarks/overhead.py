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
import itertools
import json
import pickle
import random
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._common import RESULTS, bootstrap_ci, commit, machine, write_json
from benchmarks.overhead_report import write_section

OUT = RESULTS / "overhead.json"
EVERY_RULE = {
    "lr_rule": "trend+variance+cosine_restart+kl",
    "betas_rule": ("relative", "variance"),
    "wd_rule": "trend",
    "reward_rule": "trend",
}
VARIANTS = ("bare", "default", "every_rule")


def mlp(*widths: int) -> torch.nn.Module:
    layers: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def sb3_mlp() -> torch.nn.Module:
    """SB3's default MlpPolicy size for an 8-dimensional observation: separate 64x64 actor and critic."""
    return torch.nn.ModuleDict({"pi": mlp(8, 64, 64, 4), "vf": mlp(8, 64, 64, 1)})


# name: (builder, input size, batch, iterations per round relative to --iters)
MODELS = {"sb3_64x64": (sb3_mlp, 8, 64, 1.0), "mlp_1m": (lambda: mlp(512, 1024, 512, 16), 512, 64, 0.2)}
# name: (builder, timed steps): the parameter-count curve
CURVE = {
    "sb3_64x64": (sb3_mlp, 2000),
    "mlp_1m": (lambda: mlp(512, 1024, 512, 16), 400),
    "mlp_10m": (lambda: mlp(1024, 2048, 2048, 2048, 16), 60),
    "mlp_100m": (lambda: mlp(*[4096] * 7), 12),
}


def forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(model, torch.nn.ModuleDict):
        return model["pi"](x).pow(2).mean() + model["vf"](x).pow(2).mean()
    return model(x).pow(2).mean()


def build(variant: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    from rl_adaptive import AdaptiveOptimizer

    base = torch.optim.AdamW(model.parameters(), lr=3e-4)
    if variant == "bare":
        return base
    return AdaptiveOptimizer(base) if variant == "default" else AdaptiveOptimizer(base, **EVERY_RULE)


def seed_step(opt: torch.optim.Optimizer, loss: torch.Tensor, i: int) -> None:
    """One step of the design document's loop (the bare optimizer: ``step()`` alone)."""
    if hasattr(opt, "step_loss"):
        opt.step_loss(loss)
        opt.step_reward(float(i))
    opt.step()


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
    return {k: round(v if isinstance(v, (int, float)) else v["median_ratio"], 4) for k, v in entry.items()}


def ppo(rounds: int, iterations: int) -> dict[str, Any]:
    """PPO iterations at rl-zoo's CartPole-v1 settings: fixed against the default preset with AdaptiveCallback."""
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

    agent = load_zoo_agent("ppo", "CartPole-v1")
    n = agent.n_envs * agent.model_kwargs["n_steps"]
    models, clocks = {}, {}
    for v in ("fixed", "default"):
        policy_kwargs = dict(agent.policy_kwargs)
        if v == "default":
            policy_kwargs = adaptive_policy_kwargs("ppo", policy_kwargs=policy_kwargs)
        env = make_vec_env(agent.env_id, n_envs=agent.n_envs, seed=0)
        models[v] = agent.algo_class(
            agent.policy, env, seed=0, device="cpu", policy_kwargs=policy_kwargs or None, **agent.model_kwargs
        )
        clocks[v] = Clock()
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
    entry.update({"optimizer_steps_per_iteration": agent.model_kwargs.get("n_epochs", 10), "env_steps": n})
    print("ppo", _brief(entry), flush=True)
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


def _numbers(tree: Any) -> int:
    if isinstance(tree, dict):
        return sum(_numbers(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_numbers(v) for v in tree)
    return int(isinstance(tree, (int, float)) and not isinstance(tree, bool))


def memory(steps: int = 100_000, warm: int = 10_000) -> dict[str, Any]:
    """tracemalloc's traced memory after ``warm`` steps and after ``steps``, every rule on, every signal fed."""
    from rl_adaptive import AdaptiveOptimizer

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-3), **EVERY_RULE)
    losses = torch.rand(1000) + 0.5

    def run(a: int, b: int) -> None:
        for i in range(a, b):
            opt.step_loss(losses[i % 1000])  # a 0-dim tensor each step
            opt.step_reward(float(i % 97))
            opt.step_kl(0.01 * (1 + i % 5))
            opt.step()

    state_before = opt.state_dict()["adaptive"]
    tracemalloc.start()
    run(0, warm)
    gc.collect()
    at_warm = tracemalloc.get_traced_memory()[0]
    run(warm, steps)
    gc.collect()
    at_end = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    state = opt.state_dict()["adaptive"]
    rules = {f"{r['keyword']}.{r['name']}": _numbers(r["state"]) for r in state["rules"]}
    entry = {
        "steps": steps,
        "warm_steps": warm,
        "growth_bytes": at_end - at_warm,
        "state_numbers": _numbers(state),
        "state_numbers_at_start": _numbers(state_before),
        "state_bytes": len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)),
        "numbers_per_channel": _numbers(state["signals"]["loss"]),
        "numbers_per_rule": rules,
    }
    print("memory", entry, flush=True)
    return entry


def probe_share() -> dict[str, Any]:
    """The probe's share of each ``update_sizes`` run's wall time (rl-zoo's settings, the probe on)."""
    out: dict[str, Any] = {}
    for path in sorted((RESULTS / "update_sizes").glob("*.json")):
        run = json.loads(path.read_text())
        entry = out.setdefault(run["cell"]["algo"], {"shares": [], "commits": []})
        entry["shares"].append(run["probe_s"] / run["wall_s"])
        entry["commits"].append(run["commit"])
    for entry in out.values():
        entry["commits"] = sorted(set(entry["commits"]))
    return out


def profile(label: str, steps: int = 3000, top: int = 12) -> dict[str, Any]:
    """cProfile's top frames (own time) of the seed loop, default preset, on the 64x64 policy."""
    import cProfile
    import pstats

    import rl_adaptive

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = sb3_mlp()
    loss = forward(model, torch.randn(64, 8))
    loss.backward()
    opt = build("default", model)
    for i in range(200):
        seed_step(opt, loss, i)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(steps):
        seed_step(opt, loss, i)
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    # The wrapper's frames and torch's step machinery (hooks, profiler ranges); the base optimizer's math left out.
    ours = [kv for kv in stats.items() if "rl_adaptive/" in kv[0][0] or _machinery(kv[0][0], kv[0][2])]
    rows = sorted(ours, key=lambda kv: -kv[1][2])[:top]
    source = Path(rl_adaptive.__file__).resolve().parent.parent
    frames = [
        {
            "frame": f"{_short(file)}:{line}({name})",
            "calls_per_step": nc / steps,
            "own_us_per_step": tt / steps * 1e6,
            "total_us_per_step": ct / steps * 1e6,
        }
        for (file, line, name), (_, nc, tt, ct, _) in rows
    ]
    total = sum(v[2] for v in stats.values()) / steps * 1e6
    return {
        "label": label,
        "code_commit": commit(source),
        "steps": steps,
        "total_us_per_step": total,
        "rl_adaptive_us_per_step": sum(v[2] for (f, _, _), v in stats.items() if "rl_adaptive/" in f) / steps * 1e6,
        "machinery_us_per_step": sum(v[2] for (f, _, n), v in stats.items() if _machinery(f, n)) / steps * 1e6,
        "frames": frames,
    }


def _machinery(file: str, name: str) -> bool:
    """torch's step machinery: the step wrapper that runs the hooks (``profile_hook_step``) and its profiler range."""
    return (file.endswith("torch/optim/optimizer.py") and name == "wrapper") or "profiler" in file or "profiler" in name


def _short(file: str) -> str:
    for marker in ("site-packages/", "rl_adaptive/"):
        if marker in file:
            return ("rl_adaptive/" if marker == "rl_adaptive/" else "") + file.split(marker, 1)[1]
    return file


def _use_source(path: str) -> None:
    """Import ``rl_adaptive`` from the source tree ``path`` instead of the installed (editable) package."""
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
    sys.path.insert(0, str(Path(path).resolve()))
    if "rl_adaptive" in sys.modules:
        raise RuntimeError("--code: rl_adaptive was imported before the source tree was chosen")


#: The parts of a full run, in order: name in overhead.json -> measurement.
PARTS = {
    "results": lambda args: ratios(args.rounds, args.iters),
    "ppo": lambda args: ppo(rounds=12, iterations=5),
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
        _use_source(args.code)
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
