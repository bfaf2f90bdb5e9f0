"""Train one example agent, fixed or adaptive, and record what happened: the one way to train that the CLI, the
examples and the benchmark share (:func:`train_agent`). What it writes for a reader is drawn by
:mod:`rl_adaptive.app.report`."""

from __future__ import annotations

import csv
import functools
import inspect
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from ..files import atomic_write, write_text
from ..knobs import find_knobs, read_knob
from ..optimizer import AdaptiveOptimizer
from ..sb3 import AdaptiveCallback, adaptive_policy_kwargs, find_adaptive_optimizers, find_optimizers
from .agents import Agent, LinearSchedule
from .report import plot_run

__all__ = ["SOLVED", "knob_values", "outcome", "plot_run", "train_agent"]

#: Return at which an environment counts as solved (mean over 10 deterministic evaluation episodes).
SOLVED = {"CartPole-v1": 475.0, "LunarLander-v3": 200.0, "Pendulum-v1": -200.0}


def knob_values(model: BaseAlgorithm) -> dict[str, float]:
    """Effective hyperparameters of every optimizer of the model (plain optimizers: their param group 0)."""
    out: dict[str, float] = {}
    for role, optimizer in find_optimizers(model).items():
        prefix = "" if role == "policy" else f"{role}/"
        if isinstance(optimizer, AdaptiveOptimizer):
            values = optimizer.hyperparameters()
        else:
            group = optimizer.param_groups[0]
            values = {knob: float(read_knob(group, spec)) for knob, spec in find_knobs(optimizer).items()}
        out.update({prefix + k: v for k, v in values.items()})
    return out


class _Recorder(BaseCallback):
    """Records the training curve (rolling mean of the last 100 episode returns) and the knobs, and evaluates."""

    def __init__(self, every: int, eval_every: int | None, eval_env: Any, eval_episodes: int) -> None:
        super().__init__()
        self.every = max(1, every)
        self.eval_every = eval_every
        self.eval_env = eval_env
        self.eval_episodes = eval_episodes
        self.curve: list[dict[str, float]] = []
        self.evals: list[dict[str, float]] = []
        #: Every update size fed (``timesteps``, ``role``, ``size``), for the trust-region rule's calibration.
        self.updates: list[dict[str, Any]] = []
        self._last = -math.inf
        self._last_eval = 0
        self._adaptive: dict[str, AdaptiveOptimizer] = {}
        self._counts: dict[str, int] = {}

    def _init_callback(self) -> None:
        self._adaptive = find_adaptive_optimizers(self.model)
        self._counts = {role: opt.signals["update"].count for role, opt in self._adaptive.items()}

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:  # after AdaptiveCallback's, which feeds the update size here
        for role, optimizer in self._adaptive.items():
            stats = optimizer.signals["update"]
            if stats.count != self._counts[role]:
                self._counts[role] = stats.count
                self.updates.append({"timesteps": self.num_timesteps, "role": role, "size": stats.last})

    def _on_rollout_end(self) -> None:
        t = self.num_timesteps
        if t - self._last >= self.every:
            self._last = t
            buffer = [ep["r"] for ep in self.model.ep_info_buffer or ()]
            self.curve.append(
                {
                    "timesteps": t,
                    "return": float(np.mean(buffer)) if buffer else math.nan,
                    "episodes": len(buffer),
                    **knob_values(self.model),
                }
            )
        if self.eval_every and t - self._last_eval >= self.eval_every:
            self._last_eval = t
            returns, _ = evaluate_policy(
                self.model,
                self.eval_env,
                n_eval_episodes=self.eval_episodes,
                deterministic=True,
                return_episode_rewards=True,
            )
            self.evals.append({"timesteps": t, "mean": float(np.mean(returns)), "std": float(np.std(returns))})


