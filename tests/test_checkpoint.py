"""Save, load into a fresh wrapper, continue: bit-identical to an uninterrupted run."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import bitsandbytes as bnb
import pytest
import torch

from rl_adaptive import AdaptiveOptimizer, Rule
from tests.conftest import make_problem

# RULES holds a rule for every knob; each base lacks some of them, which warns by design.
pytestmark = pytest.mark.filterwarnings("ignore:.*has no effect:UserWarning")

RULES = {
    "lr_rule": "trend+variance+cosine_restart",
    "momentum_rule": "inverse",
    "betas_rule": ("relative", "variance"),
    "alpha_rule": "stable",
    "wd_rule": "trend",
    "reward_rule": "scaling+plateau+collapse",
    "target_update": 0.01,
    "cycle_length": 7,
    "cycle_mult": 2,
}
BASES = {
    "AdamW": lambda p: torch.optim.AdamW(p, lr=1e-3),
    "SGD": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, weight_decay=1e-3),
    "RMSprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5),
    "bnb.AdamW8bit": lambda p: bnb.optim.AdamW8bit(p, lr=1e-3),
}


def _run(opt, model, x, y, start, stop):
    for step in range(start, stop):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step_loss(loss)
        opt.step_reward(-loss.item() + 0.01 * step)
        opt.step_kl(0.001 * (step % 5))
        opt.step_update(0.002 * (step % 7))
        if step % 10 == 0:
            opt.new_rollout()  # Adam-Rel, where on
        opt.step()
        opt.zero_grad()


def _roundtrip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # what SB3's PPO.load does


@pytest.mark.parametrize("base", BASES)
def test_resume_is_bit_identical(base):
    rules = dict(RULES, lr_rule="trend+variance+cosine_restart+kl+trust_region", adam_rel="Adam" in base)
    model_a, x, y = make_problem(seed=1)
    opt_a = AdaptiveOptimizer(BASES[base](model_a.parameters()), **rules)
    _run(opt_a, model_a, x, y, 0, 60)

    model_b, _, _ = make_problem(seed=1)
    opt_b = AdaptiveOptimizer(BASES[base](model_b.parameters()), **rules)
    _run(opt_b, model_b, x, y, 0, 25)
    model_state, opt_state = _roundtrip((model_b.state_dict(), opt_b.state_dict()))

    model_c, _, _ = make_problem(seed=99)
    model_c.load_state_dict(model_state)
    opt_c = AdaptiveOptimizer(BASES[base](model_c.parameters()), **rules)
    opt_c.load_state_dict(opt_state)
    assert opt_c.hyperparameters() == opt_b.hyperparameters()
    _run(opt_c, model_c, x, y, 25, 60)

    for a, c in zip(model_a.parameters(), model_c.parameters(), strict=True):
        assert torch.equal(a, c)
    assert opt_c.hyperparameters() == opt_a.hyperparameters()
    assert opt_c.state_dict()["adaptive"] == opt_a.state_dict()["adaptive"]


def test_state_is_constant_size():
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters()), **RULES)
    _run(opt, model, x, y, 0, 10)
    small = len(repr(opt.state_dict()["adaptive"]))
    _run(opt, model, x, y, 10, 1000)
    assert abs(len(repr(opt.state_dict()["adaptive"])) - small) < 200  # digits vary; nothing accumulates


def test_strict_loading():
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters()), lr_rule="trend")
    _run(opt, model, x, y, 0, 10)
    saved = opt.state_dict()

    other = AdaptiveOptimizer(torch.optim.AdamW(model.parameters()), lr_rule="trend+variance")
    with pytest.raises(ValueError, match=r"saved rules .* do not match"):
        other.load_state_dict(saved)
    with pytest.warns(UserWarning, match="unmatched ones start fresh"):
        other.load_state_dict(saved, strict=False)
    assert other.rule_factors()["lr_rule.trend"] == opt.rule_factors()["lr_rule.trend"]
    assert other.rule_factors()["lr_rule.variance"] == 1.0

    bare = torch.optim.AdamW(model.parameters()).state_dict()
    with pytest.warns(UserWarning, match="controller starts fresh"):  # a bare state dict is unambiguous: it loads
        opt.load_state_dict(bare)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once
        opt.load_state_dict(bare, strict=False)
    # the wrapper's state dict also loads into a bare optimizer of the same class (extra key ignored)
    torch.optim.AdamW(model.parameters()).load_state_dict(saved)


def test_param_groups_follow_the_base_after_loading():
    # torch's load_state_dict replaces the base's param_groups list: the wrapper must see the new one
    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), lr_rule="trend")
    state = opt.state_dict()
    state["param_groups"][0]["lr"] = 0.05
    opt.load_state_dict(state)
    assert opt.param_groups is opt.optimizer.param_groups
    assert opt.param_groups[0]["lr"] == 0.05 and opt.lr == 0.05


def _scheduled():
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.Adam(model.parameters(), lr=1e-2), lr_rule="trend")
    scheduler = torch.optim.lr_scheduler.StepLR(opt, 10)
    _run(opt, model, x, y, 0, 3)
    scheduler.step()
    return model, opt


def test_pickles_and_copies_with_a_scheduler_attached_like_a_bare_optimizer():
    model, opt = _scheduled()
    clone = pickle.loads(pickle.dumps(opt))  # failed: the scheduler's wrapper of step is not picklable
    assert clone.hyperparameters() == opt.hyperparameters()
    assert clone.state_dict()["adaptive"] == opt.state_dict()["adaptive"]
    copied = copy.deepcopy(opt)
    original = [p.detach().clone() for p in model.parameters()]
    for p in copied.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    copied.step()  # the copy's step moves the copy's parameters, never the original model's
    assert all(torch.equal(a, b) for a, b in zip(original, model.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(original, copied.param_groups[0]["params"], strict=True))


def test_state_dict_hooks_registered_on_the_wrapper_run():
    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters()), lr_rule="trend")
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "note": "post"})
    opt.register_load_state_dict_pre_hook(
        lambda o, sd: calls.append("load_pre") or {k: v for k, v in sd.items() if k != "note"}
    )
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load_post"))
    saved = opt.state_dict()
    assert saved["note"] == "post" and "adaptive" in saved
    opt.load_state_dict(saved)
    assert calls == ["pre", "load_pre", "load_post"]


def test_a_base_step_that_raises_does_not_advance_the_step_count():
    param = torch.nn.Parameter(torch.ones(1))
    opt = AdaptiveOptimizer(torch.optim.SGD([param], lr=1.0), lr_rule="cosine", cycle_length=10)
    param.grad = torch.ones(1)
    opt.step()
    lr = opt.lr

    def closure():
        raise RuntimeError("loss exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        opt.step(closure)
    assert opt.step_count == 1 and opt.lr == lr  # the cosine schedule did not move either
    assert opt.param_groups[0]["lr"] == 1.0  # the base value is back


def test_sb3_loads_a_fixed_models_optimizer_into_an_adaptive_policy(tmp_path):
    from stable_baselines3 import PPO

    from rl_adaptive.sb3 import adaptive_policy_kwargs

    fixed = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1, device="cpu", seed=0)
    fixed.learn(64)
    fixed.save(tmp_path / "fixed.zip")
    adaptive = PPO(
        "MlpPolicy",
        "CartPole-v1",
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        device="cpu",
        seed=0,
        policy_kwargs=adaptive_policy_kwargs("ppo", lr_rule="kl"),
    )
    with pytest.warns(UserWarning, match="bare optimizer"):
        adaptive.set_parameters(str(tmp_path / "fixed.zip"))  # SB3 calls load_state_dict(sd), no strict
    assert (
        adaptive.policy.optimizer.optimizer.state_dict()["state"].keys()
        == fixed.policy.optimizer.state_dict()["state"].keys()
    )


class _CountingRule(Rule):
    """A user's rule with counters of its own and no state_dict code: halve the lr every 3rd loss above 1."""

    channel = "loss"

    def __init__(self) -> None:
        super().__init__(bounds=(0.01, 1.0), warmup=0)
        self._seen = 0
        self._high = 0.0
        self.spikes = 0  # public and listed in state_fields
        self.threshold = 1.0  # a setting: public, not state

    state_fields = ("spikes",)

    def update(self, stats):
        self._seen += 1
        if stats.last > self.threshold:
            self.spikes += 1
            self._high = max(self._high, stats.last)
            if self.spikes % 3 == 0:
                self.factor *= 0.5


def test_a_user_rules_own_state_round_trips_with_no_code_of_its_own():
    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), lr_rule=_CountingRule())
    for value in [2.0, 0.5, 3.0, 0.1, 4.0, 2.5]:
        opt.step_loss(value)
    saved = _roundtrip(opt.state_dict())
    assert saved["adaptive"]["rules"][0]["state"] == {"factor": 0.5, "spikes": 4, "seen": 6, "high": 4.0}
    fresh = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), lr_rule=_CountingRule())
    fresh.load_state_dict(saved)
    rule = fresh.rules[0]
    assert (rule.factor, rule.spikes, rule._seen, rule._high) == (0.5, 4, 6, 4.0)
    assert type(rule._seen) is int and type(rule._high) is float
    for opt_ in (opt, fresh):  # both go on identically: two more spikes, the 6th halves again
        opt_.step_loss(5.0)
        opt_.step_loss(5.0)
    assert fresh.lr == opt.lr == pytest.approx(0.1 * 0.25)
