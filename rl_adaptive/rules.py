"""Rules: small objects that turn the running statistics of a signal into a multiplicative factor.

A rule reads one channel (``"loss"``, ``"reward"``, ``"kl"``, or ``"step"`` for schedules) and keeps one number,
its :attr:`Rule.factor`. The optimizer multiplies the factors of every rule that drives a knob, clamps the product
to the knob's bounds and applies it to the externally owned base value (see ``docs/rules.md``):

* ``lr`` and ``wd``: ``value = base * factor``;
* ``momentum``, ``beta1``, ``beta2``, ``alpha``: the averaging horizon ``1 / (1 - beta)`` is multiplied by the
  factor, that is ``value = 1 - (1 - base) / factor``.

Rules are looked up by name in a registry per rule keyword (``lr_rule``, ``momentum_rule``, ...). Register your
own with :func:`register_rule`, or pass a :class:`Rule` instance directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .signals import SignalStats

__all__ = [
    "RULE_KEYWORDS",
    "CHANNELS",
    "Rule",
    "RuleOptions",
    "TrendRule",
    "VarianceRule",
    "NoiseRule",
    "InverseRule",
    "NormalizedRule",
    "RewardScalingRule",
    "KLRule",
    "TrustRegionRule",
    "PlateauRule",
    "CollapseRule",
    "CosineRule",
    "register_rule",
    "available_rules",
    "build_rules",
]

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

    #: Counts every change of any rule's :attr:`factor`. An optimizer keeps its knobs' clamped factors until this
    #: moves, so a step whose factors did not change reads none of them.
    factor_version: int = 0

    def __init__(self, *, bounds: tuple[float, float] = (0.1, 10.0), warmup: int = 5) -> None:
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
        Rule.factor_version += 1

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "factor" in state:  # pickled before the factor was a property
            state["_factor"] = state.pop("factor")
        self.__dict__.update(state)

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


class KLRule(Rule):
    r"""KL-adaptive learning rate for policy-gradient methods (rsl_rl and rl_games' PPO rule).

    On each measured KL::

        kl > 2 * target_kl:    factor <- factor / change
        kl < target_kl / 2:    factor <- factor * change
        otherwise:             unchanged

    The raw KL is used (no smoothing), as in rsl_rl's ``PPO.update`` and rl_games' ``AdaptiveScheduler``.
    """

    channel = "kl"

    def __init__(
        self,
        target_kl: float = 0.01,
        *,
        change: float = 1.5,
        bounds: tuple[float, float] = (0.01, 10.0),
        warmup: int = 0,
    ) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        self.target_kl = _check_number("target_kl", target_kl, low=0.0, low_open=True)
        self.change = self.max_change = _check_number("change", change, low=1.0)

    def update(self, stats: SignalStats) -> None:
        kl = stats.last
        if kl > 2.0 * self.target_kl:
            self.factor /= self.change
        elif kl < 0.5 * self.target_kl:
            self.factor *= self.change


class TrustRegionRule(Rule):
    r"""Trust-region learning rate: keep the update size near a target.

    Reads the ``"update"`` channel: how far a training phase moved what the optimizer trains, measured on a probe
    batch (the policy's KL(old || new) for stochastic policies, the relative change of the predictions for
    Q-networks and critics, the action change over the action range for deterministic actors; see
    ``rl_adaptive.probe``). With ``u`` the channel's fast average (one window's size is noisy: A2C's spans a factor
    of 10 between its quartiles) and ``r = (u / target) ** power``, the lr ratio that would have given the target::

        r > band:       factor <- factor / min(r, change)      (too large a step: shrink)
        r < 1 / band:   factor <- factor * min(1 / r, change)  (too small a step: grow)
        otherwise:      unchanged

    ``power`` is 1 / (how the size grows with the lr): 0.5 for a KL (quadratic in the step), 1 for a relative
    change (linear). The dead band is a factor ``band`` of lr either way (a KL within ``[target / 4, 4 target]``
    or a relative change within ``[target / 2, 2 target]`` for ``band=2``): it leaves a well-tuned lr alone.
    ``change`` caps each move, small because the average lags. With ``target=None`` the rule waits until one is
    set (``AdaptiveCallback`` sets its algorithm family's, ``rl_adaptive.sb3.UPDATE_TARGETS``).

    ``start`` is the factor before the first update size arrives. The rule sees a step's size only after taking
    it, and RMSprop's first steps are its largest (no bias correction: the first is ``lr / sqrt(1 - alpha)`` per
    coordinate, 10x the lr for SB3's A2C): at 10x the tuned lr, one such step can collapse a policy before there
    is anything to read. ``start < 1`` is a slow start: the first steps are taken at ``start`` times
    the lr, and the factor grows by ``change`` per update while the step is below the target. The factor stays at
    ``start`` until update sizes arrive: feed the channel (``AdaptiveCallback`` does, and warns where it has no
    probe), or leave ``start`` at 1.

    ``cautious=True`` grows only when the slow average agrees: ``u`` is then ``max(fast, slow)`` for growing
    (shrinking still reads the fast average). A2C's update size is heavy-tailed: most phases move the policy
    little and a few move it 100x more, so the fast average of a few phases often sits below the band while the
    spikes that damage the policy are still coming, and the plain rule creeps the lr up until one collapses it.

    ``standby=True`` makes the rule a fallback that does nothing until :meth:`activate` is called: its factor is 1
    and it ignores update sizes, so an optimizer whose update sizes nobody measures is the bare optimizer. The
    default preset holds such a rule beside the KL rule, and ``AdaptiveCallback`` activates it on the algorithms
    whose lr grid chose it (``rl_adaptive.sb3.FALLBACK_ALGOS``). Activating sets the factor to ``start``; the
    standby flag is saved with the rule, so a loaded rule stays active.
    """

    channel = "update"
    #: Set by ``AdaptiveCallback`` (target and exponent per algorithm), so saved with the factor.
    state_fields = ("target", "power")

    def __init__(
        self,
        target: float | None = None,
        *,
        power: float = 1.0,
        band: float = 2.0,
        change: float = 1.2,
        bounds: tuple[float, float] = (0.01, 10.0),
        warmup: int = 0,
        start: float = 1.0,
        cautious: bool = False,
        standby: bool = False,
    ) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        lo, hi = self.bounds
        self.start = _check_number("start", start, low=lo, high=hi)
        for name, flag in (("cautious", cautious), ("standby", standby)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected True or False, got {type(flag).__name__} {flag!r}")
        self._standby = standby
        self.factor = 1.0 if standby else self.start
        self.target = None if target is None else _check_number("target", target, low=0.0, low_open=True)
        self.power = _check_number("power", power, low=0.0, low_open=True)
        self.band = _check_number("band", band, low=1.0)
        self.change = self.max_change = _check_number("change", change, low=1.0)
        self.cautious = cautious

    @property
    def standby(self) -> bool:
        """Whether the rule waits for :meth:`activate` (factor 1, update sizes ignored)."""
        return self._standby

    def activate(self) -> None:
        """End the standby: the factor becomes ``start`` and the rule reads update sizes. No-op if active."""
        if self._standby:
            self._standby = False
            self.factor = self.start

    def update(self, stats: SignalStats) -> None:
        if self._standby or self.target is None:
            return
        r = self._lr_ratio(stats.fast)
        if r > self.band:
            self.factor /= min(r, self.change)
            return
        if self.cautious:
            r = self._lr_ratio(max(stats.fast, stats.slow))
        if r < 1.0 / self.band:  # r == 0: no movement at all, as small a step as can be
            self.factor *= min(1.0 / r, self.change) if r > 0.0 else self.change

    def _lr_ratio(self, size: float) -> float:
        """``(size / target) ** power``: the lr ratio that would have given the target (0.0 for no movement)."""
        return (size / self.target) ** self.power if size > 0.0 else 0.0


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


# -- the registry ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleOptions:
    """The shared options a rule factory may read."""

    cycle_length: int = 1000
    cycle_mult: float = 1.0
    target_kl: float = 0.01
    #: Target of the ``"trust_region"`` rule; None: set per algorithm family by ``AdaptiveCallback``.
    target_update: float | None = None


RuleFactory = Callable[[RuleOptions], Rule]

_REGISTRY: dict[str, dict[str, RuleFactory]] = {keyword: {} for keyword in RULE_KEYWORDS}


def register_rule(keyword: str, name: str, factory: RuleFactory, *, overwrite: bool = False) -> None:
    """Make ``name`` a valid value of the rule keyword ``keyword``.

    ``factory(options)`` receives a :class:`RuleOptions` and returns a fresh :class:`Rule`.

    >>> register_rule("lr_rule", "halve_on_spike", lambda options: HalveOnSpike())  # doctest: +SKIP
    """
    if keyword not in _REGISTRY:
        raise ValueError(f"keyword: unknown rule keyword {keyword!r}; choose from {', '.join(RULE_KEYWORDS)}")
    if not isinstance(name, str) or not name or "+" in name:
        raise ValueError(f"name: expected a non-empty string without '+', got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory: expected a callable, got {type(factory).__name__}")
    if name in _REGISTRY[keyword] and not overwrite:
        raise ValueError(f"name: {keyword} rule {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[keyword][name] = factory


def available_rules(keyword: str) -> tuple[str, ...]:
    """The registered names for a rule keyword, in registration order."""
    if keyword not in _REGISTRY:
        raise ValueError(f"keyword: unknown rule keyword {keyword!r}; choose from {', '.join(RULE_KEYWORDS)}")
    return tuple(_REGISTRY[keyword])


def build_rules(keyword: str, spec: object, options: RuleOptions) -> list[Rule]:
    """Turn one rule keyword's value (``None``, a name, ``"a+b"``, or a :class:`Rule`) into rule objects."""
    if spec is None:
        return []
    if isinstance(spec, Rule):
        if spec.channel not in CHANNELS:
            raise ValueError(
                f"{keyword}: rule {spec!r} has channel {spec.channel!r}; choose from {', '.join(CHANNELS)}"
            )
        return [spec]
    if not isinstance(spec, str):
        raise TypeError(f"{keyword}: expected None, a rule name or a Rule instance, got {type(spec).__name__} {spec!r}")
    rules = []
    for name in spec.split("+"):
        name = name.strip()
        factory = _REGISTRY[keyword].get(name)
        if factory is None:
            raise ValueError(
                f"{keyword}: unknown rule {name!r}; choose from {', '.join(_REGISTRY[keyword])} "
                "(combine with '+', e.g. 'trend+variance')"
            )
        rule = factory(options)
        rule.name = name
        rules.append(rule)
    return rules


def _reward_trend(options: RuleOptions) -> Rule:
    rule = TrendRule("reward")
    rule.extra_knobs = ("momentum",)
    return rule


def _reward_trend_damped(options: RuleOptions) -> Rule:
    # The benchmark showed plain reward "trend" is a positive feedback loop in RL: rising returns push the lr to
    # its 10x cap, which destabilizes PPO. Damped: smaller steps, a wider dead band, a cooldown, bounds [0.5, 2].
    rule = TrendRule("reward", up=1.02, down=0.95, deadband=1.0, cooldown=2, bounds=(0.5, 2.0))
    rule.extra_knobs = ("momentum",)
    return rule


#: The trust-region rule the A2C lr grid chose (BENCHMARKS.md): a slow start at a tenth of the lr and cautious
#: growth. Registered as ``"trust_region_cautious"``, and as ``"trust_region_fallback"`` on standby (the default).
_CAUTIOUS: dict[str, Any] = {"start": 0.1, "cautious": True}


def _builtin() -> None:
    horizon = (0.5, 2.0)
    register_rule("lr_rule", "trend", lambda o: TrendRule("loss"))
    register_rule("lr_rule", "variance", lambda o: VarianceRule("loss", bounds=(0.1, 1.0)))
    register_rule("lr_rule", "cosine", lambda o: CosineRule(o.cycle_length, o.cycle_mult))
    register_rule("lr_rule", "cosine_restart", lambda o: CosineRule(o.cycle_length, o.cycle_mult, restart=True))
    register_rule("lr_rule", "kl", lambda o: KLRule(o.target_kl))
    register_rule("lr_rule", "trust_region", lambda o: TrustRegionRule(o.target_update))
    register_rule("lr_rule", "trust_region_cautious", lambda o: TrustRegionRule(o.target_update, **_CAUTIOUS))
    register_rule(
        "lr_rule", "trust_region_fallback", lambda o: TrustRegionRule(o.target_update, **_CAUTIOUS, standby=True)
    )
    register_rule("momentum_rule", "inverse", lambda o: InverseRule(bounds=horizon))
    register_rule("momentum_rule", "relative", lambda o: TrendRule("loss", bounds=horizon))
    register_rule("momentum_rule", "normalized", lambda o: NormalizedRule(bounds=horizon))
    register_rule("betas_rule", "relative", lambda o: TrendRule("loss", bounds=horizon))
    register_rule("betas_rule", "variance", lambda o: VarianceRule("loss", grow=True, bounds=horizon))
    register_rule("alpha_rule", "stable", lambda o: VarianceRule("loss", grow=True, bounds=horizon))
    register_rule("wd_rule", "trend", lambda o: TrendRule("loss", invert=True))
    register_rule("reward_rule", "scaling", lambda o: RewardScalingRule())
    register_rule("reward_rule", "trend", _reward_trend)
    register_rule("reward_rule", "trend_damped", _reward_trend_damped)
    register_rule("reward_rule", "variance", lambda o: VarianceRule("reward", bounds=(0.1, 1.0)))
    register_rule("reward_rule", "plateau", lambda o: PlateauRule())
    register_rule("reward_rule", "collapse", lambda o: CollapseRule())


_builtin()
