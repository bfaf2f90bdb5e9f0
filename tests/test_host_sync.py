"""Tensor signals are not read to the host every step: they wait on their device and are read in batches.

On a GPU each read (``.item()``, ``float()``, ``.tolist()``, ``.cpu()``, ``.numpy()``) is a host sync. Counted on CPU
here, as the reads the wrapper adds to the bare optimizer's in the seed's own loop.
"""

from __future__ import annotations

import copy

import pytest
import torch

from rl_adaptive import AdaptiveOptimizer
from rl_adaptive.optimizer import UNREAD_SYNC_EVERY

READS = ("item", "__float__", "tolist", "cpu", "numpy")
EVERY_RULE = {
    "lr_rule": "trend+variance",
    "betas_rule": ("relative", "variance"),
    "wd_rule": "trend",
    "reward_rule": "trend",
}


@pytest.fixture
def reads(monkeypatch):
    """Count every host read of any tensor while the test runs."""
    counter = {"n": 0}
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            counter["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counter


def _loop(opt, model, steps: int = 100, tensor_reward: bool = True) -> None:
    """The seed's loop: step_loss(loss), step_reward(r), step(), every iteration, with 0-dim tensor signals."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 4, generator=gen), torch.randn(64, 1, generator=gen)
    for step in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        if isinstance(opt, AdaptiveOptimizer):
            opt.step_loss(loss)
            opt.step_reward(-loss.detach() if tensor_reward else float(step))
        opt.step()


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def _added_reads(reads, make_wrapper) -> int:
    """Host reads in 100 iterations of the wrapped loop, minus the bare optimizer's own (torch's Adam reads its
    step counts on CPU)."""
    bare_model, wrapped_model = _model(), _model()
    bare = torch.optim.AdamW(bare_model.parameters(), lr=1e-3)
    wrapped = make_wrapper(wrapped_model)
    start = reads["n"]
    _loop(bare, bare_model)
    bare_reads = reads["n"] - start
    start = reads["n"]
    _loop(wrapped, wrapped_model)
    return reads["n"] - start - bare_reads


def test_default_preset_reads_no_tensor_signal_in_the_step_loop(reads):
    added = _added_reads(reads, lambda m: AdaptiveOptimizer(torch.optim.AdamW(m.parameters(), lr=1e-3)))
    assert added == 0


def test_every_rule_on_reads_once_per_signal_sync_every_values_per_channel(reads):
    added = _added_reads(reads, lambda m: AdaptiveOptimizer(torch.optim.AdamW(m.parameters(), lr=1e-3), **EVERY_RULE))
    assert added == 2 * (100 // 8)  # loss and reward, one transfer per 8 values each (the default)
    added = _added_reads(
        reads,
        lambda m: AdaptiveOptimizer(torch.optim.AdamW(m.parameters(), lr=1e-3), signal_sync_every=25, **EVERY_RULE),
    )
    assert added == 2 * (100 // 25)


def test_batched_tensor_signals_are_the_float_signals_delayed_and_identical_with_sync_every_1():
    floats_model, tensors_model = _model(), _model()
    floats = AdaptiveOptimizer(torch.optim.AdamW(floats_model.parameters(), lr=1e-2), **EVERY_RULE)
    tensors = AdaptiveOptimizer(
        torch.optim.AdamW(tensors_model.parameters(), lr=1e-2), signal_sync_every=1, **EVERY_RULE
    )
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 4, generator=gen), torch.randn(64, 1, generator=gen)
    for _ in range(60):
        for model, opt, as_float in ((floats_model, floats, True), (tensors_model, tensors, False)):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step_loss(loss.item() if as_float else loss)
            opt.step()
    assert floats.factors() == tensors.factors() and floats.factors()["lr"] != 1.0
    for a, b in zip(floats_model.parameters(), tensors_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_values_keep_their_order_across_tensors_and_floats_and_are_read_on_demand():
    opt = AdaptiveOptimizer(torch.optim.SGD(_model().parameters(), lr=0.1), lr_rule="trend")
    assert opt.step_loss(torch.tensor(1.0)) is None and opt.step_loss(torch.tensor(2.0)) is None
    assert opt.signals["loss"].count == 0  # still on the device
    assert opt.step_loss(3.0) is True  # a float: the two tensors first, then it
    assert (opt.signals["loss"].count, opt.signals["loss"].last) == (3, 3.0)
    opt.step_loss(torch.tensor(4.0))
    assert opt.read_signals()["loss"].last == 4.0 and opt.signals["loss"].count == 4
    with pytest.raises(ValueError, match="signal_sync_every: expected a positive integer, got 0"):
        AdaptiveOptimizer(torch.optim.SGD(_model().parameters(), lr=0.1), signal_sync_every=0)


def test_a_channel_no_rule_reads_holds_a_bounded_number_of_tensors():
    opt = AdaptiveOptimizer(torch.optim.SGD(_model().parameters(), lr=0.1))  # default preset: the loss is unread
    for i in range(3 * UNREAD_SYNC_EVERY + 5):
        opt.step_loss(torch.tensor(float(i)))
    assert len(opt._pending["loss"]) == 5
    assert opt.signals["loss"].count == 3 * UNREAD_SYNC_EVERY


def test_pending_tensors_survive_save_and_load_and_saving_changes_nothing():
    models = [_model() for _ in range(3)]
    opts = [AdaptiveOptimizer(torch.optim.AdamW(m.parameters(), lr=1e-2), **EVERY_RULE) for m in models]
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 4, generator=gen), torch.randn(64, 1, generator=gen)

    def train(model, opt, steps):
        for _ in range(steps):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step_loss(loss)
            opt.step()

    for model, opt in zip(models, opts, strict=True):
        train(model, opt, 13)  # 13 = 8 + 5: five values pending
    state = copy.deepcopy(opts[0].state_dict())  # saved mid-batch
    assert state["adaptive"]["pending"]["loss"] and len(opts[0]._pending["loss"]) == 5
    models[2].load_state_dict(models[0].state_dict())
    fresh = AdaptiveOptimizer(torch.optim.AdamW(models[2].parameters(), lr=1e-2), **EVERY_RULE)
    fresh.load_state_dict(state)
    opts[2] = fresh
    for model, opt in zip(models, opts, strict=True):
        train(model, opt, 20)
    for a, b, c in zip(*(m.parameters() for m in models), strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)  # saved, never saved, and resumed: the same run
    assert opts[0].factors() == opts[1].factors() == opts[2].factors()
