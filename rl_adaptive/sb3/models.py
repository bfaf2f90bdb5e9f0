"""What the integration knows of SB3's models: the algorithm table (:data:`ALGORITHMS`: the losses fed, what the
probes measure, the trust-region targets, the TD loss, the default preset's rules), ``policy_kwargs`` that put
:class:`AdaptiveOptimizer` in with the rules that act (:func:`adaptive_policy_kwargs`, :func:`algorithm_kwargs`),
finding a model's optimizers by role, and the small queries the callback asks of them."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from ..optimizer import AdaptiveOptimizer
from ..presets import get_preset
from ..rules import RULE_KEYWORDS, ClosureRule, TrustRegionRule
from .probe import POWERS

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "DEFAULT_LOSS_KEYS",
    "DEFAULT_UPDATE_TARGETS",
    "KL_ALGOS",
    "TD_LOSSES",
    "UPDATE_TARGETS",
    "adaptive_policy_kwargs",
    "algorithm_kwargs",
    "find_adaptive_optimizers",
    "find_optimizers",
]


@dataclass(frozen=True)
class Algorithm:
    """What the integration knows of one SB3 algorithm: a row of :data:`ALGORITHMS`."""

    #: Which recorded losses feed which optimizer role; the keys of one role are summed into one value per phase.
    loss_keys: Mapping[str, tuple[str, ...]]
    #: What the window probe (:mod:`rl_adaptive.sb3.probe`) measures per role: ``"kl"``, ``"relative"`` or
    #: ``"action"``. Its exponent (:data:`~rl_adaptive.sb3.probe.POWERS`) is the trust-region rule's ``power``.
    update_kinds: Mapping[str, str]
    #: The trust-region rule's target per role, where the benchmark calibrated one (BENCHMARKS.md, "update sizes at
    #: the tuned lr", suite ``update_sizes``): the median of what the rule reads (the update channel's fast
    #: average) at rl-zoo's tuned hyperparameters with the lr held constant. Elsewhere
    #: :data:`DEFAULT_UPDATE_TARGETS` by kind (not calibrated).
    update_targets: Mapping[str, float] = field(default_factory=dict)
    #: Whether the algorithm records a policy KL (``train/approx_kl``), which AdaptiveCallback feeds.
    records_kl: bool = False
    #: The value network trained by temporal differences: its role, the attribute of the policy that computes the
    #: predictions the TD loss reads, and the loss's slope, ``d loss / d Q_i = slope * (Q_i - y_i) / n`` for a
    #: batch of ``n`` rows (SAC and CrossQ ``0.5 * mse`` per critic head, TD3 and DDPG ``mse`` per head, DQN the
    #: Huber loss inside its unit band). The TD-closure probe (:mod:`rl_adaptive.sb3.closure`) needs the slope to
    #: turn the loss's gradient back into the TD error. None: no such loss (policy gradients; QR-DQN and TQC's
    #: quantile losses have no slope of that form).
    td_loss: tuple[str, str, float] | None = None
    #: The default preset on this algorithm: the AdaptiveOptimizer keywords :func:`adaptive_policy_kwargs` gives
    #: for ``preset="default"`` (or no rule keyword at all), chosen by the algorithm's lr grid (BENCHMARKS.md). Empty:
    #: no rule earned a place, and the wrapper is the bare optimizer, bit for bit.
    default: Mapping[str, Any] = field(default_factory=dict)


_ON_POLICY_PG = {"policy": ("train/value_loss", "train/policy_gradient_loss")}
_ACTOR_CRITIC = {"actor": ("train/actor_loss",), "critic": ("train/critic_loss",)}
_POLICY_KL = {"policy": "kl"}
_STOCHASTIC_ACTOR = {"actor": "kl", "critic": "relative"}
_DETERMINISTIC_ACTOR = {"actor": "action", "critic": "relative"}
#: Everything that differs between algorithms, in one table, by algorithm class name (sb3-contrib's included):
#: the losses fed, what the probes measure, the trust-region targets, the TD loss, and the default preset's rules.
#: ``adaptive_policy_kwargs`` reads it to build each optimizer with the rules that act, and AdaptiveCallback to
#: feed them; nothing else decides. The defaults: PPO's KL rule solved the most cells of PPO's CartPole lr grid;
#: A2C's cautious trust-region rule 24/25 against the bare optimizer's 17/25. On DQN, SAC and TD3 no rule screened
#: so far (trust region, cautious trust region, plateau, collapse, Adam-Rel) beat the bare optimizer.
ALGORITHMS: Mapping[str, Algorithm] = {
    "PPO": Algorithm(_ON_POLICY_PG, _POLICY_KL, {"policy": 0.0017}, records_kl=True, default={"lr_rule": "kl"}),
    "RecurrentPPO": Algorithm(_ON_POLICY_PG, _POLICY_KL, records_kl=True, default={"lr_rule": "kl"}),
    "MaskablePPO": Algorithm(_ON_POLICY_PG, _POLICY_KL, records_kl=True, default={"lr_rule": "kl"}),
    "A2C": Algorithm(
        {"policy": ("train/value_loss", "train/policy_loss")},
        _POLICY_KL,
        {"policy": 0.012},
        default={"lr_rule": "trust_region_cautious"},  # its target and exponent: this row's (algorithm_kwargs)
    ),
    "TRPO": Algorithm({"policy": ("train/value_loss",)}, _POLICY_KL),
    "DQN": Algorithm(
        {"policy": ("train/loss",)}, {"policy": "relative"}, {"policy": 0.019}, td_loss=("policy", "q_net", 1.0)
    ),
    "QRDQN": Algorithm({"policy": ("train/loss",)}, {"policy": "relative"}),
    "SAC": Algorithm(
        _ACTOR_CRITIC, _STOCHASTIC_ACTOR, {"actor": 0.31, "critic": 0.011}, td_loss=("critic", "critic", 1.0)
    ),
    "TD3": Algorithm(
        _ACTOR_CRITIC, _DETERMINISTIC_ACTOR, {"actor": 0.11, "critic": 0.018}, td_loss=("critic", "critic", 2.0)
    ),
    "DDPG": Algorithm(_ACTOR_CRITIC, _DETERMINISTIC_ACTOR, td_loss=("critic", "critic", 2.0)),
    "TQC": Algorithm(_ACTOR_CRITIC, _STOCHASTIC_ACTOR),
    "CrossQ": Algorithm(_ACTOR_CRITIC, _STOCHASTIC_ACTOR, td_loss=("critic", "critic", 1.0)),
}
#: Views of :data:`ALGORITHMS`, one column each.
DEFAULT_LOSS_KEYS: Mapping[str, Mapping[str, tuple[str, ...]]] = {k: a.loss_keys for k, a in ALGORITHMS.items()}
KL_ALGOS = frozenset(k for k, a in ALGORITHMS.items() if a.records_kl)
UPDATE_TARGETS: Mapping[str, Mapping[str, float]] = {
    k: a.update_targets for k, a in ALGORITHMS.items() if a.update_targets
}
TD_LOSSES: Mapping[str, tuple[str, str, float]] = {k: a.td_loss for k, a in ALGORITHMS.items() if a.td_loss}
#: The trust-region target per kind of update size where no calibrated one exists.
DEFAULT_UPDATE_TARGETS: Mapping[str, float] = {"kl": 0.01, "relative": 0.05, "action": 0.05}
# Algorithms whose ActorCriticPolicy adds eps=1e-5 to exactly torch.optim.Adam when given no optimizer_kwargs.
_ACTOR_CRITIC_ALGOS = frozenset({"ppo", "a2c", "recurrentppo", "maskableppo", "trpo"})

_OWN_KEYWORDS = frozenset(
    name
    for name, parameter in inspect.signature(AdaptiveOptimizer.__init__).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
) | {"base_optimizer"}


def _algo_name(algo: str | type | BaseAlgorithm) -> str:
    if isinstance(algo, str):  # "ppo", "PPO", "RecurrentPPO": the table's spelling where it has the algorithm
        return next((name for name in ALGORITHMS if name.lower() == algo.lower()), algo)
    cls = algo if isinstance(algo, type) else type(algo)
    for klass in cls.__mro__:
        if klass.__name__ in ALGORITHMS:
            return klass.__name__
    return cls.__name__


def adaptive_policy_kwargs(
    algo: str | type | BaseAlgorithm,
    base_optimizer: type[torch.optim.Optimizer] | None = None,
    policy_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Build ``policy_kwargs`` that put :class:`AdaptiveOptimizer` in, keeping SB3's base-optimizer defaults.

    SB3's actor-critic policies (PPO, A2C without RMSprop, RecurrentPPO, MaskablePPO, TRPO) build exactly
    ``torch.optim.Adam`` with ``eps=1e-5`` when given no optimizer keywords, and A2C uses
    ``RMSprop(alpha=0.99, eps=1e-5, weight_decay=0)`` when no optimizer class is given; DQN, SAC and TD3 use
    Adam's own defaults. Passing ``optimizer_class=AdaptiveOptimizer`` by hand loses the first two; this helper
    applies the same rules, so switching to the adaptive optimizer changes nothing but the adaptation.

    Args:
        algo: the algorithm (``"ppo"``, ``"a2c"``, a class, or a model); only A2C's default differs.
        base_optimizer: the optimizer class to wrap (default: what SB3 would use for ``algo``).
        policy_kwargs: other policy keyword arguments (``net_arch``, ...) to keep.
        **kwargs: rule keywords and options of :class:`AdaptiveOptimizer` (``lr_rule="kl"``, ``preset=...``)
            and base-optimizer keywords (``weight_decay=...``); they override the defaults. The ``"default"``
            preset (or no rule keyword at all) becomes the algorithm's own default, its row of :data:`ALGORITHMS`,
            and a trust-region rule without ``target_update`` gets the algorithm's target and exponent
            (:func:`algorithm_kwargs`): the optimizer is built with the rules that act.

    Example::

        PPO("MlpPolicy", env, policy_kwargs=adaptive_policy_kwargs("ppo", lr_rule="kl", reward_rule="trend"))
    """
    name = _algo_name(algo).lower()
    if base_optimizer is None:
        base_optimizer = torch.optim.RMSprop if name == "a2c" else torch.optim.Adam
    if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, torch.optim.Optimizer)):
        raise TypeError(f"base_optimizer: expected a torch.optim.Optimizer subclass, got {base_optimizer!r}")
    base_kwargs = set(kwargs) - _OWN_KEYWORDS
    defaults: dict[str, Any] = {}
    if name == "a2c" and base_optimizer is torch.optim.RMSprop:
        defaults = {"alpha": 0.99, "eps": 1e-5, "weight_decay": 0.0}
    elif name in _ACTOR_CRITIC_ALGOS and base_optimizer is torch.optim.Adam and not base_kwargs:
        defaults = {"eps": 1e-5}
    out = dict(policy_kwargs or {})
    for key in ("optimizer_class", "optimizer_kwargs"):
        if key in out:
            raise ValueError(f"policy_kwargs: {key!r} is set by this helper; pass base_optimizer= and keywords")
    out["optimizer_class"] = AdaptiveOptimizer
    out["optimizer_kwargs"] = {"base_optimizer": base_optimizer, **defaults, **algorithm_kwargs(algo, kwargs)}
    return out


