"""The default preset on real SB3 algorithms: which rule acts on each, decided when the optimizer is built
(``rl_adaptive.sb3.ALGORITHMS``), and that it is, bit for bit, the rule the benchmark measured there (BENCHMARKS.md
reports the default's cells on PPO as the KL rule's, on A2C as the cautious trust-region rule's, on DQN, SAC and
TD3 as the bare optimizer's)."""

from __future__ import annotations

import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

from rl_adaptive import AdaptiveOptimizer, KLRule, TrustRegionRule
from rl_adaptive.sb3 import ALGORITHMS, AdaptiveCallback, adaptive_policy_kwargs, algorithm_kwargs
from tests.test_sb3 import TINY


def build(algo, policy_kwargs, seed=3):
    env, kwargs, _ = TINY[algo]
    return algo("MlpPolicy", env, seed=seed, device="cpu", policy_kwargs=policy_kwargs, **kwargs)


def train(algo, policy_kwargs, callback=None):
    model = build(algo, policy_kwargs)
    model.learn(TINY[algo][2], callback=callback)
    return model


def assert_same_parameters(a, b):
    for (name, x), (_, y) in zip(a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_the_default_on_a2c_is_the_cautious_trust_region_rule_built_in_bit_for_bit():
    kwargs = adaptive_policy_kwargs(A2C)["optimizer_kwargs"]
    assert {k: kwargs[k] for k in ("lr_rule", "target_update", "update_power")} == {
        "lr_rule": "trust_region_cautious",
        "target_update": 0.012,
        "update_power": 0.5,
    }
    assert ALGORITHMS["A2C"].update_targets == {"policy": 0.012}  # the one place the target is written
    default_cb = AdaptiveCallback()
    model = build(A2C, adaptive_policy_kwargs(A2C))
    (rule,) = model.policy.optimizer.rules  # built with the rule that acts: nothing stands by
    assert isinstance(rule, TrustRegionRule) and rule.cautious and rule.factor == 0.1
    assert (rule.target, rule.power) == (0.012, 0.5)
    assert "lr_rule='trust_region_cautious', target_update=0.012, update_power=0.5" in repr(model.policy.optimizer)
    model.learn(TINY[A2C][2], callback=default_cb)
    cautious = train(A2C, adaptive_policy_kwargs(A2C, lr_rule="trust_region_cautious"), AdaptiveCallback())
    assert list(default_cb.probes) == ["policy"] and model.policy.optimizer.signals["update"].count > 0
    assert rule.factor != 0.1 and rule.factor == cautious.policy.optimizer.rules[0].factor  # it moved, identically
    assert model.policy.optimizer.factors() == cautious.policy.optimizer.factors()
    assert_same_parameters(model, cautious)


def test_the_default_on_ppo_is_the_kl_rule_bit_for_bit():
    default_cb = AdaptiveCallback()
    default = train(PPO, adaptive_policy_kwargs(PPO), default_cb)
    kl = train(PPO, adaptive_policy_kwargs(PPO, lr_rule="kl"), AdaptiveCallback())
    optimizer = default.policy.optimizer
    assert [type(r) for r in optimizer.rules] == [KLRule]
    assert default_cb.probes == {} and optimizer.signals["update"].count == 0  # no probe: no cost
    assert optimizer.rule_factors()["lr_rule.kl"] != 1.0  # the KL rule acted
    assert optimizer.factors() == kl.policy.optimizer.factors()
    assert_same_parameters(default, kl)


@pytest.mark.parametrize("algo", [DQN, SAC, TD3], ids=lambda a: a.__name__)
def test_the_default_where_no_rule_earned_a_place_is_the_bare_optimizer_bit_for_bit(algo):
    assert ALGORITHMS[algo.__name__].default == {}
    assert adaptive_policy_kwargs(algo)["optimizer_kwargs"]["preset"] == "none"
    callback = AdaptiveCallback()
    default = train(algo, adaptive_policy_kwargs(algo), callback)
    bare = train(algo, None)  # SB3's own optimizer, unwrapped
    assert callback.probes == {} and callback.closures == []
    for optimizer in callback.optimizers.values():
        assert optimizer.rules == () and optimizer.factors() == {}
        assert optimizer.signals["loss"].count > 0  # fed, and nothing moved
    assert_same_parameters(default, bare)


@pytest.mark.parametrize("algo", [PPO, A2C, DQN, SAC], ids=lambda a: a.__name__)
def test_the_callback_sets_no_rule_attribute(algo):
    model = build(algo, adaptive_policy_kwargs(algo, lr_rule="td_closure" if algo in (DQN, SAC) else None))
    before = {role: [r.state_dict() for r in o.rules] for role, o in _adaptive(model).items()}
    callback = AdaptiveCallback()
    callback.init_callback(model)
    assert {role: [r.state_dict() for r in o.rules] for role, o in _adaptive(model).items()} == before


def _adaptive(model):
    from rl_adaptive.sb3 import find_adaptive_optimizers

    return find_adaptive_optimizers(model)


def test_the_default_preset_named_or_implied_and_rule_keywords_over_it():
    assert algorithm_kwargs("a2c", {}) == algorithm_kwargs("A2C", {"preset": "default"})
    assert algorithm_kwargs("ppo", {"preset": "default", "reward_rule": "trend"}) == {
        "lr_rule": "kl",
        "reward_rule": "trend",
    }
    assert algorithm_kwargs("ppo", {"reward_rule": "trend"}) == {"reward_rule": "trend"}  # no preset: only these
    assert algorithm_kwargs("TRPO", {}) == {"preset": "none"}  # a row with no default rule: the bare optimizer
    assert algorithm_kwargs("MyAlgo", {}) == {"lr_rule": "kl"}  # not in the table: the core's default preset
    with pytest.raises(ValueError, match="preset: unknown preset 'fast'; choose from"):
        algorithm_kwargs("ppo", {"preset": "fast"})


def test_a_trust_region_rule_gets_its_algorithms_target_and_exponent_at_construction():
    assert algorithm_kwargs("dqn", {"lr_rule": "trust_region"}) == {
        "lr_rule": "trust_region",
        "target_update": 0.019,
        "update_power": 1.0,
    }
    assert algorithm_kwargs("ppo", {"lr_rule": "trust_region_cautious"})["update_power"] == 0.5  # a KL: 0.5
    mine = algorithm_kwargs("ppo", {"lr_rule": "trust_region", "target_update": 0.003})
    assert mine == {"lr_rule": "trust_region", "target_update": 0.003}  # a target given is kept
    with pytest.raises(ValueError, match=r"lr_rule: 'trust_region' on SAC needs target_update= and update_power="):
        algorithm_kwargs(SAC, {"lr_rule": "trust_region"})


def test_the_optimizer_built_outside_sb3_with_the_default_preset_is_the_kl_rule():
    opt = AdaptiveOptimizer(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    assert [type(r) for r in opt.rules] == [KLRule] and "target_kl=0.01" in repr(opt)


def test_an_a2c_default_keeps_its_factor_across_save_and_load(tmp_path):
    model = train(A2C, adaptive_policy_kwargs(A2C), AdaptiveCallback())
    (rule,) = model.policy.optimizer.rules
    factor = rule.factor
    assert not 0.1 / 1.2 <= factor <= 0.1 * 1.2  # grown out of the slow start, so a restart would show
    model.save(tmp_path / "a2c.zip")
    loaded = A2C.load(tmp_path / "a2c.zip", env=model.get_env(), device="cpu")
    (rule,) = loaded.policy.optimizer.rules
    assert rule.factor == factor
    callback = AdaptiveCallback()
    loaded.learn(16, callback=callback, reset_num_timesteps=False)
    assert list(callback.probes) == ["policy"]
    assert factor / 1.2 <= rule.factor <= factor * 1.2  # one more phase from the saved factor: at most one move


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_bad_probe_flag_is_named_with_the_choices(value):
    with pytest.raises(ValueError, match=rf"probe: expected True, False or 'auto', got {value!r}"):
        AdaptiveCallback(probe=value)
