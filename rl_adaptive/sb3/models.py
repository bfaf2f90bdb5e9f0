"""What the integration knows of SB3's models: per-algorithm tables (which losses feed which optimizer, which
algorithms record a KL, the trust-region targets), ``policy_kwargs`` that put :class:`AdaptiveOptimizer` in,
finding a model's optimizers by role, and the small queries the callback asks of them (which rules read the update
size or stand by, what SB3's logger recorded)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from ..optimizer import AdaptiveOptimizer
from ..rules import ClosureRule, TrustRegionRule

__all__ = [
    "DEFAULT_LOSS_KEYS",
    "DEFAULT_UPDATE_TARGETS",
    "FALLBACK_ALGOS",
    "KL_ALGOS",
    "TD_LOSSES",
    "UPDATE_TARGETS",
    "adaptive_policy_kwargs",
    "find_adaptive_optimizers",
    "find_optimizers",
]

_ON_POLICY_PG = {"policy": ("train/value_loss", "train/policy_gradient_loss")}
_ACTOR_CRITIC = {"actor": ("train/actor_loss",), "critic": ("train/critic_loss",)}
#: Which recorded losses feed which optimizer, per algorithm class name (sb3-contrib's included). The keys of one
#: optimizer are summed into one loss value per training phase.
DEFAULT_LOSS_KEYS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "PPO": _ON_POLICY_PG,
    "RecurrentPPO": _ON_POLICY_PG,
    "MaskablePPO": _ON_POLICY_PG,
    "A2C": {"policy": ("train/value_loss", "train/policy_loss")},
    "TRPO": {"policy": ("train/value_loss",)},
    "DQN": {"policy": ("train/loss",)},
    "QRDQN": {"policy": ("train/loss",)},
    "SAC": _ACTOR_CRITIC,
    "TD3": _ACTOR_CRITIC,
    "DDPG": _ACTOR_CRITIC,
    "TQC": _ACTOR_CRITIC,
    "CrossQ": _ACTOR_CRITIC,
}
#: Algorithms that record a policy KL (``train/approx_kl``), fed to the "kl" rule by default.
KL_ALGOS = frozenset({"PPO", "RecurrentPPO", "MaskablePPO"})
#: Target update size of the ``"trust_region"`` rule per algorithm and optimizer role, used when the optimizer has
#: no ``target_update`` of its own. Chosen by the benchmark (BENCHMARKS.md, "update sizes at the tuned lr", suite
#: ``update_sizes``): the median of what the rule reads (the update channel's fast average) at rl-zoo's tuned
#: hyperparameters with the lr held constant. ``"kl"`` sizes are a KL, the others relative changes (see
#: :mod:`rl_adaptive.sb3.probe`). Algorithms not listed use :data:`DEFAULT_UPDATE_TARGETS` by kind (not calibrated).
UPDATE_TARGETS: Mapping[str, Mapping[str, float]] = {
    "PPO": {"policy": 0.0017},
    "A2C": {"policy": 0.012},
    "DQN": {"policy": 0.019},
    "SAC": {"actor": 0.31, "critic": 0.011},
    "TD3": {"actor": 0.11, "critic": 0.018},
}
#: Algorithms on which ``AdaptiveCallback(fallback="auto")`` activates a standby trust-region rule (the default
#: preset's ``"trust_region_fallback"``). Chosen by the benchmark (BENCHMARKS.md, "lr grids"): an algorithm joins
#: when its lr grid shows the cautious trust-region rule solving more cells than the bare optimizer, and no fewer
#: at the tuned lr. A2C: 24/25 against 17/25. Not DQN: its update size does not follow its lr, and the rule harmed
#: it at the tuned lr (1/5 cells on one seed). Not yet SAC and TD3: no grid has chosen for them. There the default
#: stays the bare optimizer.
FALLBACK_ALGOS = frozenset({"A2C"})
#: The value network trained by temporal differences, per algorithm: its role, the attribute of the policy (or of
#: the role's module) that computes the predictions the TD loss reads, and the loss's slope: SB3's loss has
#: ``d loss / d Q_i = slope * (Q_i - y_i) / n`` for a batch of ``n`` rows (SAC and CrossQ ``0.5 * mse`` per critic
#: head, TD3 and DDPG ``mse`` per head, DQN the Huber loss inside its unit band). The TD-closure probe
#: (:mod:`rl_adaptive.sb3.closure`) needs the slope to turn the loss's gradient back into the TD error. QR-DQN and
#: TQC train quantiles with a quantile loss, which has no such slope: no TD-closure probe there.
TD_LOSSES: Mapping[str, tuple[str, str, float]] = {
    "DQN": ("policy", "q_net", 1.0),
    "SAC": ("critic", "critic", 1.0),
    "CrossQ": ("critic", "critic", 1.0),
    "TD3": ("critic", "critic", 2.0),
    "DDPG": ("critic", "critic", 2.0),
}
#: Fallback target per kind of update size.
DEFAULT_UPDATE_TARGETS: Mapping[str, float] = {"kl": 0.01, "relative": 0.05, "action": 0.05}
# Algorithms whose ActorCriticPolicy adds eps=1e-5 to exactly torch.optim.Adam when given no optimizer_kwargs.
_ACTOR_CRITIC_ALGOS = frozenset({"ppo", "a2c", "recurrentppo", "maskableppo", "trpo"})

_OWN_KEYWORDS = frozenset(
    name
    for name, parameter in inspect.signature(AdaptiveOptimizer.__init__).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
) | {"base_optimizer"}


def _algo_name(algo: str | type | BaseAlgorithm) -> str:
    if isinstance(algo, str):
        return algo
    cls = algo if isinstance(algo, type) else type(algo)
    for klass in cls.__mro__:
        if klass.__name__ in DEFAULT_LOSS_KEYS:
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
            and base-optimizer keywords (``weight_decay=...``); they override the defaults.

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
    out["optimizer_kwargs"] = {"base_optimizer": base_optimizer, **defaults, **kwargs}
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


def _standby_rules(optimizer: AdaptiveOptimizer) -> list[TrustRegionRule]:
    return [r for r in optimizer.rules if isinstance(r, TrustRegionRule) and r.standby]


def _reads_update(optimizer: AdaptiveOptimizer, with_standby: bool = False) -> bool:
    """Whether a rule of ``optimizer`` reads the update size measured over a window (a standby rule only
    ``with_standby``; a :class:`ClosureRule` reads the TD-closure probe instead)."""
    return any(
        r.channel == "update"
        and not isinstance(r, ClosureRule)
        and (with_standby or not (isinstance(r, TrustRegionRule) and r.standby))
        for r in optimizer.rules
    )


def _reads_closure(optimizer: AdaptiveOptimizer) -> bool:
    """Whether a rule of ``optimizer`` reads the TD-closure probe (:class:`ClosureRule`)."""
    return any(isinstance(r, ClosureRule) for r in optimizer.rules)


def _recorded(key: str, recorded: Mapping[str, Any]) -> float | None:
    """The value SB3's logger holds for ``key``, or None if it holds none (or not a number)."""
    try:
        return float(recorded[key]) if key in recorded else None
    except (TypeError, ValueError):
        return None
