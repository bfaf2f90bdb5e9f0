"""Adversarial signal streams never push a hyperparameter out of bounds nor a NaN into the model."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rl_adaptive import DEFAULT_BOUNDS, AdaptiveOptimizer, Rule
from tests.conftest import make_problem

ABSURD = [math.nan, math.inf, -math.inf, 1e30, -1e30, 1e300, 1e-300, 0.0, -0.0]
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from(ABSURD),
)
structured = st.one_of(
    st.builds(lambda v, n: [v] * n, values, st.integers(1, 150)),  # constant
    st.builds(lambda v, n: [v if i % 2 else -v for i in range(n)], values, st.integers(1, 150)),  # alternating
    st.builds(lambda v, n, k: [math.nan] * k + [v] * n, values, st.integers(1, 60), st.integers(1, 40)),  # NaN burst
    st.lists(values, min_size=1, max_size=150),
)
ALL = {
    "lr_rule": "trend+variance+kl+cosine_restart+trust_region",
    "target_update": 0.01,
    "momentum_rule": "inverse",
    "betas_rule": ("relative", "variance"),
    "alpha_rule": "stable",
    "wd_rule": "trend",
    "reward_rule": "scaling+plateau+collapse",
    "cycle_length": 5,
}
BASES = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=1e-4),
    "AdamW": lambda p: torch.optim.AdamW(p, lr=1e-3),
    "RMSprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5),
}


def _check(opt, base_values, previous_factors):
    values = opt.hyperparameters()
    for knob, value in values.items():
        assert math.isfinite(value), (knob, value)
        base = base_values[knob]
        if knob in ("lr", "wd"):
            lo, hi = DEFAULT_BOUNDS[knob]
            assert base * lo * (1 - 1e-12) <= value <= base * hi * (1 + 1e-12), (knob, value)
        else:
            assert 0.0 <= value < 1.0, (knob, value)
    factors = opt.factors()
    for knob, factor in factors.items():
        lo, hi = DEFAULT_BOUNDS[knob]
        assert lo <= factor <= hi
    # each signal update moves each non-schedule rule by at most its max_change
    for binding in opt._bindings:
        rule = binding.rule
        before = previous_factors.get(binding.label, 1.0)
        if math.isfinite(rule.max_change):
            assert rule.factor <= before * rule.max_change * (1 + 1e-12)
            assert rule.factor >= before / rule.max_change * (1 - 1e-12)
    return opt.rule_factors()


@pytest.mark.parametrize("base", BASES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(loss=structured, reward=structured, kl=structured, update=structured)
def test_adversarial_streams_stay_bounded(base, loss, reward, kl, update):
    model, x, _ = make_problem(width=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = AdaptiveOptimizer(BASES[base](model.parameters()), **ALL)
        base_values = {k: float(v) for k, v in opt.hyperparameters().items()}
        previous = opt.rule_factors()
        for i in range(max(len(loss), len(reward), len(kl), len(update))):
            if i < len(loss):
                opt.step_loss(loss[i])
                previous = _check(opt, base_values, previous)
            if i < len(reward):
                opt.step_reward(reward[i])
                previous = _check(opt, base_values, previous)
            if i < len(kl):
                opt.step_kl(kl[i])
                previous = _check(opt, base_values, previous)
            if i < len(update):
                opt.step_update(update[i])
                previous = _check(opt, base_values, previous)
            model(x).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
            previous = opt.rule_factors()  # schedules move in step(); bounded by their range, checked above
            _check(opt, base_values, previous)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    for channel, stream in (("loss", loss), ("reward", reward), ("kl", kl), ("update", update)):
        # an update size is never negative: a negative one is skipped like a non-finite one
        bad = sum(1 for v in stream if not math.isfinite(v) or abs(v) > 1e12 or (channel == "update" and v < 0))
        assert opt.signals[channel].skipped == bad
        assert opt.signals[channel].count == len(stream) - bad


def test_non_finite_signal_is_skipped_counted_and_warned_once():
    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), lr_rule="trend")
    with pytest.warns(RuntimeWarning, match=r"skipped a loss value of nan") as record:
        assert opt.step_loss(float("nan")) is False
        assert opt.step_loss(torch.tensor(float("inf"))) is None  # a tensor waits on its device, unread
        assert opt.step_loss(1e30) is False  # a float is read now, after the tensor before it (skipped too)
    assert len(record) == 1
    assert opt.signals["loss"].skipped == 3 and opt.signals["loss"].count == 0
    assert opt.step_loss(0.5) is True


def test_faulty_custom_rule_cannot_escape_its_bounds():
    class Broken(Rule):
        def update(self, stats):
            self.factor = float("nan") if stats.count % 2 else 1e9

    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), lr_rule=Broken(warmup=0))
    for i in range(20):
        opt.step_loss(float(i))
        assert 0.1 * 0.01 <= opt.lr <= 0.1 * 10.0
        assert math.isfinite(opt.lr)


def test_loss_tensor_graph_is_not_kept():
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), lr_rule="trend")
    loss = torch.nn.functional.mse_loss(model(x), y)
    opt.step_loss(loss)
    assert isinstance(opt.signals["loss"].last, float)
    loss.backward()  # the graph is still intact for the user: step_loss did not consume it
