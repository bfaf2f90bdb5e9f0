"""Where each optimizer family keeps each knob.

This is the only module that knows optimizer names. A knob is one of ``lr``, ``momentum``, ``beta1``,
``beta2``, ``alpha`` and ``wd``; a :class:`KnobSpec` says which key of a param group holds it and, for tuple
valued keys such as ``betas``, at which position.

Families not in the table are read from their ``defaults`` the way ``torch.optim.lr_scheduler.CyclicLR`` does it:
``lr``, ``momentum``, ``betas`` (beta1, beta2), ``alpha`` and ``weight_decay`` where those keys exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "BETA_MAX",
    "KNOBS",
    "SCALE_KNOBS",
    "KnobSpec",
    "adapt",
    "find_knobs",
    "is_adam_family",
    "read_knob",
    "write_knob",
]

#: Every knob the controller can adapt, in display order.
KNOBS: tuple[str, ...] = ("lr", "momentum", "beta1", "beta2", "alpha", "wd")
#: Knobs adapted multiplicatively: ``value = base * factor``.
SCALE_KNOBS = frozenset({"lr", "wd"})


@dataclass(frozen=True)
class KnobSpec:
    """Location of one knob inside a param group: ``group[key]`` or ``group[key][index]``."""

    key: str
    index: int | None = None


_LR = KnobSpec("lr")
_WD = KnobSpec("weight_decay")
_B1 = KnobSpec("betas", 0)
_B2 = KnobSpec("betas", 1)

_ADAM_LIKE = {"lr": _LR, "beta1": _B1, "beta2": _B2, "wd": _WD}
_LR_WD = {"lr": _LR, "wd": _WD}

# torch.optim, matched on the class or any base class.
_TORCH_TABLE: dict[str, dict[str, KnobSpec]] = {
    "SGD": {"lr": _LR, "momentum": KnobSpec("momentum"), "wd": _WD},
    "Adam": _ADAM_LIKE,
    "AdamW": _ADAM_LIKE,
    "NAdam": _ADAM_LIKE,
    "RAdam": _ADAM_LIKE,
    "Adamax": _ADAM_LIKE,
    "RMSprop": {"lr": _LR, "momentum": KnobSpec("momentum"), "alpha": KnobSpec("alpha"), "wd": _WD},
    "Adagrad": _LR_WD,
    # Adafactor's beta2_decay is an exponent (-0.8 by default), not a rate in [0, 1): not adapted.
    "Adafactor": _LR_WD,
}

# bitsandbytes packs every family's rates into ``betas``: SGD keeps (momentum, dampening), RMSprop keeps
# (alpha, momentum), LARS keeps (momentum, dampening), Adagrad keeps unused zeros.
_BNB_SGD = {"lr": _LR, "momentum": _B1, "wd": _WD}
_BNB_RMSPROP = {"lr": _LR, "alpha": _B1, "momentum": _B2, "wd": _WD}
_BNB_TABLE: dict[str, dict[str, KnobSpec]] = {
    **{name: _BNB_SGD for name in ("SGD", "SGD8bit", "SGD32bit", "LARS", "LARS8bit", "LARS32bit")},
    **{name: _BNB_RMSPROP for name in ("RMSprop", "RMSprop8bit", "RMSprop32bit")},
    **{name: _LR_WD for name in ("Adagrad", "Adagrad8bit", "Adagrad32bit")},
    **{
        prefix + name + suffix: _ADAM_LIKE
        for prefix in ("", "Paged")
        for name in ("Adam", "AdamW", "Lion")
        for suffix in ("", "8bit", "32bit")
    },
    **{name: _ADAM_LIKE for name in ("LAMB", "LAMB8bit", "LAMB32bit")},
}


def _table_entry(cls: type) -> dict[str, KnobSpec] | None:
    for klass in cls.__mro__:
        module = klass.__module__ or ""
        if module.startswith("bitsandbytes") and klass.__name__ in _BNB_TABLE:
            return _BNB_TABLE[klass.__name__]
        if module.startswith("torch.optim") and klass.__name__ in _TORCH_TABLE:
            return _TORCH_TABLE[klass.__name__]
    return None


def _from_defaults(defaults: dict[str, Any]) -> dict[str, KnobSpec]:
    found: dict[str, KnobSpec] = {}
    if "lr" in defaults:
        found["lr"] = _LR
    if "momentum" in defaults:
        found["momentum"] = KnobSpec("momentum")
    betas = defaults.get("betas")
    if isinstance(betas, (tuple, list)) and len(betas) == 2:
        found["beta1"], found["beta2"] = _B1, _B2
    if "alpha" in defaults:
        found["alpha"] = KnobSpec("alpha")
    if "weight_decay" in defaults:
        found["wd"] = _WD
    return found


def find_knobs(optimizer: torch.optim.Optimizer) -> dict[str, KnobSpec]:
    """Return ``{knob: KnobSpec}`` for every knob ``optimizer`` has, in :data:`KNOBS` order.

    Knobs whose key is missing from the param groups are left out, so a rule never adds a key.
    """
    entry = _table_entry(type(optimizer))
    if entry is None:
        entry = _from_defaults(optimizer.defaults)
    groups = optimizer.param_groups
    return {knob: entry[knob] for knob in KNOBS if knob in entry and all(entry[knob].key in group for group in groups)}


def read_knob(group: dict[str, Any], spec: KnobSpec) -> Any:
    """Return the knob's current value in ``group`` (a float, or a tensor where the user keeps tensors)."""
    value = group[spec.key]
    return value if spec.index is None else value[spec.index]


def write_knob(group: dict[str, Any], spec: KnobSpec, value: Any) -> None:
    """Write ``value`` into ``group``, rebuilding a tuple-valued key with the same type."""
    if spec.index is None:
        group[spec.key] = value
        return
    old = group[spec.key]
    items = list(old)
    items[spec.index] = value
    group[spec.key] = type(old)(items) if isinstance(old, (tuple, list)) else tuple(items)


def is_adam_family(optimizer: torch.optim.Optimizer) -> bool:
    """Adam, AdamW, NAdam, RAdam, Adamax (torch) and bitsandbytes' Adam/AdamW variants: bias-corrected moments
    with a per-parameter step count (what Adam-Rel resets)."""
    names = {klass.__name__ for klass in type(optimizer).__mro__}
    torch_family = {"Adam", "AdamW", "NAdam", "RAdam", "Adamax"}
    return bool(names & torch_family) or any(n.startswith(("Adam", "PagedAdam")) for n in names)


#: Largest value a momentum, beta or alpha is adapted to (unless its base value is already larger).
BETA_MAX = 0.9999


def adapt(knob: str, base: Any, factor: float) -> Any:
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
