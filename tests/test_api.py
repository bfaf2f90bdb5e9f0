"""The public API: construction forms, the design document's snippet, torch.optim compatibility, bad input."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import pytest
import torch

from rl_adaptive import PRESETS, AdaptiveOptimizer, Rule, available_rules, register_rule
from tests.conftest import make_problem, train


def test_design_document_snippet_runs_unchanged():
    # The design document's usage example, with only the import line changed and a tiny model and data.
    from torch.optim import AdamW

    model = torch.nn.Linear(8, 1)
    data = [(torch.randn(16, 8), torch.randn(16, 1)) for _ in range(200)]
    dataloader = data
    criterion = torch.nn.MSELoss()
    printed = []

    base_opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    opt = AdaptiveOptimizer(
        base_opt,
        lr_rule="trend+variance",
        betas_rule=("relative", "variance"),
        wd_rule="trend",
        reward_rule="trend",
        cycle_length=500,
        cycle_mult=2,
    )
    for step, (x, y) in enumerate(dataloader, 1):
        loss = criterion(model(x), y)
        loss.backward()
        opt.step_loss(loss)
        reward = 1.0 / (1.0 + loss.item())
        opt.step_reward(reward)
        opt.step()
        opt.zero_grad()
        if step % 100 == 0:
            printed.append(f"[{step}] Loss={loss.item():.4f} | LR={opt.lr:.6e} | WD={opt.wd:.5f}")
    assert len(printed) == 2
    assert opt.signals["loss"].count == 200 and opt.signals["reward"].count == 200
    assert opt.optimizer is base_opt


def test_build_from_class_like_frameworks_do():
    model = torch.nn.Linear(4, 2)
    opt = AdaptiveOptimizer(
        model.parameters(), lr=1e-3, base_optimizer=torch.optim.AdamW, weight_decay=0.01, lr_rule="trend"
    )
    assert isinstance(opt.optimizer, torch.optim.AdamW)
    assert opt.param_groups[0]["weight_decay"] == 0.01
    assert opt.lr == pytest.approx(1e-3)
    assert isinstance(opt, torch.optim.Optimizer)
    # A generator of parameters, as SB3 passes them, and the default base class (Adam, as in SB3).
    opt = AdaptiveOptimizer((p for p in model.parameters()), lr=3e-4, lr_rule=None)
    assert type(opt.optimizer) is torch.optim.Adam
    assert opt.param_groups[0]["eps"] == 1e-8  # the base optimizer's own default, untouched


def test_knob_properties_per_family():
    model = torch.nn.Linear(4, 2)
    sgd = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), lr_rule=None)
    assert (sgd.lr, sgd.momentum, sgd.betas, sgd.alpha, sgd.wd) == (0.1, 0.9, None, None, 0.0)
    adam = AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-3), lr_rule=None)
    assert (adam.momentum, adam.betas, adam.alpha, adam.wd) == (None, (0.9, 0.999), None, 0.01)
    rms = AdaptiveOptimizer(torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9), lr_rule=None)
    assert (rms.alpha, rms.momentum, rms.betas) == (0.9, 0.0, None)
    ada = AdaptiveOptimizer(torch.optim.Adagrad(model.parameters(), lr=1e-2), lr_rule=None)
    assert (ada.momentum, ada.betas, ada.alpha, ada.wd) == (None, None, None, 0.0)


def test_default_preset_applies_only_without_rule_keywords():
    model = torch.nn.Linear(4, 2)
    opt = AdaptiveOptimizer(torch.optim.Adam(model.parameters()))
    assert opt.preset == "default"
    expected = {k: v for k, v in PRESETS["default"].items() if k.endswith("_rule")}
    assert {k: v for k, v in opt._config.items() if v is not None} == expected
    opt = AdaptiveOptimizer(torch.optim.Adam(model.parameters()), lr_rule="trend")
    assert opt.preset is None
    assert {k: v for k, v in opt._config.items() if v is not None} == {"lr_rule": "trend"}
    # explicit keywords override a preset's; None switches one off
    opt = AdaptiveOptimizer(torch.optim.Adam(model.parameters()), preset="design", wd_rule=None)
    assert opt._config["wd_rule"] is None and opt._config["lr_rule"] == "trend+variance"
    assert opt.options.cycle_length == 500


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        ({"lr_rule": "bogus"}, ValueError, ["lr_rule", "'bogus'", "trend", "variance", "cosine_restart", "kl"]),
        ({"lr_rule": "trend+bogus"}, ValueError, ["lr_rule", "'bogus'"]),
        ({"momentum_rule": "fast"}, ValueError, ["momentum_rule", "'fast'", "inverse", "relative", "normalized"]),
        ({"alpha_rule": "x"}, ValueError, ["alpha_rule", "'x'", "stable"]),
        ({"wd_rule": "x"}, ValueError, ["wd_rule", "'x'", "trend"]),
        ({"reward_rule": "x"}, ValueError, ["reward_rule", "'x'", "scaling", "trend", "variance"]),
        ({"betas_rule": ("relative", "bogus")}, ValueError, ["betas_rule", "'bogus'", "relative", "variance"]),
        ({"betas_rule": "relative"}, ValueError, ["betas_rule", "pair", "'relative'"]),
        ({"lr_rule": 3}, TypeError, ["lr_rule", "int", "3"]),
        ({"lr_rule": ["trend"]}, TypeError, ["lr_rule", "list"]),
        ({"preset": "bogus"}, ValueError, ["preset", "'bogus'", "default", "kl"]),
        ({"preset": 1}, TypeError, ["preset", "int"]),
        ({"cycle_length": 0}, ValueError, ["cycle_length", "0"]),
        ({"cycle_length": 2.5}, ValueError, ["cycle_length", "2.5"]),
        ({"cycle_mult": 0.5}, ValueError, ["cycle_mult", "0.5"]),
        ({"target_kl": 0.0}, ValueError, ["target_kl", "0.0"]),
        ({"target_kl": float("nan")}, ValueError, ["target_kl", "nan"]),
        ({"bounds": {"lr": (2.0, 3.0)}}, ValueError, ["bounds['lr']", "(2.0, 3.0)"]),
        ({"bounds": {"lrr": (0.5, 2.0)}}, ValueError, ["bounds", "'lrr'", "lr", "momentum", "wd"]),
        ({"bounds": [1, 2]}, TypeError, ["bounds", "list"]),
        ({"signal_betas": (0.99, 0.9)}, ValueError, ["signal_betas", "(0.99, 0.9)"]),
    ],
)
def test_bad_input_names_argument_value_and_choices(kwargs, error, fragments):
    model = torch.nn.Linear(4, 2)
    with pytest.raises(error) as info:
        AdaptiveOptimizer(torch.optim.AdamW(model.parameters()), **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_bad_construction_forms():
    model = torch.nn.Linear(4, 2)
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="lr, weight_decay: only used when building"):
        AdaptiveOptimizer(base, lr=0.1, weight_decay=0.1)
    with pytest.raises(TypeError, match="base_optimizer: expected an optimizer class"):
        AdaptiveOptimizer(model.parameters(), base_optimizer="adamw")
    with pytest.raises(TypeError, match=r"not a torch\.optim\.Optimizer"):
        AdaptiveOptimizer(model.parameters(), base_optimizer=lambda params, **kw: object())
    with pytest.raises(TypeError, match="already an AdaptiveOptimizer"):
        AdaptiveOptimizer(AdaptiveOptimizer(base, lr_rule=None))
    opt = AdaptiveOptimizer(base, lr_rule=None)
    with pytest.raises(TypeError, match="loss: expected a float"):
        opt.step_loss("0.3")
    with pytest.raises(ValueError, match=r"reward: expected a scalar, got a tensor of shape \(2,\)"):
        opt.step_reward(torch.ones(2))


def test_rule_for_missing_knob_warns_once_and_adds_no_key():
    model = torch.nn.Linear(4, 2)
    base = torch.optim.Adagrad(model.parameters(), lr=0.1)
    keys = set(base.param_groups[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = AdaptiveOptimizer(base, momentum_rule="relative", alpha_rule="stable", lr_rule="trend")
    messages = [str(w.message) for w in caught]
    assert any("momentum_rule='relative' has no effect: Adagrad has no momentum" in m for m in messages)
    assert any("alpha_rule='stable' has no effect" in m for m in messages)
    assert len(messages) == 2
    for i in range(30):
        model(torch.randn(3, 4)).sum().backward()
        opt.step_loss(1.0 / (i + 1))
        opt.step()
        assert set(base.param_groups[0]) == keys


def test_hooks_pickle_deepcopy_and_repr():
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), lr_rule="trend")
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    train(opt, model, x, y, 3)
    assert calls == ["pre", "post"] * 3
    clone = copy.deepcopy(opt)
    assert clone.state_dict()["adaptive"] == opt.state_dict()["adaptive"]
    plain = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), lr_rule="trend")
    train(plain, model, x, y, 12)
    buffer = io.BytesIO()
    pickle.dump(plain, buffer)
    restored = pickle.loads(buffer.getvalue())
    assert restored.lr == plain.lr and restored.state_dict()["adaptive"] == plain.state_dict()["adaptive"]
    text = repr(opt)
    assert "lr_rule='trend'" in text and "SGD" in text


def test_closure_is_passed_to_the_base_optimizer():
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.LBFGS(model.parameters(), lr=0.1), lr_rule="trend")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = opt.step(closure)
    for _ in range(5):
        last = opt.step(closure)
    assert last < first


def test_custom_rule_object_and_registry():
    class Halve(Rule):
        channel = "reward"

        def update(self, stats):
            self.factor *= 0.5

    model = torch.nn.Linear(4, 2)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=1.0), lr_rule=Halve(warmup=0, bounds=(0.1, 1.0)))
    for _ in range(10):
        opt.step_reward(1.0)
    assert opt.lr == pytest.approx(0.1)  # clamped to the rule's own bounds
    register_rule("lr_rule", "test_halve", lambda options: Halve(warmup=0, bounds=(0.1, 1.0)), overwrite=True)
    assert "test_halve" in available_rules("lr_rule")
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=1.0), lr_rule="trend+test_halve")
    opt.step_reward(1.0)
    assert opt.rule_factors() == {"lr_rule.trend": 1.0, "lr_rule.test_halve": 0.5}
    adam = AdaptiveOptimizer(
        torch.optim.Adam(model.parameters()), betas_rule=("relative", "relative"), lr_rule="trend+trend"
    )
    labels = list(adam.rule_factors())  # the same name twice: told apart by the knob, then by a count
    assert labels == ["lr_rule.trend", "lr_rule.trend#2", "betas_rule.relative[beta1]", "betas_rule.relative[beta2]"]
    with pytest.raises(ValueError, match="already registered"):
        register_rule("lr_rule", "test_halve", lambda options: Halve())
    with pytest.raises(ValueError, match="keyword: unknown rule keyword 'speed_rule'"):
        register_rule("speed_rule", "x", lambda options: Halve())


def test_gradscaler_and_param_group_addition():
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-3), lr_rule="trend")
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    loss = torch.nn.functional.mse_loss(model(x), y)
    scaler.scale(loss).backward()
    before = [p.clone() for p in model.parameters()]
    scaler.step(opt)
    scaler.update()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    extra = torch.nn.Parameter(torch.zeros(3))
    opt.add_param_group({"params": [extra], "lr": 0.5})
    assert len(opt.param_groups) == 2 and opt.optimizer.param_groups[1]["lr"] == 0.5


def test_default_preset_without_kl_is_the_bare_optimizer_bit_for_bit():
    # The default (the KL rule) acts only on a measured KL; fed losses and rewards alone, it changes nothing.
    model_a, x, y = make_problem(seed=5, width=8)
    model_b, _, _ = make_problem(seed=5, width=8)
    bare = torch.optim.AdamW(model_a.parameters(), lr=1e-3)
    wrapped = AdaptiveOptimizer(torch.optim.AdamW(model_b.parameters(), lr=1e-3))
    assert wrapped.preset == "default"
    train(bare, model_a, x, y, 30)
    for step in range(30):
        loss = torch.nn.functional.mse_loss(model_b(x), y)
        loss.backward()
        wrapped.step_loss(loss)
        wrapped.step_reward(float(step))  # a steadily improving reward
        wrapped.step()
        wrapped.zero_grad()
    assert wrapped.factors() == {"lr": 1.0}
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(a, b)


def test_step_runs_through_torchs_step_machinery():
    # torch's Optimizer.profile_hook_step: the profiler label, global hooks, and torch's check of a pre-hook's result.
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05), lr_rule="trend")
    seen = []
    handles = [
        register_optimizer_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", type(o).__name__))),
        register_optimizer_step_post_hook(lambda o, args, kwargs: seen.append(("post", type(o).__name__))),
    ]
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            train(opt, model, x, y, 1)
    finally:
        for handle in handles:
            handle.remove()
    # The wrapper's hooks around the base optimizer's, each global hook once per optimizer.
    assert seen == [("pre", "AdaptiveOptimizer"), ("pre", "SGD"), ("post", "SGD"), ("post", "AdaptiveOptimizer")]
    assert any(e.name == "Optimizer.step#AdaptiveOptimizer.step" for e in prof.events())
    swap = opt.register_step_pre_hook(lambda o, args, kwargs: "not a tuple")
    with pytest.raises(RuntimeError, match="must return None or a tuple of"):
        opt.step()
    swap.remove()


def test_torchs_step_machinery_runs_for_each_reason_alone_and_is_skipped_without_one(monkeypatch):
    model, x, y = make_problem(width=8)
    opt = AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05), lr_rule="trend")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        train(opt, model, x, y, 1)  # a profiler and no hook: labelled
    assert any(e.name == "Optimizer.step#AdaptiveOptimizer.step" for e in prof.events())
    seen = []
    handle = opt.register_step_post_hook(lambda o, args, kwargs: seen.append(o))  # a hook and no profiler
    train(opt, model, x, y, 2)
    handle.remove()
    assert seen == [opt, opt]
    # Neither: the wrapper's step skips torch's wrapper (the base optimizer's still runs inside).
    hooked = []
    original = AdaptiveOptimizer._hooked_step
    monkeypatch.setattr(AdaptiveOptimizer, "_hooked_step", lambda self, c=None: hooked.append(1) or original(self, c))
    count = opt.step_count
    train(opt, model, x, y, 3)
    assert hooked == [] and opt.step_count == count + 3
    handle = opt.register_step_pre_hook(lambda o, args, kwargs: None)
    train(opt, model, x, y, 1)
    handle.remove()
    assert hooked == [1]  # the same spy sees the machinery used again once a hook is registered


def test_the_version_is_written_in_one_place():
    import importlib.metadata
    from pathlib import Path

    import rl_adaptive

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parent.parent
    assert importlib.metadata.version("rl-adaptive") == rl_adaptive.__version__
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]  # read from the package
    assert "## " + rl_adaptive.__version__ in (root / "CHANGELOG.md").read_text()


def test_each_optimizer_watches_only_its_own_rules_and_a_copy_watches_its_copies():
    import copy
    import pickle

    import rl_adaptive

    def sgd():
        return rl_adaptive.AdaptiveOptimizer(torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1), lr_rule="kl")

    a, b = sgd(), sgd()
    a._moved_knobs(), b._moved_knobs()
    a.rules[0].factor = 2.0
    assert a._stale and not b._stale  # no class-wide counter: b's cache is still good
    assert a.lr == pytest.approx(0.2) and b.lr == pytest.approx(0.1)
    assert not hasattr(rl_adaptive.Rule, "factor_version")
    for clone in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
        clone._moved_knobs()
        clone.rules[0].factor = 3.0  # the copy's rule tells the copy
        assert clone._stale and clone._moved_knobs() == (("lr", 3.0),)
        assert a._moved_knobs() == (("lr", 2.0),)
