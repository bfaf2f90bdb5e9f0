"""The application layer: the example agents, training and recording them, reports, statistics and the
``rl-adaptive`` command. It builds on the core (:mod:`rl_adaptive`) and the integration (:mod:`rl_adaptive.sb3`);
neither imports it. See ``docs/architecture.md``.

- :mod:`rl_adaptive.app.agents`: the agents' rl-zoo3 config files (``load_agent``, ``load_zoo_agent``).
- :mod:`rl_adaptive.app.training`: ``train_agent``, the one way to train and record an agent.
- :mod:`rl_adaptive.app.report`: plots and tables of runs. :mod:`rl_adaptive.app.stats`: their statistics.
- :mod:`rl_adaptive.app.digits`: the supervised sanity check. :mod:`rl_adaptive.app.parallel`: process pool or Ray.
- :mod:`rl_adaptive.app.cli`: ``rl-adaptive`` (parses and dispatches).
"""
