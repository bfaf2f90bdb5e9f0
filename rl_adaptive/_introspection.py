"""What the controller is doing: the effective hyperparameters, the knobs' and rules' factors, the step count (a
mixin of :class:`~rl_adaptive.AdaptiveOptimizer`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .knobs import KnobSpec, adapt, read_knob
from .rules import Rule

if TYPE_CHECKING:
    from ._build import Binding

__all__ = ["Introspection"]


class Introspection:
    """Read-only views of :class:`~rl_adaptive.AdaptiveOptimizer`; the attributes are set by its ``__init__``."""

    _base: torch.optim.Optimizer
    _bindings: list[Binding]
    _knobs: dict[str, KnobSpec]
    _by_knob: dict[str, list[Rule]]
    _step_count: int

    def _knob_factor(self, knob: str) -> float:  # AdaptiveOptimizer's
        raise NotImplementedError

    @property
    def step_count(self) -> int:
        """Number of :meth:`step` calls that completed (a base step that raised is not counted); saved and
        restored with the state dict."""
        return self._step_count

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rule objects, in the order of :meth:`rule_factors`."""
        return tuple(binding.rule for binding in self._bindings)

    @property
    def knobs(self) -> tuple[str, ...]:
        """The knobs this optimizer has (``lr``, ``momentum``, ``beta1``, ``beta2``, ``alpha``, ``wd``)."""
        return tuple(self._knobs)

    def hyperparameters(self, group: int = 0) -> dict[str, float]:
        """Effective values of every knob of param group ``group``, as the next :meth:`step` applies them."""
        values = {}
        pg = self._base.param_groups[group]
        for knob, spec in self._knobs.items():
            base = read_knob(pg, spec)
            values[knob] = float(adapt(knob, base, self._knob_factor(knob)) if knob in self._by_knob else base)
        return values

    def factors(self) -> dict[str, float]:
        """Total factor of each adapted knob (clamped product of its rules), e.g. ``{"lr": 1.3}``."""
        return {knob: self._knob_factor(knob) for knob in self._by_knob}

    def rule_factors(self) -> dict[str, float]:
        """Each rule's own factor, keyed ``"<keyword>.<rule name>"`` (``"lr_rule.trend"``). A label that two rules
        share gets the knob each one drives (``betas_rule=("relative", "relative")``: ``"betas_rule.relative[beta1]"``
        and ``"betas_rule.relative[beta2]"``), then a count if that is still not enough (``"lr_rule.trend#2"``)."""
        labels = [binding.label for binding in self._bindings]
        with_knob = [f"{b.label}[{b.knobs[0]}]" if b.knobs else b.label for b in self._bindings]
        out: dict[str, float] = {}
        for binding, label, knob_label in zip(self._bindings, labels, with_knob, strict=True):
            if labels.count(label) > 1 and with_knob.count(knob_label) == 1:
                label = knob_label
            base, n = label, 1
            while label in out:
                n += 1
                label = f"{base}#{n}"
            out[label] = binding.rule.factor
        return out

    def _effective(self, knob: str) -> float | None:
        return self.hyperparameters().get(knob) if knob in self._knobs else None

    @property
    def lr(self) -> float | None:
        """Effective learning rate of param group 0."""
        return self._effective("lr")

    @property
    def momentum(self) -> float | None:
        """Effective momentum of param group 0, or None if the optimizer has none."""
        return self._effective("momentum")

    @property
    def betas(self) -> tuple[float, float] | None:
        """Effective ``(beta1, beta2)`` of param group 0, or None if the optimizer has none."""
        if "beta1" not in self._knobs:
            return None
        values = self.hyperparameters()
        return values["beta1"], values["beta2"]

    @property
    def alpha(self) -> float | None:
        """Effective RMSprop alpha of param group 0, or None if the optimizer has none."""
        return self._effective("alpha")

    @property
    def wd(self) -> float | None:
        """Effective weight decay of param group 0, or None if the optimizer has none."""
        return self._effective("wd")
