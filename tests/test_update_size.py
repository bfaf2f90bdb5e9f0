"""The update-size channel on real SB3 algorithms: what the probe measures, that it changes nothing else, the
trust-region targets the callback sets, Adam-Rel driven by the callback, and save/load."""

from __future__ import annotations

import warnings

import bitsandbytes as bnb
import numpy as np
import pytest
import torch
from sb3_contrib import QRDQN, TQC, RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env

from rl_adaptive import AdaptiveOptimizer, TrustRegionRule
from rl_adaptive.sb3 import (
    ALGORITHMS,
    DEFAULT_UPDATE_TARGETS,
    UPDATE_TARGETS,
    AdaptiveCallback,
    adaptive_policy_kwargs,
    find_adaptive_optimizers,
)
from rl_adaptive.sb3.probe import POWERS
from tests.test_sb3 import TINY

KINDS = {
    PPO: {"policy": "kl"},
    A2C: {"policy": "kl"},
    DQN: {"policy": "relative"},
    QRDQN: {"policy": "relative"},
    SAC: {"actor": "kl", "critic": "relative"},
    TQC: {"actor": "kl", "critic": "relative"},
    TD3: {"actor": "action", "critic": "relative"},
    RecurrentPPO: {"policy": "kl"},
}


def build(algo, seed=0, **rules):
    """The model with ``rules``. A trust-region rule on an actor-critic (whose actor and critic are built from the
    same keywords, with sizes of two kinds) gets each role's target and exponent set after construction, as a user
    who wants it must."""
    env, kwargs, _ = TINY[algo]
    policy = "MlpLstmPolicy" if algo is RecurrentPPO else "MlpPolicy"
    row = ALGORITHMS[algo.__name__]
    lr_rule = rules.get("lr_rule")
    per_role = (
        len(set(row.update_kinds.values())) > 1
        and isinstance(lr_rule, str)
        and lr_rule.startswith("trust_region")
        and "target_update" not in rules
    )
    if per_role:
        rules = {**rules, "target_update": 1.0}  # set per role below
    model = algo(policy, env, seed=seed, device="cpu", policy_kwargs=adaptive_policy_kwargs(algo, **rules), **kwargs)
    if per_role:
        for role, optimizer in find_adaptive_optimizers(model).items():
            kind = row.update_kinds[role]
            for rule in optimizer.rules:
                rule.target = row.update_targets.get(role, DEFAULT_UPDATE_TARGETS[kind])
                rule.power = POWERS[kind]
    return model


@pytest.mark.parametrize("algo", list(KINDS), ids=lambda a: a.__name__)
def test_each_algorithm_is_probed_and_the_trust_region_rule_acts(algo):
    model = build(algo, lr_rule="trust_region")
    callback = AdaptiveCallback(probe_min_steps=4)
    model.learn(TINY[algo][2], callback=callback)
    assert {role: probe.kind for role, probe in callback.probes.items()} == KINDS[algo]
    for role, optimizer in callback.optimizers.items():
        kind = KINDS[algo][role]
        stats = optimizer.signals["update"]
        assert stats.count >= 2 and stats.skipped == 0, (role, stats)
        assert 0.0 < stats.last < (2.0 if kind == "relative" else 50.0)
        rule = optimizer.rules[0]
        assert rule.power == POWERS[kind]
        expected = UPDATE_TARGETS.get(algo.__name__, {}).get(role, DEFAULT_UPDATE_TARGETS[kind])
        assert optimizer.target_update == rule.target == expected
    moved = [role for role, optimizer in callback.optimizers.items() if optimizer.factors()["lr"] != 1.0]
    assert moved, "tiny budgets are far from the targets: the rule moves"
    assert callback.probe_seconds > 0.0


