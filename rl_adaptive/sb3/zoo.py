"""rl-baselines3-zoo with zero code: rl_adaptive's agents are rl-zoo3 config files.

An agent file (``agents/ppo.py``, installed as ``rl_adaptive._agents.ppo``) holds rl-zoo's own hyperparameters, read
from the installed ``rl_zoo3`` package's ``hyperparams/<algo>.yml`` (nothing copied that could drift), plus two keys
rl-zoo already understands:

- ``policy_kwargs``: a string rl-zoo evaluates (its scope has ``importlib``, ``th`` and ``nn``) into
  ``adaptive_policy_kwargs(algo, policy_kwargs=<rl-zoo's own>, **adaptive)``: the AdaptiveOptimizer, with the base
  optimizer and defaults SB3 would use;
- ``callback``: :class:`~rl_adaptive.sb3.AdaptiveCallback`, with ``wrap`` set to the same keywords, so that a run
  whose ``policy_kwargs`` were replaced (rl-zoo's Optuna samplers replace them whole for on-policy algorithms) still
  trains with the AdaptiveOptimizer.

::

    python -m rl_zoo3.train --algo ppo --env CartPole-v1 --conf-file agents/ppo.py
    python -m rl_zoo3.train --algo ppo --env CartPole-v1 --conf-file rl_adaptive._agents.ppo   # installed copy

Needs ``rl_zoo3`` (the ``zoo`` extra). The core never imports this module.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CALLBACK",
    "adaptive_entry",
    "hyperparams",
    "policy_kwargs_source",
    "split_policy_kwargs",
    "zoo_scope",
    "zoo_entries",
]

#: The callback rl-zoo builds from the ``callback`` key.
CALLBACK = "rl_adaptive.sb3.AdaptiveCallback"
_HELPER = "importlib.import_module('rl_adaptive.sb3').adaptive_policy_kwargs"


def zoo_scope() -> dict[str, Any]:
    """The names rl-zoo's ``eval`` of a ``policy_kwargs`` string sees."""
    import torch

    return {"importlib": importlib, "th": torch, "nn": torch.nn}


def zoo_entries(algo: str) -> dict[str, dict[str, Any]]:
    """rl-zoo's hyperparameters for ``algo``, every environment, from the installed ``rl_zoo3`` package."""
    import importlib.util

    spec = importlib.util.find_spec("rl_zoo3")  # the files only: importing rl_zoo3 would load all of it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the agents read rl-zoo's hyperparameters: pip install 'rl-adaptive[zoo]'", name="rl_zoo3"
        )
    import yaml  # a dependency of rl_zoo3

    path = Path(spec.submodule_search_locations[0]) / "hyperparams" / f"{algo}.yml"
    if not path.exists():
        raise ValueError(f"algo: rl-zoo has no hyperparameters file for {algo!r} ({path})")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def policy_kwargs_source(algo: str, zoo_policy_kwargs: str | None, adaptive: Mapping[str, Any]) -> str:
    """The ``policy_kwargs`` string rl-zoo evaluates into ``adaptive_policy_kwargs(...)``; ``adaptive``'s values
    must be Python literals (names, numbers, tuples), so that :func:`split_policy_kwargs` reads them back."""
    args = [repr(algo)]
    if zoo_policy_kwargs:
        args.append(f"policy_kwargs={zoo_policy_kwargs.strip()}")
    for key, value in adaptive.items():
        try:
            literal = ast.literal_eval(repr(value)) == value
        except (ValueError, SyntaxError):
            literal = False
        if not literal:
            raise ValueError(f"adaptive: {key}={value!r} is not a Python literal; rl-zoo's config needs one")
        args.append(f"{key}={value!r}")
    return f"{_HELPER}({', '.join(args)})"


def split_policy_kwargs(text: str | Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read a ``policy_kwargs`` entry back: (the policy keywords other than the optimizer's, the AdaptiveOptimizer
    keywords or None when the entry does not put it in). Strings are evaluated as rl-zoo does."""
    if text is None:
        return {}, None
    if isinstance(text, Mapping):
        return dict(text), None
    node = ast.parse(text.strip(), mode="eval").body
    if isinstance(node, ast.Call) and ast.unparse(node.func) == _HELPER:
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg is not None}
        base = keywords.pop("policy_kwargs", None)
        policy = eval(ast.unparse(base), zoo_scope()) if base is not None else {}
        return dict(policy), {key: ast.literal_eval(value) for key, value in keywords.items()}
    return dict(eval(text, zoo_scope())), None


def adaptive_entry(algo: str, entry: Mapping[str, Any], adaptive: Mapping[str, Any]) -> dict[str, Any]:
    """rl-zoo's entry with the AdaptiveOptimizer in ``policy_kwargs`` and AdaptiveCallback added to ``callback``."""
    out = dict(entry)
    zoo_policy = entry.get("policy_kwargs")
    if zoo_policy is not None and not isinstance(zoo_policy, str):
        raise ValueError(f"policy_kwargs: expected rl-zoo's string form, got {zoo_policy!r}")
    out["policy_kwargs"] = policy_kwargs_source(algo, zoo_policy, adaptive)
    callbacks = entry.get("callback") or []
    callbacks = list(callbacks) if isinstance(callbacks, list) else [callbacks]
    out["callback"] = [*callbacks, {CALLBACK: {"wrap": dict(adaptive), "verbose": 1}}]
    return out


def hyperparams(
    algo: str, envs: Iterable[str] | None = None, adaptive: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """An agent file's ``hyperparams``: rl-zoo's entries for ``envs`` (default: all of them), made adaptive with
    ``adaptive`` (default: the default preset). ``ValueError`` names an environment rl-zoo lacks."""
    entries = zoo_entries(algo)
    adaptive = dict(adaptive) if adaptive is not None else {"preset": "default"}
    chosen = list(entries) if envs is None else list(envs)
    for env in chosen:
        if env not in entries:
            raise ValueError(f"envs: rl-zoo has no {algo} entry {env!r}; choose from {', '.join(entries)}")
    return {env: adaptive_entry(algo, entries[env], adaptive) for env in chosen}
