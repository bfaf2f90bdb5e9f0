"""Rules on episode returns: reduce the lr on a plateau, cut it on a collapse."""

from __future__ import annotations

import math

from ..signals import SignalStats
from .base import Rule, _check_number

__all__ = ["CollapseRule", "PlateauRule"]


class PlateauRule(Rule):
    r"""``torch.optim.lr_scheduler.ReduceLROnPlateau`` on episode returns (mode ``"max"``, relative threshold).

    Each smoothed reward value (the channel's fast average: one rollout's mean return is noisy) either improves on
    the best seen (``value > best + threshold * |best|``; the counter of bad values resets) or not (the counter
    grows). After more than ``patience`` bad values the factor is multiplied by
    ``factor`` (0.5), not below ``min_factor``, and the rule waits ``cooldown`` values before counting again.
    It never raises the lr: use it where returns should keep climbing and a plateau means the steps are too big
    to settle (SB3 issues #1663 and #856).
    """

    channel = "reward"

    def __init__(
        self,
        *,
        factor: float = 0.5,
        patience: int = 10,
        threshold: float = 0.01,
        cooldown: int = 5,
        min_factor: float = 0.1,
        warmup: int = 0,
    ) -> None:
        self.reduce = _check_number("factor", factor, low=0.0, high=1.0, low_open=True)
        self.min_factor = _check_number("min_factor", min_factor, low=0.0, high=1.0, low_open=True)
        super().__init__(bounds=(self.min_factor, 1.0), warmup=warmup)
        self.patience = int(_check_number("patience", patience, low=0))
        self.threshold = _check_number("threshold", threshold, low=0.0)
        self.cooldown = int(_check_number("cooldown", cooldown, low=0))
        self.max_change = 1.0 / self.reduce
        self._best = -math.inf
        self._bad = 0
        self._wait = 0

    def update(self, stats: SignalStats) -> None:
        value = stats.fast
        if value > self._best + self.threshold * abs(self._best) or self._best == -math.inf:
            self._best = value
            self._bad = 0
        else:
            self._bad += 1
        if self._wait > 0:
            self._wait -= 1
            self._bad = 0
            return
        if self._bad > self.patience:
            self.factor *= self.reduce
            self._wait = self.cooldown
            self._bad = 0


class CollapseRule(Rule):
    r"""Cut the lr when returns collapse, then let it recover slowly.

    With ``fast`` the channel's fast average, ``peak`` the highest ``fast`` since the last cut, and ``high``,
    ``low`` the highest and lowest ``fast`` ever seen (before this value)::

        fast < peak - drop * (high - low):   factor <- factor * cut;  peak <- fast;  wait `cooldown` values
        otherwise:                           factor -> 1, by at most a factor `recover` per value

    A collapse is a fall by more than ``drop`` (0.3) of the range the returns have covered, so the rule needs no
    scale: it works for returns of any sign and size. A deeper fall cuts again, once per ``drop`` of the range
    and ``cooldown`` values. It never raises the lr above the base.
    """

    channel = "reward"

    def __init__(
        self,
        *,
        drop: float = 0.3,
        cut: float = 0.5,
        recover: float = 1.02,
        cooldown: int = 5,
        min_factor: float = 0.1,
        warmup: int = 5,
    ) -> None:
        self.min_factor = _check_number("min_factor", min_factor, low=0.0, high=1.0, low_open=True)
        super().__init__(bounds=(self.min_factor, 1.0), warmup=warmup)
        self.drop = _check_number("drop", drop, low=0.0, high=1.0, low_open=True)
        self.cut = _check_number("cut", cut, low=0.0, high=1.0, low_open=True)
        self.recover = _check_number("recover", recover, low=1.0)
        self.cooldown = int(_check_number("cooldown", cooldown, low=0))
        self.max_change = max(1.0 / self.cut, self.recover)
        self._peak = -math.inf
        self._high = -math.inf
        self._low = math.inf
        self._wait = 0

    def update(self, stats: SignalStats) -> None:
        level = stats.fast
        collapsed = self._high > self._low and level < self._peak - self.drop * (self._high - self._low)
        self._high = max(self._high, level)
        self._low = min(self._low, level)
        if self._wait > 0:
            self._wait -= 1
        elif collapsed:
            self.factor *= self.cut
            self._peak = level
            self._wait = self.cooldown
            return
        self._peak = max(self._peak, level)
        self._move_toward(1.0, self.recover)
