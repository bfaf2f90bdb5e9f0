"""AdaptiveOptimizer: a wrapper that adapts a torch optimizer's hyperparameters from loss and reward signals."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.optim.optimizer as _torch_optimizer

from ._build import (
    DEFAULT_BOUNDS,
    UNSET,
    bind,
    check_adam_rel,
    check_knob_bounds,
    check_options,
    check_signal_betas,
    make_base,
    resolve,
)
from ._checkpoint import Checkpointing
from ._feeding import _SIGNAL_CHANNELS, UNREAD_SYNC_EVERY, SignalFeeding
from ._introspection import Introspection
from .knobs import BETA_MAX, SCALE_KNOBS, KnobSpec, adapt, find_knobs, read_knob, write_knob
from .rules import RULE_KEYWORDS, Rule, TrustRegionRule
from .signals import SignalStats

__all__ = ["BETA_MAX", "DEFAULT_BOUNDS", "UNREAD_SYNC_EVERY", "AdaptiveOptimizer"]

_profiler_enabled: Callable[[], bool] = getattr(torch._C._autograd, "_profiler_enabled", lambda: True)
# torch's global step hooks: dicts that register_optimizer_step_{pre,post}_hook fill in place (None if a release
# renames them: then every step goes through torch's machinery).
_GLOBAL_STEP_HOOKS = tuple(
    getattr(_torch_optimizer, name, None) for name in ("_global_optimizer_pre_hooks", "_global_optimizer_post_hooks")
)


def _torch_step_machinery_needed(optimizer: torch.optim.Optimizer) -> bool:
    """Whether a step must go through ``Optimizer.profile_hook_step``: a step hook registered on ``optimizer`` or
    globally, or a profiler running (torch's Python flag, or one started from C++ such as an on-demand trace)."""
    if optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks:
        return True
    pre, post = _GLOBAL_STEP_HOOKS
    if pre is None or post is None or pre or post:
        return True
    return getattr(torch.autograd.profiler, "_is_profiler_enabled", True) or _profiler_enabled()


class AdaptiveOptimizer(SignalFeeding, Introspection, Checkpointing, torch.optim.Optimizer):
    r"""Wrap any torch or bitsandbytes optimizer and adapt its hyperparameters before every :meth:`step`.

    The wrapper keeps the values in ``param_groups`` as the *base*, owned by whoever sets them (you, a torch LR
    scheduler, Stable-Baselines3's schedule), and owns only a factor per knob. Inside :meth:`step` it writes
    ``base * factor`` (learning rate, weight decay) or ``1 - (1 - base) / factor`` (momentum, betas, alpha: the
    averaging horizon is scaled) into each param group, runs the base optimizer's own step, and writes the base
    values back. The base optimizer's math is unchanged; with every rule ``None`` the wrapper is bit-for-bit the
    bare optimizer.

    Signals arrive through :meth:`step_loss`, :meth:`step_reward` and :meth:`step_kl`. NaN, infinite or absurd
    values are skipped (counted, warned once). Rules and their formulas: ``docs/rules.md``.

    Example::

        opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01),
                                lr_rule="trend+variance", betas_rule=("relative", "variance"))
        loss.backward()
        opt.step_loss(loss)
        opt.step()
        opt.zero_grad()

    Args:
        params: an optimizer instance to wrap, or the parameters (an iterable of tensors or param-group dicts)
            of one to build from ``base_optimizer``.
        lr: learning rate passed to ``base_optimizer`` when building (omitted: the class default).
        base_optimizer: optimizer class (or factory) to build when ``params`` are parameters. Default
            ``torch.optim.Adam``, as in Stable-Baselines3.
        preset: name of a rule preset (see :data:`rl_adaptive.PRESETS`). With neither a preset nor any rule
            keyword, the ``"default"`` preset applies; rule keywords given explicitly override the preset.
        lr_rule: ``"trend"``, ``"variance"``, ``"cosine"``, ``"cosine_restart"``, ``"kl"``, ``"trust_region"``,
            combined with ``+``.
        momentum_rule: ``"inverse"``, ``"relative"`` or ``"normalized"``.
        betas_rule: a pair ``(beta1_rule, beta2_rule)`` of ``"relative"``, ``"variance"`` or ``None``.
        alpha_rule: ``"stable"`` (RMSprop's alpha).
        wd_rule: ``"trend"``.
        reward_rule: ``"scaling"``, ``"trend"``, ``"trend_damped"``, ``"variance"``, ``"plateau"`` or
            ``"collapse"`` (read the reward channel, drive the lr; ``"trend"`` also drives momentum where the
            optimizer has one).
        cycle_length: length in steps of the first cosine cycle (default 1000).
        cycle_mult: growth of each cosine restart cycle (default 1.0).
        target_kl: target of the ``"kl"`` rule (default 0.01).
        target_update: target update size of the ``"trust_region"`` rules (default None: the rule waits for one;
            :func:`rl_adaptive.sb3.adaptive_policy_kwargs` gives each SB3 algorithm its own) and of ``"td_closure"``
            (default None: its own, 0.15).
        update_power: exponent of the ``"trust_region"`` rules, lr ratio = (size ratio) ** power: 0.5 for a KL,
            1 (default) for a relative change.
        adam_rel: Adam-Rel (Ellis et al., NeurIPS 2024): :meth:`new_rollout` resets the Adam family's step count
            (its bias correction) and keeps the moments. ``AdaptiveCallback`` calls it before each training phase.
        bounds: per-knob ``(low, high)`` bounds of the total factor, overriding :data:`DEFAULT_BOUNDS`.
        signal_betas: ``(fast, slow)`` rates of the signals' moving averages (default ``(0.8, 0.95)``).
        sync_distributed: average signals over ranks when ``torch.distributed`` is initialized (default True): the
            channels some rule reads, so that every rank applies identical hyperparameters; the others keep each
            rank's own statistics, without a collective.
        signal_sync_every: how many tensor values a channel that a rule reads gathers on their device before they
            are read to the host, in one transfer, and fed in order (default 8: at most one host sync per 8 values
            per channel; 1: every tensor value is read as it arrives). Channels no rule reads are read every
            :data:`UNREAD_SYNC_EVERY` values or when their statistics are asked for, so the default preset, fed a
            tensor loss every step, never syncs in the step loop. Floats are read as they arrive.
        **base_kwargs: every other keyword goes to ``base_optimizer``.
    """

    def __init__(
        self,
        params: Iterable[Any] | torch.optim.Optimizer,
        lr: float | torch.Tensor | None = None,
        base_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        *,
        preset: str | None = None,
        lr_rule: Any = UNSET,
        momentum_rule: Any = UNSET,
        betas_rule: Any = UNSET,
        alpha_rule: Any = UNSET,
        wd_rule: Any = UNSET,
        reward_rule: Any = UNSET,
        cycle_length: int | None = None,
        cycle_mult: float | None = None,
        target_kl: float | None = None,
        target_update: float | None = None,
        update_power: float | None = None,
        adam_rel: bool = False,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        signal_betas: tuple[float, float] = (0.8, 0.95),
        sync_distributed: bool = True,
        signal_sync_every: int = 8,
        **base_kwargs: Any,
    ) -> None:
        self._base = make_base(params, lr, base_optimizer, base_kwargs, AdaptiveOptimizer)

        # torch.optim.Optimizer's bookkeeping, without its param-group handling: the groups are the base's.
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._warned_capturable_if_run_uncaptured = True

        given = {
            "lr_rule": lr_rule,
            "momentum_rule": momentum_rule,
            "betas_rule": betas_rule,
            "alpha_rule": alpha_rule,
            "wd_rule": wd_rule,
            "reward_rule": reward_rule,
        }
        preset, config, options = resolve(
            preset,
            {keyword: spec for keyword, spec in given.items() if spec is not UNSET},
            dict(
                cycle_length=cycle_length,
                cycle_mult=cycle_mult,
                target_kl=target_kl,
                target_update=target_update,
                update_power=update_power,
            ),
            adam_rel,
        )
        self.preset = preset
        self.options = check_options(options)
        self.adam_rel = check_adam_rel(options["adam_rel"], self._base)
        self.bounds = check_knob_bounds(bounds)
        fast, slow = check_signal_betas(signal_betas)
        self.sync_distributed = bool(sync_distributed)
        if isinstance(signal_sync_every, bool) or not isinstance(signal_sync_every, int) or signal_sync_every < 1:
            raise ValueError(f"signal_sync_every: expected a positive integer, got {signal_sync_every!r}")
        self.signal_sync_every = signal_sync_every

        self._knobs: dict[str, KnobSpec] = find_knobs(self._base)
        self._bindings = bind(config, self._knobs, self.options, self._base)
        self._config = {keyword: config[keyword] for keyword in RULE_KEYWORDS}
        self._by_knob: dict[str, list[Rule]] = {
            knob: [b.rule for b in self._bindings if knob in b.knobs] for knob in self._knobs
        }
        self._by_knob = {knob: rules for knob, rules in self._by_knob.items() if rules}
        self._by_channel: dict[str, list[Rule]] = {
            channel: [b.rule for b in self._bindings if b.rule.channel == channel]
            for channel in (*_SIGNAL_CHANNELS, "step")
        }
        self.signals: dict[str, SignalStats] = {channel: SignalStats(fast, slow) for channel in _SIGNAL_CHANNELS}
        # Scratch tensors for knobs given as tensors (an lr tensor), one per (group, key): see _scaled.
        self._scratch: dict[tuple[int, str], torch.Tensor] = {}
        # Tensor values not read to the host yet, per channel, in arrival order (see signal_sync_every).
        self._pending: dict[str, list[torch.Tensor]] = {channel: [] for channel in _SIGNAL_CHANNELS}
        self._step_rules = tuple(self._by_channel["step"])
        self._moved: tuple[tuple[str, float], ...] = ()
        self._stale = True  # no factor read yet; a rule of this optimizer sets it when its factor changes
        for binding in self._bindings:
            binding.rule.watch(self._mark_stale)
        self._step_count = 0
        for rule in self._step_rules:
            rule.observe_step(0)
        self._warned_skip: set[str] = set()
        #: While True, ``step()`` does nothing but count the step in :attr:`held_steps`: the parameters, the base
        #: optimizer's state and the controller stay as they are (as GradScaler skips a step whose gradients are not
        #: finite). ``AdaptiveCallback(bad_data="skip")`` holds the optimizers through a training phase whose data
        #: holds non-finite or absurd values. Not saved: it is the caller's to set and release.
        self.hold = False
        self.held_steps = 0

    # -- torch.optim.Optimizer surface, delegated to the base optimizer ------------------------------------
    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The wrapped base optimizer."""
        return self._base

    @property  # type: ignore[override]
    def param_groups(self) -> list[dict[str, Any]]:
        return self._base.param_groups

    @param_groups.setter
    def param_groups(self, value: list[dict[str, Any]]) -> None:
        self._base.param_groups = value

    @property  # type: ignore[override]
    def state(self) -> Any:
        return self._base.state

    @state.setter
    def state(self, value: Any) -> None:
        self._base.state = value

    @property  # type: ignore[override]
    def defaults(self) -> dict[str, Any]:
        return self._base.defaults

    @defaults.setter
    def defaults(self, value: dict[str, Any]) -> None:
        self._base.defaults = value

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self._base.add_param_group(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._base.zero_grad(set_to_none=set_to_none)

    _HOOK_DICTS = (
        "_optimizer_step_pre_hooks",
        "_optimizer_step_post_hooks",
        "_optimizer_state_dict_pre_hooks",
        "_optimizer_state_dict_post_hooks",
        "_optimizer_load_state_dict_pre_hooks",
        "_optimizer_load_state_dict_post_hooks",
    )

    def __getstate__(self) -> dict[str, Any]:
        # As torch.optim.Optimizer: hooks are not pickled, and neither is an LR scheduler's wrapper of ``step``
        # (an instance attribute holding a weak reference to this object: a copy would step the original).
        state = self.__dict__.copy()
        for key in ("step", *self._HOOK_DICTS):
            state.pop(key, None)
        state["_scratch"] = {}  # keyed by id() of this object's groups: rebuilt on first use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for key in self._HOOK_DICTS:  # not pickled (__getstate__), as torch.optim.Optimizer's
            self.__dict__[key] = OrderedDict()
        self._moved, self._stale = (), True
        for binding in self._bindings:  # the rules were unpickled without their watchers
            binding.rule.watch(self._mark_stale)

    # -- the step ------------------------------------------------------------------------------------------
    def _knob_factor(self, knob: str) -> float:
        factor = 1.0
        for rule in self._by_knob.get(knob, ()):
            factor *= rule.factor
        lo, hi = self.bounds[knob]
        return min(hi, max(lo, factor))

    def _mark_stale(self) -> None:
        """Called by a rule of this optimizer when its factor changes (:meth:`Rule.watch`)."""
        self._stale = True

    def _moved_knobs(self) -> tuple[tuple[str, float], ...]:
        """``(knob, clamped factor)`` of every knob whose factor is not 1.0, recomputed only after one of this
        optimizer's rules changed its factor."""
        if self._stale:
            self._moved = tuple((knob, factor) for knob in self._by_knob if (factor := self._knob_factor(knob)) != 1.0)
            self._stale = False
        return self._moved

    def step(self, closure: Callable[[], float] | None = None) -> Any:  # type: ignore[override]
        """Apply the adapted hyperparameters, run the base optimizer's step, restore the base values.

        torch's own step machinery (``Optimizer.profile_hook_step``) wraps it whenever it has something to do, as it
        wraps every torch optimizer's: step pre- and post-hooks registered on the wrapper and torch's global
        optimizer hooks run around it, and a running profiler labels it ``Optimizer.step#AdaptiveOptimizer.step``.
        With no hook registered and no profiler running, the wrapper skips that machinery (its profiler range costs
        more than the rest of the wrapper's step); the base optimizer's own machinery always runs inside. With
        every factor at 1.0 the wrapper then adds one comparison and the step count to the base step.

        While :attr:`hold` is True the step is skipped: nothing moves, and :attr:`held_steps` counts it.
        """
        if self.hold:
            self.held_steps += 1
            return None
        if _torch_step_machinery_needed(self):
            return self._hooked_step(closure)
        return self._step(closure)

    def _step(self, closure: Callable[[], float] | None) -> Any:
        moved = self._moved_knobs() if self._stale else self._moved
        if not moved:
            out = self._base.step() if closure is None else self._base.step(closure)
        else:
            out = self._adapted_step(moved, closure)
        # Only a step that happened counts: a base step that raised leaves the count and the schedules alone.
        self._step_count += 1
        for rule in self._step_rules:  # schedules: set the factor the next step applies
            rule.observe_step(self._step_count)
        return out

    @torch.optim.Optimizer.profile_hook_step
    def _hooked_step(self, closure: Callable[[], float] | None = None) -> Any:
        return self._step(closure)

    def _adapted_step(self, moved: tuple[tuple[str, float], ...], closure: Callable[[], float] | None) -> Any:
        saved: list[tuple[dict[str, Any], str, Any]] = []
        groups = self._base.param_groups
        for knob, factor in moved:
            spec = self._knobs[knob]
            key = spec.key
            if spec.index is None and knob in SCALE_KNOBS:  # lr, weight_decay: the common, fast case
                for group in groups:
                    value = group[key]
                    saved.append((group, key, value))
                    group[key] = self._scaled(group, key, value, factor) if type(value) is not float else value * factor
                continue
            for group in groups:
                saved.append((group, key, group[key]))
                write_knob(group, spec, adapt(knob, read_knob(group, spec), factor))
        try:
            return self._base.step() if closure is None else self._base.step(closure)
        finally:
            for group, key, value in reversed(saved):
                group[key] = value

    def _scaled(self, group: dict[str, Any], key: str, value: Any, factor: float) -> Any:
        """``value * factor``; for a tensor (an lr given as a tensor) written into one scratch tensor per group and
        key, allocated once and reused every step, on the value's device (no host sync)."""
        if not isinstance(value, torch.Tensor):
            return value * factor
        slot = (id(group), key)
        scratch = self._scratch.get(slot)
        if (
            scratch is None
            or scratch.shape != value.shape
            or scratch.dtype != value.dtype
            or scratch.device != value.device
        ):
            scratch = self._scratch[slot] = torch.empty_like(value)
        return torch.mul(value, factor, out=scratch)

    def __repr__(self) -> str:
        rules = ", ".join(f"{k}={v!r}" for k, v in self._config.items() if v is not None) or "no rules"
        reads = {b.rule.channel for b in self._bindings}
        if "kl" in reads:
            rules += f", target_kl={self.options.target_kl!r}"
        updates = [b.rule for b in self._bindings if isinstance(b.rule, TrustRegionRule)]
        if updates:  # what the rule acts on, as it holds it (a rule instance keeps its own)
            rules += f", target_update={updates[0].target!r}, update_power={updates[0].power!r}"
        preset = f"preset={self.preset!r}, " if self.preset else ""
        base = "\n".join("    " + line for line in repr(self._base).splitlines())
        return f"AdaptiveOptimizer({preset}{rules}, base=\n{base}\n)"