def algorithm_kwargs(algo: str | type | BaseAlgorithm, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` (AdaptiveOptimizer keywords) as they act on ``algo``'s optimizers: the one place that decides.

    * The ``"default"`` preset, named or implied (no preset and no rule keyword), becomes the algorithm's row of
      :data:`ALGORITHMS` (``preset="none"`` where that row is empty), with the rule keywords given overriding it.
      An algorithm not in the table gets the core's default preset (the KL rule).
    * A trust-region rule (``"trust_region"``, ``"trust_region_cautious"``) without ``target_update`` gets the
      target and exponent of the algorithm's update size. SAC, TD3 and the other actor-critics build both
      optimizers from the same keywords, and their actor's and critic's sizes differ in kind, so there it is an
      error that names what to pass.

    ``ValueError`` names an unknown preset with the choices.
    """
    name = _algo_name(algo)
    row = ALGORITHMS.get(name)
    out = dict(kwargs)
    preset = out.get("preset")
    rules = {key: out[key] for key in RULE_KEYWORDS if key in out}
    if preset == "default" or (preset is None and not rules):
        own = dict(row.default) if row is not None else get_preset("default")
        out.pop("preset", None)
        out = {**own, **out}
        if not any(key in out for key in RULE_KEYWORDS):
            out["preset"] = "none"
    elif preset is not None:
        get_preset(preset)  # an unknown name: the error that lists the choices, here rather than at construction
    lr_rule = out.get("lr_rule", get_preset(out["preset"]).get("lr_rule") if "preset" in out else None)
    window = isinstance(lr_rule, str) and any(part.strip().startswith("trust_region") for part in lr_rule.split("+"))
    if window and out.get("target_update") is None and row is not None:
        kinds = set(row.update_kinds.values())
        if len(kinds) > 1:
            raise ValueError(
                f"lr_rule: {lr_rule!r} on {name} needs target_update= and update_power=: its "
                f"{' and '.join(row.update_kinds)} optimizers are built from the same optimizer_kwargs, and their "
                f"update sizes differ in kind ({', '.join(f'{r}: {k}' for r, k in row.update_kinds.items())}); "
                "or use lr_rule='td_closure', which feeds both the critic's TD closure"
            )
        ((role, kind),) = row.update_kinds.items()
        out["target_update"] = row.update_targets.get(role, DEFAULT_UPDATE_TARGETS[kind])
        out.setdefault("update_power", POWERS[kind])
    return out


def find_optimizers(model: BaseAlgorithm) -> dict[str, torch.optim.Optimizer]:
    """Every optimizer of ``model``'s policy, by role: ``"policy"`` (PPO, A2C, DQN, ...), or ``"actor"`` and
    ``"critic"`` (SAC, TD3, TQC). SAC's entropy-coefficient optimizer lives on the model, not the policy."""
    found: dict[str, torch.optim.Optimizer] = {}
    policy = model.policy
    main = getattr(policy, "optimizer", None)
    if isinstance(main, torch.optim.Optimizer):
        found["policy"] = main
    for name, module in policy.named_children():
        optimizer = getattr(module, "optimizer", None)
        if isinstance(optimizer, torch.optim.Optimizer) and all(optimizer is not o for o in found.values()):
            found[name] = optimizer
    return found


def find_adaptive_optimizers(model: BaseAlgorithm) -> dict[str, AdaptiveOptimizer]:
    """Every :class:`AdaptiveOptimizer` of ``model``, by role (see :func:`find_optimizers`)."""
    return {role: opt for role, opt in find_optimizers(model).items() if isinstance(opt, AdaptiveOptimizer)}


def _check_auto_flag(name: str, value: object) -> None:
    if not (value is True or value is False or value == "auto"):  # identity: 1 == True, and 1 is not a choice
        raise ValueError(f"{name}: expected True, False or 'auto', got {value!r}")


def _reads_update(optimizer: AdaptiveOptimizer) -> bool:
    """Whether a rule of ``optimizer`` reads the update size measured over a window (a :class:`ClosureRule`
    reads the TD-closure probe instead)."""
    return any(r.channel == "update" and not isinstance(r, ClosureRule) for r in optimizer.rules)


def _waiting_rules(optimizer: AdaptiveOptimizer) -> list[TrustRegionRule]:
    """Trust-region rules of ``optimizer`` with no target: they do not act until one is set."""
    return [r for r in optimizer.rules if isinstance(r, TrustRegionRule) and r.target is None]


def _reads_closure(optimizer: AdaptiveOptimizer) -> bool:
    """Whether a rule of ``optimizer`` reads the TD-closure probe (:class:`ClosureRule`)."""
    return any(isinstance(r, ClosureRule) for r in optimizer.rules)


def _recorded(key: str, recorded: Mapping[str, Any]) -> float | None:
    """The value SB3's logger holds for ``key``, or None if it holds none (or not a number)."""
    try:
        return float(recorded[key]) if key in recorded else None
    except (TypeError, ValueError):
        return None
