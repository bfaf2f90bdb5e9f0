"""The layers' import rules, read from the folders: the core (the modules at the top of ``rl_adaptive/``: the
optimizer, its rules, knobs, signals, presets and the distributed helper) imports only the standard library, torch,
numpy and itself; the integration (``rl_adaptive/sb3/``) imports the core, SB3 and yaml, never the application; the
application (``rl_adaptive/app/``) imports both. See docs/architecture.md."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rl_adaptive"
#: What the core may import beyond the standard library and its own modules.
CORE_ALLOWED = {"torch", "numpy"}
#: Packages of the integration and the application: the core must work with every one of them missing.
NOT_CORE = ("stable_baselines3", "sb3_contrib", "gymnasium", "yaml", "rl_zoo3", "matplotlib", "scipy", "ray")
#: The subpackage of each layer above the core.
FOLDERS = {"sb3": "integration", "app": "application"}


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    """``core``, ``integration`` or ``application``, from the folder the module lives in."""
    parts = module.split(".")
    return FOLDERS.get(parts[1], "core") if len(parts) > 1 else "core"


def _imports(path: Path, package: Path) -> set[str]:
    """Every module a file imports, nested imports included, relative ones made absolute; ``from pkg import x``
    counts ``pkg.x`` too (x may be a submodule)."""
    here = _module_name(path, package).split(".")
    anchor_of = here if path.name == "__init__.py" else here[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = anchor_of[: len(anchor_of) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return names


def violations(package: Path) -> list[str]:
    """Every import that breaks a layer rule in ``package``, as ``"module imports name"``."""
    own = {_module_name(path, package) for path in package.rglob("*.py")}
    found = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path, package)
        layer = _layer(module)
        for name in sorted(_imports(path, package)):
            top = name.split(".")[0]
            if top != package.name:
                if layer == "core" and top not in (*sys.stdlib_module_names, *CORE_ALLOWED):
                    found.append(f"{module} imports {top}")
                continue
            while name not in own and "." in name:  # rl_adaptive.sb3.AdaptiveCallback -> rl_adaptive.sb3
                name = name.rpartition(".")[0]
            target = _layer(name)
            if (layer == "core" and target != "core") or (layer == "integration" and target == "application"):
                found.append(f"{module} imports {name}")
    return sorted(set(found))


def test_each_layer_has_its_folder():
    modules = {_module_name(path, PACKAGE) for path in PACKAGE.rglob("*.py")}
    layers = {module: _layer(module) for module in modules}
    core = {"optimizer", "rules", "knobs", "signals", "presets", "distributed"}
    assert {f"rl_adaptive.{m}" for m in core} <= {m for m, layer in layers.items() if layer == "core"}
    assert {"rl_adaptive.sb3", "rl_adaptive.sb3.probe", "rl_adaptive.sb3.zoo"} <= {
        m for m, layer in layers.items() if layer == "integration"
    }
    assert {"rl_adaptive.app.training", "rl_adaptive.app.agents", "rl_adaptive.app.cli"} <= {
        m for m, layer in layers.items() if layer == "application"
    }


def test_the_package_keeps_the_layers_import_rules():
    assert violations(PACKAGE) == []


def test_the_rules_catch_every_kind_of_import_across_layers(tmp_path):
    package = tmp_path / "rl_adaptive"
    files = {
        "__init__.py": "from .optimizer import Thing\n",
        "optimizer.py": "import torch, json\nfrom .sb3 import probe\nimport yaml\n",
        "rules.py": "def f():\n    from rl_adaptive.app.report import plot_run\n",
        "sb3/__init__.py": "from ..optimizer import Thing\nfrom . import probe\nimport stable_baselines3\n",
        "sb3/probe.py": "from ..app import training\n",
        "app/__init__.py": "",
        "app/report.py": "",
        "app/training.py": "from ..sb3 import AdaptiveCallback\nfrom .. import optimizer\nimport matplotlib\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert violations(package) == [
        "rl_adaptive.optimizer imports rl_adaptive.sb3",
        "rl_adaptive.optimizer imports rl_adaptive.sb3.probe",
        "rl_adaptive.optimizer imports yaml",
        "rl_adaptive.rules imports rl_adaptive.app.report",
        "rl_adaptive.sb3.probe imports rl_adaptive.app",
        "rl_adaptive.sb3.probe imports rl_adaptive.app.training",
    ]


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
    listed = set(eval(done.stdout.split("ok", 1)[1]))  # the rl_adaptive modules that import loaded
    assert {_layer(module) for module in listed} == {"core"}, listed


def test_the_flat_layouts_module_names_are_gone():
    # 0.1.0 was never published: no finder maps the flat layout's names (rl_adaptive.agents, ...) to the new ones.
    for old in ("rl_adaptive.agents", "rl_adaptive.zoo", "rl_adaptive.training"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)
