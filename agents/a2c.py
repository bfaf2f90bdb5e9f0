"""rl_adaptive's A2C agents: an rl-zoo3 config file, read by ``rl-adaptive``, the examples and the benchmark too.

rl-zoo's own hyperparameters (read from the installed rl_zoo3 package, nothing copied), the AdaptiveOptimizer with
the default preset through ``policy_kwargs``, and AdaptiveCallback through ``callback``::

    python -m rl_zoo3.train --algo a2c --env CartPole-v1 --conf-file agents/a2c.py
"""

from rl_adaptive.sb3 import zoo

hyperparams = zoo.hyperparams("a2c", ["CartPole-v1", "LunarLander-v3"], adaptive={"preset": "default"})
