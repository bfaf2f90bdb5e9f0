"""The rule base class: bounds, warmup, capped moves and the rule's state as data (saved, loaded and shown by
the base class). The channels and rule keywords a rule can have."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

from ..signals import SignalStats

__all__ = ["CHANNELS", "RULE_KEYWORDS", "Rule"]


#: The rule keywords of :class:`~rl_adaptive.AdaptiveOptimizer`.
RULE_KEYWORDS: tuple[str, ...] = (
    "lr_rule",
    "momentum_rule",
    "betas_rule",
    "alpha_rule",
    "wd_rule",
    "reward_rule",
)
#: Signal channels a rule can read. ``"update"`` is the size of the last training phase's update, measured on a
#: probe batch (``AdaptiveOptimizer.step_update``; ``AdaptiveCallback`` measures it for SB3's algorithms).
CHANNELS: tuple[str, ...] = ("loss", "reward", "kl", "update", "step")


def _check_bounds(name: str, bounds: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a pair (low, high) of numbers, got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo <= 1.0 <= hi):
        raise ValueError(f"{name}: expected finite bounds with 0 < low <= 1 <= high, got {bounds!r}")
    return lo, hi


def _check_number(name: str, value: float, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name}: expected a finite number in {interval}, got {value!r}")
    return value


class Rule:
    """Base class of every rule.

    Subclasses set :attr:`channel` and implement :meth:`update`, which reads a
    :class:`~rl_adaptive.signals.SignalStats` and sets ``self.factor``. The base class skips the first
    ``warmup`` values of the channel, and after each update clamps the factor into ``bounds`` (a non-finite
    factor is discarded), so even a faulty custom rule cannot push a knob out of range.

    Example::

        class HalveOnSpike(Rule):
            channel = "loss"

            def update(self, stats):
                if stats.last > 10 * stats.slow:
                    self.factor *= 0.5

        opt = AdaptiveOptimizer(torch.optim.SGD(params, lr=0.1), lr_rule=HalveOnSpike())

    Args:
        bounds: ``(low, high)`` with ``0 < low <= 1 <= high``: the range of :attr:`factor`.
        warmup: number of channel values to see before the rule starts to act.
    """

    #: The signal channel the rule reads: "loss", "reward", "kl" or "step".
    channel: str = "loss"
    #: Extra knobs this rule also drives when the optimizer has them (``reward_rule="trend"``: momentum).
    extra_knobs: tuple[str, ...] = ()
    #: Largest change of the factor in one update, as a ratio (enforced after every update; ``inf``: none).
    max_change: float = math.inf

    def __init__(self, *, bounds: tuple[float, float] = (0.1, 10.0), warmup: int = 5) -> None:
        self._watchers: list[weakref.WeakMethod[Callable[[], None]]] = []
        self.bounds = _check_bounds("bounds", bounds)
        self.warmup = int(_check_number("warmup", warmup, low=0))
        self.factor = 1.0
        self.name = type(self).__name__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "factor" in cls.__dict__ and not isinstance(cls.__dict__["factor"], property):
            # A class attribute would hide the property, and the optimizer would not see the factor change.
            raise TypeError(f"{cls.__name__}: 'factor' is the rule's state; set self.factor, not a class attribute")

    @property
    def factor(self) -> float:
        """The rule's multiplicative factor on the knobs it drives (1.0: no change)."""
        return self._factor

    @factor.setter
    def factor(self, value: float) -> None:
        self._factor = value
        for watcher in getattr(self, "_watchers", ()):  # the optimizers that hold this rule: their cache is stale
            method = watcher()
            if method is not None:
                method()

    def watch(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` (a bound method, held weakly) whenever the factor changes. Each optimizer that holds
        the rule watches it, so it reads its knobs' factors again only after one of its own rules moved: no state
        shared between optimizers."""
        if not hasattr(self, "_watchers"):
            self._watchers = []
        self._watchers.append(weakref.WeakMethod(on_change))  # type: ignore[arg-type]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_watchers", None)  # weak references do not pickle; the optimizer that unpickles it watches again
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._watchers = []

    # -- the interface -------------------------------------------------------------------------------------
    def update(self, stats: SignalStats) -> None:
        """Read the channel's statistics after a new value and set ``self.factor``."""
        raise NotImplementedError

    def at_step(self, step: int) -> None:
        """For ``channel = "step"`` rules: set ``self.factor`` for optimizer step ``step`` (0-based)."""
        raise NotImplementedError

    # -- called by the optimizer ---------------------------------------------------------------------------
    def observe(self, stats: SignalStats) -> None:
        """Run :meth:`update` once the warmup is over, then keep the factor finite and in bounds."""
        if stats.count <= self.warmup:
            return
        before = self.factor
        self.update(stats)
        self._settle(before)

    def observe_step(self, step: int) -> None:
        before = self.factor
        self.at_step(step)
        self._settle(before)

    def _settle(self, before: float) -> None:
        factor = float(self.factor)
        if not math.isfinite(factor):
            factor = before
        factor = min(before * self.max_change, max(before / self.max_change, factor))
        lo, hi = self.bounds
        self.factor = min(hi, max(lo, factor))

    def _move_toward(self, target: float, rate: float) -> None:
        """Move the factor toward ``target`` by at most a factor ``rate`` per update."""
        self.factor = min(self.factor * rate, max(self.factor / rate, target))

    # -- checkpoints ---------------------------------------------------------------------------------------
    #: Public attributes that are state rather than settings (saved beside ``factor`` and every ``_`` attribute).
    state_fields: tuple[str, ...] = ()

    def _state_names(self) -> dict[str, str]:
        """``{key in the state dict: attribute}``: ``factor``, :attr:`state_fields`, and every attribute whose name
        starts with ``_`` and holds a plain number (saved without the ``_``)."""
        names = {"factor": "factor", **{field: field for field in self.state_fields}}
        for attribute, value in vars(self).items():
            if attribute.startswith("_") and type(value) in (int, float, bool):
                names.setdefault(attribute.lstrip("_"), attribute)
        return names

    def state_dict(self) -> dict[str, Any]:
        """The rule's state as data: ``factor``, :attr:`state_fields` and every ``_``-prefixed plain number (a
        subclass's counters are saved with no code of its own). Plain Python numbers only, so that
        ``torch.load(weights_only=True)`` reads them; an attribute that is ``None`` is not saved."""
        out = {}
        for key, attribute in self._state_names().items():
            value = getattr(self, attribute, None)
            if value is not None:
                out[key] = value
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, each value with the type the attribute has now."""
        names = self._state_names()
        for key, value in state.items():
            attribute = names.get(key)
            if attribute is None:
                continue  # saved by another version of the rule: ignored
            current = getattr(self, attribute, None)
            if isinstance(current, bool):
                value = bool(value)
            elif isinstance(current, int):
                value = int(value)
            else:
                value = float(value)
            setattr(self, attribute, value)

    def __repr__(self) -> str:
        return f"{self.name}(channel={self.channel!r}, factor={self.factor:.4g})"
