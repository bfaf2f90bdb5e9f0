"""rl_adaptive's PPO agents: an rl-zoo3 config file, read by ``rl-adaptive``, the examples and the benchmark too.

rl-zoo's own hyperparameters (read from the installed rl_zoo3 package, nothing copied), the AdaptiveOptimizer with
the default preset through ``policy_kwargs``, and AdaptiveCallback through ``callback``::

    python -m rl_zoo3.train --algo ppo --env CartPole-v1 --conf-file agents/ppo.py
"""

from rl_adaptive.sb3 import zoo

hyperparams = zoo.hyperparams("ppo", ["CartPole-v1", "LunarLander-v3"], adaptive={"preset": "default"})