def _restores_torch_threads(fn: Any) -> Any:
    """Run ``fn`` and give torch back the caller's thread count, whatever ``fn`` set it to."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        threads = torch.get_num_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


def _scaled_lr(agent: Agent, lr: Any, scale: float) -> float | LinearSchedule:
    """``lr`` (the agent's, or SB3's default for the algorithm when None) times ``scale``."""
    if lr is None:
        lr = inspect.signature(agent.algo_class).parameters["learning_rate"].default
    if isinstance(lr, LinearSchedule):
        return LinearSchedule(lr.initial * scale)
    if isinstance(lr, (int, float)):
        return float(lr) * scale
    raise TypeError(f"lr_scale: scales a number or a LinearSchedule; the agent's learning_rate is {lr!r}")


@_restores_torch_threads
def train_agent(
    agent: Agent,
    *,
    variant: str = "adaptive",
    adaptive_kwargs: dict[str, Any] | None = None,
    timesteps: int | None = None,
    seed: int = 0,
    learning_rate: float | None = None,
    lr_scale: float = 1.0,
    out_dir: str | Path | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 5,
    final_episodes: int = 10,
    progress_bar: bool = False,
    tensorboard: bool = True,
    verbose: int = 0,
    extra_callbacks: list[BaseCallback] | tuple[BaseCallback, ...] = (),
    callback_kwargs: dict[str, Any] | None = None,
    optimizer_policy_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``agent`` with its fixed base optimizer (``variant="fixed"``) or the adaptive one, and evaluate it.

    Args:
        agent: from :func:`rl_adaptive.app.agents.load_agent`.
        variant: ``"fixed"`` (SB3's own optimizer, no wrapper) or any other name for the adaptive variant.
        adaptive_kwargs: AdaptiveOptimizer keywords (default: the agent's ``adaptive`` entry).
        timesteps: training budget (default: the agent's ``n_timesteps``).
        learning_rate: a constant base learning rate replacing the agent's.
        lr_scale: multiplies the learning rate, a linear schedule's start included (``0.1``: 10x too low).
        out_dir: where to write ``model.zip``, ``metrics.json``, ``metrics.csv``, ``plot.png`` and TensorBoard logs.
        eval_every: evaluate every this many steps (``eval_episodes`` deterministic episodes); None: final only.
        final_episodes: deterministic episodes of the final evaluation.
        extra_callbacks: more SB3 callbacks, run after the adaptive callback and the recorder.
        callback_kwargs: keyword arguments of the :class:`~rl_adaptive.sb3.AdaptiveCallback` (``probe=True``).
        optimizer_policy_kwargs: ``optimizer_class`` and ``optimizer_kwargs`` to use instead of the variant's (another
            optimizer, such as a benchmark's competitor); the adaptive callback runs if that class is
            :class:`~rl_adaptive.AdaptiveOptimizer`.

    Returns a dict with the configuration, the curve, the evaluations, ``final`` (mean, std, returns),
    ``interrupted`` (True after Ctrl-C, with everything written so far) and ``diverged`` (None, or the step and the
    error at which the policy's weights became non-finite: a run the base optimizer blew up, which is a result, not a
    crash; ``final`` is then empty, since such a policy cannot act).
    """
    if isinstance(lr_scale, bool) or not isinstance(lr_scale, (int, float)) or not 0 < lr_scale < math.inf:
        raise ValueError(f"lr_scale: expected a positive finite number, got {lr_scale!r}")
    torch.set_num_threads(1)  # small networks train fastest on one thread; the caller's count is restored after
    timesteps = int(timesteps or agent.n_timesteps)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    # build
    model_kwargs = _model_kwargs(agent, learning_rate, lr_scale)
    rules = dict(agent.adaptive if adaptive_kwargs is None else adaptive_kwargs)
    policy_kwargs = _policy_kwargs(agent, variant, rules, optimizer_policy_kwargs)
    adaptive = policy_kwargs.get("optimizer_class") is AdaptiveOptimizer
    env = make_vec_env(agent.env_id, n_envs=agent.n_envs, seed=seed)
    eval_env = make_vec_env(agent.env_id, n_envs=1, seed=seed + 10_000)
    if agent.noise is not None:
        model_kwargs["action_noise"] = agent.action_noise(int(np.prod(env.action_space.shape or ())))
    model = agent.algo_class(
        agent.policy,
        env,
        seed=seed,
        device="cpu",
        verbose=verbose,
        policy_kwargs=policy_kwargs or None,
        tensorboard_log=str(out / "tb") if (out is not None and tensorboard) else None,
        **model_kwargs,
    )
    # run
    recorder = _Recorder(
        every=max(1, timesteps // 400), eval_every=eval_every, eval_env=eval_env, eval_episodes=eval_episodes
    )
    adaptive_callback = AdaptiveCallback(**(callback_kwargs or {})) if adaptive else None
    callbacks = [*([adaptive_callback] if adaptive_callback else []), recorder, *extra_callbacks]
    interrupted, diverged = False, None
    start = time.perf_counter()
    try:
        model.learn(timesteps, callback=CallbackList(callbacks), progress_bar=progress_bar)
    except KeyboardInterrupt:
        interrupted = True
    except (ValueError, RuntimeError) as error:  # torch refuses NaN or infinite logits or means: diverged, if so
        if not _blew_up(model):
            raise
        diverged = {"step": int(model.num_timesteps), "error": str(error).splitlines()[0]}
    if diverged is None and not interrupted and _blew_up(model):  # a deterministic policy acts on NaN silently
        diverged = {"step": int(model.num_timesteps), "error": "non-finite policy weights or outputs after training"}
    wall = time.perf_counter() - start
    # evaluate
    result = {
        "env": agent.env_id,
        "algo": agent.algo,
        "variant": variant,
        "seed": seed,
        "timesteps": timesteps,
        "trained_timesteps": int(model.num_timesteps),
        "learning_rate": repr(model_kwargs.get("learning_rate", "sb3 default")),
        "lr_scale": lr_scale,
        "initial_lr": float(model.lr_schedule(1.0)),
        "adaptive": {k: list(v) if isinstance(v, tuple) else v for k, v in rules.items()}
        if adaptive and optimizer_policy_kwargs is None
        else None,
        "curve": recorder.curve,
        "evals": recorder.evals,
        "final": {} if interrupted or diverged else _final_evaluation(model, eval_env, final_episodes),
        "updates": recorder.updates,
        "probe_s": adaptive_callback.probe_seconds if adaptive_callback is not None else 0.0,
        "solved_threshold": SOLVED.get(agent.env_id),
        "wall_s": wall,
        "interrupted": interrupted,
        "diverged": diverged,
    }
    # write
    if out is not None:
        _write_run(out, model, result)
    env.close()
    eval_env.close()
    return result


def _model_kwargs(agent: Agent, learning_rate: float | None, lr_scale: float) -> dict[str, Any]:
    """The algorithm's keywords: the agent's, with a constant ``learning_rate`` and ``lr_scale`` applied."""
    model_kwargs = dict(agent.model_kwargs)
    if learning_rate is not None:
        model_kwargs["learning_rate"] = float(learning_rate)
    if lr_scale != 1.0:
        model_kwargs["learning_rate"] = _scaled_lr(agent, model_kwargs.get("learning_rate"), lr_scale)
    return model_kwargs


def _policy_kwargs(
    agent: Agent, variant: str, rules: dict[str, Any], optimizer_policy_kwargs: dict[str, Any] | None
) -> dict[str, Any]:
    """The policy's keywords: the agent's, with the optimizer given, or wrapped in AdaptiveOptimizer(**rules)."""
    policy_kwargs = dict(agent.policy_kwargs)
    if optimizer_policy_kwargs is not None:
        policy_kwargs.update(optimizer_policy_kwargs)
    elif variant != "fixed":
        policy_kwargs = adaptive_policy_kwargs(agent.algo, policy_kwargs=policy_kwargs, **rules)
    return policy_kwargs


def outcome(result: dict[str, Any], digits: int = 1) -> str:
    """One line for a :func:`train_agent` result: ``final <mean return>``, or ``diverged at step <n>``."""
    if result.get("diverged"):
        return f"diverged at step {result['diverged']['step']}"
    return f"final {result['final'].get('mean', math.nan):.{digits}f}"


def _blew_up(model: BaseAlgorithm) -> bool:
    """Whether the policy's weights, or what any of its layers computes on the last observations, are non-finite
    (weights can stay finite and still overflow a layer). One forward pass, with hooks only for its duration."""
    if not all(bool(torch.isfinite(p).all()) for p in model.policy.parameters()):
        return True
    if getattr(model, "_last_obs", None) is None:  # learn() stopped before its first observation
        return False
    outputs: list[Any] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for m in model.policy.modules()]
    try:
        model.policy.predict(model._last_obs, deterministic=True)  # type: ignore[arg-type]
    except (ValueError, RuntimeError):
        pass  # the same refusal as in training: the outputs recorded up to it tell
    finally:
        for hook in hooks:
            hook.remove()
    return any(isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()) for out in outputs)


def _final_evaluation(model: BaseAlgorithm, eval_env: Any, episodes: int) -> dict[str, Any]:
    returns, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=episodes, deterministic=True, return_episode_rewards=True
    )
    return {
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "returns": np.asarray(returns, dtype=float).tolist(),
        "episodes": episodes,
    }


def _write_run(out: Path, model: BaseAlgorithm, result: dict[str, Any]) -> None:
    """``model.zip``, ``metrics.json``, ``metrics.csv`` (the curve) and ``plot.png`` in ``out``, each written whole
    or not at all (:func:`~rl_adaptive.files.atomic_write`)."""
    atomic_write(out / "model.zip", model.save)
    write_text(out / "metrics.json", json.dumps(result, indent=1))
    curve = result["curve"]
    if curve:
        keys = sorted({k for row in curve for k in row}, key=lambda k: (k != "timesteps", k))

        def write_csv(path: Path) -> None:
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=keys)
                writer.writeheader()
                writer.writerows(curve)

        atomic_write(out / "metrics.csv", write_csv)
    plot_run(result, out / "plot.png")
