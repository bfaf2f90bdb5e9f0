"""Checkpoints of :class:`~rl_adaptive.AdaptiveOptimizer` (a mixin): the base optimizer's state dict plus the
controller's whole state (step count, signal statistics, pending values, each rule's state), readable by
``torch.load(weights_only=True)``; loading checks that the rules match."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ._feeding import _SIGNAL_CHANNELS, _read_scalars
from .signals import SignalStats

if TYPE_CHECKING:
    from ._build import Binding

__all__ = ["Checkpointing"]

_STATE_VERSION = 1


class Checkpointing:
    """``state_dict`` and ``load_state_dict`` of :class:`~rl_adaptive.AdaptiveOptimizer`; the attributes are set by
    its ``__init__``."""

    _base: torch.optim.Optimizer
    _bindings: list[Binding]
    _pending: dict[str, list[torch.Tensor]]
    _step_count: int
    _optimizer_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]]
    signals: dict[str, SignalStats]
    adam_rel: bool

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
