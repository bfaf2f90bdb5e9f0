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

from .base import CHANNELS, RULE_KEYWORDS, Rule
from .registry import _REGISTRY as _REGISTRY  # the registry's dict itself (tests undo a registration in it)
from .registry import RuleFactory, RuleOptions, available_rules, build_rules, register_rule
from .reward import CollapseRule, PlateauRule
from .schedules import CosineRule
from .statistics import InverseRule, NoiseRule, NormalizedRule, RewardScalingRule, TrendRule, VarianceRule
from .update_size import ClosureRule, KLRule, TrustRegionRule

__all__ = [
    "RULE_KEYWORDS",
    "CHANNELS",
    "Rule",
    "RuleOptions",
    "RuleFactory",
    "TrendRule",
    "VarianceRule",
    "NoiseRule",
    "InverseRule",
    "NormalizedRule",
    "RewardScalingRule",
    "KLRule",
    "TrustRegionRule",
    "ClosureRule",
    "PlateauRule",
    "CollapseRule",
    "CosineRule",
    "register_rule",
    "available_rules",
    "build_rules",
]
