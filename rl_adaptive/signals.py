"""Running statistics of one signal channel (loss, reward or KL), in O(1) memory.

Each accepted value updates two exponential moving averages (a fast and a slow one, bias-corrected as in
Adam) and an exponentially weighted variance around the slow average. Rules read these statistics; they never
see raw history, so memory does not grow with the number of steps.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SignalStats"]

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

    def __init__(self, beta_fast: float = 0.8, beta_slow: float = 0.95, limit: float = 1e12) -> None:
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
        self._refresh()

    def push(self, value: float) -> bool:
        """Add one value. Returns ``False`` (and counts it as skipped) if it is not finite or too large."""
        if not math.isfinite(value) or abs(value) > self.limit:
            self.skipped += 1
            return False
        slow_before = self.slow if self.count else value
        fast_before = self.fast if self.count else value
        self.count += 1
        self.last = value
        bf, bs = self.beta_fast, self.beta_slow
        self._fast = bf * self._fast + (1.0 - bf) * value
        self._slow = bs * self._slow + (1.0 - bs) * value
        diff = value - slow_before
        self._var = bs * (self._var + (1.0 - bs) * diff * diff)
        residual = value - fast_before
        self._res = bs * self._res + (1.0 - bs) * residual * residual
        self._refresh()
        return True

    def _refresh(self) -> None:
        """Recompute the derived statistics once per value, so that rules read plain attributes."""
        n = self.count
        if n == 0:
            self.fast = self.slow = self.var = self.std = self.residual_std = self.drift = self.noise = 0.0
            return
        correction = 1.0 - self.beta_slow**n
        #: Bias-corrected fast and slow averages.
        self.fast = self._fast / (1.0 - self.beta_fast**n)
        self.slow = self._slow / correction
        #: Bias-corrected exponentially weighted variance around the slow average, and its square root.
        self.var = max(self._var / correction, 0.0)
        self.std = math.sqrt(self.var)
        #: Spread of the values around the fast average: the signal's step-to-step noise.
        self.residual_std = math.sqrt(max(self._res / correction, 0.0))
        if n < 2:
            self.drift = self.noise = 0.0
            return
        #: ``(fast - slow) / residual_std`` clipped to [-10, 10]: positive while the signal rises.
        scale = self.residual_std + _TINY * (1.0 + abs(self.slow))
        self.drift = max(-10.0, min(10.0, (self.fast - self.slow) / scale))
        #: Relative spread ``std / (|slow| + std)`` in [0, 1).
        self.noise = self.std / (abs(self.slow) + self.std + _TINY)

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
        self._refresh()

    def __repr__(self) -> str:
        return (
            f"SignalStats(count={self.count}, skipped={self.skipped}, fast={self.fast:.4g}, "
            f"slow={self.slow:.4g}, std={self.std:.4g})"
        )
