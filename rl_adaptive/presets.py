"""Named sets of rule keywords.

``AdaptiveOptimizer(..., preset="name")`` starts from one of these; rule keywords given explicitly override it.
When no rule keyword and no preset is given, :data:`DEFAULT_PRESET` applies. The choice of the default is
documented, with the benchmark that chose it, in ``BENCHMARKS.md``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

__all__ = ["PRESETS", "DEFAULT_PRESET", "get_preset"]

_PRESETS: dict[str, dict[str, Any]] = {
    # The one to use (what applies when neither a preset nor a rule keyword is given). Outside Stable-Baselines3
    # the KL rule, which acts only where a KL is fed (step_kl), so supervised training gets the bare optimizer, bit
    # for bit. For an SB3 algorithm, rl_adaptive.sb3.adaptive_policy_kwargs(algo) turns "default" into that
    # algorithm's row of rl_adaptive.sb3.ALGORITHMS, chosen by its lr grid (BENCHMARKS.md): the KL rule on PPO, the
    # cautious trust-region rule on A2C, the bare optimizer where no rule earned a place.
    "default": {"lr_rule": "kl"},
    # Nothing adapted: the wrapper is the bare optimizer, bit for bit (to log signals, or to compare).
    "none": {},
    # The KL rule alone (rsl_rl and rl_games' adaptive PPO lr), for a loop that feeds step_kl.
    "kl": {"lr_rule": "kl"},
    # The rule set of the design document's usage example: loss trend and variance on the lr, betas and weight
    # decay, the reward trend, cosine cycles. Measured, not recommended: it helps at low lrs and hurts at the
    # highest (BENCHMARKS.md).
    "design": {
        "lr_rule": "trend+variance",
        "betas_rule": ("relative", "variance"),
        "wd_rule": "trend",
        "reward_rule": "trend",
        "cycle_length": 500,
        "cycle_mult": 2.0,
    },
}

#: Read-only view of the presets: name -> keyword arguments.
PRESETS = MappingProxyType(_PRESETS)
#: The preset used when neither a preset nor any rule keyword is given.
DEFAULT_PRESET = "default"


def get_preset(name: str) -> dict[str, Any]:
    """Return a copy of the preset's keyword arguments; ``ValueError`` names the valid choices."""
    if not isinstance(name, str):
        raise TypeError(f"preset: expected a preset name (str), got {type(name).__name__} {name!r}")
    if name not in _PRESETS:
        raise ValueError(f"preset: unknown preset {name!r}; choose from {', '.join(_PRESETS)}")
    return dict(_PRESETS[name])
