"""Hostile data: rewards and observations that are not finite, or absurd (beyond 1e12), found in an SB3 model's
buffers before a training phase reads them, where they would reach the weights through the advantages or the TD
targets. Part of the Stable-Baselines3 integration; :class:`~rl_adaptive.sb3.AdaptiveCallback` runs it.

The buffers are numpy arrays on the host, so the check costs no host-device sync: one pass over the rollout (on-policy)
or over the transitions stored since the last phase (off-policy), against a training phase's forward and backward
passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..signals import ABSURD

__all__ = ["LIMIT", "BadValue", "find_bad", "replace_bad_transitions"]

#: Values larger in magnitude than this are absurd: the signals' own limit.
LIMIT = ABSURD


class BadValue(tuple):
    """``(field, step, env, value)``: where a bad value sits in a buffer."""

    __slots__ = ()

    def __str__(self) -> str:
        field, step, env, value = self
        return f"{field} {value:g} at step {step}, env {env}"


def _fields(buffer: Any, on_policy: bool) -> Iterator[tuple[str, np.ndarray]]:
    yield "reward", buffer.rewards
    observations = buffer.observations
    if isinstance(observations, dict):
        for key, value in observations.items():
            yield f"observation[{key!r}]", value
    else:
        yield "observation", observations
    if not on_policy and not getattr(buffer, "optimize_memory_usage", False):
        nxt = buffer.next_observations
        for key, value in nxt.items() if isinstance(nxt, dict) else (("", nxt),):
            yield f"next observation[{key!r}]" if key else "next observation", value


def find_bad(buffer: Any, steps: np.ndarray, on_policy: bool) -> list[BadValue]:
    """The bad values in rows ``steps`` of ``buffer`` (every env), first value of each bad (step, env, field)."""
    found = []
    for field, array in _fields(buffer, on_policy):
        rows = np.asarray(array[steps], dtype=np.float64)
        flat = rows.reshape(len(steps), buffer.n_envs, -1)
        bad = ~(np.abs(flat) <= LIMIT)  # NaN compares false: non-finite and absurd alike
        for i, env in zip(*np.nonzero(bad.any(axis=2)), strict=True):
            value = float(flat[i, env][bad[i, env]][0])
            found.append(BadValue((field, int(steps[i]), int(env), value)))
    return sorted(found, key=lambda b: (b[1], b[2], b[0]))


def replace_bad_transitions(buffer: Any, bad: list[BadValue], filled: int) -> int:
    """Overwrite each bad transition of a replay buffer (``filled`` rows in use) with a copy of the nearest
    transition before it that has no bad value (wrapping around the buffer): the bad step is dropped from what
    training samples, and the buffer keeps its size. Returns how many (step, env) transitions were replaced; 0 if
    every row in use is bad, and nothing is copied then."""
    places = sorted({(step, env) for _, step, env, _ in bad})
    bad_rows = {step for step, _ in places}
    if filled <= len(bad_rows):
        return 0
    arrays = [buffer.actions, buffer.rewards, buffer.dones, getattr(buffer, "timeouts", None)]
    for field in (buffer.observations, getattr(buffer, "next_observations", None)):
        arrays += list(field.values()) if isinstance(field, dict) else [field]
    for step, env in places:
        source = (step - 1) % filled
        while source in bad_rows:
            source = (source - 1) % filled
        for array in arrays:
            if array is not None:
                array[step, env] = array[source, env]
    return len(places)
