"""Stable-Baselines3 integration: the AdaptiveOptimizer through ``policy_kwargs`` and a callback that feeds it.

This subpackage is where the library meets SB3 and rl-zoo3; the core never imports it:

- :mod:`rl_adaptive.sb3.models`: the algorithm table (:data:`ALGORITHMS`), :func:`adaptive_policy_kwargs`, which
  builds each optimizer with the rules that act, finding a model's optimizers;
- :mod:`rl_adaptive.sb3.callback`: :class:`AdaptiveCallback`, which feeds the optimizers and logs them;
- :mod:`rl_adaptive.sb3.probe`: the update-size probes the callback measures;
- :mod:`rl_adaptive.sb3.closure`: the TD-closure probe (the share of its batch's TD error a step closed);
- :mod:`rl_adaptive.sb3.checkpoint`: SB3's checkpoints written whole or not at all, and the latest to resume from;
- :mod:`rl_adaptive.sb3.zoo`: rl-zoo3's hyperparams and config-file support.

>>> from stable_baselines3 import PPO
>>> from rl_adaptive.sb3 import AdaptiveCallback, adaptive_policy_kwargs
>>> model = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=adaptive_policy_kwargs("ppo", lr_rule="kl"))
>>> model.learn(10_000, callback=AdaptiveCallback())  # doctest: +SKIP
"""

try:
    import stable_baselines3  # noqa: F401
except ModuleNotFoundError as error:  # the core works without it; this integration does not
    raise ModuleNotFoundError(
        f"rl_adaptive.sb3 needs stable-baselines3 ({error.name} is not installed): pip install 'rl-adaptive[sb3]'",
        name=error.name,
    ) from None

from .callback import AdaptiveCallback
from .checkpoint import CheckpointCallback, latest_checkpoint
from .models import (
    ALGORITHMS,
    DEFAULT_LOSS_KEYS,
    DEFAULT_UPDATE_TARGETS,
    KL_ALGOS,
    TD_LOSSES,
    UPDATE_TARGETS,
    Algorithm,
    adaptive_policy_kwargs,
    algorithm_kwargs,
    find_adaptive_optimizers,
    find_optimizers,
)

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "DEFAULT_LOSS_KEYS",
    "DEFAULT_UPDATE_TARGETS",
    "KL_ALGOS",
    "TD_LOSSES",
    "UPDATE_TARGETS",
    "AdaptiveCallback",
    "CheckpointCallback",
    "adaptive_policy_kwargs",
    "algorithm_kwargs",
    "find_adaptive_optimizers",
    "find_optimizers",
    "latest_checkpoint",
]
