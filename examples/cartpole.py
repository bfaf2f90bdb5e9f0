"""PPO on CartPole-v1: the fixed optimizer against the adaptive one, at the tuned lr and at an lr 10x too low.

The integration is two lines: `policy_kwargs=adaptive_policy_kwargs(...)` and `callback=AdaptiveCallback()`.
The agent is agents/ppo.py (rl-baselines3-zoo's own tuned settings and the default preset). Four runs train in
parallel; the script prints a 4-row table (final mean return of 10 deterministic episodes, solved at >= 475) and
plots the return curves and effective lrs, one column per lr.

    python examples/cartpole.py                      # 50k steps each, about 2 minutes on two cores
    python examples/cartpole.py --timesteps 20000 --out runs/cartpole
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from rl_adaptive.agents import LinearSchedule, load_agent
from rl_adaptive.sb3 import AdaptiveCallback, adaptive_policy_kwargs

ENV_ID, SOLVED, TIMESTEPS, LR_SCALES = "CartPole-v1", 475.0, 50_000, (1.0, 0.1)


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


def train(env_id: str, adaptive: bool, lr_scale: float, timesteps: int, seed: int) -> dict:
    torch.set_num_threads(1)
    agent = load_agent("ppo", env_id)  # rl-zoo's tuned PPO settings, and the agent's adaptive preset
    kwargs = dict(agent.model_kwargs)
    lr = kwargs.get("learning_rate", 3e-4)
    kwargs["learning_rate"] = LinearSchedule(lr.initial * lr_scale) if isinstance(lr, LinearSchedule) else lr * lr_scale
    env = make_vec_env(env_id, n_envs=agent.n_envs, seed=seed)
    policy_kwargs = adaptive_policy_kwargs("ppo", **agent.adaptive) if adaptive else None  # line 1 of 2
    model = PPO(agent.policy, env, seed=seed, device="cpu", policy_kwargs=policy_kwargs, **kwargs)
    trace = Trace()
    model.learn(timesteps, callback=[AdaptiveCallback(), trace] if adaptive else [trace])  # line 2 of 2
    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 10_000)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True, return_episode_rewards=True)
    lr0 = kwargs["learning_rate"]
    return {"adaptive": adaptive, "lr": getattr(lr0, "initial", lr0), "trace": trace.rows, "final": np.mean(returns)}


def plot(runs: list[dict], env_id: str, solved: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs = sorted({run["lr"] for run in runs}, reverse=True)
    fig, axes = plt.subplots(
        2, len(lrs), figsize=(6 * len(lrs), 6), sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 2]}
    )
    for col, lr in enumerate(lrs):
        top, bottom = axes[0][col], axes[1][col]
        for run in (r for r in runs if r["lr"] == lr):
            name = "AdaptiveOptimizer(Adam)" if run["adaptive"] else "Adam (fixed)"
            t, ret, eff = np.array(run["trace"], dtype=float).T
            top.plot(t, ret, label=f"{name}: final eval {run['final']:.0f}")
            bottom.plot(t, eff, label=name)
        top.axhline(solved, color="gray", ls="--", lw=1, label=f"solved ({solved:g})")
        top.set_title(f"PPO {env_id}, initial lr {lr:g}")
        top.legend(loc="lower right", fontsize=8)
        bottom.set_yscale("log")
        bottom.set_xlabel("timesteps")
    axes[0][0].set_ylabel("return (mean of last 100 episodes)")
    axes[1][0].set_ylabel("effective learning rate")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(env_id: str = ENV_ID, solved: float = SOLVED, timesteps: int = TIMESTEPS) -> None:
    name = env_id.split("-")[0].lower()
    parser = argparse.ArgumentParser(description=f"PPO on {env_id}: fixed vs adaptive, tuned lr and 10x too low")
    parser.add_argument("--timesteps", type=int, default=timesteps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(f"runs/{name}"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(env_id, adaptive, scale, args.timesteps, args.seed) for scale in LR_SCALES for adaptive in (False, True)]
    with mp.get_context("fork" if sys.platform == "linux" else "spawn").Pool(len(jobs)) as pool:  # fork: no re-imports
        runs = pool.starmap(train, jobs)
    plot(runs, env_id, solved, args.out / f"{name}.png")
    print("| initial lr | optimizer | final return (10 deterministic episodes) | solved |")
    print("|---:|---|---:|---|")
    for run in runs:
        label = "adaptive" if run["adaptive"] else "fixed"
        print(f"| {run['lr']:g} | {label} | {run['final']:.1f} | {'yes' if run['final'] >= solved else 'no'} |")
    print(f"plot: {args.out / f'{name}.png'}")


if __name__ == "__main__":
    main()
