"""AdaptiveOptimizer: a wrapper that adapts a torch optimizer's hyperparameters from loss and reward signals."""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.optim.optimizer as _torch_optimizer

from .distributed import is_distributed, mean_across_ranks
from .knobs import KNOBS, SCALE_KNOBS, KnobSpec, find_knobs, is_adam_family, read_knob, write_knob
from .presets import DEFAULT_PRESET, get_preset
from .rules import RULE_KEYWORDS, Rule, RuleOptions, TrustRegionRule, _check_bounds, _check_number, build_rules
from .signals import SignalStats

__all__ = ["AdaptiveOptimizer", "DEFAULT_BOUNDS"]

#: Default bounds of each knob's total factor (the product of its rules' factors), relative to the base value.
DEFAULT_BOUNDS: Mapping[str, tuple[float, float]] = {
    "lr": (0.01, 10.0),
    "wd": (0.1, 10.0),
    "momentum": (0.5, 2.0),
    "beta1": (0.5, 2.0),
    "beta2": (0.5, 2.0),
    "alpha": (0.5, 2.0),
}
#: Largest value a momentum, beta or alpha is adapted to (unless its base value is already larger).
BETA_MAX = 0.9999

_SIGNAL_CHANNELS = ("loss", "reward", "kl", "update")
#: A tensor fed to a channel that no rule reads stays on its device until its statistics are asked for
#: (:meth:`AdaptiveOptimizer.read_signals`, or a float fed to the channel) or this many have gathered: then all are
#: read in one transfer.
UNREAD_SYNC_EVERY = 1024
_KEYWORD_KNOBS = {
    "lr_rule": ("lr",),
    "momentum_rule": ("momentum",),
    "alpha_rule": ("alpha",),
    "wd_rule": ("wd",),
    "reward_rule": ("lr",),
}
_STATE_VERSION = 1


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


class _Binding:
    """One rule, the keyword it came from, and the knobs it drives on this optimizer."""

    __slots__ = ("keyword", "rule", "knobs")

    def __init__(self, keyword: str, rule: Rule, knobs: tuple[str, ...]) -> None:
        self.keyword = keyword
        self.rule = rule
        self.knobs = knobs

    @property
    def label(self) -> str:
        return f"{self.keyword}.{self.rule.name}"


def _to_float(value: object, name: str) -> float:
    if type(value) is float:
        return value
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name}: expected a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.detach().item())
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"{name}: expected a scalar, got an array of shape {value.shape}")
        return float(value.item())
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{name}: expected a float or a one-element tensor, got {type(value).__name__} {value!r}")


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


def _read_scalars(tensors: list[torch.Tensor]) -> list[float]:
    """Read 0-dim tensors to the host: one transfer when they share a device, one each otherwise."""
    try:
        return [float(v) for v in torch.stack(tensors).tolist()]
    except RuntimeError:  # tensors on different devices
        return [float(t.item()) for t in tensors]


def _adapt(knob: str, base: Any, factor: float) -> Any:
    """The effective value of ``knob`` for a base value and a total factor (see docs/rules.md)."""
    if knob in SCALE_KNOBS:
        return base * factor
    b = float(base)
    if not 0.0 < b < 1.0:  # 0 stays 0: adaptation never switches on what the user switched off
        return base
    value = min(max(1.0 - (1.0 - b) / factor, 0.0), max(b, BETA_MAX))
    if isinstance(base, torch.Tensor):
        return torch.as_tensor(value, dtype=base.dtype, device=base.device)
    return value


