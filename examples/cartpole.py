"""PPO on CartPole-v1: the fixed optimizer against the adaptive one, side by side.

The integration is two lines: `policy_kwargs=adaptive_policy_kwargs(...)` and `callback=AdaptiveCallback()`.
The hyperparameters are the agent's in agents/ppo.yml (rl-baselines3-zoo's tuned values). Both runs train in
parallel processes; the script prints each final evaluation, says whether the task is solved (mean return of 10
deterministic episodes >= 475), and saves a plot of the return curves and the learning rates.

    python examples/cartpole.py                      # 100k steps each, about a minute on two cores
    python examples/cartpole.py --timesteps 20000 --out runs/cartpole
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from rl_adaptive.agents import load_agent
from rl_adaptive.sb3 import AdaptiveCallback, adaptive_policy_kwargs

ENV_ID, SOLVED, TIMESTEPS = "CartPole-v1", 475.0, 100_000


class Trace(BaseCallback):
    """Record (timesteps, mean return of the last 100 episodes, effective lr) after every rollout."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        returns = [ep["r"] for ep in self.model.ep_info_buffer]
        optimizer = self.model.policy.optimizer
        lr = optimizer.lr if hasattr(optimizer, "lr") else optimizer.param_groups[0]["lr"]
        self.rows.append((self.num_timesteps, np.mean(returns) if returns else np.nan, lr))


def train(env_id: str, adaptive: bool, timesteps: int, seed: int) -> dict:
    torch.set_num_threads(1)
    agent = load_agent("ppo", env_id)  # rl-zoo's tuned PPO settings, and the agent's adaptive preset
    env = make_vec_env(env_id, n_envs=agent.n_envs, seed=seed)
    policy_kwargs = adaptive_policy_kwargs("ppo", **agent.adaptive) if adaptive else None  # line 1 of 2
    model = PPO(agent.policy, env, seed=seed, device="cpu", policy_kwargs=policy_kwargs, **agent.model_kwargs)
    trace = Trace()
    callbacks = [AdaptiveCallback(), trace] if adaptive else [trace]  # line 2 of 2
    model.learn(timesteps, callback=callbacks)
    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 10_000)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True, return_episode_rewards=True)
    return {"adaptive": adaptive, "trace": trace.rows, "final": float(np.mean(returns))}


def plot(runs: list[dict], env_id: str, solved: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for run in runs:
        name = "AdaptiveOptimizer(Adam)" if run["adaptive"] else "Adam (fixed)"
        t, ret, lr = np.array(run["trace"], dtype=float).T
        top.plot(t, ret, label=f"{name}: final eval {run['final']:.0f}")
        bottom.plot(t, lr, label=name)
    top.axhline(solved, color="gray", ls="--", lw=1, label=f"solved ({solved:g})")
    top.set_ylabel("return (mean of last 100 episodes)")
    top.set_title(f"PPO {env_id}")
    top.legend(loc="lower right")
    bottom.set_ylabel("effective learning rate")
    bottom.set_yscale("log")
    bottom.set_xlabel("timesteps")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(env_id: str = ENV_ID, solved: float = SOLVED, timesteps: int = TIMESTEPS) -> None:
    name = env_id.split("-")[0].lower()
    parser = argparse.ArgumentParser(description=f"PPO on {env_id}: fixed vs adaptive optimizer")
    parser.add_argument("--timesteps", type=int, default=timesteps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(f"runs/{name}"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(env_id, adaptive, args.timesteps, args.seed) for adaptive in (False, True)]
    with mp.get_context("spawn").Pool(2) as pool:
        runs = pool.starmap(train, jobs)
    plot(runs, env_id, solved, args.out / f"{name}.png")
    for run in runs:
        label = "adaptive" if run["adaptive"] else "fixed   "
        verdict = "solved" if run["final"] >= solved else f"NOT solved (below {solved:g})"
        print(f"{label}: mean return over 10 deterministic episodes {run['final']:.1f}: {verdict}")
    print(f"plot: {args.out / f'{name}.png'}")


if __name__ == "__main__":
    main()
