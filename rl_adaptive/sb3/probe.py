"""Update-size probes: how far a training phase moved what an optimizer trains, measured on a fixed probe batch.

Part of the Stable-Baselines3 integration (:class:`rl_adaptive.sb3.AdaptiveCallback` builds and runs the probes;
nothing here patches or subclasses SB3's algorithms). A probe takes a snapshot of the trained network's outputs
on a probe batch before a training phase, and compares the outputs after it:

====================================================  ===========  =================================================
what the optimizer trains                             kind         update size
====================================================  ===========  =================================================
a stochastic policy (PPO, A2C, MaskablePPO, TRPO,     ``kl``       mean KL(old || new) of the action distribution
RecurrentPPO, SAC's actor)                                         (RecurrentPPO: given the LSTM state recorded
                                                                   with each observation)
a Q-network (DQN, QR-DQN: the quantiles' mean)         ``relative`` ``rms(new - old) / max(rms(old), rms(new))``
a critic (SAC, TD3, DDPG, TQC)                         ``relative`` the same, on Q(s, a) for replayed (s, a)
a deterministic actor (TD3, DDPG)                      ``action``   ``rms(new - old) / 2``: actions live in [-1, 1]
====================================================  ===========  =================================================

A KL grows with the square of a small step, the others linearly: :data:`POWERS` is the exponent the
``"trust_region"`` rule uses to turn a ratio of sizes into a ratio of learning rates.

Why the relative change of Q for DQN, and not a KL between softmaxes of the Q-values: the relative change needs no
temperature (a softmax's KL depends on one, and on how far apart the actions' values are, which is tiny early in
training and makes the KL noise), it is defined the same way for DQN and for every critic, so one rule and one
kind of target cover both, and its denominator keeps it in [0, 2] even while the Q-values grow from their
near-zero initialization.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

__all__ = ["POWERS", "Probe", "ProbeBatch", "build_probes", "sample_batch"]

#: The ``"trust_region"`` rule's exponent per kind of update size: lr ratio = (size ratio) ** power.
POWERS: Mapping[str, float] = {"kl": 0.5, "relative": 1.0, "action": 1.0}


@dataclass
class ProbeBatch:
    """Observations (a tensor or a dict of tensors); for off-policy critics, the replayed actions; for recurrent
    policies, the actor's LSTM states and episode starts recorded with each observation."""

    observations: Any
    actions: torch.Tensor | None
    lstm_states: tuple[torch.Tensor, torch.Tensor] | None = None
    episode_starts: torch.Tensor | None = None


@dataclass
class Probe:
    """The network outputs a probe compares (``outputs``) and how it turns two of them into a size (``size``)."""

    role: str
    kind: str
    outputs: Callable[[ProbeBatch], Any]
    size: Callable[[Any, Any], torch.Tensor]

    def measure(self, batch: ProbeBatch, before: Any) -> float:
        with torch.no_grad():
            return float(self.size(before, self.outputs(batch)))

    def snapshot(self, batch: ProbeBatch) -> Any:
        with torch.no_grad():
            return self.outputs(batch)


def _kl(old: Any, new: Any) -> torch.Tensor:
    if isinstance(old, (list, tuple)):  # MultiCategorical: independent parts, their KLs add
        return sum((_kl(o, n) for o, n in zip(old, new, strict=True)), torch.zeros(()))
    kl = torch.distributions.kl_divergence(old, new)
    if kl.dim() > 1:  # per action dimension (diagonal Gaussian, Bernoulli): sum over dimensions
        kl = kl.flatten(1).sum(1)
    return kl.mean()


