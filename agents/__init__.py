"""The example agents: rl-zoo3 config files (one per algorithm), installed as ``rl_adaptive._agents``."""
