"""The example agents: rl-zoo3 config files in ``agents/``, read into Stable-Baselines3 keyword arguments.

One source of truth for the command line, the examples, the benchmark and ``python -m rl_zoo3.train``. Each
``agents/<algo>.py`` is an rl-zoo3 config file (:mod:`rl_adaptive.sb3.zoo`): rl-zoo's own hyperparameters for each
environment, read from the installed ``rl_zoo3`` package, with the AdaptiveOptimizer keywords of the agent's
adaptive variant inside its ``policy_kwargs`` string.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """Where the config files are: ``$RL_ADAPTIVE_AGENTS``, the repository's ``agents/``, or the installed copy."""
    env = os.environ.get("RL_ADAPTIVE_AGENTS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2] / "agents"
    if (repo / "ppo.py").exists():
        return repo
    return Path(__file__).resolve().parents[1] / "_agents"


def _read(algo: str) -> dict[str, dict[str, Any]]:
    """An agent file's ``hyperparams``, read as rl-zoo reads a ``.py`` config file: by executing it."""
    path = agents_dir() / f"{algo}.py"
    scope: dict[str, Any] = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), scope)
    return dict(scope["hyperparams"])


def available_agents() -> dict[str, list[str]]:
    """``{algo: [environment ids]}`` for every agent defined."""
    return {algo: list(_read(algo)) for algo in ALGOS}


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
    from ..sb3.zoo import zoo_entries

    entries = zoo_entries(algo)
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
    from ..sb3.zoo import split_policy_kwargs

    policy_kwargs, in_policy = split_policy_kwargs(raw.get("policy_kwargs"))
    adaptive = dict(in_policy if in_policy is not None else raw.get("adaptive") or {})
    if isinstance(adaptive.get("betas_rule"), list):
        adaptive["betas_rule"] = tuple(adaptive["betas_rule"])
    return Agent(
        algo=algo,
        env_id=env_id,
        n_envs=int(raw.get("n_envs", 1)),
        n_timesteps=int(float(raw.get("n_timesteps", 100_000))),
        policy=str(raw.get("policy", "MlpPolicy")),
        model_kwargs={k: _value(v) for k, v in raw.items() if k not in _NOT_MODEL_KWARGS},
        policy_kwargs=policy_kwargs,
        adaptive=adaptive,
        noise=noise,
    )
