"""The default preset on real SB3 algorithms: which rule acts on each, and that it is, bit for bit, the rule the
benchmark measured there (BENCHMARKS.md reports the default's cells on PPO as the KL rule's, on A2C as the
cautious trust-region rule's, on DQN, SAC and TD3 as the bare optimizer's)."""

from __future__ import annotations

import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

from rl_adaptive import TrustRegionRule
from rl_adaptive.sb3 import FALLBACK_ALGOS, KL_ALGOS, AdaptiveCallback, adaptive_policy_kwargs
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


def fallback(optimizer) -> TrustRegionRule:
    (rule,) = [r for r in optimizer.rules if isinstance(r, TrustRegionRule)]
    return rule


def test_the_default_on_a2c_is_the_cautious_trust_region_rule_bit_for_bit():
    assert "A2C" in FALLBACK_ALGOS
    default_cb, cautious_cb = AdaptiveCallback(), AdaptiveCallback()
    default = train(A2C, adaptive_policy_kwargs(A2C), default_cb)
    cautious = train(A2C, adaptive_policy_kwargs(A2C, lr_rule="trust_region_cautious"), cautious_cb)
    rule = fallback(default.policy.optimizer)
    assert not rule.standby and list(default_cb.probes) == ["policy"]
    assert default.policy.optimizer.signals["update"].count > 0
    assert rule.factor != 0.1 and rule.factor == cautious.policy.optimizer.rules[0].factor  # it moved, identically
    assert default.policy.optimizer.factors() == cautious.policy.optimizer.factors()
    assert_same_parameters(default, cautious)


def test_the_default_on_ppo_is_the_kl_rule_bit_for_bit():
    assert "PPO" in KL_ALGOS and "PPO" not in FALLBACK_ALGOS
    default_cb = AdaptiveCallback()
    default = train(PPO, adaptive_policy_kwargs(PPO), default_cb)
    kl = train(PPO, adaptive_policy_kwargs(PPO, lr_rule="kl"), AdaptiveCallback())
    optimizer = default.policy.optimizer
    assert fallback(optimizer).standby and fallback(optimizer).factor == 1.0
    assert default_cb.probes == {} and optimizer.signals["update"].count == 0  # no probe: no cost
    assert optimizer.rule_factors()["lr_rule.kl"] != 1.0  # the KL rule acted
    assert optimizer.factors() == kl.policy.optimizer.factors()
    assert_same_parameters(default, kl)


@pytest.mark.parametrize("algo", [DQN, SAC, TD3], ids=lambda a: a.__name__)
def test_the_default_on_algorithms_no_grid_chose_for_is_the_bare_optimizer_bit_for_bit(algo):
    assert algo.__name__ not in FALLBACK_ALGOS | KL_ALGOS
    callback = AdaptiveCallback()
    default = train(algo, adaptive_policy_kwargs(algo), callback)
    bare = train(algo, None)  # SB3's own optimizer, unwrapped
    assert callback.probes == {}
    for optimizer in callback.optimizers.values():
        assert fallback(optimizer).standby and optimizer.factors() == {"lr": 1.0}
        assert optimizer.signals["loss"].count > 0  # fed, and nothing moved
    assert_same_parameters(default, bare)


def test_fallback_true_activates_the_standby_rule_on_any_probed_algorithm():
    callback = AdaptiveCallback(fallback=True, probe_min_steps=10)
    model = train(DQN, adaptive_policy_kwargs(DQN), callback)
    rule = fallback(model.policy.optimizer)
    assert not rule.standby and list(callback.probes) == ["policy"]
    assert model.policy.optimizer.signals["update"].count > 0 and rule.factor != 0.1


def test_fallback_false_keeps_the_standby_rule_waiting_on_a2c():
    callback = AdaptiveCallback(fallback=False)
    with_cb = train(A2C, adaptive_policy_kwargs(A2C), callback)
    assert callback.probes == {} and fallback(with_cb.policy.optimizer).standby
    assert with_cb.policy.optimizer.factors() == {"lr": 1.0}


@pytest.mark.parametrize("name", ["fallback", "probe"])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_bad_fallback_or_probe_is_named_with_the_choices(name, value):
    with pytest.raises(ValueError, match=rf"{name}: expected True, False or 'auto', got {value!r}"):
        AdaptiveCallback(**{name: value})


def test_an_activated_fallback_stays_active_and_keeps_its_factor_across_save_and_load(tmp_path):
    model = train(A2C, adaptive_policy_kwargs(A2C), AdaptiveCallback())
    factor = fallback(model.policy.optimizer).factor
    assert not 0.1 / 1.2 <= factor <= 0.1 * 1.2  # grown out of the slow start, so a restart would show
    model.save(tmp_path / "a2c.zip")
    loaded = A2C.load(tmp_path / "a2c.zip", env=model.get_env(), device="cpu")
    rule = fallback(loaded.policy.optimizer)
    assert not rule.standby and rule.factor == factor
    callback = AdaptiveCallback()
    loaded.learn(16, callback=callback, reset_num_timesteps=False)  # the callback's setup does not restart it
    assert list(callback.probes) == ["policy"]
    assert factor / 1.2 <= rule.factor <= factor * 1.2  # one more phase from the saved factor: at most one move
