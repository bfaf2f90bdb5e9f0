"""Crash-safe resume, for real: a training run with the default preset is killed with SIGKILL mid-run; its last
checkpoint loads with exactly the adaptive state it was written with, and training goes on from it."""

from __future__ import annotations

import io
import math
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import torch
from stable_baselines3 import PPO

from rl_adaptive import AdaptiveOptimizer
from rl_adaptive.sb3 import AdaptiveCallback, latest_checkpoint

TRAIN = """
import sys
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CallbackList
from rl_adaptive.sb3 import AdaptiveCallback, CheckpointCallback, adaptive_policy_kwargs

model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu",
            policy_kwargs=adaptive_policy_kwargs("ppo"))
checkpoints = CheckpointCallback(save_freq=256, save_path=sys.argv[1])
model.learn(10_000_000, callback=CallbackList([AdaptiveCallback(), checkpoints]))
"""


def _same(a, b) -> bool:
    """Equal, NaN equal to NaN (a signal's statistics start as NaN where nothing was read yet)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _saved_optimizer_state(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return torch.load(io.BytesIO(archive.read("policy.optimizer.pth")), weights_only=True)


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint_with_its_adaptive_state(tmp_path):
    folder = tmp_path / "checkpoints"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(folder)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while len(list(folder.glob("rl_model_*_steps.zip"))) < 4 and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # wherever it is: mid-step, mid-phase, or mid-write of a checkpoint
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = sorted(folder.glob("rl_model_*_steps.zip"))
    assert len(done) >= 4
    for path in done:  # a checkpoint under its final name is whole: each one loads
        PPO.load(path, device="cpu")
    last = latest_checkpoint(folder)
    assert last is not None and last in done
    model = PPO.load(last, env=PPO("MlpPolicy", "CartPole-v1", device="cpu").get_env(), device="cpu")
    optimizer = model.policy.optimizer
    assert isinstance(optimizer, AdaptiveOptimizer)
    saved = _saved_optimizer_state(last)["adaptive"]
    assert saved["step_count"] > 0 and saved["signals"]["kl"]["count"] > 0  # the KL rule had been fed
    assert _same(optimizer.state_dict()["adaptive"], saved)  # factors, statistics, rule state, step count
    steps = optimizer.step_count
    model.learn(256, callback=AdaptiveCallback(), reset_num_timesteps=False)  # and it goes on from there
    assert optimizer.step_count > steps
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())
