"""How signals reach an :class:`~rl_adaptive.AdaptiveOptimizer`'s rules: ``step_loss``, ``step_reward``,
``step_kl`` and ``step_update`` (a mixin of the optimizer). A float is read at once; a tensor waits on its device and
is read in batches. A value of a channel some rule reads is averaged over ranks under ``torch.distributed``. A
non-finite or absurd value is skipped and counted."""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

from .distributed import is_distributed, mean_across_ranks
from .rules import Rule, RuleOptions, TrustRegionRule
from .rules.base import _check_number
from .signals import SignalStats

if TYPE_CHECKING:
    from ._build import Binding

__all__ = ["UNREAD_SYNC_EVERY", "SignalFeeding"]

_SIGNAL_CHANNELS = ("loss", "reward", "kl", "update")
#: A tensor fed to a channel that no rule reads stays on its device until its statistics are asked for
#: (:meth:`AdaptiveOptimizer.read_signals`, or a float fed to the channel) or this many have gathered: then all are
#: read in one transfer.
UNREAD_SYNC_EVERY = 1024


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


def _read_scalars(tensors: list[torch.Tensor]) -> list[float]:
    """Read 0-dim tensors to the host: one transfer when they share a device, one each otherwise."""
    try:
        return [float(v) for v in torch.stack(tensors).tolist()]
    except RuntimeError:  # tensors on different devices
        return [float(t.item()) for t in tensors]


class SignalFeeding:
    """The signal inputs of :class:`~rl_adaptive.AdaptiveOptimizer`; the attributes are set by its ``__init__``."""

    _base: torch.optim.Optimizer
    _bindings: list[Binding]
    _by_channel: dict[str, list[Rule]]
    _pending: dict[str, list[torch.Tensor]]
    _warned_skip: set[str]
    signals: dict[str, SignalStats]
    options: RuleOptions
    adam_rel: bool
    sync_distributed: bool
    signal_sync_every: int

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
