"""The wrapper's added time per step against the bare optimizer, measured side by side in one run.

Rounds are interleaved (bare, default preset, every rule on, in a shuffled order each round), so drift in the
machine's speed hits every variant alike; the figure is the median over rounds of each round's time ratio to the
bare optimizer, with a bootstrap 95% interval. Two costs are timed:

* ``optimizer``: the optimizer's own work per iteration (bare: ``step()``; wrapper: ``step_loss()``,
  ``step_reward()``, ``step()``), the worst case for the ratio;
* ``iteration``: a whole training iteration (forward, backward, signals, step, zero_grad).

Run: ``python -m benchmarks.overhead`` (about 2 minutes; ``--report`` rewrites the section from the JSON without
measuring). Writes ``benchmarks/results/overhead.json`` and the
overhead section of ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import random
import time
import warnings

import numpy as np
import torch

from benchmarks._common import RESULTS, bootstrap_ci, commit, machine, replace_section, write_json
from rl_adaptive import AdaptiveOptimizer

EVERY_RULE = {
    "lr_rule": "trend+variance+cosine_restart+kl",
    "betas_rule": ("relative", "variance"),
    "wd_rule": "trend",
    "reward_rule": "trend",
}


def sb3_mlp() -> torch.nn.Module:
    """SB3's default MlpPolicy size for an 8-dimensional observation: separate 64x64 actor and critic."""

    def net(out: int) -> torch.nn.Module:
        layers = [torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh()]
        return torch.nn.Sequential(*layers, torch.nn.Linear(64, out))

    return torch.nn.ModuleDict({"pi": net(4), "vf": net(1)})


def mlp_1m() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(512, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 16),
    )


# name: (builder, input size, batch, iterations per round relative to --iters)
MODELS = {"sb3_64x64": (sb3_mlp, 8, 64, 1.0), "mlp_1m": (mlp_1m, 512, 64, 0.2)}


def forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(model, torch.nn.ModuleDict):
        return model["pi"](x).pow(2).mean() + model["vf"](x).pow(2).mean()
    return model(x).pow(2).mean()


def build(variant: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    base = torch.optim.AdamW(model.parameters(), lr=3e-4)
    if variant == "bare":
        return base
    if variant == "default":
        return AdaptiveOptimizer(base)
    return AdaptiveOptimizer(base, **EVERY_RULE)


def time_block(opt, model, x, iters: int, what: str) -> float:
    adaptive = isinstance(opt, AdaptiveOptimizer)
    loss = forward(model, x)
    loss.backward()
    elapsed = 0.0
    for i in range(iters):
        if what == "iteration":
            t0 = time.perf_counter()
            loss = forward(model, x)
            loss.backward()
            if adaptive:
                opt.step_loss(loss)
                opt.step_reward(float(i))
            opt.step()
            opt.zero_grad(set_to_none=False)
            elapsed += time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            if adaptive:
                opt.step_loss(loss)
                opt.step_reward(float(i))
            opt.step()
            elapsed += time.perf_counter() - t0
    return elapsed / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--report", action="store_true", help="rewrite BENCHMARKS.md from overhead.json, no timing")
    args = parser.parse_args()
    if args.report:
        report_only()
        return
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    variants = ["bare", "default", "every_rule"]
    results = {}
    for model_name, (make, dim, batch, scale) in MODELS.items():
        iters = max(10, int(args.iters * scale))
        for what in ("optimizer", "iteration"):
            torch.manual_seed(0)
            models = {v: make() for v in variants}
            opts = {v: build(v, models[v]) for v in variants}
            x = torch.randn(batch, dim)
            times: dict[str, list[float]] = {v: [] for v in variants}
            rng = random.Random(0)
            for _ in range(3):  # warm-up
                for v in variants:
                    time_block(opts[v], models[v], x, 20, what)
            for _ in range(args.rounds):
                order = variants[:]
                rng.shuffle(order)
                for v in order:
                    times[v].append(time_block(opts[v], models[v], x, iters, what))
            bare = np.array(times["bare"])
            entry = {"bare_us": float(np.median(bare) * 1e6)}
            for v in variants[1:]:
                ratios = np.array(times[v]) / bare
                lo, hi = bootstrap_ci(ratios)
                entry[v] = {
                    "median_ratio": float(np.median(ratios)),
                    "ci95": [lo, hi],
                    "median_us": float(np.median(times[v]) * 1e6),
                }
            results[f"{model_name}/{what}"] = entry
            print(
                model_name,
                what,
                {k: (v if isinstance(v, float) else round(v["median_ratio"], 4)) for k, v in entry.items()},
                flush=True,
            )
    payload = {
        "benchmark": "overhead",
        "commit": commit(),
        "machine": machine(),
        "rounds": args.rounds,
        "iters_per_round": args.iters,
        "base": "torch.optim.AdamW",
        "every_rule": EVERY_RULE,
        "results": results,
    }
    if args.no_write:
        return
    write_json(RESULTS / "overhead.json", payload)
    write_section(payload)
    print("wrote", RESULTS / "overhead.json")


TARGET = 0.05  # at most 5% added per step on SB3's default policy size with the default preset


def write_section(payload: dict) -> None:
    """The overhead section of BENCHMARKS.md, from a result payload (``overhead.json``)."""
    results = payload["results"]
    iters = payload["iters_per_round"]
    lines = [
        f"Measured at commit `{payload['commit']}` on {payload['machine']['processor']}, "
        f"{payload['machine']['cpus']} CPUs, torch {payload['machine']['torch']} (1 thread); "
        f"{payload['rounds']} interleaved rounds of {iters} iterations ({int(iters * 0.2)} for mlp_1m). "
        "Ratio = wrapper time / bare AdamW time "
        "(median over rounds, bootstrap 95% CI).",
        "",
        "| model | timed | bare AdamW (µs) | default preset | every rule on |",
        "|---|---|---:|---:|---:|",
    ]
    for key, entry in results.items():
        model_name, what = key.split("/")
        cells = [
            f"{entry[v]['median_ratio']:.3f} [{entry[v]['ci95'][0]:.3f}, {entry[v]['ci95'][1]:.3f}]"
            for v in ("default", "every_rule")
        ]
        lines.append(f"| {model_name} | {what} | {entry['bare_us']:.1f} | {cells[0]} | {cells[1]} |")
    lines += ["", f"Target: at most {TARGET:.0%} added per step on `sb3_64x64` with the default preset."]
    for what in ("iteration", "optimizer"):
        entry = results.get(f"sb3_64x64/{what}", {}).get("default")
        if entry is None:
            continue
        added, (lo, hi) = entry["median_ratio"] - 1.0, entry["ci95"]
        met = (
            "met"
            if hi - 1.0 <= TARGET
            else "met at the median, not over the whole interval"
            if added <= TARGET
            else "not met"
        )
        lines.append(
            f"- {'a whole training iteration' if what == 'iteration' else 'the optimizer alone (worst case)'}: "
            f"{added:+.1%} [{lo - 1.0:+.1%}, {hi - 1.0:+.1%}]: {met}."
        )
    replace_section("overhead", "\n".join(lines))


def report_only() -> None:
    """Rewrite the BENCHMARKS.md section from the committed ``overhead.json`` without measuring again."""
    import json

    write_section(json.loads((RESULTS / "overhead.json").read_text()))


if __name__ == "__main__":
    main()
