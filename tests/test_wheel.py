"""The package as a user installs it: the sdist and wheel build and pass ``twine check``, and the wheel installed
into a fresh virtual environment with the core dependencies only (torch, numpy) trains with AdaptiveOptimizer,
while the SB3 integration says which extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOOP = """
import torch
from rl_adaptive import AdaptiveOptimizer
model = torch.nn.Linear(4, 1)
opt = AdaptiveOptimizer(model.parameters(), lr=0.1, base_optimizer=torch.optim.SGD, lr_rule="trend")
x, y = torch.randn(64, 4), torch.randn(64, 1)
losses = []
for _ in range(50):
    loss = torch.nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step_loss(loss)
    opt.step()
    losses.append(loss.item())
assert losses[-1] < losses[0], losses
try:
    import rl_adaptive.sb3
except ModuleNotFoundError as error:
    print("sb3:", error)
print("trained", round(losses[0], 3), "->", round(losses[-1], 3))
"""


def _run(args, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, capture_output=True, text=True, timeout=900, env=env, **kwargs)


def test_the_wheel_installs_lean_and_trains(tmp_path):
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(ROOT)])
    assert built.returncode == 0, built.stderr[-3000:]
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    import rl_adaptive

    assert f"-{rl_adaptive.__version__}-" in wheels[0].name  # the one version, from the package
    checked = _run([sys.executable, "-m", "twine", "check", "--strict", str(wheels[0]), str(sdists[0])])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    torch_version = __import__("torch").__version__.split("+")[0]
    installed = _run([python, "-m", "pip", "install", "-q", f"torch=={torch_version}", str(wheels[0])])
    if installed.returncode != 0 and "No matching distribution found for torch" in installed.stderr:
        pytest.skip(f"torch {torch_version} cannot be installed here: {installed.stderr.strip()[-200:]}")
    assert installed.returncode == 0, installed.stderr[-3000:]
    listed = _run([python, "-m", "pip", "list", "--format=freeze"]).stdout.lower()
    for extra in ("stable-baselines3", "gymnasium", "bitsandbytes", "matplotlib", "scipy"):
        assert f"{extra}==" not in listed, f"{extra} came with the core install"
    trained = _run([python, "-c", LOOP], cwd=tmp_path)  # not the checkout: the installed package
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "trained" in trained.stdout
    assert "sb3: rl_adaptive.sb3 needs stable-baselines3" in trained.stdout
    assert "pip install 'rl-adaptive[sb3]'" in trained.stdout
