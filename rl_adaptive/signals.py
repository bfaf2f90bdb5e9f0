"""Running statistics of one signal channel (loss, reward or KL), in O(1) memory.

Each accepted value updates two exponential moving averages (a fast and a slow one, bias-corrected as in
Adam) and an exponentially weighted variance around the slow average. Rules read these statistics; they never
see raw history, so memory does not grow with the number of steps.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ABSURD", "SignalStats"]

#: Values larger in magnitude than this are absurd: skipped as signals, refused as training data.
ABSURD = 1e12

_TINY = 1e-12


class SignalStats:
    r"""Fixed-size running statistics of a scalar signal.

    With :math:`x_t` the accepted values, :math:`\beta_f` and :math:`\beta_s` the fast and slow rates::

        fast_t = EMA_{beta_f}(x)          slow_t = EMA_{beta_s}(x)          (bias-corrected)
        var_t  = EW variance of x around slow, rate beta_s
        res_t  = EW variance of the residual x - fast (before the update), rate beta_s
        drift  = (fast - slow) / (sqrt(res) + tiny)    clipped to [-10, 10]
        noise  = std / (|slow| + std + tiny)           in [0, 1)

    ``drift`` is positive while the signal rises and is measured in units of the signal's step-to-step noise
    (the residual around the fast average holds little of the trend), so it works for signals of any scale and
    for signals near zero: about 3 for a clean linear trend, about 0.3 in standard deviation for pure noise.

    Values that are NaN, infinite or larger in magnitude than ``limit`` are skipped and counted in :attr:`skipped`.

    Args:
        beta_fast: rate of the fast average, in (0, 1).
        beta_slow: rate of the slow average and of the variance, in (0, 1), at least ``beta_fast``.
        limit: largest accepted magnitude.
    """

    #: The derived statistics, computed on first read after a value; a class default, so that an object pickled
    #: before they were lazy (with them in its ``__dict__``) recomputes them.
    _derived: tuple[float, ...] | None = None

    def __init__(self, beta_fast: float = 0.8, beta_slow: float = 0.95, limit: float = ABSURD) -> None:
        self.beta_fast = beta_fast
        self.beta_slow = beta_slow
        self.limit = limit
        self.count = 0
        self.skipped = 0
        self.last = 0.0  # the latest accepted value (0.0 before the first)
        self._fast = 0.0
        self._slow = 0.0
        self._var = 0.0
        self._res = 0.0
        self._derived: tuple[float, ...] | None = None  # computed when first read after a value (see _get)

    def push(self, value: float) -> bool:
        """Add one value. Returns ``False`` (and counts it as skipped) if it is not finite or too large.

        Only the four running sums are updated here; the derived statistics are computed when a rule or a logger
        first reads one of them, so a channel no rule reads costs a few multiplications per value."""
        if not math.isfinite(value) or abs(value) > self.limit:
            self.skipped += 1
            return False
        n = self.count
        bf, bs = self.beta_fast, self.beta_slow
        # The bias-corrected averages before this value (what fast and slow read), without the derived statistics.
        fast_before, slow_before = self._corrected() if n else (value, value)
        self.count = n + 1
        self.last = value
        self._fast = bf * self._fast + (1.0 - bf) * value
        self._slow = bs * self._slow + (1.0 - bs) * value
        diff = value - slow_before
        self._var = bs * (self._var + (1.0 - bs) * diff * diff)
        residual = value - fast_before
        self._res = bs * self._res + (1.0 - bs) * residual * residual
        self._derived = None
        return True

    def _get(self, index: int) -> float:
        derived = self._derived
        if derived is None:
            derived = self._derived = self._compute()
        return derived[index]

    def _corrected(self) -> tuple[float, float]:
        """The bias-corrected fast and slow averages of the values so far (at least one)."""
        n = self.count
        return self._fast / (1.0 - self.beta_fast**n), self._slow / (1.0 - self.beta_slow**n)

    def _compute(self) -> tuple[float, ...]:
        """``(fast, slow, var, std, residual_std, drift, noise)`` from the running sums."""
        n = self.count
        if n == 0:
            return (0.0,) * 7
        correction = 1.0 - self.beta_slow**n
        fast, slow = self._corrected()
        var = max(self._var / correction, 0.0)
        std = math.sqrt(var)
        residual_std = math.sqrt(max(self._res / correction, 0.0))
        if n < 2:
            return fast, slow, var, std, residual_std, 0.0, 0.0
        scale = residual_std + _TINY * (1.0 + abs(slow))
        drift = max(-10.0, min(10.0, (fast - slow) / scale))
        noise = std / (abs(slow) + std + _TINY)
        return fast, slow, var, std, residual_std, drift, noise

    #: Bias-corrected fast average.
    fast = property(lambda self: self._get(0))
    #: Bias-corrected slow average.
    slow = property(lambda self: self._get(1))
    #: Bias-corrected exponentially weighted variance around the slow average.
    var = property(lambda self: self._get(2))
    #: Square root of :attr:`var`.
    std = property(lambda self: self._get(3))
    #: Spread of the values around the fast average: the signal's step-to-step noise.
    residual_std = property(lambda self: self._get(4))
    #: ``(fast - slow) / residual_std`` clipped to [-10, 10]: positive while the signal rises.
    drift = property(lambda self: self._get(5))
    #: Relative spread ``std / (|slow| + std)`` in [0, 1).
    noise = property(lambda self: self._get(6))

    def state_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "skipped": self.skipped,
            "last": self.last,
            "fast": self._fast,
            "slow": self._slow,
            "var": self._var,
            "res": self._res,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        self.skipped = int(state["skipped"])
        self.last = float(state["last"])
        self._fast = float(state["fast"])
        self._slow = float(state["slow"])
        self._var = float(state["var"])
        self._res = float(state["res"])
        self._derived = None

    def __repr__(self) -> str:
        return (
            f"SignalStats(count={self.count}, skipped={self.skipped}, fast={self.fast:.4g}, "
            f"slow={self.slow:.4g}, std={self.std:.4g})"
        )
