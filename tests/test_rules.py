"""Each rule's direction on synthetic signal streams, and the schedules against torch's own schedulers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import rl_adaptive
from rl_adaptive import (
    AdaptiveOptimizer,
    CollapseRule,
    CosineRule,
    KLRule,
    PlateauRule,
    SignalStats,
    TrendRule,
    TrustRegionRule,
    available_rules,
)
from rl_adaptive.knobs import read_knob

rng = np.random.default_rng(0)
FALLING = [2.0 * math.exp(-0.02 * t) + 0.01 * rng.standard_normal() for t in range(200)]
RISING = [0.1 + 0.01 * t + 0.01 * rng.standard_normal() for t in range(200)]
STEADY_NOISY = [1.0 + 0.8 * rng.standard_normal() for _ in range(200)]
STEADY_CALM = [1.0 + 0.001 * rng.standard_normal() for _ in range(200)]


def feed(opt: AdaptiveOptimizer, channel: str, stream) -> None:
    for value in stream:
        getattr(opt, f"step_{channel}")(value)


def sgd(**rules) -> AdaptiveOptimizer:
    model = torch.nn.Linear(4, 2)
    return AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01), **rules)


def adam(**rules) -> AdaptiveOptimizer:
    model = torch.nn.Linear(4, 2)
    return AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01), **rules)


def rmsprop(**rules) -> AdaptiveOptimizer:
    model = torch.nn.Linear(4, 2)
    return AdaptiveOptimizer(torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, momentum=0.5), **rules)


# (factory, rule kwargs, channel, stream, knob, expected direction: +1 up, -1 down)
CASES = [
    (sgd, {"lr_rule": "trend"}, "loss", FALLING, "lr", +1),
    (sgd, {"lr_rule": "trend"}, "loss", RISING, "lr", -1),
    (sgd, {"lr_rule": "variance"}, "loss", STEADY_NOISY, "lr", -1),
    (sgd, {"momentum_rule": "inverse"}, "loss", FALLING, "momentum", +1),
    (sgd, {"momentum_rule": "inverse"}, "loss", RISING, "momentum", -1),
    (sgd, {"momentum_rule": "relative"}, "loss", FALLING, "momentum", +1),
    (sgd, {"momentum_rule": "relative"}, "loss", RISING, "momentum", -1),
    (sgd, {"momentum_rule": "normalized"}, "loss", FALLING, "momentum", +1),
    (sgd, {"momentum_rule": "normalized"}, "loss", RISING, "momentum", -1),
    (adam, {"betas_rule": ("relative", None)}, "loss", FALLING, "beta1", +1),
    (adam, {"betas_rule": ("relative", None)}, "loss", RISING, "beta1", -1),
    (adam, {"betas_rule": (None, "variance")}, "loss", STEADY_NOISY, "beta2", +1),
    (rmsprop, {"alpha_rule": "stable"}, "loss", STEADY_NOISY, "alpha", +1),
    (sgd, {"wd_rule": "trend"}, "loss", FALLING, "wd", -1),
    (sgd, {"wd_rule": "trend"}, "loss", RISING, "wd", +1),
    (sgd, {"reward_rule": "scaling"}, "reward", [-r for r in FALLING], "lr", +1),
    (sgd, {"reward_rule": "scaling"}, "reward", [-r for r in RISING], "lr", -1),
    (sgd, {"reward_rule": "trend"}, "reward", [-r for r in FALLING], "lr", +1),
    (sgd, {"reward_rule": "trend"}, "reward", [-r for r in FALLING], "momentum", +1),
    (sgd, {"reward_rule": "trend"}, "reward", [-r for r in RISING], "lr", -1),
    (sgd, {"reward_rule": "trend_damped"}, "reward", [-r for r in FALLING], "lr", +1),
    (sgd, {"reward_rule": "trend_damped"}, "reward", [-r for r in RISING], "lr", -1),
    (sgd, {"reward_rule": "variance"}, "reward", STEADY_NOISY, "lr", -1),
    (sgd, {"reward_rule": "plateau"}, "reward", STEADY_NOISY, "lr", -1),
    (sgd, {"lr_rule": "trust_region", "target_update": 0.01}, "update", [0.1] * 20, "lr", -1),
    (sgd, {"lr_rule": "trust_region", "target_update": 0.01}, "update", [0.001] * 20, "lr", +1),
]


@pytest.mark.parametrize(("factory", "rules", "channel", "stream", "knob", "direction"), CASES)
def test_rule_direction(factory, rules, channel, stream, knob, direction):
    opt = factory(**rules)
    before = opt.hyperparameters()[knob]
    feed(opt, channel, stream)
    after = opt.hyperparameters()[knob]
    assert (after - before) * direction > 0, f"{rules} on {channel}: {knob} {before} -> {after}"
    # other knobs are untouched
    for other, value in opt.hyperparameters().items():
        if other not in opt.factors():
            assert value == read_knob(opt.param_groups[0], opt._knobs[other])


@pytest.mark.parametrize(
    "rules",
    [
        {"lr_rule": "variance"},
        {"betas_rule": (None, "variance")},
        {"alpha_rule": "stable"},
        {"reward_rule": "variance"},
    ],
)
def test_noise_rules_stay_near_one_on_a_calm_signal(rules):
    opt = rmsprop(**rules) if "alpha_rule" in rules else adam(**rules)
    feed(opt, "reward" if "reward_rule" in rules else "loss", STEADY_CALM)
    assert all(abs(f - 1.0) < 0.01 for f in opt.factors().values())


def test_trend_dead_band_and_cooldown():
    stats = SignalStats()
    rule = TrendRule("loss", deadband=0.5, cooldown=3, warmup=0)
    changes = 0
    for value in FALLING[:60]:
        stats.push(value)
        before = rule.factor
        rule.observe(stats)
        changes += rule.factor != before
    assert 0 < changes <= 60 // 4 + 1  # at most one change per cooldown + 1 values
    steady = TrendRule("loss", deadband=0.5, warmup=0)
    stats = SignalStats()
    for value in [1.0, -1.0] * 50:  # alternating signs: no trend beyond the dead band
        stats.push(value)
        steady.observe(stats)
    assert steady.factor == 1.0


def test_kl_rule_matches_rsl_rl():
    # rsl_rl PPO.update: lr = max(1e-5, lr / 1.5) if kl > 2 * desired_kl; min(1e-2, lr * 1.5) if kl < desired_kl / 2
    opt = sgd(lr_rule="kl", target_kl=0.01)
    lr = 0.1
    for kl in [0.05, 0.05, 0.015, 0.001, 0.03, 0.004, 0.0, 0.01]:
        opt.step_kl(kl)
        if kl > 0.02:
            lr /= 1.5
        elif kl < 0.005:
            lr *= 1.5
        assert opt.lr == pytest.approx(lr, rel=1e-12)
    rule = KLRule(0.01)
    stats = SignalStats()
    for _ in range(100):
        stats.push(1.0)
        rule.observe(stats)
    assert rule.factor == 0.01  # bounded below


def _torch_schedule(scheduler_cls, steps, **kwargs):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = scheduler_cls(opt, **kwargs)
    values = []
    for _ in range(steps):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return values


def _our_schedule(rule, steps):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = AdaptiveOptimizer(torch.optim.SGD([param], lr=1.0), lr_rule=rule, bounds={"lr": (0.01, 10.0)})
    values = []
    for _ in range(steps):
        values.append(opt.lr)  # the lr the next step applies
        param.grad = torch.zeros(1)
        opt.step()
    return values


def test_cosine_matches_torch_cosine_annealing():
    ours = _our_schedule(CosineRule(50, min_factor=0.01), 230)
    ref = _torch_schedule(torch.optim.lr_scheduler.CosineAnnealingLR, 230, T_max=50, eta_min=0.01)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mult", [1, 2, 3])
def test_cosine_restart_matches_torch_warm_restarts(mult):
    ours = _our_schedule(CosineRule(20, mult, restart=True, min_factor=0.01), 400)
    ref = _torch_schedule(torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, 400, T_0=20, T_mult=mult, eta_min=0.01)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_cosine_restart_cycles_grow_by_cycle_mult():
    param = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = AdaptiveOptimizer(torch.optim.SGD([param], lr=1.0), lr_rule="cosine_restart", cycle_length=10, cycle_mult=2)
    applied = []
    for _ in range(80):
        applied.append(opt.lr)
        param.grad = torch.ones(1, dtype=torch.float64)
        before = param.item()
        opt.step()
        assert before - param.item() == pytest.approx(applied[-1], rel=1e-9)  # the step used exactly that lr
    restarts = [t for t in range(1, 80) if applied[t] > applied[t - 1]]
    assert restarts == [10, 30, 70]


def test_damped_reward_trend_moves_less_than_trend():
    plain, damped = sgd(reward_rule="trend"), sgd(reward_rule="trend_damped")
    rising = [-r for r in FALLING]
    feed(plain, "reward", rising)
    feed(damped, "reward", rising)
    assert 1.0 < damped.factors()["lr"] <= 2.0 < plain.factors()["lr"]
    assert damped.rule_factors()["reward_rule.trend_damped"] <= 2.0


def test_trust_region_rule_keeps_the_update_size_near_its_target():
    opt = sgd(lr_rule="trust_region", target_update=0.01)
    for _ in range(20):
        opt.step_update(0.015)  # inside the dead band [0.005, 0.02] (band 2, power 1): unchanged
    assert opt.lr == pytest.approx(0.1)
    opt.step_update(0.1)  # the fast average: 0.8 * 0.015 + 0.2 * 0.1 = 0.032, 3.2x the target; a move is capped
    assert opt.signals["update"].fast == pytest.approx(0.032, rel=0.01)
    assert opt.lr == pytest.approx(0.1 / 1.2)
    for _ in range(100):
        opt.step_update(1.0)
    assert opt.lr == pytest.approx(0.1 * 0.01)  # the rule's lower bound
    for _ in range(100):
        opt.step_update(0.0)  # no movement at all: grow
    assert opt.lr == pytest.approx(0.1 * 10.0)  # the knob's upper bound


def test_trust_region_power_reads_a_kl_as_quadratic_in_the_lr():
    rule = TrustRegionRule(0.01, power=0.5, change=10.0, warmup=0)
    stats = SignalStats(beta_fast=0.5)
    stats.push(0.04)  # KL 4x the target: inside the band (lr ratio sqrt(4) = 2 = band)
    rule.observe(stats)
    assert rule.factor == 1.0
    stats.push(0.115)  # fast average (0.5 * 0.5 * 0.04 + 0.5 * 0.115) / 0.75 = 0.09: 9x, the lr was 3x too large
    rule.observe(stats)
    assert stats.fast == pytest.approx(0.09)
    assert rule.factor == pytest.approx(1.0 / 3.0)


def test_trust_region_without_a_target_waits():
    opt = sgd(lr_rule="trust_region")
    assert opt.target_update is None
    feed(opt, "update", [1.0] * 10)
    assert opt.lr == pytest.approx(0.1)
    opt.target_update = 0.1
    assert opt.rules[0].target == 0.1
    opt.step_update(1.0)
    assert opt.lr < 0.1
    with pytest.raises(ValueError, match="target_update"):
        opt.target_update = -1.0


def test_trust_region_slow_start_grows_to_the_target_and_survives_a_checkpoint():
    opt = sgd(lr_rule=TrustRegionRule(0.01, start=0.1))
    assert opt.lr == pytest.approx(0.1 * 0.1)  # before any update size: a tenth of the lr
    lrs = []
    for _ in range(10):
        opt.step_update(0.001)  # a tenth of the target: grow, by at most `change` (1.2) per update
        lrs.append(opt.lr)
    assert lrs == pytest.approx([0.01 * 1.2**k for k in range(1, 11)])
    for _ in range(30):
        opt.step_update(0.01)  # on target: once the fast average is inside the band, the factor holds
    held = opt.lr
    assert lrs[-1] <= held < 0.1
    for _ in range(20):
        opt.step_update(0.01)
    assert opt.lr == held
    copy = sgd(lr_rule=TrustRegionRule(0.01, start=0.1))
    copy.load_state_dict(opt.state_dict())
    assert copy.lr == pytest.approx(held)  # the grown factor, not the start


def test_trust_region_cautious_grows_only_when_the_slow_average_agrees():
    # A2C-like heavy-tailed sizes: a spike of 5x the target every 10 phases, tiny moves between them (their mean,
    # about half the target, is inside the band [target / 4, 4 target])
    sizes = ([0.05] + [0.0005] * 9) * 6
    plain = sgd(lr_rule=TrustRegionRule(0.01, power=0.5))
    cautious = sgd(lr_rule=TrustRegionRule(0.01, power=0.5, cautious=True))
    for size in sizes:
        plain.step_update(size)
        cautious.step_update(size)
    assert plain.lr > 5 * 0.1  # the fast average forgets each spike within a few phases: the lr creeps up
    assert cautious.lr < 0.1  # the slow average still holds the spikes: it only shrank, after the first
    steady = sgd(lr_rule=TrustRegionRule(0.01, power=0.5, cautious=True))
    for _ in range(10):
        steady.step_update(0.0005)  # consistently small: both averages agree, it grows as the plain rule does
    assert steady.lr == pytest.approx(0.1 * 1.2**10)


def test_plateau_matches_torch_reduce_lr_on_plateau():
    # torch's ReduceLROnPlateau fed the same values the rule reads: the reward channel's fast average
    param = torch.nn.Parameter(torch.zeros(1))
    ref_opt = torch.optim.SGD([param], lr=1.0)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(
        ref_opt, mode="max", factor=0.5, patience=10, threshold=0.01, threshold_mode="rel", cooldown=5, min_lr=0.1
    )
    opt = AdaptiveOptimizer(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), reward_rule="plateau")
    returns = [10 + 5 * t for t in range(30)] + [160 + 3 * math.sin(t) for t in range(150)]
    cuts = 0
    for r in returns:
        opt.step_reward(r)
        ref.step(opt.signals["reward"].fast)
        assert opt.lr == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-12)
        cuts += opt.lr < 1.0
    assert cuts > 0 and opt.lr == pytest.approx(0.1)  # it did cut, down to min_factor


def test_collapse_cuts_then_recovers():
    opt = sgd(reward_rule="collapse")
    feed(opt, "reward", [10.0 * t for t in range(50)])  # rising: nothing to cut
    assert opt.lr == pytest.approx(0.1)
    feed(opt, "reward", [450.0 + 20 * math.sin(t) for t in range(30)])  # noise within 30% of the range: no cut
    assert opt.lr == pytest.approx(0.1)
    lrs = []
    for _ in range(20):  # returns collapse from ~450 to 20
        opt.step_reward(20.0)
        lrs.append(opt.lr)
    assert lrs[0] == pytest.approx(0.1)  # the fast average has not fallen far yet
    assert min(lrs) < 0.1 * 0.5 * 0.6  # a fall by ~90% of the range: a cut, and another after the cooldown
    assert len({round(lr, 12) for lr in lrs}) > 2  # cooldowns between cuts, recovery steps between them
    feed(opt, "reward", [20.0] * 200)  # steady again: the cut wears off slowly, never above the base
    assert opt.lr == pytest.approx(0.1)
    assert max(lrs) <= 0.1 + 1e-12


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (TrustRegionRule, {"target": -0.1}, "target"),
        (TrustRegionRule, {"band": 0.5}, "band"),
        (TrustRegionRule, {"start": 0.001}, "start"),  # below the rule's lower bound, 0.01
        (PlateauRule, {"factor": 1.5}, "factor"),
        (PlateauRule, {"patience": -1}, "patience"),
        (CollapseRule, {"drop": 0.0}, "drop"),
        (CollapseRule, {"recover": 0.9}, "recover"),
    ],
)
def test_new_rules_name_a_bad_argument(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)


def test_noise_rule_is_the_former_name_of_variance_rule():
    from rl_adaptive import NoiseRule, VarianceRule

    old, new = sgd(lr_rule=NoiseRule("loss", warmup=0)), sgd(lr_rule=VarianceRule("loss", warmup=0))
    for value in [1.0, 3.0, 0.5, 2.0, 4.0, 0.2]:
        old.step_loss(value)
        new.step_loss(value)
    assert old.lr == new.lr < 0.1  # the same rule under both names
    again = sgd(lr_rule=NoiseRule("loss", warmup=0))
    again.load_state_dict(old.state_dict())  # a checkpoint made with the old name loads (strict) with it
    assert again.lr == old.lr


def test_a_rule_class_cannot_hide_its_factor_behind_a_class_attribute():
    # The optimizer caches the knobs' factors until some rule's factor changes; a class attribute named factor
    # would hide the property that counts the changes, so it is refused when the class is made.
    with pytest.raises(TypeError, match="'factor' is the rule's state"):

        class Fixed(rl_adaptive.Rule):
            factor = 0.5

            def update(self, stats):
                pass


def test_the_cautious_flag_must_be_a_bool():
    with pytest.raises(TypeError, match=r"cautious: expected True or False, got str 'yes'"):
        TrustRegionRule(cautious="yes")


def test_the_default_preset_outside_sb3_is_the_kl_rule_and_the_cautious_rule_starts_slow():
    opt = sgd()
    (kl,) = opt.rules
    assert isinstance(kl, KLRule)
    named = sgd(lr_rule="trust_region_cautious", target_update=0.01, update_power=0.5).rules[0]
    assert named.cautious and named.start == 0.1 and named.factor == 0.1 and (named.target, named.power) == (0.01, 0.5)
    with pytest.raises(ValueError, match="update_power"):
        sgd(lr_rule="trust_region", update_power=0.0)


def test_the_user_defined_rule_in_the_docs_keeps_its_state_through_a_checkpoint(monkeypatch):
    from rl_adaptive import rules

    text = (Path(__file__).resolve().parent.parent / "docs" / "rules.md").read_text()
    section = text[text.index("## Your own rules") :]
    code = section[section.index("```python") + len("```python") : section.index("```", section.index("```python") + 9)]
    monkeypatch.setitem(rules._REGISTRY, "lr_rule", dict(rules._REGISTRY["lr_rule"]))  # its registration is undone
    scope: dict = {}
    exec(compile(code, "docs/rules.md", "exec"), scope)  # the example, as written
    assert "halve_on_spikes" in available_rules("lr_rule")
    opt, make = scope["opt"], scope["HalveOnSpikes"]
    spike = [1000.0] + [1.0] * 60  # a spike, then long enough for the slow average to forget it
    for loss in [1.0] * 100 + spike + spike:
        opt.step_loss(loss)
    assert opt.rules[0]._spikes == 2 and opt.lr == 0.1  # two spikes: not yet halved
    fresh = AdaptiveOptimizer(torch.optim.SGD(torch.nn.Linear(4, 1).parameters(), lr=0.1), lr_rule=make())
    fresh.load_state_dict(opt.state_dict())
    assert fresh.rules[0]._spikes == 2  # the counter came back with no code of the rule's own
    for o in (opt, fresh):
        o.step_loss(1000.0)
    assert opt.lr == fresh.lr == pytest.approx(0.05)  # the third spike halves both
