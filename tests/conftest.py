"""Shared helpers: a tiny regression problem whose loss really falls, so rules see real signals."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Paged optimizers are not supported on CPU")


def make_problem(seed: int = 0, width: int = 128) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A 2-layer MLP and a fixed batch; ``width=128`` makes bitsandbytes take its 8-bit path (>= 4096 elements)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(width, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    x = torch.randn(32, width, generator=gen)
    y = torch.sin(x[:, :1]) + 0.1 * torch.randn(32, 1, generator=gen)
    return model, x, y


def train(
    opt: torch.optim.Optimizer,
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    feed_loss: bool = True,
) -> list[float]:
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if feed_loss and hasattr(opt, "step_loss"):
            opt.step_loss(loss)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.fixture
def problem():
    return make_problem()
