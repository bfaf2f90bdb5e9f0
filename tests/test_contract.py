"""The flags torch users set on their optimizers: foreach, fused, capturable, differentiable, and an lr tensor.

For each: with no rule the wrapper is the bare optimizer bit for bit; with a rule its factor is applied exactly as
the same lr given to the bare optimizer; an lr tensor is scaled into one scratch tensor, not a new one per step.
"""

from __future__ import annotations

import pytest
import torch

from rl_adaptive import AdaptiveOptimizer, Rule


class Half(Rule):
    """A rule whose factor is 0.5 from the first step: the lr the base optimizer sees is exactly half."""

    channel = "step"

    def at_step(self, step: int) -> None:
        self.factor = 0.5


def _problem(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    gen = torch.Generator().manual_seed(seed)
    return model, torch.randn(32, 6, generator=gen), torch.randn(32, 2, generator=gen)


def _train(opt, model, x, y, steps: int = 8) -> None:
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


FLAGS = [
    (torch.optim.Adam, {"foreach": True}),
    (torch.optim.Adam, {"foreach": False}),
    (torch.optim.AdamW, {"fused": True}),
    pytest.param(
        torch.optim.Adam,
        {"capturable": True},
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="capturable needs CUDA tensors"),
    ),
    (torch.optim.SGD, {"momentum": 0.9, "foreach": True}),
    (torch.optim.Adam, {"foreach": False, "tensor_lr": True}),
    (torch.optim.AdamW, {"fused": True, "tensor_lr": True}),
]


def _lr(flags: dict, value: float):
    return torch.tensor(value) if flags.get("tensor_lr") else value


@pytest.mark.parametrize(("cls", "flags"), FLAGS, ids=lambda v: str(v.__name__ if isinstance(v, type) else v))
def test_flags_rules_off_are_bit_identical_and_rules_on_apply_the_factor(cls, flags):
    device = "cuda" if flags.get("capturable") else "cpu"
    kwargs = {k: v for k, v in flags.items() if k != "tensor_lr"}
    for rule, bare_lr in ((None, 1e-2), (Half(warmup=0), 0.5e-2)):
        (m_bare, x, y), (m_wrapped, _, _) = _problem(), _problem()
        m_bare, m_wrapped, x, y = m_bare.to(device), m_wrapped.to(device), x.to(device), y.to(device)
        bare = cls(m_bare.parameters(), lr=_lr(flags, bare_lr), **kwargs)
        wrapped = AdaptiveOptimizer(cls(m_wrapped.parameters(), lr=_lr(flags, 1e-2), **kwargs), lr_rule=rule)
        _train(bare, m_bare, x, y)
        _train(wrapped, m_wrapped, x, y)
        for a, b in zip(m_bare.parameters(), m_wrapped.parameters(), strict=True):
            assert torch.equal(a, b), (cls.__name__, flags, rule)
        # Outside step() the group holds the base value, as given (a tensor stays the same tensor object).
        assert float(wrapped.param_groups[0]["lr"]) == pytest.approx(1e-2)


def test_an_lr_tensor_is_scaled_into_one_scratch_tensor_not_a_new_one_per_step():
    model, x, y = _problem()
    lr = torch.tensor(1e-2)
    base = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    seen = []
    base.register_step_pre_hook(lambda o, args, kwargs: seen.append(o.param_groups[0]["lr"]))
    opt = AdaptiveOptimizer(base, lr_rule=Half(warmup=0))
    _train(opt, model, x, y, steps=5)
    assert len({id(t) for t in seen}) == 1 and seen[0] is not lr  # one scratch tensor, reused
    assert float(seen[0]) == pytest.approx(0.5e-2)
    assert opt.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(1e-2)  # the user's tensor, untouched


def test_differentiable_steps_stay_differentiable_and_match_the_bare_optimizer():
    # differentiable=True: the step is part of the graph (meta-learning); the params are non-leaf tensors.
    for rule, bare_lr in ((None, 1e-2), (Half(warmup=0), 0.5e-2)):
        outs = []
        for wrap in (False, True):
            torch.manual_seed(0)
            source = torch.randn(5, requires_grad=True)
            param = source * 1.0  # non-leaf: the graph runs back to source through every step
            param.retain_grad()
            lr = bare_lr if not wrap else 1e-2
            base = torch.optim.Adam([param], lr=lr, differentiable=True)
            opt = AdaptiveOptimizer(base, lr_rule=rule) if wrap else base
            for _ in range(3):
                param.grad = None
                (param**2).sum().backward(retain_graph=True)
                opt.step()
            (grad,) = torch.autograd.grad(param.sum(), source)
            outs.append((param.detach().clone(), grad))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
