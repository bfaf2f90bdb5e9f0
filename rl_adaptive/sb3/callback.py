"""``AdaptiveCallback``: feeds every :class:`AdaptiveOptimizer` of an SB3 model its signals (returns, recorded
losses, PPO's KL, the probes' update sizes), wraps a model's optimizers when asked, and logs the knobs."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from ..optimizer import AdaptiveOptimizer
from .closure import ClosureProbe
from .data import LIMIT, find_bad, replace_bad_transitions
from .models import (
    DEFAULT_LOSS_KEYS,
    KL_ALGOS,
    TD_LOSSES,
    _algo_name,
    _check_auto_flag,
    _reads_closure,
    _reads_update,
    _recorded,
    _waiting_rules,
    algorithm_kwargs,
    find_adaptive_optimizers,
    find_optimizers,
)
from .probe import Probe, ProbeBatch, build_probes, sample_batch

__all__ = ["AdaptiveCallback"]

_PHASES_BEFORE_WARNING = 4
_BAD_DATA = ("raise", "skip", "ignore")
_AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "mean": lambda r: float(np.mean(r)),
    "median": lambda r: float(np.median(r)),
    "max": lambda r: float(np.max(r)),
    "min": lambda r: float(np.min(r)),
    "last": lambda r: float(r[-1]),
}


class AdaptiveCallback(BaseCallback):
    """Feed episode returns, recorded losses and PPO's KL into every :class:`AdaptiveOptimizer` of the model.

    * **Reward**: the returns of the episodes that finished (Monitor's ``info["episode"]["r"]``, every vectorized
      env) since the last update are aggregated (``reward_aggregate``, default the mean) and fed through
      ``step_reward`` to every adaptive optimizer once per rollout, before training on it. A rollout with no
      finished episode feeds nothing.
    * **Loss**: after each training phase, the losses SB3 recorded are fed through ``step_loss`` to the optimizer
      they belong to (``loss_keys``; default :data:`DEFAULT_LOSS_KEYS`: PPO's value and policy-gradient loss, A2C's
      value and policy loss, DQN's loss, the critic loss to SAC/TD3's critic and the actor loss to their actor).
      The keys of one optimizer are summed into one value. An optimizer's losses are fed after a phase in which
      its own step count moved (TD3's actor only after its delayed updates), so a value that repeats is fed
      again.
    * **KL**: ``train/approx_kl`` (``kl_key``) is fed through ``step_kl`` to the ``"policy"`` optimizer, so
      ``lr_rule="kl"`` works out of the box with PPO.
    * **Update size**: for every adaptive optimizer that has a rule reading it, how far a training phase moved
      what it trains, measured on a probe batch of ``probe_size`` transitions (the rollout just collected, or a
      replay-buffer sample): the policy's KL(old || new), the relative change of Q-values and critic
      predictions, a deterministic actor's action change (:mod:`rl_adaptive.sb3.probe`). Fed through
      ``step_update``, read by ``lr_rule="trust_region"`` and its variants, whose target and exponent the
      optimizer was built with (:func:`~rl_adaptive.sb3.adaptive_policy_kwargs` gives each algorithm its own).
      Off-policy algorithms train a few gradient steps per environment step, so their window spans at least
      ``probe_min_steps`` optimizer steps (default 100; on-policy 10: one phase of PPO, ten of A2C, whose phase
      is a single step).
    * **TD closure**: for every adaptive optimizer with a :class:`~rl_adaptive.rules.ClosureRule` (``lr_rule=
      "td_closure"``), the share of its batch's TD error a gradient step of the value network closed, every
      ``closure_every`` of its steps (:mod:`rl_adaptive.sb3.closure`; the algorithm's TD loss in
      :data:`TD_LOSSES`), fed through ``step_update`` to the value network's optimizer and to an actor whose
      optimizer has the rule too.
    * **Hostile data** (``bad_data``): before each training phase the rewards and observations it will read (the
      rollout, or the transitions stored since the last phase) are checked for non-finite or absurd (beyond 1e12)
      values, on the host, at no host-device sync (:mod:`rl_adaptive.sb3.data`). With SB3 alone such a value
      reaches the weights through the advantages or the TD targets. ``"raise"`` (default): stop at once, before the
      phase, with a ``ValueError`` that says which values, where (step, env) and in which field; the weights are
      untouched. ``"skip"``: go on without them, counted and logged (``adaptive/bad_values``,
      ``adaptive/skipped_phases``), as GradScaler skips a step: an on-policy phase is skipped whole (every adaptive
      optimizer holds its steps, :attr:`AdaptiveOptimizer.hold`), a bad off-policy transition is overwritten with
      a copy of the one before it, so it is never sampled. ``"ignore"``: SB3's own behaviour.
    * **Adam-Rel**: an optimizer built with ``adam_rel=True`` gets :meth:`AdaptiveOptimizer.new_rollout` before
      each on-policy training phase, which resets Adam's step count and keeps its moments.
    * **Logging**: every knob of every adaptive optimizer (effective values), each rule's factor and the signals
      fed, under ``adaptive/`` (``adaptive/lr``, ``adaptive/beta1``, ``adaptive/critic/lr``,
      ``adaptive/factor/lr_rule.kl``, ``adaptive/signal/reward``) with SB3's logger: TensorBoard, CSV, stdout.

    The callback only feeds and logs: which rules act, with which targets and exponents, was decided when the
    optimizers were built (:data:`~rl_adaptive.sb3.ALGORITHMS`), and it sets no rule attribute.

    SB3 writes its schedule's lr into every param group before each update; the wrapper keeps that value as the
    base and applies its factor inside ``step()``, so the effective lr is the schedule's value times the factor.

    Args:
        loss_keys: ``{optimizer role: key or keys}`` overriding the defaults; ``{}`` feeds no loss.
        kl_key: logger key of the KL fed to the ``"policy"`` optimizer; ``"auto"`` (default):
            ``train/approx_kl`` for PPO, RecurrentPPO and MaskablePPO, none for other algorithms; ``None``: none.
        reward_aggregate: ``"mean"``, ``"median"``, ``"max"``, ``"min"``, ``"last"`` or a callable on the list of
            returns.
        log_prefix: prefix of the logged scalars.
        probe: measure the update size: ``"auto"`` (default) when some adaptive optimizer has a rule that reads
            it (``lr_rule="trust_region"``), ``True`` always (to log it), ``False`` never.
        probe_size: transitions in the probe batch (default 256).
        probe_min_steps: fewest optimizer steps a measured window spans (default: 10 on-policy, 100 off-policy);
            a window always ends after a training phase.
        probe_every: on-policy only: also measure inside each training phase, every this many optimizer steps (a
            step post-hook; rsl_rl adapts PPO's lr per minibatch). Each measure is the update of those steps: give
            the rule a target for that many steps (the benchmark's ``trust_region_k5`` scales the calibrated one).
            Default None: once per window.
        probe_seed: seed of the probe's own random generator (it never draws from the global ones).
        closure_every: measure the TD closure every this many steps of the value network's optimizer (default 10:
            one extra forward pass of the network on its batch per 10 steps).
        bad_data: what to do with non-finite or absurd rewards and observations before a training phase reads
            them: ``"raise"`` (default), ``"skip"`` or ``"ignore"`` (above).
        wrap: :class:`AdaptiveOptimizer` keywords (``{"preset": "default"}``, resolved for the model's algorithm
            as :func:`~rl_adaptive.sb3.adaptive_policy_kwargs` does) to wrap the model's optimizers with when it has
            no AdaptiveOptimizer of its own, in place, before training: for runs whose
            ``policy_kwargs`` were replaced, as rl-zoo's Optuna samplers do. Default None: never wrap (a model
            with no AdaptiveOptimizer is an error).
    """

    def __init__(
        self,
        loss_keys: Mapping[str, str | Sequence[str]] | None = None,
        kl_key: str | None = "auto",
        reward_aggregate: str | Callable[[Sequence[float]], float] = "mean",
        log_prefix: str = "adaptive",
        probe: bool | str = "auto",
        probe_size: int = 256,
        probe_min_steps: int | None = None,
        probe_every: int | None = None,
        probe_seed: int = 0,
        closure_every: int = 10,
        bad_data: str = "raise",
        wrap: Mapping[str, Any] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if bad_data not in _BAD_DATA:
            raise ValueError(f"bad_data: expected one of {', '.join(map(repr, _BAD_DATA))}, got {bad_data!r}")
        self.bad_data = bad_data
        #: Bad values found (each a reward or an observation at one step and env) and phases skipped for them.
        self.bad_values = 0
        self.skipped_phases = 0
        self._checked = 0  # off-policy: num_timesteps at the last check (set again when training starts)
        self._holding = False
        if wrap is not None and not isinstance(wrap, Mapping):
            raise TypeError(f"wrap: expected AdaptiveOptimizer keywords (a dict) or None, got {wrap!r}")
        self.wrap = dict(wrap) if wrap is not None else None
        for name, value, low in (
            ("probe_size", probe_size, 1),
            ("probe_min_steps", probe_min_steps, 1),
            ("probe_every", probe_every, 1),
            ("closure_every", closure_every, 1),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        _check_auto_flag("probe", probe)
        self.probe = probe
        self.probe_size = probe_size
        self.probe_min_steps = probe_min_steps
        self.probe_every = probe_every
        self.closure_every = closure_every
        #: The TD-closure probes of the current learn() (at most one: the algorithm's value network).
        self.closures: list[ClosureProbe] = []
        self._hooks: list[Any] = []
        self._probe_rng = np.random.default_rng(probe_seed)
        self.probes: dict[str, Probe] = {}
        #: Seconds spent probing (snapshots and measures), for the cost benchmark.
        self.probe_seconds = 0.0
        self._window: tuple[ProbeBatch, dict[str, Any], dict[str, int]] | None = None
        if isinstance(reward_aggregate, str):
            if reward_aggregate not in _AGGREGATES:
                raise ValueError(
                    f"reward_aggregate: unknown aggregate {reward_aggregate!r}; choose from "
                    f"{', '.join(_AGGREGATES)} or pass a callable"
                )
            self._aggregate = _AGGREGATES[reward_aggregate]
        elif callable(reward_aggregate):
            self._aggregate = reward_aggregate
        else:
            raise TypeError(f"reward_aggregate: expected a name or a callable, got {type(reward_aggregate).__name__}")
        if loss_keys is not None and not isinstance(loss_keys, Mapping):
            raise TypeError(f"loss_keys: expected a dict {{optimizer role: key(s)}}, got {type(loss_keys).__name__}")
        self._loss_keys_arg = loss_keys
        self._kl_key_arg = kl_key
        self.kl_key: str | None = None
        self.log_prefix = log_prefix
        self.optimizers: dict[str, AdaptiveOptimizer] = {}
        self.loss_keys: dict[str, tuple[str, ...]] = {}
        self._returns: list[float] = []
        self._steps_seen: dict[str, int] = {}
        self._seen_keys: set[str] = set()
        self._phases = 0
        self._fed: dict[str, float] = {}

    # -- setup ---------------------------------------------------------------------------------------------
    def _init_callback(self) -> None:
        if self.wrap is not None and not find_adaptive_optimizers(self.model):
            self._wrap_optimizers(self.wrap)
        self.optimizers = find_adaptive_optimizers(self.model)
        if not self.optimizers:
            name = _algo_name(self.model)
            raise ValueError(
                f"AdaptiveCallback: {name} has no AdaptiveOptimizer, so there is nothing to feed. Build the model with "
                f"policy_kwargs=adaptive_policy_kwargs({name.lower()!r}, lr_rule=...) from rl_adaptive.sb3, or "
                "policy_kwargs=dict(optimizer_class=AdaptiveOptimizer, "
                "optimizer_kwargs=dict(base_optimizer=torch.optim.Adam, eps=1e-5, lr_rule='kl'))"
            )
        configured = self._loss_keys_arg
        if configured is None:
            configured = DEFAULT_LOSS_KEYS.get(_algo_name(self.model), {})
        keys: dict[str, tuple[str, ...]] = {}
        for role, value in configured.items():
            if role not in self.optimizers:
                raise ValueError(
                    f"loss_keys: no adaptive optimizer {role!r} in {_algo_name(self.model)}; "
                    f"its adaptive optimizers: {', '.join(self.optimizers)}"
                )
            keys[role] = (value,) if isinstance(value, str) else tuple(value)
        self.loss_keys = keys
        if self._kl_key_arg == "auto":
            self.kl_key = "train/approx_kl" if _algo_name(self.model) in KL_ALGOS else None
        else:
            self.kl_key = self._kl_key_arg
        self._steps_seen = {role: optimizer.step_count for role, optimizer in self.optimizers.items()}
        self._checked = self.model.num_timesteps  # what a loaded replay buffer held before is not this run's
        self._init_probes()

    def _wrap_optimizers(self, kwargs: dict[str, Any]) -> None:
        """Put every optimizer of the model inside an AdaptiveOptimizer, where the model keeps it."""
        policy = self.model.policy
        kwargs = algorithm_kwargs(self.model, kwargs)
        for role, optimizer in find_optimizers(self.model).items():
            owner = policy if role == "policy" else getattr(policy, role)
            owner.optimizer = AdaptiveOptimizer(optimizer, **kwargs)
            if self.verbose >= 1:
                print(
                    f"AdaptiveCallback: wrapped {_algo_name(self.model)}'s {role} optimizer "
                    f"({type(optimizer).__name__}) in AdaptiveOptimizer({kwargs})"
                )

    def _init_probes(self) -> None:
        on_policy = isinstance(self.model, OnPolicyAlgorithm)
        if self.probe_min_steps is None:
            self.probe_min_steps = 10 if on_policy else 100
        reads = [role for role, o in self.optimizers.items() if _reads_update(o)]
        wanted = list(self.optimizers) if self.probe is True else reads if self.probe == "auto" else []
        closing = [role for role, o in self.optimizers.items() if _reads_closure(o)]
        wanted = [role for role in wanted if role not in closing]  # their update channel is the TD closure's
        if closing:
            self._init_closure(closing)
        self.probes = build_probes(self.model, wanted)
        unprobed = [role for role in wanted if role not in self.probes]
        if unprobed:
            fed = ["reward"] + [f"loss ({', '.join(k)})" for k in self.loss_keys.values()]
            fed += [f"kl ({self.kl_key})"] if self.kl_key else []
            warnings.warn(
                f"AdaptiveCallback: no update-size probe for {_algo_name(self.model)}'s {', '.join(unprobed)} "
                f"optimizer; it is fed {', '.join(fed)}, and a 'trust_region' rule there does not act (its factor "
                "stays at its start)",
                UserWarning,
                stacklevel=2,
            )
        waiting = [role for role in self.probes if _waiting_rules(self.optimizers[role])]
        if waiting:
            warnings.warn(
                f"AdaptiveCallback: the trust-region rule of {_algo_name(self.model)}'s {', '.join(waiting)} "
                "optimizer has no target, so it does not act; build it with target_update= (and update_power=), "
                "or through rl_adaptive.sb3.adaptive_policy_kwargs, which gives it the algorithm's",
                UserWarning,
                stacklevel=2,
            )
        if self.probe_every is not None and not on_policy:
            raise ValueError(
                f"probe_every: measures inside on-policy training phases only; {_algo_name(self.model)} is "
                "off-policy, where probe_min_steps sets the window"
            )
        if self.probe_every is not None:
            for role in self.probes:
                self._hooks.append(self.optimizers[role].register_step_post_hook(self._in_phase_probe(role)))

    def _init_closure(self, roles: list[str]) -> None:
        """One TD-closure probe on the algorithm's value network, feeding every optimizer in ``roles``."""
        name = _algo_name(self.model)
        entry = TD_LOSSES.get(name)
        value_role = entry[0] if entry is not None else None
        if entry is None or value_role not in self.optimizers:
            why = (
                f"{name} trains no value network with a TD loss of known slope (rl_adaptive.sb3.TD_LOSSES)"
                if entry is None
                else f"its {value_role} optimizer is not an AdaptiveOptimizer"
            )
            warnings.warn(
                f"AdaptiveCallback: no TD-closure probe for {name}: {why}; the 'td_closure' rule of its "
                f"{', '.join(roles)} optimizer does not act (its factor stays at 1)",
                UserWarning,
                stacklevel=3,
            )
            return
        assert value_role is not None
        _, attribute, slope = entry
        policy: Any = self.model.policy
        module = getattr(policy, attribute)
        targets = [self.optimizers[role] for role in roles]

        def feed(rho: Any) -> None:
            for optimizer in targets:
                optimizer.step_update(rho)

        self.closures.append(ClosureProbe(module, self.optimizers[value_role], feed, self.closure_every, slope))

    def _in_phase_probe(self, role: str) -> Callable[..., None]:
        probe = self.probes[role]

        def hook(optimizer: AdaptiveOptimizer, args: Any, kwargs: Any) -> None:
            if self._window is None or self.probe_every is None:
                return
            batch, before, steps = self._window
            if optimizer.step_count - steps[role] < self.probe_every:
                return
            start = time.perf_counter()
            self._feed_update(role, probe.measure(batch, before[role]))
            before[role] = probe.snapshot(batch)
            steps[role] = optimizer.step_count
            self.probe_seconds += time.perf_counter() - start

        return hook

    # -- reward channel ------------------------------------------------------------------------------------
    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get("episode") if isinstance(info, dict) else None
            if episode is not None and "r" in episode:
                self._returns.append(float(episode["r"]))
        return True

    def _on_rollout_end(self) -> None:
        if self.bad_data != "ignore":
            self._check_data()
        if isinstance(self.model, OnPolicyAlgorithm):
            for optimizer in self.optimizers.values():
                optimizer.new_rollout()
        if self.probes and (self._window is None or self.probe_every is not None):
            self._open_window()  # with probe_every: a fresh batch for each phase, measured by the step hook
        if not self._returns:
            return
        reward = float(self._aggregate(self._returns))
        self._returns.clear()
        for optimizer in self.optimizers.values():
            optimizer.step_reward(reward)
        self._fed["reward"] = reward

    # -- hostile data ---------------------------------------------------------------------------------------
    def _check_data(self) -> None:
        """Find non-finite or absurd rewards and observations the next training phase would read; raise, or skip
        them (``bad_data``)."""
        on_policy = isinstance(self.model, OnPolicyAlgorithm)
        buffer = getattr(self.model, "rollout_buffer" if on_policy else "replay_buffer", None)
        if buffer is None:
            return
        size = buffer.buffer_size
        if on_policy:
            rows = np.arange(size if buffer.full else buffer.pos)
        else:  # the rows stored since the last check: one per environment step, every env in a row
            steps = self.model.num_timesteps
            new = min(size, (steps - self._checked) // buffer.n_envs)
            self._checked = steps
            rows = (buffer.pos - new + np.arange(new)) % size
        if not len(rows):
            return
        bad = find_bad(buffer, rows, on_policy)
        if not bad:
            return
        where = "the rollout" if on_policy else f"the {len(rows)} transitions stored since the last phase"
        shown = "; ".join(str(b) for b in bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        message = f"AdaptiveCallback: {where} holds {len(bad)} non-finite or absurd (beyond {LIMIT:g}) values ({shown})"
        if self.bad_data == "raise":
            raise ValueError(
                f"{message}; stopped before training on them, the weights untouched. "
                "AdaptiveCallback(bad_data='skip') goes on without them"
            )
        self.bad_values += len(bad)
        filled = size if buffer.full else buffer.pos
        if on_policy or not replace_bad_transitions(buffer, bad, filled):
            self.skipped_phases += 1
            self._holding = True
            for optimizer in self.optimizers.values():
                optimizer.hold = True
        if self.bad_values == len(bad):  # the first time
            warnings.warn(f"{message}; skipped (counted in adaptive/bad_values)", UserWarning, stacklevel=2)

    # -- loss and KL channels ------------------------------------------------------------------------------
    def _on_rollout_start(self) -> None:
        if self._holding:  # the skipped phase is over
            self._holding = False
            for optimizer in self.optimizers.values():
                optimizer.hold = False
        # A training phase ran for every optimizer whose own step count moved since we last looked: counted from
        # what the library sees, not from SB3's private counters.
        stepped = [role for role, opt in self.optimizers.items() if opt.step_count != self._steps_seen[role]]
        if stepped:
            for role in stepped:
                self._steps_seen[role] = self.optimizers[role].step_count
            self._feed_training_signals(stepped)
        if self._window is not None and self.probe_every is None:
            self._close_window()
        self._log()

    # -- update-size channel -------------------------------------------------------------------------------
    def _open_window(self) -> None:
        start = time.perf_counter()
        batch = sample_batch(self.model, self.probe_size, self._probe_rng)
        if batch is not None:
            before = {role: probe.snapshot(batch) for role, probe in self.probes.items()}
            steps = {role: self.optimizers[role].step_count for role in self.probes}
            self._window = (batch, before, steps)
        self.probe_seconds += time.perf_counter() - start

    def _close_window(self) -> None:
        assert self._window is not None and self.probe_min_steps is not None
        batch, before, steps = self._window
        if all(self.optimizers[role].step_count - steps[role] < self.probe_min_steps for role in self.probes):
            return  # too few optimizer steps yet (off-policy before learning_starts, or between gradient steps)
        start = time.perf_counter()
        for role, probe in self.probes.items():
            if self.optimizers[role].step_count == steps[role]:
                continue  # this optimizer did not step in the window (TD3's delayed actor)
            self._feed_update(role, probe.measure(batch, before[role]))
        self._window = None
        self.probe_seconds += time.perf_counter() - start

    def _feed_update(self, role: str, size: float) -> None:
        self.optimizers[role].step_update(size)
        self._fed[f"update/{role}" if len(self.optimizers) > 1 else "update"] = size

    def _feed_training_signals(self, stepped: list[str]) -> None:
        recorded = self.model.logger.name_to_value
        wanted = [k for role, keys in self.loss_keys.items() if role in stepped for k in keys]
        if self.kl_key and "policy" in stepped:
            wanted.append(self.kl_key)
        self._seen_keys.update(k for k in wanted if k in recorded)
        self._phases += 1
        if self._phases == _PHASES_BEFORE_WARNING:  # TD3 records its actor loss only every policy_delay phases
            missing = [k for k in wanted if k not in self._seen_keys]
            if missing:
                warnings.warn(
                    f"AdaptiveCallback: {_algo_name(self.model)} did not record {', '.join(missing)} in "
                    f"{self._phases} training phases; it records: "
                    f"{', '.join(sorted(k for k in recorded if k.startswith('train/')))}",
                    UserWarning,
                    stacklevel=2,
                )
        for role, keys in self.loss_keys.items():
            if role not in stepped:
                continue  # TD3's actor between its delayed updates: what is recorded is from an older phase
            values = [_recorded(k, recorded) for k in keys]
            if values and all(v is not None for v in values):
                loss = float(sum(values))  # type: ignore[arg-type]
                self.optimizers[role].step_loss(loss)
                self._fed[f"loss/{role}" if len(self.optimizers) > 1 else "loss"] = loss
        if self.kl_key and "policy" in stepped:
            kl = _recorded(self.kl_key, recorded)
            if kl is not None:
                self.optimizers["policy"].step_kl(kl)
                self._fed["kl"] = kl

    # -- logging -------------------------------------------------------------------------------------------
    def _log(self) -> None:
        prefix = self.log_prefix
        for role, optimizer in self.optimizers.items():
            sub = f"{prefix}/" if role == "policy" or len(self.optimizers) == 1 else f"{prefix}/{role}/"
            for knob, value in optimizer.hyperparameters().items():
                self.logger.record(sub + knob, value)
            for label, factor in optimizer.rule_factors().items():
                self.logger.record(f"{sub}factor/{label}", factor)
        for name, value in self._fed.items():
            self.logger.record(f"{prefix}/signal/{name}", value)
        if self.bad_data == "skip":
            self.logger.record(f"{prefix}/bad_values", self.bad_values)
            self.logger.record(f"{prefix}/skipped_phases", self.skipped_phases)
        for closure in self.closures:  # the last value the optimizer has read: logging forces no host sync
            stats = closure.optimizer.signals["update"]
            if stats.count:
                self.logger.record(f"{prefix}/signal/closure", stats.last)

    def _on_training_end(self) -> None:
        # Nothing is recorded here: SB3 dumps no logs after learn(), so values recorded now would never be written.
        for handle in self._hooks:  # a later learn() with a new callback registers its own
            handle.remove()
        self._hooks.clear()
        for closure in self.closures:
            closure.remove()
        self.closures.clear()
        if self._holding:  # learn() ended after a skipped phase: the optimizers step again for whoever steps next
            self._holding = False
            for optimizer in self.optimizers.values():
                optimizer.hold = False
