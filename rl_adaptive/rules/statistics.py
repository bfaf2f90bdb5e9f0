"""Rules on a signal's running statistics: its trend, its noise, its level (loss or reward)."""

from __future__ import annotations

import math

from ..signals import SignalStats
from .base import CHANNELS, Rule, _check_number

__all__ = ["InverseRule", "NoiseRule", "NormalizedRule", "RewardScalingRule", "TrendRule", "VarianceRule"]


class TrendRule(Rule):
    r"""Bounded multiplicative steps on the signal's smoothed trend, with a dead band and a cooldown.

    With ``d = drift`` of the channel (``(fast - slow) / std``; improving means ``d < -deadband`` for a loss and
    ``d > deadband`` for a reward)::

        improving:  factor <- factor * up        (factor * down if invert)
        worsening:  factor <- factor * down      (factor * up   if invert)
        otherwise:  unchanged

    After a change the rule waits ``cooldown`` values. The factor stays in ``bounds``.
    """

    def __init__(
        self,
        channel: str = "loss",
        *,
        up: float = 1.05,
        down: float = 0.9,
        deadband: float = 0.5,
        cooldown: int = 0,
        invert: bool = False,
        bounds: tuple[float, float] = (0.1, 10.0),
        warmup: int = 5,
    ) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        signals = [c for c in CHANNELS if c != "step"]
        if channel not in signals:
            raise ValueError(f"channel: expected one of {', '.join(signals)}; got {channel!r}")
        self.channel = channel
        self.up = _check_number("up", up, low=1.0)
        self.down = _check_number("down", down, low=0.0, high=1.0, low_open=True)
        self.deadband = _check_number("deadband", deadband, low=0.0)
        self.cooldown = int(_check_number("cooldown", cooldown, low=0))
        self.invert = bool(invert)
        self.max_change = max(self.up, 1.0 / self.down)
        self._wait = 0

    def update(self, stats: SignalStats) -> None:
        if self._wait > 0:
            self._wait -= 1
            return
        d = stats.drift if self.channel == "reward" else -stats.drift  # > 0: improving
        if d > self.deadband:
            self.factor *= self.down if self.invert else self.up
        elif d < -self.deadband:
            self.factor *= self.up if self.invert else self.down
        else:
            return
        self._wait = self.cooldown


class VarianceRule(Rule):
    r"""A factor set by the channel's relative noise ``n = std / (|slow| + std)`` in [0, 1): the rules named
    ``"variance"`` (lr, betas, reward) and ``"stable"`` (RMSprop's alpha).

    ``target = 1 / (1 + gain * n)`` (``grow=False``: shrink when noisy) or ``target = 1 + gain * n``
    (``grow=True``: lengthen a horizon when noisy); the factor moves toward the target by at most a factor
    ``rate`` per value.
    """

    def __init__(
        self,
        channel: str = "loss",
        *,
        gain: float = 1.0,
        grow: bool = False,
        rate: float = 1.05,
        bounds: tuple[float, float] = (0.1, 10.0),
        warmup: int = 5,
    ) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        self.channel = channel
        self.gain = _check_number("gain", gain, low=0.0)
        self.grow = bool(grow)
        self.rate = self.max_change = _check_number("rate", rate, low=1.0)

    def update(self, stats: SignalStats) -> None:
        scaled = 1.0 + self.gain * stats.noise
        self._move_toward(scaled if self.grow else 1.0 / scaled, self.rate)


class NoiseRule(VarianceRule):
    """The former name of :class:`VarianceRule`, kept so that code and checkpoints that use it keep working (a rule
    passed as an instance is saved under its class name)."""


class InverseRule(Rule):
    r"""Inverse-loss scaling: ``target = (ref / |fast|) ** power``.

    ``ref`` is the smoothed loss when the warmup ends, so the horizon lengthens as the loss falls below its
    starting level and shortens when it rises above it. Moves by at most a factor ``rate`` per value.
    """

    def __init__(
        self,
        *,
        power: float = 0.5,
        rate: float = 1.05,
        bounds: tuple[float, float] = (0.5, 2.0),
        warmup: int = 5,
    ) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        self.power = _check_number("power", power, low=0.0)
        self.rate = self.max_change = _check_number("rate", rate, low=1.0)
        self._ref = 0.0

    def update(self, stats: SignalStats) -> None:
        level = abs(stats.fast)
        if self._ref <= 0.0:
            self._ref = level
            return
        if level > 0.0:
            self._move_toward((self._ref / level) ** self.power, self.rate)


class NormalizedRule(Rule):
    r"""Improvement normalized by the loss magnitude: ``target = 1 + gain * clip((slow - fast) / |slow|, -1, 1)``.

    Proportional (it does not accumulate): a loss falling by a few percent per horizon lengthens the momentum
    horizon by ``gain`` times that fraction. Moves by at most a factor ``rate`` per value.
    """

    def __init__(
        self,
        *,
        gain: float = 1.0,
        rate: float = 1.05,
        bounds: tuple[float, float] = (0.5, 2.0),
        warmup: int = 5,
    ) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        self.gain = _check_number("gain", gain, low=0.0)
        self.rate = self.max_change = _check_number("rate", rate, low=1.0)

    def update(self, stats: SignalStats) -> None:
        slow = stats.slow
        rel = (slow - stats.fast) / (abs(slow) + 1e-12)
        self._move_toward(1.0 + self.gain * max(-1.0, min(1.0, rel)), self.rate)


class RewardScalingRule(Rule):
    r"""Learning rate grows with the reward: ``target = low ** (1 - p) * high ** p``.

    ``p = (fast - min) / (max - min)`` places the smoothed reward between the lowest and highest smoothed reward
    seen so far (``p = 0.5`` until they differ), so the rule works for rewards of any sign and scale. Moves by
    at most a factor ``rate`` per value.
    """

    channel = "reward"

    def __init__(self, *, rate: float = 1.05, bounds: tuple[float, float] = (0.5, 2.0), warmup: int = 5) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        self.rate = self.max_change = _check_number("rate", rate, low=1.0)
        self._min = math.inf
        self._max = -math.inf

    def update(self, stats: SignalStats) -> None:
        level = stats.fast
        self._min = min(self._min, level)
        self._max = max(self._max, level)
        span = self._max - self._min
        p = (level - self._min) / span if span > 1e-12 * (1.0 + abs(level)) else 0.5
        lo, hi = self.bounds
        self._move_toward(lo ** (1.0 - p) * hi**p, self.rate)
