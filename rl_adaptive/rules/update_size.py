"""Rules on what a training phase did: the policy's KL and the update size measured on a probe batch."""

from __future__ import annotations

from ..signals import SignalStats
from .base import Rule, _check_number

__all__ = ["ClosureRule", "KLRule", "TrustRegionRule"]


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
    ``rl_adaptive.sb3.probe``). With ``u`` the channel's fast average (one window's size is noisy: A2C's spans a factor
    of 10 between its quartiles) and ``r = (u / target) ** power``, the lr ratio that would have given the target::

        r > band:       factor <- factor / min(r, change)      (too large a step: shrink)
        r < 1 / band:   factor <- factor * min(1 / r, change)  (too small a step: grow)
        otherwise:      unchanged

    ``power`` is 1 / (how the size grows with the lr): 0.5 for a KL (quadratic in the step), 1 for a relative
    change (linear). The dead band is a factor ``band`` of lr either way (a KL within ``[target / 4, 4 target]``
    or a relative change within ``[target / 2, 2 target]`` for ``band=2``): it leaves a well-tuned lr alone.
    ``change`` caps each move, small because the average lags. With ``target=None`` the rule waits until one is
    set: :func:`rl_adaptive.sb3.adaptive_policy_kwargs` builds it with its algorithm's target and exponent
    (``rl_adaptive.sb3.ALGORITHMS``).

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

    """

    channel = "update"
    #: Saved with the factor: a rule whose target was set after construction keeps it across a checkpoint.
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
    ) -> None:
        super().__init__(bounds=bounds, warmup=warmup)
        lo, hi = self.bounds
        self.start = _check_number("start", start, low=lo, high=hi)
        if not isinstance(cautious, bool):
            raise TypeError(f"cautious: expected True or False, got {type(cautious).__name__} {cautious!r}")
        self.factor = self.start
        self.target = None if target is None else _check_number("target", target, low=0.0, low_open=True)
        self.power = _check_number("power", power, low=0.0, low_open=True)
        self.band = _check_number("band", band, low=1.0)
        self.change = self.max_change = _check_number("change", change, low=1.0)
        self.cautious = cautious

    def update(self, stats: SignalStats) -> None:
        if self.target is None:
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
        assert self.target is not None  # update() returns before asking without a target
        return (size / self.target) ** self.power if size > 0.0 else 0.0


class ClosureRule(TrustRegionRule):
    r"""TD-closure learning rate for value networks trained by temporal differences (DQN, SAC, TD3, DDPG).

    Reads the ``"update"`` channel fed with ``rho``, the fraction of its own batch's TD error one gradient step
    closed with the targets frozen (``rl_adaptive.sb3.closure``; ``AdaptiveCallback`` measures it every
    ``closure_every`` steps of the value network's optimizer). ``rho`` is proportional to the lr for small steps and
    free of the reward's scale. It is the trust-region rule on that size, ``power=1``::

        rho_avg > band * target:    factor <- factor / min(rho_avg / target, change)   (overshooting: shrink)
        rho_avg < target / band:    factor <- factor * min(target / rho_avg, change)   (stalling: grow)

    The defaults, ``target=0.15`` and ``band=2``, leave the lr alone while a step closes between 7.5% and 30% of
    its batch's TD error. At rl-zoo's tuned hyperparameters a step closes a median 16% on DQN CartPole-v1, 20% on
    SAC Pendulum-v1 and 28% on TD3 Pendulum-v1 once past the first third of the measured steps (BENCHMARKS.md, suite
    ``closure_sizes``): the dead band holds all three. A tenth of the tuned lr closes 0.7-1.8%, ten times it 28-76%
    (SAC and TD3 overshoot, ``rho > 1``, on 28% and 38% of their steps there). An actor's optimizer with this rule
    is fed its critic's ``rho``: the two lrs move together, the critic's TD error telling both how far the common lr
    is from one that learns.

    Growth stops where shrinking began: the factor never grows back above the lowest factor a shrink left it at
    (``ceiling=True``). A stall is ambiguous. At too small an lr each step closes little of an error that is
    there to close; at too large an lr the TD errors themselves grow (the Q-values run away from their targets),
    and the same steps close a falling share of them. Without the ceiling the rule reads the second as the first
    and raises the lr into the divergence (SAC Pendulum-v1 at 10x and 30x the tuned lr, BENCHMARKS.md). Once a
    step has closed too much of its batch's error at some lr, the rule does not go back above it. The ceiling is
    saved with the factor. ``ceiling=False`` is the first screen's rule, growing whenever ``rho`` is low.

    ``start`` is the factor before the first measure, as for :class:`TrustRegionRule`: Adam's first step moves
    every weight by the whole lr (its bias correction makes it a sign step), and at ten times TD3's tuned lr that
    first step saturates the tanh of its actor for good, before any ``rho`` is read.
    """

    def __init__(
        self,
        target: float | None = 0.15,
        *,
        band: float = 2.0,
        change: float = 1.2,
        bounds: tuple[float, float] = (0.01, 10.0),
        warmup: int = 0,
        start: float = 1.0,
        ceiling: bool = True,
    ) -> None:
        super().__init__(
            0.15 if target is None else target,
            power=1.0,
            band=band,
            change=change,
            bounds=bounds,
            warmup=warmup,
            start=start,
        )
        if not isinstance(ceiling, bool):
            raise TypeError(f"ceiling: expected True or False, got {type(ceiling).__name__} {ceiling!r}")
        self.ceiling = ceiling
        self._growth_cap = self.bounds[1]  # the lowest factor a shrink left: growth stops there

    def update(self, stats: SignalStats) -> None:
        before = self.factor
        super().update(stats)
        if self.factor < before:
            self._growth_cap = min(self._growth_cap, self.factor)
        elif self.ceiling and self.factor > before:
            self.factor = max(before, min(self.factor, self._growth_cap))
