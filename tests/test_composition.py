"""Composition with whoever else sets the lr: torch LR schedulers and SB3-style absolute writes; per-group bases."""

from __future__ import annotations

import pytest
import torch

from rl_adaptive import AdaptiveOptimizer
from tests.conftest import make_problem


def _grad(model):
    for p in model.parameters():
        p.grad = torch.ones_like(p)


def _applied_lrs(opt):
    seen = []
    opt.optimizer.register_step_pre_hook(lambda o, a, k: seen.append([g["lr"] for g in o.param_groups]))
    return seen


def test_torch_scheduler_composes_without_compounding():
    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), lr_rule="kl")
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    seen = _applied_lrs(opt)
    for _ in range(4):
        opt.step_kl(1.0)  # far above target: factor / 1.5 each time
    factor = 1.5**-4
    for step in range(9):
        _grad(model)
        opt.step()
        sched.step()
        scheduled = 0.1 * 0.5 ** (step // 3)
        assert seen[-1][0] == pytest.approx(scheduled * factor, rel=1e-12)  # effective = schedule x factor
    # the group keeps the scheduler's value (the base), never the product
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3, rel=1e-12)
    assert sched.get_last_lr()[0] == pytest.approx(0.1 * 0.5**3, rel=1e-12)
    assert opt.lr == pytest.approx(0.1 * 0.5**3 * factor, rel=1e-12)


def test_onecycle_scheduler_with_momentum_cycling_still_works():
    def run(wrap):
        model, _, _ = make_problem(width=8)
        base = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        opt = AdaptiveOptimizer(base, lr_rule="trend") if wrap else base
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
        trace = []
        for _ in range(19):
            _grad(model)
            opt.step()
            sched.step()
            trace.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
        return trace

    assert run(wrap=True) == run(wrap=False)  # the scheduler's lr and momentum cycling are untouched


def test_external_absolute_writes_are_the_base_like_sb3():
    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.Adam(model.parameters(), lr=3e-4), lr_rule="kl")
    seen = _applied_lrs(opt)
    opt.step_kl(0.0)  # below target: factor x 1.5
    for schedule_value in (3e-4, 2e-4, 1e-4):
        for group in opt.param_groups:  # what SB3's _update_learning_rate does before every train()
            group["lr"] = schedule_value
        _grad(model)
        opt.step()
        assert seen[-1][0] == pytest.approx(schedule_value * 1.5, rel=1e-12)
        assert opt.param_groups[0]["lr"] == schedule_value


def test_every_param_group_keeps_its_own_base():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt = AdaptiveOptimizer(
        torch.optim.AdamW(
            [
                {"params": a.parameters(), "lr": 1e-3, "weight_decay": 0.1},
                {"params": b.parameters(), "lr": 1e-2, "weight_decay": 0.0},
            ]
        ),
        lr_rule="kl",
        wd_rule="trend",
        betas_rule=("relative", None),
    )
    seen = []
    opt.optimizer.register_step_pre_hook(lambda o, a_, k: seen.append([dict(g) for g in o.param_groups]))
    opt.step_kl(0.0)
    for i in range(30):
        opt.step_loss(10.0 - i)  # improving: wd factor down, beta1 horizon up
    for p in (*a.parameters(), *b.parameters()):
        p.grad = torch.ones_like(p)
    opt.step()
    g0, g1 = seen[-1]
    factors = opt.factors()
    assert g0["lr"] == pytest.approx(1e-3 * 1.5) and g1["lr"] == pytest.approx(1e-2 * 1.5)
    assert g0["weight_decay"] == pytest.approx(0.1 * factors["wd"]) and g1["weight_decay"] == 0.0
    assert factors["wd"] < 1.0 and factors["beta1"] > 1.0
    assert g0["betas"][0] == g1["betas"][0] == pytest.approx(1 - 0.1 / factors["beta1"])
    assert opt.hyperparameters(group=1)["lr"] == pytest.approx(1e-2 * 1.5)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-2]


def test_zero_momentum_and_zero_weight_decay_stay_zero():
    model, _, _ = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), momentum_rule="relative", wd_rule="trend")
    for i in range(30):
        opt.step_loss(float(i))  # worsening: both rules push up
    assert opt.momentum == 0.0 and opt.wd == 0.0
    assert opt.factors()["momentum"] < 1.0 and opt.factors()["wd"] > 1.0
