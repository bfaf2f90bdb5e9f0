"""PPO on CartPole-v1 in one file, plain torch and Gymnasium, no Stable-Baselines3: AdaptiveOptimizer as the design
document shows it. Each minibatch: backward, ``opt.step_loss(loss)``, ``opt.step()``; each rollout:
``opt.step_reward(mean episode return)``; each epoch: ``opt.step_kl(approx_kl)``, which the default preset's KL rule
reads to keep the policy's change per epoch near ``target_kl`` (rsl_rl's adaptive PPO lr).

    python examples/ppo_minimal.py                       # 100k steps, a few minutes on a CPU core
    python examples/ppo_minimal.py --timesteps 4096 --lr 1e-4
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_adaptive import AdaptiveOptimizer


def mlp(inputs: int, outputs: int, scale: float) -> nn.Sequential:
    head = nn.Linear(64, outputs)
    nn.init.orthogonal_(head.weight, scale)
    return nn.Sequential(nn.Linear(inputs, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_envs, n_steps, epochs, minibatch, gamma, lam, clip = 8, 128, 4, 256, 0.99, 0.95, 0.2
    torch.manual_seed(args.seed)
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1"))] * n_envs)
    obs_dim = int(np.prod(envs.single_observation_space.shape or (1,)))
    n_actions = int(envs.single_action_space.n)  # type: ignore[attr-defined]  # CartPole: Discrete(2)
    actor, critic = mlp(obs_dim, n_actions, 0.01), mlp(obs_dim, 1, 1.0)
    params = [*actor.parameters(), *critic.parameters()]
    opt = AdaptiveOptimizer(torch.optim.Adam(params, lr=args.lr, eps=1e-5))  # the default preset: the KL rule
    obs, _ = envs.reset(seed=args.seed)
    returns: list[float] = []
    for update in range(args.timesteps // (n_envs * n_steps)):
        buf_obs, buf_act, buf_logp, buf_rew, buf_done, buf_val = [], [], [], [], [], []
        for _ in range(n_steps):
            o = torch.as_tensor(obs, dtype=torch.float32)
            with torch.no_grad():
                dist = torch.distributions.Categorical(logits=actor(o))
                action = dist.sample()
                buf_val.append(critic(o).squeeze(-1))
            buf_obs.append(o)
            buf_act.append(action)
            buf_logp.append(dist.log_prob(action))
            obs, reward, terminated, truncated, info = envs.step(action.numpy())
            buf_rew.append(torch.as_tensor(reward, dtype=torch.float32))
            buf_done.append(torch.as_tensor(terminated | truncated, dtype=torch.float32))
            if "episode" in info:
                returns += info["episode"]["r"][info["_episode"]].tolist()
        with torch.no_grad():  # generalized advantage estimation
            next_value = critic(torch.as_tensor(obs, dtype=torch.float32)).squeeze(-1)
            advantages, last = torch.zeros(n_steps, n_envs), torch.zeros(n_envs)
            for t in reversed(range(n_steps)):
                value_next = next_value if t == n_steps - 1 else buf_val[t + 1]
                delta = buf_rew[t] + gamma * value_next * (1 - buf_done[t]) - buf_val[t]
                last = delta + gamma * lam * (1 - buf_done[t]) * last
                advantages[t] = last
            targets = advantages + torch.stack(buf_val)
        b_obs, b_act = torch.cat(buf_obs), torch.cat(buf_act)
        b_logp, b_adv, b_ret = torch.cat(buf_logp), advantages.flatten(), targets.flatten()
        if returns:
            opt.step_reward(float(np.mean(returns[-20:])))  # reward-based adaptation: the recent mean return
        for _ in range(epochs):
            kls = []
            for idx in torch.randperm(len(b_obs)).split(minibatch):
                dist = torch.distributions.Categorical(logits=actor(b_obs[idx]))
                logp = dist.log_prob(b_act[idx])
                ratio = (logp - b_logp[idx]).exp()
                adv = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8)
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
                value_loss = (critic(b_obs[idx]).squeeze(-1) - b_ret[idx]).pow(2).mean()
                loss = policy_loss + 0.5 * value_loss
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, 0.5)
                opt.step_loss(loss)  # loss-based adaptation: a 0-dim tensor, read in batches (no sync per step)
                opt.step()
                kls.append(((ratio - 1) - (logp - b_logp[idx])).mean().detach())
            opt.step_kl(torch.stack(kls).mean())  # the policy's change over the epoch, for the KL rule
        if update % 10 == 0 and returns:
            print(f"step {(update + 1) * n_envs * n_steps}: return {np.mean(returns[-20:]):.1f}, lr {opt.lr:.2e}")
    print(f"final: mean return of the last 20 episodes {np.mean(returns[-20:]):.1f}, lr {opt.lr:.2e}")


if __name__ == "__main__":
    main()
