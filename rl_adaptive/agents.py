"""The example agents: rl-zoo-style YAML files in ``agents/``, read into Stable-Baselines3 keyword arguments.

One source of truth for the command line, the examples and the benchmark. Each ``agents/<algo>.yml`` maps an
environment id to rl-baselines3-zoo hyperparameters plus one key of ours, ``adaptive``: the keyword arguments of
:class:`~rl_adaptive.AdaptiveOptimizer` for the agent's adaptive variant.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ALGOS", "Agent", "LinearSchedule", "agents_dir", "available_agents", "load_agent", "load_zoo_agent"]

#: Algorithms with example agents.
ALGOS: tuple[str, ...] = ("ppo", "a2c", "dqn")
# rl-zoo keys that are not constructor arguments of the algorithm.
_NOT_MODEL_KWARGS = {
    "n_envs",
    "n_timesteps",
    "policy",
    "policy_kwargs",
    "adaptive",
    "normalize",
    "env_wrapper",
    "frame_stack",
    "noise_type",
    "noise_std",
    "callback",
}
#: rl-zoo's ``noise_type`` values that become an ``action_noise`` (off-policy continuous control).
_NOISE_TYPES = ("normal", "ornstein-uhlenbeck")


class LinearSchedule:
    """rl-zoo's ``lin_<value>``: ``value * progress_remaining`` (from the value down to 0). Picklable."""

    def __init__(self, initial: float) -> None:
        self.initial = float(initial)

    def __call__(self, progress_remaining: float) -> float:
        return self.initial * progress_remaining

    def __repr__(self) -> str:
        return f"lin_{self.initial:g}"


def agents_dir() -> Path:
    """Where the YAML files are: ``$RL_ADAPTIVE_AGENTS``, the repository's ``agents/``, or the installed copy."""
    env = os.environ.get("RL_ADAPTIVE_AGENTS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent / "agents"
    if (repo / "ppo.yml").exists():
        return repo
    return Path(__file__).resolve().parent / "_agents"


def _read(algo: str) -> dict[str, dict[str, Any]]:
    path = agents_dir() / f"{algo}.yml"
    with open(path) as f:
        return yaml.safe_load(f) or {}


def available_agents() -> dict[str, list[str]]:
    """``{algo: [environment ids]}`` for every agent defined."""
    return {algo: list(_read(algo)) for algo in ALGOS}


def _policy_kwargs(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """rl-zoo writes ``policy_kwargs: "dict(net_arch=[256, 256])"``; read it without eval."""
    if text is None:
        return {}
    if isinstance(text, dict):
        return dict(text)
    node = ast.parse(text.strip(), mode="eval").body
    if not (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args
    ):
        raise ValueError(f"policy_kwargs: expected 'dict(key=literal, ...)', got {text!r}")
    return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None}


def _value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        return LinearSchedule(float(value[4:]))
    return value


@dataclass
class Agent:
    """One agent: its algorithm, environment and hyperparameters, ready for Stable-Baselines3."""

    algo: str
    env_id: str
    n_envs: int
    n_timesteps: int
    policy: str
    model_kwargs: dict[str, Any]
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    adaptive: dict[str, Any] = field(default_factory=dict)
    #: rl-zoo's ``(noise_type, noise_std)``, turned into an ``action_noise`` by :meth:`action_noise`.
    noise: tuple[str, float] | None = None

    @property
    def algo_class(self) -> type:
        import stable_baselines3

        return getattr(stable_baselines3, self.algo.upper())

    def action_noise(self, n_actions: int) -> Any:
        """The ``action_noise`` rl-zoo builds from ``noise_type`` and ``noise_std`` (None without them)."""
        if self.noise is None:
            return None
        import numpy as np
        from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

        kind, std = self.noise
        cls = NormalActionNoise if kind == "normal" else OrnsteinUhlenbeckActionNoise
        return cls(mean=np.zeros(n_actions), sigma=std * np.ones(n_actions))


def load_agent(algo: str, env_id: str) -> Agent:
    """Read one agent; a ``ValueError`` names an unknown algorithm or environment and the valid choices."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; choose from {', '.join(ALGOS)}")
    entries = _read(algo)
    if env_id not in entries:
        raise ValueError(f"unknown environment {env_id!r} for {algo}; choose from {', '.join(entries)}")
    return _agent(algo, env_id, dict(entries[env_id]))


#: Algorithms :func:`load_zoo_agent` reads from rl-zoo (SB3's own algorithms).
ZOO_ALGOS: tuple[str, ...] = ("ppo", "a2c", "dqn", "sac", "td3", "ddpg")


def load_zoo_agent(algo: str, env_id: str, adaptive: dict[str, Any] | None = None) -> Agent:
    """An agent with rl-baselines3-zoo's own hyperparameters, read from the installed ``rl_zoo3`` package's
    ``hyperparams/<algo>.yml`` (nothing copied that could drift); ``adaptive`` defaults to the default preset.
    Needs ``pip install rl_zoo3``; a ``ValueError`` names an unknown algorithm or environment and the choices."""
    if algo not in ZOO_ALGOS:
        raise ValueError(f"algo: unknown algorithm {algo!r}; choose from {', '.join(ZOO_ALGOS)}")
    try:
        import rl_zoo3
    except ImportError:
        raise ImportError("load_zoo_agent needs rl-zoo3: pip install rl_zoo3") from None
    path = Path(rl_zoo3.__file__).resolve().parent / "hyperparams" / f"{algo}.yml"
    with open(path) as f:
        entries = yaml.safe_load(f) or {}
    if env_id not in entries:
        raise ValueError(f"env_id: rl-zoo has no {algo} entry {env_id!r}; choose from {', '.join(entries)}")
    raw = dict(entries[env_id])
    raw["adaptive"] = dict(adaptive) if adaptive is not None else {"preset": "default"}
    return _agent(algo, env_id, raw)


def _agent(algo: str, env_id: str, raw: dict[str, Any]) -> Agent:
    noise = None
    if raw.get("noise_type") is not None:
        if raw["noise_type"] not in _NOISE_TYPES:
            raise ValueError(f"noise_type: unknown {raw['noise_type']!r}; choose from {', '.join(_NOISE_TYPES)}")
        noise = (str(raw["noise_type"]), float(raw["noise_std"]))
    adaptive = dict(raw.get("adaptive") or {})
    if isinstance(adaptive.get("betas_rule"), list):
        adaptive["betas_rule"] = tuple(adaptive["betas_rule"])
    return Agent(
        algo=algo,
        env_id=env_id,
        n_envs=int(raw.get("n_envs", 1)),
        n_timesteps=int(float(raw.get("n_timesteps", 100_000))),
        policy=str(raw.get("policy", "MlpPolicy")),
        model_kwargs={k: _value(v) for k, v in raw.items() if k not in _NOT_MODEL_KWARGS},
        policy_kwargs=_policy_kwargs(raw.get("policy_kwargs")),
        adaptive=adaptive,
        noise=noise,
    )
