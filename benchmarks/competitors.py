"""The learning-rate-free optimizers a user would pick instead of rl_adaptive, as drop-in SB3 optimizers.

Each competitor is an optimizer class SB3 builds through ``policy_kwargs`` (``optimizer_class``,
``optimizer_kwargs``), at its own recommended learning rate times the grid's multiplier. They come with the
``benchmarks`` extra (``pip install -e ".[benchmarks]"``), never with the library.

Schedule-Free needs ``optimizer.train()`` before its steps and ``optimizer.eval()`` for inference, and SB3 calls
neither: :class:`ScheduleFreeModes` does, around every training phase. Rollouts and evaluations then use the
averaged weights ``x`` and gradient steps the weights ``y``, so PPO's first minibatch of each phase already sees a
probability ratio ``pi_y / pi_x`` away from 1; the callback measures that gap as KL(pi_x || pi_y) on the rollout
(``mode_kl``, kept in the run's result) instead of hiding it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from rl_adaptive import AdaptiveOptimizer
from rl_adaptive.sb3 import find_optimizers
from rl_adaptive.sb3.probe import Probe, build_probes, sample_batch

__all__ = ["COMPETITORS", "Competitor", "EntropyCoefLr", "ScheduleFreeModes", "competitor_policy_kwargs"]

EXTRA = "benchmarks"


@dataclass(frozen=True)
class Competitor:
    """An optimizer class by module and name, its recommended lr, and whether AdaptiveOptimizer wraps it."""

    package: str
    module: str
    name: str
    lr: float
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrapped: bool = False
    schedule_free: bool = False

    def load(self) -> type:
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            raise ImportError(
                f"competitor needs {self.package}: pip install -e '.[{EXTRA}]' (or pip install {self.package})"
            ) from None
        return getattr(module, self.name)


COMPETITORS: dict[str, Competitor] = {
    # Prodigy and D-Adaptation estimate the step size themselves and expect lr=1.0 (a multiplier of it).
    "prodigy": Competitor("prodigyopt", "prodigyopt", "Prodigy", 1.0),
    "dadaptation": Competitor("dadaptation", "dadaptation", "DAdaptAdam", 1.0),
    # Schedule-Free AdamW's default lr; it needs train()/eval() around its steps (ScheduleFreeModes).
    "schedulefree": Competitor("schedulefree", "schedulefree", "AdamWScheduleFree", 0.0025, schedule_free=True),
    # Prodigy inside AdaptiveOptimizer with the default preset (the KL rule on PPO, the cautious trust-region rule
    # on A2C; both scale Prodigy's lr, a multiplier of its estimated step): does adaptation add to a
    # learning-rate-free optimizer?
    "adaptive_prodigy": Competitor("prodigyopt", "prodigyopt", "Prodigy", 1.0, wrapped=True),
}


def competitor_policy_kwargs(name: str, policy_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``policy_kwargs`` that make SB3 build competitor ``name``; ``ValueError`` lists the choices."""
    if name not in COMPETITORS:
        raise ValueError(f"competitor: unknown competitor {name!r}; choose from {', '.join(COMPETITORS)}")
    spec = COMPETITORS[name]
    cls = spec.load()
    out = dict(policy_kwargs or {})
    if spec.wrapped:
        out["optimizer_class"] = AdaptiveOptimizer
        out["optimizer_kwargs"] = {"base_optimizer": cls, **spec.kwargs}
    else:
        out["optimizer_class"] = cls
        out["optimizer_kwargs"] = dict(spec.kwargs)
    return out


class EntropyCoefLr(BaseCallback):
    """Keep SAC's entropy-coefficient Adam at ``lr`` while a competitor trains the actor and the critics.

    SB3 trains SAC's entropy coefficient with a plain Adam at the algorithm's ``learning_rate`` and sets its lr again
    at the start of every ``train()``. A competitor's learning rate (1.0 for Prodigy and D-Adaptation, a multiplier of
    the step they estimate) would drive that Adam too: at lr 1.0 the log-coefficient moves by about 1 per step and the
    critics' targets overflow within 100 steps. With ``lr`` set to what ``fixed`` has at the same multiplier, a
    competitor cell differs from ``fixed``'s only in the optimizer of the networks. Algorithms without an entropy
    optimizer are left alone.
    """

    def __init__(self, lr: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.lr = lr

    def _init_callback(self) -> None:
        entropy = getattr(self.model, "ent_coef_optimizer", None)
        if entropy is None:
            return
        update = self.model._update_learning_rate

        def networks_only(optimizers: Any) -> None:
            update([o for o in (optimizers if isinstance(optimizers, list) else [optimizers]) if o is not entropy])
            for group in entropy.param_groups:
                group["lr"] = self.lr

        self.model._update_learning_rate = networks_only  # type: ignore[method-assign]
        for group in entropy.param_groups:
            group["lr"] = self.lr

    def _on_step(self) -> bool:
        return True


class ScheduleFreeModes(BaseCallback):
    """Put Schedule-Free optimizers in train mode for SB3's training phases and in eval mode otherwise.

    ``eval()`` at the start of ``learn()`` and after each training phase (rollouts and evaluations use the averaged
    weights), ``train()`` right before each phase (``on_rollout_end``). On-policy, it also measures
    KL(pi_eval || pi_train) on the rollout at each switch to train mode: the gap PPO's ratio starts from.
    """

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.mode_kl: list[float] = []
        self._optimizers: list[Any] = []
        self._probe: Probe | None = None
        self._rng = np.random.default_rng(0)

    def _init_callback(self) -> None:
        self._optimizers = [
            opt for opt in find_optimizers(self.model).values() if callable(getattr(opt, "train", None))
        ]
        if isinstance(self.model, OnPolicyAlgorithm):
            self._probe = build_probes(self.model, ["policy"]).get("policy")

    def _set(self, mode: str) -> None:
        for opt in self._optimizers:
            getattr(opt, mode)()

    def _on_training_start(self) -> None:
        self._set("eval")

    def _on_rollout_end(self) -> None:
        batch = sample_batch(self.model, 256, self._rng) if self._probe is not None else None
        if self._probe is None or batch is None:
            self._set("train")
            return
        before = self._probe.snapshot(batch)  # the policy in eval mode (what the rollout used)
        self._set("train")
        self.mode_kl.append(self._probe.measure(batch, before))

    def _on_rollout_start(self) -> None:
        self._set("eval")

    def _on_training_end(self) -> None:
        self._set("eval")

    def _on_step(self) -> bool:
        return True
