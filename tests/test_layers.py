"""The layers' import rules: the core (the optimizer, its rules, knobs, signals, presets and the distributed helper)
imports only the standard library, torch, numpy and itself; the SB3 integration and the application build on it.
See docs/architecture.md."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rl_adaptive"
CORE = ("optimizer", "rules", "knobs", "signals", "presets", "distributed")
#: What the core may import beyond the standard library and its own modules.
CORE_ALLOWED = {"torch", "numpy"}
#: Packages of the integration and the application: the core must work with every one of them missing.
NOT_CORE = ("stable_baselines3", "sb3_contrib", "gymnasium", "yaml", "rl_zoo3", "matplotlib", "scipy", "ray")


def _imports(path: Path) -> set[str]:
    """Top-level names of every import in a module, nested ones included; relative imports start with '.'."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or "").split(".")[0])
    return names


def test_the_core_imports_only_the_standard_library_torch_numpy_and_itself():
    for module in CORE:
        outside = {
            name
            for name in _imports(PACKAGE / f"{module}.py")
            if not name.startswith(".") and name not in sys.stdlib_module_names and name not in CORE_ALLOWED
        }
        assert not outside, f"rl_adaptive/{module}.py imports {sorted(outside)}"
        inside = {name.lstrip(".") for name in _imports(PACKAGE / f"{module}.py") if name.startswith(".")}
        assert inside <= set(CORE), f"rl_adaptive/{module}.py imports {sorted(inside - set(CORE))} of the package"


def test_the_core_works_with_the_integration_and_application_packages_blocked():
    # A fresh interpreter where importing any of NOT_CORE fails, as on a machine with only torch and numpy.
    script = f"""
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_CORE!r}:
            raise ImportError(f"blocked: {{name}}")
        return None

sys.meta_path.insert(0, Block())
import torch
import rl_adaptive
from rl_adaptive import AdaptiveOptimizer
model = torch.nn.Linear(4, 2)
opt = AdaptiveOptimizer(torch.optim.AdamW(model.parameters(), lr=1e-3), preset="design")
for i in range(20):
    model(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step_loss(1.0 / (1 + i))
    opt.step_reward(float(i))
    opt.step()
    opt.zero_grad()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {NOT_CORE!r})
assert not loaded, loaded
print("ok", sorted(m for m in sys.modules if m.startswith("rl_adaptive")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    core = {f"rl_adaptive.{m}" for m in CORE}
    listed = set(eval(done.stdout.split("ok", 1)[1]))  # the rl_adaptive modules that import loaded
    assert listed <= core | {"rl_adaptive"}, listed - core


INTEGRATION = ("sb3", "probe", "zoo")


def test_the_integration_imports_the_core_and_itself_never_the_application():
    for module in INTEGRATION:
        inside = {name.lstrip(".") for name in _imports(PACKAGE / f"{module}.py") if name.startswith(".")}
        assert inside <= set(CORE) | set(INTEGRATION), f"rl_adaptive/{module}.py imports {sorted(inside)}"
