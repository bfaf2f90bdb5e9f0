"""Schedules: rules driven by the optimizer's step count, not by a signal."""

from __future__ import annotations

import math

from .base import Rule, _check_number

__all__ = ["CosineRule"]


class CosineRule(Rule):
    r"""Cosine annealing of the factor between 1 and ``min_factor``, driven by optimizer steps.

    Without restarts the factor follows ``min + (1 - min) * (1 + cos(pi * t / T)) / 2`` with ``T = cycle_length``
    (a wave, as ``torch.optim.lr_scheduler.CosineAnnealingLR`` gives past ``T_max``). With restarts (SGDR,
    ``CosineAnnealingWarmRestarts``) ``t`` counts from the start of the current cycle, the first cycle lasts
    ``cycle_length`` steps and each next one ``cycle_mult`` times longer.
    """

    channel = "step"

    def __init__(
        self,
        cycle_length: int = 1000,
        cycle_mult: float = 1.0,
        *,
        restart: bool = False,
        min_factor: float = 0.01,
    ) -> None:
        super().__init__(bounds=(min_factor, 1.0), warmup=0)
        if isinstance(cycle_length, bool) or not isinstance(cycle_length, int) or cycle_length < 1:
            raise ValueError(f"cycle_length: expected a positive integer, got {cycle_length!r}")
        self.cycle_length = cycle_length
        self.cycle_mult = _check_number("cycle_mult", cycle_mult, low=1.0)
        self.restart = bool(restart)
        self.min_factor = min_factor

    def _position(self, step: int) -> tuple[float, float]:
        """Return (t within the cycle, length of the cycle)."""
        length = float(self.cycle_length)
        if not self.restart:
            return float(step), length
        if self.cycle_mult == 1.0:
            return float(step % self.cycle_length), length
        m = self.cycle_mult
        n = math.floor(math.log(step / length * (m - 1.0) + 1.0, m))
        start = length * (m**n - 1.0) / (m - 1.0)
        cycle = length * m**n
        if step < start:  # floating-point edge at a cycle boundary
            n -= 1
            cycle /= m
            start -= cycle
        elif step >= start + cycle:
            start += cycle
            cycle *= m
        return step - start, cycle

    def at_step(self, step: int) -> None:
        t, length = self._position(step)
        self.factor = self.min_factor + (1.0 - self.min_factor) * (1.0 + math.cos(math.pi * t / length)) / 2.0
