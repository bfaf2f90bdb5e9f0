"""Averaging signals across ranks, so that every rank applies identical hyperparameters."""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "mean_across_ranks"]


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialized with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def mean_across_ranks(value: float) -> float:
    """All-reduce ``value`` to its mean over ranks (a collective: every rank must call it).

    A NaN on any rank makes the mean NaN on every rank, so a skipped signal is skipped everywhere.
    """
    if not is_distributed():
        return value
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    buffer = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    return float(buffer.item()) / dist.get_world_size()
