"""How an :class:`~rl_adaptive.AdaptiveOptimizer` is built: the preset and the rule keywords resolved, the options
and bounds checked (a clear error naming the argument, the value and the choices), the base optimizer built or
taken, and each rule bound to the knobs it drives."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .knobs import KNOBS, KnobSpec, is_adam_family
from .presets import DEFAULT_PRESET, get_preset
from .rules import RULE_KEYWORDS, Rule, RuleOptions, build_rules
from .rules.base import _check_bounds, _check_number

__all__ = [
    "DEFAULT_BOUNDS",
    "UNSET",
    "Binding",
    "bind",
    "check_adam_rel",
    "check_knob_bounds",
    "check_options",
    "check_signal_betas",
    "make_base",
    "resolve",
]

#: Default bounds of each knob's total factor (the product of its rules' factors), relative to the base value.
DEFAULT_BOUNDS: Mapping[str, tuple[float, float]] = {
    "lr": (0.01, 10.0),
    "wd": (0.1, 10.0),
    "momentum": (0.5, 2.0),
    "beta1": (0.5, 2.0),
    "beta2": (0.5, 2.0),
    "alpha": (0.5, 2.0),
}

_KEYWORD_KNOBS = {
    "lr_rule": ("lr",),
    "momentum_rule": ("momentum",),
    "alpha_rule": ("alpha",),
    "wd_rule": ("wd",),
    "reward_rule": ("lr",),
}


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


class Binding:
    """One rule, the keyword it came from, and the knobs it drives on this optimizer."""

    __slots__ = ("keyword", "rule", "knobs")

    def __init__(self, keyword: str, rule: Rule, knobs: tuple[str, ...]) -> None:
        self.keyword = keyword
        self.rule = rule
        self.knobs = knobs

    @property
    def label(self) -> str:
        return f"{self.keyword}.{self.rule.name}"


def resolve(
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
        "update_power": 1.0,
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


def make_base(
    params: Any,
    lr: Any,
    base_optimizer: Callable[..., torch.optim.Optimizer] | None,
    base_kwargs: dict[str, Any],
    wrapper: type,
) -> torch.optim.Optimizer:
    """The base optimizer: ``params`` itself when it is one, else ``base_optimizer(params, lr=lr, **base_kwargs)``.
    ``wrapper`` is the class being built (passed in, so that this module does not import it back)."""
    AdaptiveOptimizer = wrapper
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


def check_options(options: dict[str, Any]) -> RuleOptions:
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
        update_power=_check_number("update_power", options["update_power"], low=0.0, low_open=True),
    )


def check_adam_rel(adam_rel: object, base: torch.optim.Optimizer) -> bool:
    if not isinstance(adam_rel, bool):
        raise TypeError(f"adam_rel: expected True or False, got {type(adam_rel).__name__} {adam_rel!r}")
    if adam_rel and not is_adam_family(base):
        raise ValueError(
            f"adam_rel: Adam-Rel resets the step count of the Adam family (torch Adam, AdamW, NAdam, RAdam, "
            f"Adamax; bitsandbytes Adam*/AdamW*), got {type(base).__name__}"
        )
    return adam_rel


def check_knob_bounds(bounds: Mapping[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
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


def check_signal_betas(signal_betas: tuple[float, float]) -> tuple[float, float]:
    try:
        fast, slow = (float(b) for b in signal_betas)
    except (TypeError, ValueError):
        raise TypeError(f"signal_betas: expected a pair (fast, slow) of floats, got {signal_betas!r}") from None
    if not 0.0 < fast <= slow < 1.0:
        raise ValueError(f"signal_betas: expected 0 < fast <= slow < 1, got {signal_betas!r}")
    return fast, slow


def bind(
    config: dict[str, Any], knobs_found: Mapping[str, KnobSpec], options: RuleOptions, base: torch.optim.Optimizer
) -> list[Binding]:
    """The rules of every keyword's spec, each with the knobs it drives on ``base`` (warns for a knob it lacks)."""
    bindings: list[Binding] = []
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
            for rule in build_rules(keyword, sub_spec, options):
                present = tuple(k for k in knobs if k in knobs_found)
                missing += [k for k in knobs if k not in knobs_found and k not in missing]
                extra = tuple(k for k in rule.extra_knobs if k in knobs_found and k not in present)
                bindings.append(Binding(keyword, rule, present + extra))
        if missing:
            warnings.warn(
                f"{keyword}={spec!r} has no effect: {type(base).__name__} has no {', '.join(missing)} "
                f"(its knobs: {', '.join(knobs_found) or 'none'})",
                UserWarning,
                stacklevel=3,
            )
    return bindings