def test_the_kl_probe_agrees_with_an_independent_computation():
    model = build(PPO, lr_rule="trust_region")
    callback = AdaptiveCallback()
    model.learn(256, callback=callback)  # one rollout: the window is open, nothing trained yet
    batch, before, _ = callback._window
    with torch.no_grad():
        old = before["policy"].probs
        for p in model.policy.action_net.parameters():
            p.add_(0.1 * torch.randn_like(p))
        new = model.policy.get_distribution(batch.observations).distribution.probs
    expected = (old * (old.log() - new.log())).sum(-1).mean().item()
    assert callback.probes["policy"].measure(batch, before["policy"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("algo", [PPO, DQN, SAC], ids=lambda a: a.__name__)
def test_probing_changes_nothing_the_algorithm_does(algo):
    # The wrapper with no rule is the bare optimizer; the probe reads the buffers with its own generator and runs
    # forward passes under no_grad: the trained parameters are bit for bit those of a run without the callback.
    env, kwargs, steps = TINY[algo]
    plain = algo("MlpPolicy", env, seed=3, device="cpu", **kwargs)
    plain.learn(steps)
    probed = build(algo, seed=3, preset="none")
    callback = AdaptiveCallback(probe=True, probe_min_steps=1)  # no rule reads it: probe anyway
    probed.learn(steps, callback=callback)
    assert sum(o.signals["update"].count for o in callback.optimizers.values()) > 0
    for a, b in zip(plain.policy.parameters(), probed.policy.parameters(), strict=True):
        assert torch.equal(a, b)


def test_update_sizes_are_logged_under_adaptive():
    model = build(SAC, lr_rule="trust_region")
    callback = AdaptiveCallback(probe_min_steps=50)
    model.learn(TINY[SAC][2], callback=callback)
    recorded = model.logger.name_to_value  # the callback's last record, not dumped after learn()
    for role in ("actor", "critic"):
        assert recorded[f"adaptive/signal/update/{role}"] == callback.optimizers[role].signals["update"].last


def test_the_recurrent_probe_reproduces_the_rollout_distribution():
    # Before training, the probe's distribution for a sampled (step, env) is the one the policy acted with, given
    # the LSTM state recorded with the observation: its log-probability of the recorded action is the buffer's.
    model = build(RecurrentPPO, lr_rule="trust_region")
    callback = AdaptiveCallback()
    model.learn(128, callback=callback)  # one rollout; the window opened before the training phase
    _, before, _ = callback._window
    buffer = model.rollout_buffer  # flattened by train(): index env * n_steps + step
    rng = np.random.default_rng(0)  # the callback's probe_seed: the same draws
    steps = rng.integers(0, buffer.buffer_size, size=256)
    envs = rng.integers(0, buffer.n_envs, size=256)
    flat = envs * buffer.buffer_size + steps
    recorded = torch.as_tensor(buffer.log_probs.reshape(-1)[flat])
    actions = torch.as_tensor(buffer.actions.reshape(len(buffer.log_probs.reshape(-1)), -1)[flat]).squeeze(-1)
    assert torch.allclose(before["policy"].log_prob(actions), recorded, atol=1e-5)


def test_a_policy_without_a_probe_warns_once_naming_what_is_fed():
    class Custom(torch.nn.Module):  # a role the probe does not know: an optimizer on a policy's submodule
        pass

    model = build(SAC, lr_rule="trust_region")
    model.policy.critic = Custom()  # the critic's optimizer stays, the module it probes is unknown
    model.policy.critic.optimizer = model.critic.optimizer
    callback = AdaptiveCallback()
    with pytest.warns(UserWarning, match=r"no update-size probe for SAC's critic optimizer; it is fed reward, loss"):
        callback.init_callback(model)
    assert set(callback.probes) == {"actor"}


def test_a_trust_region_rule_without_a_target_warns_that_it_does_not_act():
    opt_kwargs = adaptive_policy_kwargs(PPO, lr_rule=TrustRegionRule())  # an instance: nobody fills its target
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, device="cpu", policy_kwargs=opt_kwargs)
    with pytest.warns(UserWarning, match=r"trust-region rule of PPO's policy optimizer has no target"):
        model.learn(128, callback=AdaptiveCallback())
    assert model.policy.optimizer.factors()["lr"] == 1.0


def test_an_explicit_target_is_kept_and_bad_probe_arguments_are_named():
    model = build(PPO, lr_rule="trust_region", target_update=0.123)
    callback = AdaptiveCallback()
    model.learn(512, callback=callback)
    assert model.policy.optimizer.target_update == 0.123
    instance = build(PPO, lr_rule=TrustRegionRule(0.05))  # a rule passed with its own target keeps it
    instance.learn(512, callback=AdaptiveCallback())
    assert instance.policy.optimizer.target_update == instance.policy.optimizer.rules[0].target == 0.05
    for bad in (
        {"probe_size": 0},
        {"probe_min_steps": -3},
        {"probe_size": 2.5},
        {"probe": "always"},
        {"closure_every": 0},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AdaptiveCallback(**bad)


def test_no_probe_when_no_rule_reads_the_update_size():
    model = build(PPO, lr_rule="kl")  # the default preset: probing would cost time for nothing
    callback = AdaptiveCallback()
    model.learn(512, callback=callback)
    assert callback.probes == {} and callback.probe_seconds == 0.0
    assert model.policy.optimizer.signals["update"].count == 0


def test_probing_inside_the_phase_every_k_steps():
    model = build(PPO, lr_rule="trust_region")  # 4 minibatches x 2 epochs: 8 optimizer steps per phase
    callback = AdaptiveCallback(probe_every=2)
    model.learn(1024, callback=callback)  # 4 phases
    optimizer = model.policy.optimizer
    assert optimizer.signals["update"].count == 4 * 8 // 2
    assert optimizer.target_update == UPDATE_TARGETS["PPO"]["policy"]  # the callback sets no rule attribute
    assert not optimizer._optimizer_step_post_hooks, "the hooks leave with the callback"
    with pytest.raises(ValueError, match=r"probe_every: .*on-policy"):
        build(DQN, lr_rule="trust_region").learn(200, callback=AdaptiveCallback(probe_every=2))


def test_a_non_finite_or_negative_update_size_is_skipped_and_counted():
    opt = AdaptiveOptimizer(torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1), lr_rule="trust_region")
    opt.target_update = 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not opt.step_update(float("nan"))
        assert not opt.step_update(float("inf"))
        assert not opt.step_update(-0.5)
    assert opt.signals["update"].skipped == 3 and opt.lr == 0.1


# -- Adam-Rel ------------------------------------------------------------------------------------------------------


def _steps(optimizer):
    return {int(state["step"]) for state in optimizer.state.values()}


@pytest.mark.parametrize(
    "base", [torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam, bnb.optim.Adam8bit], ids=lambda c: c.__name__
)
def test_new_rollout_resets_the_step_count_and_keeps_the_moments(base):
    model = torch.nn.Linear(64, 64)
    opt = AdaptiveOptimizer(base(model.parameters(), lr=1e-3), adam_rel=True)
    for _ in range(5):
        model(torch.randn(8, 64)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    moments = {k: v.clone() for k, v in next(iter(opt.state.values())).items() if k != "step" and torch.is_tensor(v)}
    assert _steps(opt) == {5}
    opt.new_rollout()
    assert _steps(opt) == {0}
    state = next(iter(opt.state.values()))
    assert all(torch.equal(state[k], v) for k, v in moments.items())
    model(torch.randn(8, 64)).pow(2).mean().backward()
    opt.step()
    assert _steps(opt) == {1}
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_adam_rel_off_leaves_the_step_count_alone():
    model = torch.nn.Linear(4, 4)
    opt = AdaptiveOptimizer(torch.optim.Adam(model.parameters()), preset="none")
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    opt.new_rollout()
    assert _steps(opt) == {1}


def test_adam_rel_needs_the_adam_family():
    with pytest.raises(ValueError, match=r"adam_rel: .*Adam.*got SGD"):
        AdaptiveOptimizer(torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1), adam_rel=True)
    with pytest.raises(TypeError, match="adam_rel"):
        AdaptiveOptimizer(torch.optim.Adam(torch.nn.Linear(2, 1).parameters()), adam_rel="yes")


def test_the_callback_drives_adam_rel_and_it_survives_save_and_load(tmp_path):
    model = build(PPO, preset="none", adam_rel=True)  # n_steps 256, batch 64, 2 epochs: 8 steps per phase
    model.learn(1024, callback=AdaptiveCallback())
    optimizer = model.policy.optimizer
    assert optimizer.adam_rel and optimizer.step_count == 32
    assert _steps(optimizer) == {8}  # reset before each of the 4 phases
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", env=make_vec_env("CartPole-v1"), device="cpu")
    assert loaded.policy.optimizer.adam_rel and _steps(loaded.policy.optimizer) == {8}
    state = loaded.policy.optimizer.state_dict()
    plain = AdaptiveOptimizer(torch.optim.Adam(loaded.policy.parameters()), preset="none")
    with pytest.raises(ValueError, match="adam_rel"):  # one built without Adam-Rel refuses it under strict
        plain.load_state_dict(state)
    loaded.learn(256, callback=AdaptiveCallback(), reset_num_timesteps=False)
    assert _steps(loaded.policy.optimizer) == {8}


def test_the_update_channel_and_its_target_survive_save_and_load(tmp_path):
    model = build(DQN, lr_rule="trust_region")
    model.learn(TINY[DQN][2], callback=AdaptiveCallback(probe_min_steps=10))
    model.save(tmp_path / "dqn.zip")
    loaded = DQN.load(tmp_path / "dqn.zip", device="cpu")
    old, new = model.policy.optimizer, loaded.policy.optimizer
    assert new.target_update == old.target_update
    assert new.signals["update"].count == old.signals["update"].count > 0
    assert np.isclose(new.factors()["lr"], old.factors()["lr"])
