"""A pytest plugin that runs Stable-Baselines3's own tests with AdaptiveOptimizer injected into every policy.

Every SB3 policy builds its optimizer as ``optimizer_class(params, lr=..., **optimizer_kwargs)``; this plugin wraps
``BasePolicy.__init__`` so that the class becomes ``AdaptiveOptimizer`` with the original class as its base (and the
default preset). SB3's tests then exercise the wrapper through save/load, custom policies, train/eval modes,
callbacks and determinism. Usage, from a checkout of SB3 at the installed version (scripts/sb3_suite.sh)::

    python -m pytest -p scripts.sb3_inject <sb3>/tests/test_save_load.py ...
"""

from __future__ import annotations

import functools

from stable_baselines3.common.policies import BasePolicy

from rl_adaptive import AdaptiveOptimizer

_original_init = BasePolicy.__init__


@functools.wraps(_original_init)
def _init(self, *args, optimizer_class=None, optimizer_kwargs=None, **kwargs):
    import torch

    base = optimizer_class or torch.optim.Adam
    if base is not AdaptiveOptimizer:
        optimizer_kwargs = {"base_optimizer": base, **(optimizer_kwargs or {})}
        optimizer_class = AdaptiveOptimizer
    _original_init(self, *args, optimizer_class=optimizer_class, optimizer_kwargs=optimizer_kwargs, **kwargs)
    _built["n"] += 1


BasePolicy.__init__ = _init
_built = {"n": 0}


def pytest_terminal_summary(terminalreporter):
    """Say how many policies got the wrapper: a run that injected nothing tested nothing."""
    terminalreporter.write_line(f"sb3_inject: AdaptiveOptimizer built in {_built['n']} policies")
    if _built["n"] == 0:
        terminalreporter.write_line("sb3_inject: nothing was injected", red=True)
