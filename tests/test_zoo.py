"""rl-zoo3 with zero code: the agents are rl-zoo3 config files, run by the real ``python -m rl_zoo3.train``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("rl_zoo3")

from stable_baselines3 import PPO

from rl_adaptive import AdaptiveOptimizer
from rl_adaptive.app.agents import ALGOS, LinearSchedule, available_agents, load_agent
from rl_adaptive.sb3 import AdaptiveCallback, zoo

ROOT = Path(__file__).resolve().parent.parent


def _zoo_file(algo: str) -> dict:
    import rl_zoo3

    with open(Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml") as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("algo", ALGOS)
def test_agents_are_rl_zoos_own_hyperparameters_plus_the_adaptive_optimizer(algo):
    expected = _zoo_file(algo)
    for env in available_agents()[algo]:
        agent, entry = load_agent(algo, env), expected[env]
        assert agent.n_timesteps == int(float(entry["n_timesteps"]))
        assert agent.n_envs == entry.get("n_envs", 1)
        for key, value in entry.items():
            if key in ("n_timesteps", "n_envs", "policy", "policy_kwargs"):
                continue
            got = agent.model_kwargs[key]
            assert (repr(got) if isinstance(got, LinearSchedule) else got) == value, (algo, env, key)
        assert set(agent.model_kwargs) == set(entry) - {"n_timesteps", "n_envs", "policy", "policy_kwargs"}
        assert agent.policy_kwargs == (eval(entry["policy_kwargs"]) if "policy_kwargs" in entry else {})
        assert agent.adaptive == {"preset": "default"}


def test_dqn_cartpole_is_rl_zoos_not_the_old_hand_copy():
    agent = load_agent("dqn", "CartPole-v1")
    kw = agent.model_kwargs
    assert (kw["learning_rate"], kw["batch_size"], kw["target_update_interval"]) == (2.3e-3, 64, 10)
    assert (kw["train_freq"], kw["gradient_steps"], agent.n_timesteps) == (256, 128, 50_000)
    assert agent.policy_kwargs == {"net_arch": [256, 256]}


def test_policy_kwargs_string_round_trips_and_evaluates_as_rl_zoo_does():
    zoo_policy = "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256], vf=[256]))"
    text = zoo.policy_kwargs_source(
        "ppo", zoo_policy, {"lr_rule": "trust_region", "betas_rule": ("relative", "variance")}
    )
    evaluated = eval(text, zoo.zoo_scope())  # what rl-zoo's ExperimentManager does with the string
    assert evaluated["optimizer_class"] is AdaptiveOptimizer
    assert evaluated["optimizer_kwargs"]["base_optimizer"] is torch.optim.Adam
    assert evaluated["optimizer_kwargs"]["lr_rule"] == "trust_region"
    assert evaluated["activation_fn"] is torch.nn.ReLU and evaluated["net_arch"] == {"pi": [256], "vf": [256]}
    policy, adaptive = zoo.split_policy_kwargs(text)
    assert adaptive == {"lr_rule": "trust_region", "betas_rule": ("relative", "variance")}
    assert policy == {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": torch.nn.ReLU,
        "net_arch": {"pi": [256], "vf": [256]},
    }
    assert zoo.split_policy_kwargs("dict(net_arch=[8])") == ({"net_arch": [8]}, None)
    with pytest.raises(ValueError, match=r"adaptive: .*not a Python literal"):
        zoo.policy_kwargs_source("ppo", None, {"lr_rule": object()})
    with pytest.raises(ValueError, match="envs: rl-zoo has no ppo entry 'Nope-v0'; choose from"):
        zoo.hyperparams("ppo", ["Nope-v0"])


def test_callback_wraps_a_bare_model_and_leaves_an_adaptive_one_alone(capsys):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, n_epochs=1, seed=0)
    bare = model.policy.optimizer
    model.learn(64, callback=AdaptiveCallback(wrap={"lr_rule": "trust_region"}, verbose=1))
    wrapped = model.policy.optimizer
    assert isinstance(wrapped, AdaptiveOptimizer) and wrapped.optimizer is bare and wrapped.step_count == 2
    assert "wrapped PPO's policy optimizer (Adam)" in capsys.readouterr().out
    model.learn(64, callback=AdaptiveCallback(wrap={"preset": "none"}), reset_num_timesteps=False)
    assert model.policy.optimizer is wrapped and wrapped.step_count == 4  # already adaptive: kept as it is
    with pytest.raises(TypeError, match="wrap: expected AdaptiveOptimizer keywords"):
        AdaptiveCallback(wrap="kl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing to feed"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32).learn(32, callback=AdaptiveCallback())


def _zoo_train(tmp_path: Path, *args: str) -> str:
    command = [
        sys.executable,
        "-m",
        "rl_zoo3.train",
        "--algo",
        "ppo",
        "--env",
        "CartPole-v1",
        "--conf-file",
        str(ROOT / "agents" / "ppo.py"),
        "--log-folder",
        str(tmp_path / "logs"),
        "--eval-freq",
        "-1",
        "--device",
        "cpu",
        "--seed",
        "0",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _scalar_tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_rl_zoo3_train_runs_the_agent_file_and_resumes_with_the_adaptive_optimizer(tmp_path):
    _zoo_train(tmp_path, "-n", "512", "-tb", str(tmp_path / "tb"))
    first = tmp_path / "logs" / "ppo" / "CartPole-v1_1" / "CartPole-v1.zip"
    model = PPO.load(first)
    assert isinstance(model.policy.optimizer, AdaptiveOptimizer)
    assert [r.name for r in model.policy.optimizer.rules] == ["kl"]  # the agent file's "default": PPO's row
    steps = model.policy.optimizer.step_count
    assert steps > 0
    tags = _scalar_tags(tmp_path / "tb")
    assert {"adaptive/lr", "adaptive/signal/reward", "adaptive/signal/loss"} <= tags
    _zoo_train(tmp_path, "-n", "512", "-i", str(first))  # rl-zoo's resume: load, train on, save
    resumed = PPO.load(tmp_path / "logs" / "ppo" / "CartPole-v1_2" / "CartPole-v1.zip").policy.optimizer
    assert isinstance(resumed, AdaptiveOptimizer) and resumed.step_count == 2 * steps  # its state came along


def test_rl_zoo3_optuna_keeps_the_adaptive_optimizer(tmp_path):
    # rl-zoo's PPO sampler replaces policy_kwargs whole; the agent file's callback wraps the optimizer back.
    out = _zoo_train(
        tmp_path,
        "-n",
        "256",
        "-optimize",
        "--n-trials",
        "2",
        "--n-jobs",
        "1",
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--n-evaluations",
        "1",
        "--eval-episodes",
        "1",
    )
    assert out.count("AdaptiveCallback: wrapped PPO's policy optimizer (Adam) in AdaptiveOptimizer") == 2
    assert "Number of finished trials:  2" in out
