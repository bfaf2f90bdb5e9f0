"""The RL benchmark's suites and its result files: what ``benchmarks.rl`` runs and ``benchmarks.rl_report`` reads.

Both import this module, and neither imports the other at import time.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks._common import RESULTS

#: The task of each algorithm on the every-algorithm suites: CartPole-v1 (discrete), Pendulum-v1 (continuous).
EVERY_ALGORITHM = {
    "ppo": "CartPole-v1",
    "a2c": "CartPole-v1",
    "dqn": "CartPole-v1",
    "sac": "Pendulum-v1",
    "td3": "Pendulum-v1",
}
SUITES: dict[str, dict[str, Any]] = {
    "cartpole_grid": {
        "algo": "ppo",
        "env": "CartPole-v1",
        "timesteps": 50_000,
        "seeds": 5,
        "lrs": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        "variants": ["fixed", "kl", "loss_trend", "reward_trend", "reward_trend_damped", "design", "kl_reward_trend"],
    },
    "lunarlander": {
        "algo": "ppo",
        "env": "LunarLander-v3",
        "timesteps": 500_000,
        "seeds": 5,
        "lrs": [None],
        "variants": ["fixed", "kl", "design"],
    },
    "a2c_dqn": {
        "algo": ["a2c", "dqn"],
        "env": "CartPole-v1",
        "timesteps": None,
        "seeds": 5,
        "lrs": [None],
        "variants": ["fixed", "loss_trend", "default"],
    },
    "digits": {"seeds": 5, "variants": ["fixed", "design", "loss_trend"], "epochs": 30},
    # The update sizes each algorithm takes at rl-zoo's tuned hyperparameters, the lr held constant at its tuned
    # value as on the grids: the wrapper with no rule (the bare optimizer, bit for bit) and AdaptiveCallback's
    # probe. Their medians are the trust-region rule's targets.
    "update_sizes": {
        "algo": list(EVERY_ALGORITHM),
        "env": EVERY_ALGORITHM,
        "zoo": True,
        "timesteps": None,
        "seeds": 3,
        "lr_mults": [1.0],
        "variants": ["none"],
        "callback": {"probe": True},  # no rule reads the update size: probe to measure it
    },
    # What one gradient step of the value network closes of its own batch's TD error (rho, rl_adaptive.sb3.closure)
    # on rl-zoo's hyperparameters at a constant lr of the tuned value x {0.1, 1, 10} (and SAC's x0.03): the
    # ClosureRule's target and dead band. The rule is built to measure only (band 1e12: it never moves, the bare
    # optimizer bit for bit). Budgets shortened to fit a sitting: the first 12k DQN steps, 5k SAC steps and 13k TD3
    # steps (3k past its learning_starts of 10k).
    "closure_sizes": {
        "algo": ["dqn", "sac", "td3"],
        "env": EVERY_ALGORITHM,
        "zoo": True,
        "timesteps": {"dqn": 12_000, "sac": 5_000, "td3": 13_000},
        "seeds": 1,
        "lr_mults": {"dqn": [0.1, 1.0, 10.0], "sac": [0.03, 0.1, 1.0, 10.0], "td3": [0.1, 1.0, 10.0]},
        "variants": ["td_closure_measure"],
    },
    # The every-algorithm issue's screen: each new rule on PPO and A2C, CartPole-v1, rl-zoo's hyperparameters, a
    # constant lr of the tuned value x {0.1, 1, 10}, 3 seeds. Budgets shortened from rl-zoo's (PPO 100k, A2C 500k)
    # to fit a sitting: fixed PPO solves CartPole by 50k at the tuned lr (cartpole_grid); A2C at 200k is a harder
    # budget than rl-zoo's for every variant alike (fixed reached a training return of 475 at 140k-330k).
    "screen": {
        "algo": ["ppo", "a2c"],
        "env": "CartPole-v1",
        "zoo": True,
        "timesteps": {"ppo": 50_000, "a2c": 200_000},
        "seeds": 3,
        "lr_mults": [0.1, 1.0, 10.0],
        "variants": ["fixed", "kl", "trust_region", "plateau", "collapse", "adam_rel"],
    },
    # The lr grid of every algorithm: rl-zoo's own hyperparameters and budgets, a constant lr of the
    # tuned value (each competitor's own recommended lr) x {0.1, 0.3, 1, 3, 10}. Run `fixed` and `default` with
    # --seeds 5, the competitors and screening variants with --seeds 3. One budget is shortened: PPO's, from
    # rl-zoo's 100k to 50k steps, because fixed PPO at the tuned lr is solved by 50k (3 of 3 seeds on the screen,
    # deterministic evaluation at 500). The others are rl-zoo's (None: the hyperparams file's n_timesteps).
    "algos_grid": {
        "algo": list(EVERY_ALGORITHM),
        "env": EVERY_ALGORITHM,
        "zoo": True,
        "timesteps": {"ppo": 50_000, "a2c": None, "dqn": None, "sac": None, "td3": None},
        "seeds": 5,
        # Per algorithm; a grid that fixed solves everywhere cannot show a gain, so it is widened (and the report
        # says why, from "widened"). The others stay at x0.1-x10 until fixed solves every cell of theirs (the
        # report says so).
        "lr_mults": {
            "ppo": [0.1, 0.3, 1.0, 3.0, 10.0],
            "a2c": [0.1, 0.3, 1.0, 3.0, 10.0],
            "dqn": [0.1, 0.3, 1.0, 3.0, 10.0],
            "sac": [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
            "td3": [0.1, 0.3, 1.0, 3.0, 10.0],
        },
        "widened": {
            "sac": "fixed SAC solved Pendulum-v1 at every multiplier from 0.1 to 10 (2 seeds, measured when the "
            "grid was widened)",
        },
        "variants": ["fixed", "default", "prodigy", "schedulefree", "dadaptation"],
    },
}


def lr_mults(suite: str, algo: str) -> list[float]:
    """The lr multipliers of ``algo`` on ``suite``: one list for every algorithm, or a list per algorithm."""
    mults = SUITES[suite]["lr_mults"]
    return list(mults[algo] if isinstance(mults, dict) else mults)


def load(suite: str) -> list[dict[str, Any]]:
    folder = RESULTS / suite
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []
