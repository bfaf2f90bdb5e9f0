"""Hostile signals end to end: real SB3 training (PPO, A2C, DQN, SAC) with the default preset, fed by an
environment that returns a NaN reward every 50 steps, an inf every 77 and an observation of 1e30 every 91. The
default stops before any weight is trained on them, saying what and where; ``bad_data="skip"`` trains on without
them. Either way no weight or hyperparameter is ever non-finite."""

from __future__ import annotations

import csv
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from rl_adaptive.sb3 import AdaptiveCallback, CheckpointCallback, adaptive_policy_kwargs, latest_checkpoint


class Hostile(gym.Wrapper):
    """NaN reward every 50th step, inf every 77th, an observation of 1e30 every 91st."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if self.steps % 50 == 0:
            reward = math.nan
        elif self.steps % 77 == 0:
            reward = math.inf
        if self.steps % 91 == 0:
            obs = np.full_like(obs, 1e30)
        return obs, reward, terminated, truncated, info


SETTINGS = {
    PPO: ("CartPole-v1", {"n_steps": 64, "batch_size": 64, "n_epochs": 2}, 640),
    A2C: ("CartPole-v1", {"n_steps": 8}, 640),
    DQN: ("CartPole-v1", {"learning_starts": 50, "train_freq": 16, "gradient_steps": 4, "batch_size": 32}, 640),
    SAC: ("Pendulum-v1", {"learning_starts": 50, "batch_size": 32}, 400),
}


def build(algo, seed=0):
    env_id, kwargs, _ = SETTINGS[algo]
    env = make_vec_env(env_id, n_envs=1, seed=seed, wrapper_class=Hostile)
    return algo("MlpPolicy", env, seed=seed, device="cpu", policy_kwargs=adaptive_policy_kwargs(algo), **kwargs)


def assert_finite(model, callback):
    for name, p in model.policy.named_parameters():
        assert torch.isfinite(p).all(), name
    for optimizer in callback.optimizers.values():
        assert all(math.isfinite(v) for v in optimizer.hyperparameters().values() if v is not None)
        assert all(math.isfinite(f) for f in optimizer.factors().values())


@pytest.mark.parametrize("algo", list(SETTINGS), ids=lambda a: a.__name__)
def test_skip_trains_on_without_the_bad_values_and_counts_them(algo, tmp_path):
    model = build(algo)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = AdaptiveCallback(bad_data="skip")
    with pytest.warns(UserWarning, match=r"non-finite or absurd .* skipped"):
        model.learn(SETTINGS[algo][2], callback=callback, log_interval=1)
    assert model.num_timesteps >= SETTINGS[algo][2]
    assert callback.bad_values >= 3  # a NaN, an inf and a 1e30 at least
    assert_finite(model, callback)
    with open(tmp_path / "progress.csv") as f:
        logged = [float(row["adaptive/bad_values"]) for row in csv.DictReader(f) if row.get("adaptive/bad_values")]
    assert logged and 0 < max(logged) <= callback.bad_values  # logged as it grows (the last phase's after the end)
    if algo in (PPO, A2C):  # a phase skipped whole: its steps held, not taken
        assert callback.skipped_phases > 0
        assert all(o.held_steps > 0 and not o.hold for o in callback.optimizers.values())
    else:  # every bad transition replaced in the replay buffer: none left to sample
        buffer = model.replay_buffer
        filled = buffer.buffer_size if buffer.full else buffer.pos
        assert np.isfinite(buffer.rewards[:filled]).all() and np.abs(buffer.observations[:filled]).max() < 1e12


@pytest.mark.parametrize("algo", list(SETTINGS), ids=lambda a: a.__name__)
def test_the_default_stops_before_training_on_them_and_says_what_and_where(algo, tmp_path):
    model = build(algo)
    callback = AdaptiveCallback()
    checkpoints = CheckpointCallback(save_freq=16, save_path=str(tmp_path))
    before = [p.detach().clone() for p in model.policy.parameters()]
    with pytest.raises(ValueError, match=r"reward nan at step \d+, env 0.*stopped before training on them"):
        model.learn(SETTINGS[algo][2], callback=[callback, checkpoints])
    assert_finite(model, callback)
    assert model.num_timesteps < 100  # at once: the first phase that would have read the NaN (step 50)
    if algo in (PPO, A2C):  # the rollout holding it was never trained on
        last = latest_checkpoint(tmp_path)
        assert last is not None
        saved = algo.load(last, device="cpu")  # what was saved before is whole and finite
        assert all(torch.isfinite(p).all() for p in saved.policy.parameters())
    if algo is DQN:  # learning_starts 50, train_freq 16: the phase at step 64 would have been its first
        assert all(torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))


def test_bad_data_is_named_with_the_choices():
    with pytest.raises(ValueError, match=r"bad_data: expected one of 'raise', 'skip', 'ignore', got 'drop'"):
        AdaptiveCallback(bad_data="drop")


def test_a_held_optimizer_takes_no_step_and_counts_it():
    model = torch.nn.Linear(2, 1)
    from rl_adaptive import AdaptiveOptimizer

    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), preset="none")
    model(torch.ones(1, 2)).sum().backward()
    weight = model.weight.detach().clone()
    opt.hold = True
    opt.step()
    assert torch.equal(model.weight, weight) and opt.held_steps == 1 and opt.step_count == 0
    opt.hold = False
    opt.step()
    assert not torch.equal(model.weight, weight) and opt.step_count == 1
