"""PPO on CartPole-v1: the fixed optimizer against the adaptive one, at the tuned lr and at an lr 10x too low.

In your own script the integration is two lines:

    model = PPO("MlpPolicy", env, policy_kwargs=adaptive_policy_kwargs("ppo"))   # from rl_adaptive.sb3
    model.learn(50_000, callback=AdaptiveCallback())

Here `train_agent` does that (and records the curve and the effective lr) with the agent in agents/ppo.py:
rl-baselines3-zoo's tuned settings and the default preset. The four runs train in parallel; the script prints a
line as each finishes (its outcome and about how long the rest will take; none with --quiet), then a 4-row table
(final mean return of 10 deterministic episodes, solved at >= 475), and plots the return curves and effective lrs,
one column per lr.

    python examples/cartpole.py                      # 50k steps each, about 2 minutes on two cores
    python examples/cartpole.py --timesteps 20000 --out runs/cartpole
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

from rl_adaptive.app.agents import load_agent
from rl_adaptive.app.report import plot_compare
from rl_adaptive.app.training import outcome, train_agent

LR_SCALES = (1.0, 0.1)


def run(env_id: str, variant: str, lr_scale: float, timesteps: int, seed: int) -> dict:
    agent = load_agent("ppo", env_id)
    return train_agent(agent, variant=variant, lr_scale=lr_scale, timesteps=timesteps, seed=seed, tensorboard=False)


def _run(job: tuple[int, tuple]) -> tuple[int, dict]:
    index, args = job
    return index, run(*args)


def main(env_id: str = "CartPole-v1", timesteps: int = 50_000) -> None:
    name = env_id.split("-")[0].lower()
    parser = argparse.ArgumentParser(description=f"PPO on {env_id}: fixed vs adaptive, tuned lr and 10x too low")
    parser.add_argument("--timesteps", type=int, default=timesteps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(f"runs/{name}"))
    parser.add_argument("--quiet", action="store_true", help="no line per finished run; only the table")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(env_id, v, scale, args.timesteps, args.seed) for scale in LR_SCALES for v in ("fixed", "adaptive")]
    done: dict[int, dict] = {}
    start = time.time()
    with mp.get_context("fork" if sys.platform == "linux" else "spawn").Pool(len(jobs)) as pool:  # fork: no re-imports
        for index, result in pool.imap_unordered(_run, list(enumerate(jobs))):
            done[index] = result
            if not args.quiet:  # one line per run: as readable in a log file as on a terminal
                elapsed = time.time() - start
                left = (
                    ""
                    if len(done) == len(jobs)
                    else f", about {elapsed / len(done) * (len(jobs) - len(done)):.0f} s left"
                )
                print(
                    f"[{len(done)}/{len(jobs)}] {result['variant']} at lr {result['initial_lr']:g}: "
                    f"{outcome(result)} ({elapsed:.0f} s{left})",
                    flush=True,
                )
    runs = [done[i] for i in range(len(jobs))]
    plot_compare(runs, args.out / f"{name}.png", f"PPO {env_id}", columns="lr_scale")
    print("| initial lr | optimizer | final return (10 deterministic episodes) | solved |")
    print("|---:|---|---:|---|")
    for r in runs:
        final = f"{r['final']['mean']:.1f}" if r["final"] else f"diverged at step {r['diverged']['step']}"
        solved = bool(r["final"]) and r["final"]["mean"] >= r["solved_threshold"]
        print(f"| {r['initial_lr']:g} | {r['variant']} | {final} | {'yes' if solved else 'no'} |")
    print(f"plot: {args.out / f'{name}.png'}")


if __name__ == "__main__":
    main()
