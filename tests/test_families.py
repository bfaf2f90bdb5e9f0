"""The table of optimizer families x rules: knobs found where each family keeps them, bit-identity when off."""

from __future__ import annotations

import math
import warnings

import bitsandbytes as bnb
import pytest
import torch

from rl_adaptive import AdaptiveOptimizer
from rl_adaptive.knobs import read_knob
from tests.conftest import make_problem, train

LR_WD = {"lr", "wd"}
ADAM = {"lr", "beta1", "beta2", "wd"}
FAMILIES = {
    "SGD": (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=1e-4), {"lr", "momentum", "wd"}),
    "Adam": (lambda p: torch.optim.Adam(p, lr=1e-3), ADAM),
    "AdamW": (lambda p: torch.optim.AdamW(p, lr=1e-3), ADAM),
    "NAdam": (lambda p: torch.optim.NAdam(p, lr=1e-3), ADAM),
    "RAdam": (lambda p: torch.optim.RAdam(p, lr=1e-3), ADAM),
    "Adamax": (lambda p: torch.optim.Adamax(p, lr=1e-3), ADAM),
    "RMSprop": (lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5), {"lr", "momentum", "alpha", "wd"}),
    "Adagrad": (lambda p: torch.optim.Adagrad(p, lr=1e-2), LR_WD),
    "Adafactor": (lambda p: torch.optim.Adafactor(p, lr=1e-2), LR_WD),
    "bnb.AdamW8bit": (lambda p: bnb.optim.AdamW8bit(p, lr=1e-3), ADAM),
    "bnb.Adam8bit": (lambda p: bnb.optim.Adam8bit(p, lr=1e-3), ADAM),
    "bnb.PagedAdamW8bit": (lambda p: bnb.optim.PagedAdamW8bit(p, lr=1e-3), ADAM),
    "bnb.PagedAdam8bit": (lambda p: bnb.optim.PagedAdam8bit(p, lr=1e-3), ADAM),
    "bnb.PagedAdamW": (lambda p: bnb.optim.PagedAdamW(p, lr=1e-3), ADAM),
    "bnb.SGD8bit": (lambda p: bnb.optim.SGD8bit(p, lr=0.01, momentum=0.9), {"lr", "momentum", "wd"}),
    "bnb.RMSprop8bit": (
        lambda p: bnb.optim.RMSprop8bit(p, lr=1e-3, momentum=0.5),
        {"lr", "momentum", "alpha", "wd"},
    ),
    "bnb.Adagrad8bit": (lambda p: bnb.optim.Adagrad8bit(p, lr=1e-2), LR_WD),
}
# Where each family keeps momentum and alpha, as (key, index).
LOCATIONS = {
    "SGD": {"momentum": ("momentum", None)},
    "RMSprop": {"momentum": ("momentum", None), "alpha": ("alpha", None)},
    "bnb.SGD8bit": {"momentum": ("betas", 0)},
    "bnb.RMSprop8bit": {"alpha": ("betas", 0), "momentum": ("betas", 1)},
}
ALL_RULES = {
    "lr_rule": "trend+variance",
    "momentum_rule": "relative",
    "betas_rule": ("relative", "variance"),
    "alpha_rule": "stable",
    "wd_rule": "trend",
    "reward_rule": "trend",
}
RULE_KNOBS = {
    "lr_rule": {"lr"},
    "momentum_rule": {"momentum"},
    "betas_rule": {"beta1", "beta2"},
    "alpha_rule": {"alpha"},
    "wd_rule": {"wd"},
    "reward_rule": {"lr"},
}
RULE_SETS = [{keyword: spec} for keyword, spec in ALL_RULES.items()] + [ALL_RULES]


@pytest.mark.parametrize("family", FAMILIES)
def test_knobs_found_where_each_family_keeps_them(family):
    build, expected = FAMILIES[family]
    model, _, _ = make_problem()
    opt = AdaptiveOptimizer(build(model.parameters()), lr_rule=None)
    assert set(opt.knobs) == expected
    for knob, (key, index) in LOCATIONS.get(family, {}).items():
        spec = opt._knobs[knob]
        assert (spec.key, spec.index) == (key, index)


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda r: "all" if len(r) > 1 else next(iter(r)))
@pytest.mark.parametrize("family", FAMILIES)
def test_family_x_rules(family, rules):
    build, knobs = FAMILIES[family]
    model, x, y = make_problem()
    base = build(model.parameters())
    keys = [set(group) for group in base.param_groups]
    wanted = set().union(*(RULE_KNOBS[k] for k in rules))
    if "reward_rule" in rules and "momentum" in knobs:
        wanted.add("momentum")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = AdaptiveOptimizer(base, **rules)
    missing = {w for w in caught if "has no effect" in str(w.message)}
    expected_missing = {k for k in rules if not RULE_KNOBS[k] <= knobs}
    assert len(missing) == len(expected_missing)

    # What the base optimizer sees during its step must be what the wrapper says it applies.
    seen: list[dict] = []
    base.register_step_pre_hook(
        lambda o, a, k: seen.append({n: read_knob(o.param_groups[0], s) for n, s in opt._knobs.items()})
    )
    predicted = []
    losses = []
    for step in range(40):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step_loss(loss)
        opt.step_reward(0.1 * step)  # a steadily improving reward
        predicted.append(opt.hyperparameters())
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())

    assert [set(group) for group in base.param_groups] == keys  # no key added, none removed
    for applied, said in zip(seen, predicted, strict=True):
        assert {k: float(v) for k, v in applied.items()} == pytest.approx(said, rel=1e-12)
    moved = {knob for knob in knobs if any(p[knob] != predicted[0][knob] for p in predicted)}
    assert moved <= wanted & knobs  # nothing else moves
    assert "lr" not in wanted or "lr" in moved  # falling loss, rising reward: the lr moves
    for said in predicted:
        assert all(math.isfinite(v) for v in said.values())
        for knob in ("momentum", "beta1", "beta2", "alpha"):
            if knob in said:
                assert 0.0 <= said[knob] < 1.0
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("off", ["all_none", "preset_none"])
def test_every_rule_off_is_bit_identical_to_the_bare_optimizer(family, off):
    build, _ = FAMILIES[family]
    model_a, x, y = make_problem(seed=3)
    model_b, _, _ = make_problem(seed=3)
    bare = build(model_a.parameters())
    kwargs = {"preset": "none"} if off == "preset_none" else dict.fromkeys(ALL_RULES)
    wrapped = AdaptiveOptimizer(build(model_b.parameters()), **kwargs)
    train(bare, model_a, x, y, 25)
    train(wrapped, model_b, x, y, 25)
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(a, b)
    assert wrapped.param_groups == [
        {**g, "params": gw["params"]} for g, gw in zip(bare.param_groups, wrapped.param_groups, strict=True)
    ]
