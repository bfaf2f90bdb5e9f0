"""What ``benchmarks.overhead`` measures on: the models, the variants (bare, default preset, every rule on) and the
design document's seed loop step."""

from __future__ import annotations

import itertools
from typing import Any

import torch

from rl_adaptive import AdaptiveOptimizer

EVERY_RULE: dict[str, Any] = {
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
    base = torch.optim.AdamW(model.parameters(), lr=3e-4)
    if variant == "bare":
        return base
    return AdaptiveOptimizer(base) if variant == "default" else AdaptiveOptimizer(base, **EVERY_RULE)


def seed_step(opt: torch.optim.Optimizer, loss: torch.Tensor, i: int) -> None:
    """One step of the design document's loop (the bare optimizer: ``step()`` alone)."""
    if isinstance(opt, AdaptiveOptimizer):
        opt.step_loss(loss)
        opt.step_reward(float(i))
    opt.step()
