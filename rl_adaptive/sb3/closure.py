"""The TD-closure probe: the fraction of the TD error one gradient step closed, on that step's own batch, with its
targets frozen.

Part of the Stable-Baselines3 integration. A value network trained by temporal differences (DQN's Q-network, the
critics of SAC, TD3 and DDPG) regresses its predictions ``Q`` on targets ``y`` that the algorithm computed for the
batch. One optimizer step changes the predictions on that batch by ``dQ``. With ``delta = y - Q`` the TD error
before the step::

    rho = <dQ, delta> / <delta, delta>

is the share of the batch's TD error the step removed: 0 for no movement, 1 for a step that lands on the targets,
above 1 for an overshoot, below 0 for a step the wrong way. For a small step it is proportional to the lr (``dQ`` is
the Jacobian times the step), and it depends on neither the reward's scale nor the Q-values' size. Over a training
phase the Q-values chase targets that move (DQN syncs a target network, SAC and TD3 average one), and that is what
hid DQN's lr from the phase-level update size (``probe.py``); inside one step the targets are frozen, so ``rho``
follows the lr.

No target is recomputed here: the probe reads what the algorithm's own loss saw. A forward hook on the value
network keeps the inputs and predictions of the last forward pass that builds a graph, and a tensor hook keeps the
loss's gradient with respect to those predictions, ``g``. SB3's TD losses are squared errors averaged over the
``n`` rows of the batch, so ``g = -slope * delta / n``, with the loss's ``slope`` per algorithm in
:data:`rl_adaptive.sb3.TD_LOSSES` (1 for SAC's ``0.5 * mse`` per critic head and for DQN's Huber loss, 2 for TD3's
``mse``; the Huber loss clips ``delta`` to [-1, 1], and the probe then sees the clipped error, the one the loss
closes). The optimizer's step hooks take the capture before the step and run the network once more on the same
inputs after it::

    rho = -slope * <Q_new - Q_old, g> / (n * <g, g>),   clamped at 0

A step the wrong way (``rho < 0``) closed none of the error: it counts as 0, not as a negative update size.

Only every ``every``-th step is measured (one extra forward pass of the value network on its batch each time), and
the value stays a tensor: it reaches the optimizer through ``step_update``, which reads tensor signals in batches,
so the probe adds no host sync per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..optimizer import AdaptiveOptimizer

__all__ = ["ClosureProbe"]


def _as_list(output: Any) -> list[torch.Tensor] | None:
    tensors = list(output) if isinstance(output, (list, tuple)) else [output]
    return tensors if all(isinstance(t, torch.Tensor) for t in tensors) else None


def _columns(tensors: list[torch.Tensor]) -> torch.Tensor:
    """One (rows, columns) matrix of the heads' outputs: a critic's Q per head, a Q-network's per action."""
    return torch.cat([t.flatten(1) if t.dim() > 1 else t[:, None] for t in tensors], dim=1)


class ClosureProbe:
    """Measure ``rho`` (module docstring) every ``every`` steps of ``optimizer``, which trains ``module`` with a
    TD loss of slope ``slope``, and pass each measure (a 0-dim tensor) to ``feed``.

    ``remove()`` takes the hooks off. A step whose batch was not captured (no forward pass with a graph since the
    last step, or no gradient reached the predictions) is not measured.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        optimizer: AdaptiveOptimizer,
        feed: Callable[[torch.Tensor], Any],
        every: int = 10,
        slope: float = 1.0,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected a positive integer, got {every!r}")
        if not (isinstance(slope, (int, float)) and not isinstance(slope, bool) and slope > 0.0):
            raise ValueError(f"slope: expected a positive number, got {slope!r}")
        self.slope = float(slope)
        self.module = module
        self.optimizer = optimizer
        self.feed = feed
        self.every = every
        self.measured = 0
        self._armed = optimizer.step_count % every == 0  # the steps counted 0, every, 2 every, ...
        self._capture: tuple[tuple[Any, ...], list[torch.Tensor], list[torch.Tensor | None]] | None = None
        self._pending: tuple[tuple[Any, ...], torch.Tensor, torch.Tensor] | None = None
        self._handles = [
            module.register_forward_hook(self._on_forward),
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._capture = self._pending = None

    # -- hooks ---------------------------------------------------------------------------------------------------
    def _on_forward(self, module: torch.nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if not self._armed or not torch.is_grad_enabled():
            return
        outputs = _as_list(output)
        if outputs is None or not all(t.requires_grad for t in outputs):
            return
        grads: list[torch.Tensor | None] = [None] * len(outputs)

        def keeper(i: int) -> Callable[[torch.Tensor], None]:
            def keep(grad: torch.Tensor) -> None:
                grads[i] = grad.detach()

            return keep

        for i, tensor in enumerate(outputs):
            tensor.register_hook(keeper(i))
        detached = tuple(x.detach() if isinstance(x, torch.Tensor) else x for x in inputs)
        self._capture = (detached, [t.detach() for t in outputs], grads)

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        capture, self._capture = self._capture, None
        if not self._armed or capture is None:
            return
        inputs, outputs, maybe = capture
        grads = [g for g in maybe if g is not None]
        if len(grads) < len(maybe):
            return  # no gradient reached some prediction: not the TD loss's forward pass
        self._pending = (inputs, _columns(outputs), _columns(grads))

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        pending, self._pending = self._pending, None
        self._armed = self.optimizer.step_count % self.every == 0  # the count has moved past this step
        if pending is None:
            return
        inputs, before, grad = pending
        with torch.no_grad():
            after = _as_list(self.module(*inputs))
            assert after is not None
            new = _columns(after)
            rows = before.shape[0]
            norm = grad.pow(2).sum()
            moved = ((new - before) * grad).sum()
            rho = (-self.slope * moved / (rows * norm).clamp_min(torch.finfo(norm.dtype).tiny)).clamp_min(0.0)
        self.measured += 1
        self.feed(rho)