def _relative(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    scale = torch.maximum(old.pow(2).mean().sqrt(), new.pow(2).mean().sqrt()).clamp_min(1e-8)
    return (new - old).pow(2).mean().sqrt() / scale


def _action_change(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    return (new - old).pow(2).mean().sqrt() / 2.0


def _dist_params(distribution: Any) -> Any:
    inner = distribution.distribution
    return list(inner) if isinstance(inner, (list, tuple)) else inner


def _critic_values(critic: torch.nn.Module) -> Callable[[ProbeBatch], torch.Tensor]:
    def outputs(batch: ProbeBatch) -> torch.Tensor:
        values = critic(batch.observations, batch.actions)
        return torch.cat(values, dim=1) if isinstance(values, (list, tuple)) else values

    return outputs


def _probe_for(model: BaseAlgorithm, role: str) -> Probe | None:
    policy: Any = model.policy
    if role == "policy":
        if hasattr(policy, "lstm_actor"):  # RecurrentPPO: each observation with the LSTM state it was acted on

            def recurrent(b: ProbeBatch) -> Any:
                if b.lstm_states is None:
                    raise ValueError("probe: a recurrent policy needs a batch with its LSTM states")
                distribution, _ = policy.get_distribution(b.observations, b.lstm_states, b.episode_starts)
                return _dist_params(distribution)

            return Probe(role, "kl", recurrent, _kl)
        if hasattr(policy, "get_distribution"):
            return Probe(role, "kl", lambda b: _dist_params(policy.get_distribution(b.observations)), _kl)
        if hasattr(policy, "quantile_net"):  # QR-DQN: the Q-value is the mean over quantiles
            return Probe(role, "relative", lambda b: policy.quantile_net(b.observations).mean(dim=1), _relative)
        if hasattr(policy, "q_net"):
            return Probe(role, "relative", lambda b: policy.q_net(b.observations), _relative)
        return None
    found = getattr(policy, role, None)
    if not isinstance(found, torch.nn.Module) or type(found).forward is torch.nn.Module.forward:
        return None
    module: Any = found
    if role == "actor":
        if hasattr(module, "get_action_dist_params"):  # SAC, TQC: a squashed Gaussian (tanh keeps the KL)

            def outputs(b: ProbeBatch) -> Any:
                mean, log_std, kwargs = module.get_action_dist_params(b.observations)
                return module.action_dist.proba_distribution(mean, log_std, **kwargs).distribution

            return Probe(role, "kl", outputs, _kl)
        return Probe(role, "action", lambda b: module(b.observations), _action_change)  # TD3, DDPG
    if role == "critic" and len(inspect.signature(module.forward).parameters) >= 2:  # forward(obs, actions)
        return Probe(role, "relative", _critic_values(module), _relative)
    return None


def build_probes(model: BaseAlgorithm, roles: list[str]) -> dict[str, Probe]:
    """A probe for each role that has one (roles without one are left out)."""
    probes = {}
    for role in roles:
        probe = _probe_for(model, role)
        if probe is not None:
            probes[role] = probe
    return probes


def _take(array: Any, index: tuple[np.ndarray, np.ndarray]) -> Any:
    if isinstance(array, dict):
        return {key: value[index] for key, value in array.items()}
    return array[index]


def sample_batch(model: BaseAlgorithm, size: int, rng: np.random.Generator) -> ProbeBatch | None:
    """A probe batch of at most ``size`` transitions: from the rollout just collected (on-policy) or the replay
    buffer (off-policy); None while there is none. Draws from ``rng`` only, never from numpy's or torch's global
    generators, so probing does not change what the algorithm samples."""
    on_policy = isinstance(model, OnPolicyAlgorithm)
    buffer = getattr(model, "rollout_buffer" if on_policy else "replay_buffer", None)
    if buffer is None:
        return None
    filled = buffer.buffer_size if buffer.full else buffer.pos
    if filled == 0:
        return None
    steps = rng.integers(0, filled, size=size)
    envs = rng.integers(0, buffer.n_envs, size=size)
    observations = _take(buffer.observations, (steps, envs))
    actions = None
    if not on_policy:
        normalizer = getattr(model, "_vec_normalize_env", None)  # the replay buffer keeps unnormalized obs
        if normalizer is not None:
            observations = normalizer.normalize_obs(observations)
        actions = torch.as_tensor(_take(buffer.actions, (steps, envs)), device=model.device, dtype=torch.float32)
    tensor, _ = model.policy.obs_to_tensor(observations)
    batch = ProbeBatch(tensor, actions)
    if hasattr(buffer, "hidden_states_pi"):  # RecurrentPPO: (steps, layers, envs, hidden) -> (layers, batch, hidden)
        states = (buffer.hidden_states_pi[steps, :, envs], buffer.cell_states_pi[steps, :, envs])
        batch.lstm_states = tuple(  # type: ignore[assignment]
            torch.as_tensor(np.ascontiguousarray(x.swapaxes(0, 1)), device=model.device) for x in states
        )
        batch.episode_starts = torch.as_tensor(buffer.episode_starts[steps, envs], device=model.device).float()
    return batch
