"""``benchmarks.overhead``'s parts that do not time a step against another: memory (tracemalloc, the state's
size), the probe's share of training time, and cProfile's frames of the seed loop."""

from __future__ import annotations

import gc
import json
import pickle
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import torch

from benchmarks._common import RESULTS, commit
from benchmarks.overhead_models import EVERY_RULE, build, forward, sb3_mlp, seed_step


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
    # {(file, line, name): (cc, nc, tt, ct, callers)}: the table pstats documents only through print_stats
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
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


def use_source(path: str) -> None:
    """Import ``rl_adaptive`` from the source tree ``path`` instead of the installed (editable) package."""
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
    sys.path.insert(0, str(Path(path).resolve()))
    if "rl_adaptive" in sys.modules:
        raise RuntimeError("--code: rl_adaptive was imported before the source tree was chosen")
