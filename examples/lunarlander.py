"""PPO on LunarLander-v3: the fixed optimizer against the adaptive one, at the tuned lr and at an lr 10x too low.

The same script as examples/cartpole.py (it reuses that script's code), with the agent in
agents/ppo.py (rl-baselines3-zoo's LunarLander settings). Solved means a mean return of at least 200 over 10
deterministic episodes. The four runs train in parallel: at 500k steps, about 40 minutes on two cores.

    python examples/lunarlander.py --timesteps 500000 --out runs/lunarlander
"""

from cartpole import main

if __name__ == "__main__":
    main("LunarLander-v3", timesteps=500_000)
