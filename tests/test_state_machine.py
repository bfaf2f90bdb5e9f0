"""A hypothesis state machine over the wrapper's public surface, to find what the example-based tests did not think of.

Steps, signals with adversarial values (NaN, infinities, 1e30, tensors), save and resume into a fresh wrapper,
``add_param_group``, scheduler steps, pickling and deepcopy, in any order. Invariants after every operation: the
group values are the base outside ``step``, every knob's factor is within its bounds, no NaN reaches a parameter,
and a resumed copy, mirrored operation for operation, stays bit-identical to the original.
"""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rl_adaptive import AdaptiveOptimizer

EVERY_RULE = {
    "lr_rule": "trend+variance",
    "betas_rule": ("relative", "variance"),
    "wd_rule": "trend",
    "reward_rule": "trend",
}
pytestmark = pytest.mark.filterwarnings("ignore:AdaptiveOptimizer skipped:RuntimeWarning")  # adversarial values


def same_state(a, b) -> bool:
    """Equal structure and values, a float NaN equal to a NaN: a NaN fed as a tensor waits in ``pending`` (read
    with the channel's next batch, then refused), and ``nan != nan`` would make equal states compare unequal."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e30, -1e30, 1e-30, 5.0, -5.0]),
)


def _build(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01), **EVERY_RULE)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return model, opt, scheduler


class Wrapper(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.runs = [_build()]  # (model, optimizer, scheduler); a second one after a resume, mirrored
        self.extra = 0
        gen = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(16, 3, generator=gen), torch.randn(16, 1, generator=gen)

    def _each(self, fn):
        for run in self.runs:
            fn(*run)

    @rule()
    def step(self):
        def one(model, opt, scheduler):
            opt.zero_grad()
            params = [p for g in opt.param_groups for p in g["params"]]
            loss = torch.nn.functional.mse_loss(model(self.x), self.y) + sum(p.sum() * 0.0 for p in params)
            loss.backward()
            opt.step()

        self._each(one)

    @rule(channel=st.sampled_from(["loss", "reward", "kl", "update"]), value=VALUES, as_tensor=st.booleans())
    def feed(self, channel, value, as_tensor):
        def one(model, opt, scheduler):
            signal = torch.tensor(value) if as_tensor else value
            getattr(opt, f"step_{channel}")(signal)

        self._each(one)

    @rule()
    def scheduler_step(self):
        self._each(lambda model, opt, scheduler: scheduler.step())

    @precondition(lambda self: self.extra < 2)
    @rule()
    def add_param_group(self):
        self.extra += 1

        def one(model, opt, scheduler):
            opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "lr": 1e-3})

        self._each(one)

    @precondition(lambda self: len(self.runs) == 1)
    @rule()
    def save_and_resume(self):
        model, opt, scheduler = self.runs[0]
        twin_model = copy.deepcopy(model)
        params = list(twin_model.parameters())
        extras = [torch.nn.Parameter(p.detach().clone()) for g in opt.param_groups[1:] for p in g["params"]]
        base = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
        twin = AdaptiveOptimizer(base, **EVERY_RULE)
        for param, group in zip(extras, opt.param_groups[1:], strict=True):
            twin.add_param_group({"params": [param], "lr": group["lr"]})
        twin_scheduler = torch.optim.lr_scheduler.StepLR(twin, step_size=3, gamma=0.5)
        twin.load_state_dict(copy.deepcopy(opt.state_dict()))
        twin_scheduler.load_state_dict(scheduler.state_dict())
        self.runs.append((twin_model, twin, twin_scheduler))

    @rule()
    def pickle_and_copy(self):
        _model, opt, _scheduler = self.runs[0]
        for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
            assert same_state(clone.state_dict()["adaptive"], opt.state_dict()["adaptive"])
            assert clone.factors() == opt.factors()

    @invariant()
    def base_values_outside_step_and_knobs_in_bounds(self):
        for _model, opt, scheduler in self.runs:
            assert opt.param_groups[0]["lr"] == scheduler.get_last_lr()[0]  # the scheduler's, never adapted
            for knob, factor in opt.factors().items():
                low, high = opt.bounds[knob]
                assert low <= factor <= high and math.isfinite(factor)
            beta1, beta2 = opt.betas
            assert 0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0 and opt.wd >= 0.0 and opt.lr > 0.0

    @invariant()
    def no_nan_reaches_a_parameter(self):
        for _model, opt, _scheduler in self.runs:
            for group in opt.param_groups:
                for p in group["params"]:
                    assert torch.isfinite(p).all()

    @invariant()
    def a_resumed_copy_stays_bit_identical(self):
        if len(self.runs) == 2:
            (m1, o1, _), (m2, o2, _) = self.runs
            for a, b in zip(m1.parameters(), m2.parameters(), strict=True):
                assert torch.equal(a, b)
            assert o1.factors() == o2.factors()
            assert same_state(o1.state_dict()["adaptive"], o2.state_dict()["adaptive"])


Wrapper.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_wrapper_state_machine = Wrapper.TestCase