class AdaptiveOptimizer(torch.optim.Optimizer):
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
        target_update: target update size of the ``"trust_region"`` rule (default None: ``AdaptiveCallback`` sets
            its algorithm family's, see ``docs/sb3.md``).
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
        lr_rule: Any = _UNSET,
        momentum_rule: Any = _UNSET,
        betas_rule: Any = _UNSET,
        alpha_rule: Any = _UNSET,
        wd_rule: Any = _UNSET,
        reward_rule: Any = _UNSET,
        cycle_length: int | None = None,
        cycle_mult: float | None = None,
        target_kl: float | None = None,
        target_update: float | None = None,
        adam_rel: bool = False,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        signal_betas: tuple[float, float] = (0.8, 0.95),
        sync_distributed: bool = True,
        signal_sync_every: int = 8,
        **base_kwargs: Any,
    ) -> None:
        self._base = self._make_base(params, lr, base_optimizer, base_kwargs)

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
        preset, config, options = self._resolve(
            preset,
            {keyword: spec for keyword, spec in given.items() if spec is not _UNSET},
            dict(cycle_length=cycle_length, cycle_mult=cycle_mult, target_kl=target_kl, target_update=target_update),
            adam_rel,
        )
        self.preset = preset
        self.options = self._check_options(options)
        self.adam_rel = self._check_adam_rel(options["adam_rel"])
        self.bounds = self._check_knob_bounds(bounds)
        fast, slow = self._check_signal_betas(signal_betas)
        self.sync_distributed = bool(sync_distributed)
        if isinstance(signal_sync_every, bool) or not isinstance(signal_sync_every, int) or signal_sync_every < 1:
            raise ValueError(f"signal_sync_every: expected a positive integer, got {signal_sync_every!r}")
        self.signal_sync_every = signal_sync_every

        self._knobs: dict[str, KnobSpec] = find_knobs(self._base)
        self._bindings = self._bind(config)
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
        self._moved_version = -1  # no factor read yet
        self._step_count = 0
        for rule in self._step_rules:
            rule.observe_step(0)
        self._warned_skip: set[str] = set()

    # -- construction helpers ------------------------------------------------------------------------------
    @staticmethod
    def _resolve(
        preset: str | None, explicit: dict[str, Any], given_options: dict[str, Any], adam_rel: Any
    ) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
        """The preset that applies, every rule keyword's spec and the options: the defaults, then the preset's
        (the default preset when no preset and no rule keyword is given), then what was given explicitly."""
        if preset is None and not explicit:
            preset = DEFAULT_PRESET
        config: dict[str, Any] = dict.fromkeys(RULE_KEYWORDS)
        options: dict[str, Any] = {
            "cycle_length": 1000,
            "cycle_mult": 1.0,
            "target_kl": 0.01,
            "target_update": None,
            "adam_rel": False,
        }
        if preset is not None:
            for key, value in get_preset(preset).items():
                (config if key in config else options)[key] = value
        config.update(explicit)
        options.update({key: value for key, value in given_options.items() if value is not None})
        if adam_rel is not False:
            options["adam_rel"] = adam_rel
        return preset, config, options

    @staticmethod
    def _make_base(
        params: Any,
        lr: Any,
        base_optimizer: Callable[..., torch.optim.Optimizer] | None,
        base_kwargs: dict[str, Any],
    ) -> torch.optim.Optimizer:
        if isinstance(params, AdaptiveOptimizer):
            raise TypeError("params: this optimizer is already an AdaptiveOptimizer; wrap its .optimizer instead")
        if isinstance(params, torch.optim.Optimizer):
            extra = [name for name, v in (("lr", lr), ("base_optimizer", base_optimizer)) if v is not None]
            extra += sorted(base_kwargs)
            if extra:
                raise TypeError(
                    f"{', '.join(extra)}: only used when building the base optimizer from parameters; "
                    f"got an optimizer instance ({type(params).__name__}), configure it there instead"
                )
            return params
        if base_optimizer is None:
            base_optimizer = torch.optim.Adam
        if not callable(base_optimizer):
            raise TypeError(
                f"base_optimizer: expected an optimizer class such as torch.optim.AdamW, "
                f"got {type(base_optimizer).__name__} {base_optimizer!r}"
            )
        if isinstance(base_optimizer, type) and issubclass(base_optimizer, AdaptiveOptimizer):
            raise TypeError("base_optimizer: AdaptiveOptimizer cannot wrap itself; pass the optimizer to adapt")
        kwargs = dict(base_kwargs)
        if lr is not None:
            kwargs["lr"] = lr
        factory: Callable[..., Any] = base_optimizer
        base = factory(params, **kwargs)
        if not isinstance(base, torch.optim.Optimizer):
            raise TypeError(
                f"base_optimizer: {base_optimizer!r} returned {type(base).__name__}, not a torch.optim.Optimizer"
            )
        return base

    @staticmethod
    def _check_options(options: dict[str, Any]) -> RuleOptions:
        length = options["cycle_length"]
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"cycle_length: expected a positive integer, got {length!r}")
        target_update = options["target_update"]
        if target_update is not None:
            target_update = _check_number("target_update", target_update, low=0.0, low_open=True)
        return RuleOptions(
            cycle_length=length,
            cycle_mult=_check_number("cycle_mult", options["cycle_mult"], low=1.0),
            target_kl=_check_number("target_kl", options["target_kl"], low=0.0, low_open=True),
            target_update=target_update,
        )

    def _check_adam_rel(self, adam_rel: object) -> bool:
        if not isinstance(adam_rel, bool):
            raise TypeError(f"adam_rel: expected True or False, got {type(adam_rel).__name__} {adam_rel!r}")
        if adam_rel and not is_adam_family(self._base):
            raise ValueError(
                f"adam_rel: Adam-Rel resets the step count of the Adam family (torch Adam, AdamW, NAdam, RAdam, "
                f"Adamax; bitsandbytes Adam*/AdamW*), got {type(self._base).__name__}"
            )
        return adam_rel

    @staticmethod
    def _check_knob_bounds(bounds: Mapping[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
        merged = dict(DEFAULT_BOUNDS)
        if bounds is None:
            return merged
        if not isinstance(bounds, Mapping):
            raise TypeError(f"bounds: expected a dict {{knob: (low, high)}}, got {type(bounds).__name__}")
        for knob, pair in bounds.items():
            if knob not in merged:
                raise ValueError(f"bounds: unknown knob {knob!r}; choose from {', '.join(KNOBS)}")
            merged[knob] = _check_bounds(f"bounds[{knob!r}]", pair)
        return merged

    @staticmethod
    def _check_signal_betas(signal_betas: tuple[float, float]) -> tuple[float, float]:
        try:
            fast, slow = (float(b) for b in signal_betas)
        except (TypeError, ValueError):
            raise TypeError(f"signal_betas: expected a pair (fast, slow) of floats, got {signal_betas!r}") from None
        if not 0.0 < fast <= slow < 1.0:
            raise ValueError(f"signal_betas: expected 0 < fast <= slow < 1, got {signal_betas!r}")
        return fast, slow

    def _bind(self, config: dict[str, Any]) -> list[_Binding]:
        bindings: list[_Binding] = []
        for keyword in RULE_KEYWORDS:
            spec = config[keyword]
            if keyword == "betas_rule":
                if spec is None:
                    continue
                if not isinstance(spec, (tuple, list)) or len(spec) != 2:
                    raise ValueError(
                        f"betas_rule: expected a pair (beta1_rule, beta2_rule) such as ('relative', 'variance'), "
                        f"got {spec!r}"
                    )
                targets = list(zip(spec, (("beta1",), ("beta2",)), strict=True))
            else:
                targets = [(spec, _KEYWORD_KNOBS[keyword])]
            missing: list[str] = []
            for sub_spec, knobs in targets:
                for rule in build_rules(keyword, sub_spec, self.options):
                    present = tuple(k for k in knobs if k in self._knobs)
                    missing += [k for k in knobs if k not in self._knobs and k not in missing]
                    extra = tuple(k for k in rule.extra_knobs if k in self._knobs and k not in present)
                    bindings.append(_Binding(keyword, rule, present + extra))
            if missing:
                warnings.warn(
                    f"{keyword}={spec!r} has no effect: {type(self._base).__name__} has no {', '.join(missing)} "
                    f"(its knobs: {', '.join(self._knobs) or 'none'})",
                    UserWarning,
                    stacklevel=3,
                )
        return bindings

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
        for key in self._HOOK_DICTS:
            self.__dict__.setdefault(key, OrderedDict())
        self.__dict__.setdefault("_scratch", {})
        self.__dict__.setdefault("_pending", {channel: [] for channel in _SIGNAL_CHANNELS})
        self.__dict__.setdefault("signal_sync_every", 8)
        self.__dict__.setdefault("_step_rules", tuple(self._by_channel["step"]))
        self._moved, self._moved_version = (), -1  # Rule.factor_version counts in this process only

    # -- signals -------------------------------------------------------------------------------------------
    def step_loss(self, loss: float | torch.Tensor) -> bool | None:
        """Feed a training loss (float or one-element tensor; the graph is not kept).

        True if accepted, False if skipped (not finite or absurd). A tensor is not read to the host here: it waits
        on its device (``signal_sync_every``) and this returns None, unless it completes a batch to read."""
        return self._feed("loss", loss, "loss")

    def step_reward(self, reward: float | torch.Tensor) -> bool | None:
        """Feed an external reward: episode return, accuracy, feedback. As :meth:`step_loss`."""
        return self._feed("reward", reward, "reward")

    def step_kl(self, kl: float | torch.Tensor) -> bool | None:
        """Feed a measured policy KL divergence, read by the ``"kl"`` rule. As :meth:`step_loss`."""
        return self._feed("kl", kl, "kl")

    def step_update(self, size: float | torch.Tensor) -> bool | None:
        """Feed the size of the last training phase's update, read by the ``"trust_region"`` rule.

        ``AdaptiveCallback`` measures it on a probe batch for every SB3 algorithm (``docs/sb3.md``). A negative
        size is not an update size: it is skipped like a non-finite one. As :meth:`step_loss`.
        """
        return self._feed("update", size, "size")

    def read_signals(self) -> dict[str, SignalStats]:
        """Read every tensor value still on its device (one transfer per channel), feed them in order, and return
        :attr:`signals`. Call it before reading :attr:`signals` when tensors were fed; a step never calls it."""
        for channel in _SIGNAL_CHANNELS:
            self._flush(channel)
        return self.signals

    def _feed(self, channel: str, value: object, name: str) -> bool | None:
        pending = self._pending[channel]
        if isinstance(value, torch.Tensor):
            if value.dim():  # a loss is 0-dim: no reshape on the hot path
                if value.numel() != 1:
                    raise ValueError(f"{name}: expected a scalar, got a tensor of shape {tuple(value.shape)}")
                value = value.reshape(())
            pending.append(value.detach())
            limit = self.signal_sync_every if self._by_channel[channel] else UNREAD_SYNC_EVERY
            return self._flush(channel) if len(pending) >= limit else None
        number = _to_float(value, name)
        if pending:  # keep arrival order: tensors fed before this float go first
            self._flush(channel)
        return self._receive(channel, number)

    def _flush(self, channel: str) -> bool:
        """Read the channel's pending tensors in one transfer and feed them; True if every one was accepted."""
        pending = self._pending[channel]
        if not pending:
            return True
        self._pending[channel] = []
        accepted = True
        for value in _read_scalars(pending):
            accepted = self._receive(channel, value) and accepted
        return accepted

    @property
    def target_update(self) -> float | None:
        """Target update size of the ``"trust_region"`` rules (None: not set yet). Read from the rules themselves,
        so a ``TrustRegionRule`` instance passed with its own target reports (and keeps) that target."""
        for binding in self._bindings:
            if isinstance(binding.rule, TrustRegionRule) and binding.rule.target is not None:
                return binding.rule.target
        return self.options.target_update

    @target_update.setter
    def target_update(self, value: float | None) -> None:
        if value is not None:
            value = _check_number("target_update", value, low=0.0, low_open=True)
        self.options = dataclasses.replace(self.options, target_update=value)
        for binding in self._bindings:
            if isinstance(binding.rule, TrustRegionRule):
                binding.rule.target = value

    def new_rollout(self) -> None:
        """Mark the start of a training phase on new data. With ``adam_rel=True`` (Adam-Rel): reset the step
        count of every parameter's state to 0, keeping the moments; otherwise nothing."""
        if not self.adam_rel:
            return
        for state in self._base.state.values():
            step = state.get("step")
            if isinstance(step, torch.Tensor):
                step.zero_()
            elif step is not None:
                state["step"] = 0

    def _receive(self, channel: str, value: float) -> bool:
        if channel == "update" and value < 0.0:
            value = math.nan  # not an update size: skipped like a non-finite value
        # Averaged over ranks only where a rule reads the channel: a channel no rule reads (logged for inspection)
        # keeps the rank's own statistics, and costs no collective per value.
        if self.sync_distributed and self._by_channel[channel] and is_distributed():
            value = mean_across_ranks(value)
        stats = self.signals[channel]
        if not stats.push(value):
            if channel not in self._warned_skip:
                self._warned_skip.add(channel)
                warnings.warn(
                    f"AdaptiveOptimizer skipped a {channel} value of {value!r} (not finite or beyond "
                    f"{stats.limit:g}); later ones are counted in .signals[{channel!r}].skipped",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return False
        for rule in self._by_channel[channel]:
            rule.observe(stats)
        return True

    # -- the step ------------------------------------------------------------------------------------------
    def _knob_factor(self, knob: str) -> float:
        factor = 1.0
        for rule in self._by_knob.get(knob, ()):
            factor *= rule.factor
        lo, hi = self.bounds[knob]
        return min(hi, max(lo, factor))

    def _moved_knobs(self) -> tuple[tuple[str, float], ...]:
        """``(knob, clamped factor)`` of every knob whose factor is not 1.0, recomputed only after some rule's
        factor changed (:attr:`Rule.factor_version`)."""
        if self._moved_version != Rule.factor_version:
            self._moved = tuple((knob, factor) for knob in self._by_knob if (factor := self._knob_factor(knob)) != 1.0)
            self._moved_version = Rule.factor_version
        return self._moved

    def step(self, closure: Callable[[], float] | None = None) -> Any:  # type: ignore[override]
        """Apply the adapted hyperparameters, run the base optimizer's step, restore the base values.

        torch's own step machinery (``Optimizer.profile_hook_step``) wraps it whenever it has something to do, as it
        wraps every torch optimizer's: step pre- and post-hooks registered on the wrapper and torch's global
        optimizer hooks run around it, and a running profiler labels it ``Optimizer.step#AdaptiveOptimizer.step``.
        With no hook registered and no profiler running, the wrapper skips that machinery (its profiler range costs
        more than the rest of the wrapper's step); the base optimizer's own machinery always runs inside. With
        every factor at 1.0 the wrapper then adds one comparison and the step count to the base step.
        """
        if _torch_step_machinery_needed(self):
            return self._hooked_step(closure)
        return self._step(closure)

    def _step(self, closure: Callable[[], float] | None) -> Any:
        moved = self._moved if self._moved_version == Rule.factor_version else self._moved_knobs()
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
                write_knob(group, spec, _adapt(knob, read_knob(group, spec), factor))
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

    # -- what the controller is doing ----------------------------------------------------------------------
    @property
    def step_count(self) -> int:
        """Number of :meth:`step` calls that completed (a base step that raised is not counted); saved and
        restored with the state dict."""
        return self._step_count

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rule objects, in the order of :meth:`rule_factors`."""
        return tuple(binding.rule for binding in self._bindings)

    @property
    def knobs(self) -> tuple[str, ...]:
        """The knobs this optimizer has (``lr``, ``momentum``, ``beta1``, ``beta2``, ``alpha``, ``wd``)."""
        return tuple(self._knobs)

    def hyperparameters(self, group: int = 0) -> dict[str, float]:
        """Effective values of every knob of param group ``group``, as the next :meth:`step` applies them."""
        values = {}
        pg = self._base.param_groups[group]
        for knob, spec in self._knobs.items():
            base = read_knob(pg, spec)
            values[knob] = float(_adapt(knob, base, self._knob_factor(knob)) if knob in self._by_knob else base)
        return values

    def factors(self) -> dict[str, float]:
        """Total factor of each adapted knob (clamped product of its rules), e.g. ``{"lr": 1.3}``."""
        return {knob: self._knob_factor(knob) for knob in self._by_knob}

    def rule_factors(self) -> dict[str, float]:
        """Each rule's own factor, keyed ``"<keyword>.<rule name>"`` (``"lr_rule.trend"``). A label that two rules
        share gets the knob each one drives (``betas_rule=("relative", "relative")``: ``"betas_rule.relative[beta1]"``
        and ``"betas_rule.relative[beta2]"``), then a count if that is still not enough (``"lr_rule.trend#2"``)."""
        labels = [binding.label for binding in self._bindings]
        with_knob = [f"{b.label}[{b.knobs[0]}]" if b.knobs else b.label for b in self._bindings]
        out: dict[str, float] = {}
        for binding, label, knob_label in zip(self._bindings, labels, with_knob, strict=True):
            if labels.count(label) > 1 and with_knob.count(knob_label) == 1:
                label = knob_label
            base, n = label, 1
            while label in out:
                n += 1
                label = f"{base}#{n}"
            out[label] = binding.rule.factor
        return out

    def _effective(self, knob: str) -> float | None:
        return self.hyperparameters().get(knob) if knob in self._knobs else None

    @property
    def lr(self) -> float | None:
        """Effective learning rate of param group 0."""
        return self._effective("lr")

    @property
    def momentum(self) -> float | None:
        """Effective momentum of param group 0, or None if the optimizer has none."""
        return self._effective("momentum")

    @property
    def betas(self) -> tuple[float, float] | None:
        """Effective ``(beta1, beta2)`` of param group 0, or None if the optimizer has none."""
        if "beta1" not in self._knobs:
            return None
        values = self.hyperparameters()
        return values["beta1"], values["beta2"]

    @property
    def alpha(self) -> float | None:
        """Effective RMSprop alpha of param group 0, or None if the optimizer has none."""
        return self._effective("alpha")

    @property
    def wd(self) -> float | None:
        """Effective weight decay of param group 0, or None if the optimizer has none."""
        return self._effective("wd")

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _rule_signature(self) -> list[dict[str, str]]:
        return [{"keyword": b.keyword, "name": b.rule.name} for b in self._bindings]

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state dict plus an ``"adaptive"`` entry with the controller's full state.

        Only tensors and plain Python numbers and strings, so ``torch.load(weights_only=True)`` reads it. State-dict
        hooks registered on the wrapper run as for any ``torch.optim.Optimizer`` (a post-hook may return a new dict).
        """
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        state = dict(self._base.state_dict())
        state["adaptive"] = {
            "version": _STATE_VERSION,
            "step_count": self._step_count,
            "adam_rel": self.adam_rel,
            "signals": {channel: stats.state_dict() for channel, stats in self.signals.items()},
            # Tensor values not fed yet, read here (saving is a sync point) but left pending: saving changes nothing.
            "pending": {channel: _read_scalars(p) for channel, p in self._pending.items() if p},
            "rules": [
                {"keyword": b.keyword, "name": b.rule.name, "state": b.rule.state_dict()} for b in self._bindings
            ],
        }
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state)
            if result is not None:
                state = result
        return state

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Load a state dict saved by :meth:`state_dict`, or by the bare base optimizer.

        A bare optimizer's state dict (no ``"adaptive"`` entry: a model trained with plain Adam, switched to adaptive
        training) is unambiguous: it loads, the controller starts fresh, and the first one warns. With
        ``strict=True`` (default) an adaptive state saved with other rules, or another ``adam_rel``, raises; with
        ``strict=False`` rules are matched by keyword and name, unmatched ones keeping their fresh state (warns).
        Load-state-dict hooks registered on the wrapper run as for any ``torch.optim.Optimizer``.
        """
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        self._load(dict(state_dict), strict)
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def _load(self, state_dict: dict[str, Any], strict: bool) -> None:
        adaptive = state_dict.pop("adaptive", None)
        if adaptive is None:
            if not getattr(self, "_warned_bare", False):
                self._warned_bare = True
                warnings.warn(
                    "state_dict has no 'adaptive' entry (saved from a bare optimizer): loaded, the controller "
                    "starts fresh",
                    UserWarning,
                    stacklevel=3,
                )
            self._base.load_state_dict(state_dict)
            return
        version = adaptive.get("version")
        if version != _STATE_VERSION:
            raise ValueError(f"state_dict: unsupported adaptive state version {version!r}; expected {_STATE_VERSION}")
        saved_rules = list(adaptive["rules"])
        saved_sig = [{"keyword": r["keyword"], "name": r["name"]} for r in saved_rules]
        if saved_sig != self._rule_signature():
            if strict:
                raise ValueError(
                    f"state_dict: saved rules {saved_sig} do not match this optimizer's {self._rule_signature()}; "
                    "build the optimizer with the same rules, or pass strict=False"
                )
            warnings.warn(
                f"state_dict: saved rules {saved_sig} differ from {self._rule_signature()}; unmatched ones start fresh",
                UserWarning,
                stacklevel=2,
            )
        saved_adam_rel = bool(adaptive.get("adam_rel", False))
        if saved_adam_rel != self.adam_rel:
            message = f"state_dict: saved with adam_rel={saved_adam_rel}, this optimizer has adam_rel={self.adam_rel}"
            if strict:
                raise ValueError(message + "; build it with the same adam_rel, or pass strict=False")
            warnings.warn(message, UserWarning, stacklevel=2)
        self._base.load_state_dict(state_dict)
        self._step_count = int(adaptive["step_count"])
        for channel, stats in self.signals.items():
            saved_stats = adaptive["signals"].get(channel)  # a channel added after the checkpoint starts fresh
            if saved_stats is not None:
                stats.load_state_dict(saved_stats)
        self._pending = {channel: [] for channel in _SIGNAL_CHANNELS}
        for channel, values in adaptive.get("pending", {}).items():
            self._pending[channel] = [torch.tensor(v, dtype=torch.float64) for v in values]
        unused = list(saved_rules)
        for binding in self._bindings:
            for i, saved in enumerate(unused):
                if saved["keyword"] == binding.keyword and saved["name"] == binding.rule.name:
                    binding.rule.load_state_dict(saved["state"])
                    del unused[i]
                    break

    def __repr__(self) -> str:
        rules = ", ".join(f"{k}={v!r}" for k, v in self._config.items() if v is not None) or "no rules"
        preset = f"preset={self.preset!r}, " if self.preset else ""
        base = "\n".join("    " + line for line in repr(self._base).splitlines())
        return f"AdaptiveOptimizer({preset}{rules}, base=\n{base}\n)"
