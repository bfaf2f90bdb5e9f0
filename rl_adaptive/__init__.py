"""rl_adaptive: adapt any torch optimizer's hyperparameters from loss and reward signals.

>>> import torch
>>> from rl_adaptive import AdaptiveOptimizer
>>> model = torch.nn.Linear(4, 1)
>>> opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-3), lr_rule="trend")
>>> opt.lr
0.001
"""

from .knobs import KNOBS
from .optimizer import DEFAULT_BOUNDS, AdaptiveOptimizer
from .presets import DEFAULT_PRESET, PRESETS
from .rules import (
    ClosureRule,
    CollapseRule,
    CosineRule,
    InverseRule,
    KLRule,
    NoiseRule,
    NormalizedRule,
    PlateauRule,
    RewardScalingRule,
    Rule,
    RuleOptions,
    TrendRule,
    TrustRegionRule,
    VarianceRule,
    available_rules,
    register_rule,
)
from .signals import SignalStats

__version__ = "0.1.0"


__all__ = [
    "AdaptiveOptimizer",
    "DEFAULT_BOUNDS",
    "DEFAULT_PRESET",
    "KNOBS",
    "PRESETS",
    "Rule",
    "RuleOptions",
    "SignalStats",
    "TrendRule",
    "VarianceRule",
    "NoiseRule",
    "InverseRule",
    "NormalizedRule",
    "RewardScalingRule",
    "KLRule",
    "TrustRegionRule",
    "ClosureRule",
    "PlateauRule",
    "CollapseRule",
    "CosineRule",
    "available_rules",
    "register_rule",
    "__version__",
]
