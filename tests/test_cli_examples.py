"""The rl-adaptive command and the examples, run as subprocesses with tiny budgets (as CleanRL tests its scripts)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "rl_adaptive.app.cli"]
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}


def run(args, cwd, timeout=300):
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def is_png(path: Path) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG" and image.size[0] > 100


def test_train_writes_model_metrics_logs_and_plot(tmp_path):
    out = tmp_path / "run"
    proc = run(
        [
            *CLI,
            "train",
            "CartPole-v1",
            "--algo",
            "ppo",
            "--timesteps",
            "3000",
            "--seed",
            "1",
            "--out",
            str(out),
            "--no-progress",
            "--eval-every",
            "1000",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "final evaluation:" in proc.stdout and str(out) in proc.stdout
    assert (out / "model.zip").stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["variant"] == "adaptive" and metrics["trained_timesteps"] >= 3000
    assert len(metrics["evals"]) >= 2 and len(metrics["final"]["returns"]) == 10
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"timesteps", "return", "lr", "beta1", "beta2", "wd"} <= set(rows[0])
    assert list((out / "tb").rglob("events.out.tfevents.*"))
    assert is_png(out / "plot.png")


def test_train_fixed_and_other_algorithms(tmp_path):
    proc = run(
        [
            *CLI,
            "train",
            "CartPole-v1",
            "--algo",
            "a2c",
            "--timesteps",
            "1500",
            "--out",
            str(tmp_path / "a"),
            "--no-adapt",
            "--no-progress",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["adaptive"] is None
    proc = run(
        [
            *CLI,
            "train",
            "CartPole-v1",
            "--algo",
            "dqn",
            "--timesteps",
            "1500",
            "--out",
            str(tmp_path / "d"),
            "--preset",
            "design",
            "--no-progress",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["adaptive"] == {"preset": "design"}


def test_compare_writes_plot_results_and_table(tmp_path):
    out = tmp_path / "cmp"
    proc = run(
        [*CLI, "compare", "CartPole-v1", "--timesteps", "2000", "--seeds", "2", "--workers", "2", "--out", str(out)],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["stats"]) == {"fixed", "adaptive"}
    assert sorted((r["variant"], r["seed"]) for r in results["runs"]) == [
        ("adaptive", 0),
        ("adaptive", 1),
        ("fixed", 0),
        ("fixed", 1),
    ]
    for stats in results["stats"].values():
        assert stats["ci_low"] <= stats["iqm"] <= stats["ci_high"]
    assert "| fixed | 2 |" in (out / "results.md").read_text()
    assert is_png(out / "compare.png")
    assert (out / "adaptive" / "seed1" / "model.zip").exists()
    progress = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == ["[1/4", "[2/4", "[3/4", "[4/4"]  # one line per run
    assert "s left)" in progress[0] and "final" in progress[-1]


def test_quiet_prints_only_the_outcome_and_no_bar_reaches_a_log(tmp_path):
    out = tmp_path / "q"
    args = ["CartPole-v1", "--timesteps", "256", "--out"]
    compare = run([*CLI, "compare", *args, str(out / "c"), "--seeds", "1", "--workers", "2", "--quiet"], tmp_path)
    assert compare.returncode == 0, compare.stderr
    assert not [line for line in compare.stdout.splitlines() if line.startswith("[")]
    assert "| fixed | 1 |" in compare.stdout
    # Not a terminal (a pipe here, a log file in CI): no progress bar's redraws, with or without --quiet
    for extra in ([], ["--quiet"]):
        train = run([*CLI, "train", *args, str(out / f"t{len(extra)}"), *extra], tmp_path)
        assert train.returncode == 0, train.stderr
        assert train.stdout.count("\n") == 2 and train.stdout.startswith("final evaluation:")
        assert "\r" not in train.stdout + train.stderr and "━" not in train.stdout + train.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["train", "Pong-v5", "--out", "x"],
            "unknown environment 'Pong-v5' for ppo; choose from CartPole-v1, LunarLander-v3",
        ),
        (
            ["train", "CartPole-v1", "--algo", "sac", "--out", "x"],
            "invalid choice: 'sac' (choose from 'ppo', 'a2c', 'dqn')",
        ),
        (
            ["compare", "CartPole-v1", "--preset", "turbo", "--out", "x"],
            "unknown preset 'turbo'; choose from default, none, kl, design",
        ),
        (["train", "CartPole-v1", "--out", "x", "--timesteps", "0"], "--timesteps must be positive, got 0"),
        (["train", "CartPole-v1"], "the following arguments are required: --out"),
        (["fly"], "invalid choice: 'fly'"),
        (["compare", "CartPole-v1", "--out", "x", "--address", "auto"], "--address needs --backend ray"),
        (["compare", "CartPole-v1", "--out", "x", "--backend", "dask"], "invalid choice: 'dask'"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, fragment):
    proc = run([*CLI, *args], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and fragment in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_ctrl_c_stops_cleanly_and_keeps_what_was_written(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*CLI, "train", "CartPole-v1", "--timesteps", "5000000", "--out", str(out), "--no-progress"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A Ctrl-C at a terminal: SIGINT handled as by default. Under a shell's background job or nohup the test
        # process ignores SIGINT, a child would inherit that, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while not list(out.glob("tb/*/events.out.tfevents.*")) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(4)  # some training
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted at" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["interrupted"] is True and 0 < metrics["trained_timesteps"] < 5_000_000
    assert (out / "model.zip").exists() and is_png(out / "plot.png")


def test_console_script_is_installed():
    script = shutil.which("rl-adaptive", path=str(Path(sys.executable).parent))
    assert script is not None
    proc = subprocess.run([script, "list"], capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 0 and "ppo: CartPole-v1, LunarLander-v3" in proc.stdout
    assert "preset default (default)" in proc.stdout


@pytest.mark.parametrize(
    ("script", "args", "png"),
    [
        ("cartpole.py", ["--timesteps", "2000"], "cartpole.png"),
        ("lunarlander.py", ["--timesteps", "1000"], "lunarlander.png"),
        ("compare.py", ["--seeds", "1", "--epochs", "2"], "compare.png"),
    ],
)
def test_examples_run(tmp_path, script, args, png):
    proc = run([sys.executable, str(ROOT / "examples" / script), *args, "--out", str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert is_png(tmp_path / png)
    if script != "compare.py":  # a line as each run finishes, then the table
        progress = [line for line in proc.stdout.splitlines() if line.startswith("[")]
        assert [line[:5] for line in progress] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"], proc.stdout
        assert "s left)" in progress[0]
    if script != "compare.py":  # a 4-row table: fixed and adaptive, at the tuned lr and at a tenth of it
        rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
        lrs, optimizers = [float(row[0]) for row in rows], [row[1].strip() for row in rows]
        assert optimizers == ["fixed", "adaptive"] * 2
        assert lrs[0] == lrs[1] and lrs[2] == lrs[3] == pytest.approx(lrs[0] / 10)
        assert all(solved.strip() in ("yes", "no") for *_, solved in rows)
    else:
        assert "final test accuracy" in proc.stdout


# Runs the command with some packages made unimportable (as if their extra were not installed).
WITHOUT = (
    "import sys; sys.modules.update(dict.fromkeys({mods!r})); from rl_adaptive.app.cli import main; main({args!r})"
)


def test_help_needs_no_optional_package(tmp_path):
    mods = ["yaml", "rl_zoo3", "stable_baselines3", "gymnasium", "matplotlib", "scipy"]
    proc = run([sys.executable, "-c", WITHOUT.format(mods=mods, args=["--help"])], tmp_path, timeout=60)
    assert proc.returncode == 0 and "usage: rl-adaptive" in proc.stdout, proc.stderr


@pytest.mark.parametrize(
    ("missing", "args"),
    [
        ("rl_zoo3", ["list"]),
        ("stable_baselines3", ["train", "CartPole-v1", "--out", "x", "--timesteps", "64"]),
        ("ray", ["compare", "CartPole-v1", "--out", "x", "--timesteps", "64", "--seeds", "1", "--backend", "ray"]),
    ],
)
def test_a_missing_optional_package_is_one_line_naming_the_extra(tmp_path, missing, args):
    proc = run([sys.executable, "-c", WITHOUT.format(mods=[missing], args=args)], tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    extra = "ray" if missing == "ray" else "examples"
    assert proc.stderr == (
        f"rl-adaptive: error: {args[0]} needs {missing}, which is not installed: pip install 'rl-adaptive[{extra}]'\n"
    )


def test_the_one_file_ppo_example_trains_with_the_public_api(tmp_path):
    proc = run([sys.executable, str(ROOT / "examples" / "ppo_minimal.py"), "--timesteps", "2048"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("final: mean return of the last 20 episodes")
    source = (ROOT / "examples" / "ppo_minimal.py").read_text()
    assert "stable_baselines3" not in source and len(source.splitlines()) <= 150
    assert all(f"opt.{call}(" in source for call in ("step_loss", "step_reward", "step_kl", "step"))
