"""The rule registry: the names each rule keyword accepts, their factories, and the built-in rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import CHANNELS, RULE_KEYWORDS, Rule
from .reward import CollapseRule, PlateauRule
from .schedules import CosineRule
from .statistics import InverseRule, NormalizedRule, RewardScalingRule, TrendRule, VarianceRule
from .update_size import ClosureRule, KLRule, TrustRegionRule

__all__ = ["RuleFactory", "RuleOptions", "available_rules", "build_rules", "register_rule"]


@dataclass(frozen=True)
class RuleOptions:
    """The shared options a rule factory may read."""

    cycle_length: int = 1000
    cycle_mult: float = 1.0
    target_kl: float = 0.01
    #: Target of the ``"trust_region"`` rules (None: the rule waits for one; ``adaptive_policy_kwargs`` gives each
    #: SB3 algorithm its own) and of ``"td_closure"`` (None: its own default).
    target_update: float | None = None
    #: Exponent of the ``"trust_region"`` rules: lr ratio = (update-size ratio) ** power (0.5 for a KL, 1 for a
    #: relative change).
    update_power: float = 1.0


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
#: growth, registered as ``"trust_region_cautious"`` (the default on A2C: ``rl_adaptive.sb3.ALGORITHMS``).
_CAUTIOUS: dict[str, Any] = {"start": 0.1, "cautious": True}


def _builtin() -> None:
    horizon = (0.5, 2.0)
    register_rule("lr_rule", "trend", lambda o: TrendRule("loss"))
    register_rule("lr_rule", "variance", lambda o: VarianceRule("loss", bounds=(0.1, 1.0)))
    register_rule("lr_rule", "cosine", lambda o: CosineRule(o.cycle_length, o.cycle_mult))
    register_rule("lr_rule", "cosine_restart", lambda o: CosineRule(o.cycle_length, o.cycle_mult, restart=True))
    register_rule("lr_rule", "kl", lambda o: KLRule(o.target_kl))
    register_rule("lr_rule", "trust_region", lambda o: TrustRegionRule(o.target_update, power=o.update_power))
    register_rule(
        "lr_rule",
        "trust_region_cautious",
        lambda o: TrustRegionRule(o.target_update, power=o.update_power, **_CAUTIOUS),
    )
    register_rule("lr_rule", "td_closure", lambda o: ClosureRule(o.target_update))
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
