"""``CheckpointCallback``: SB3's checkpoints, each written whole or not at all, so a run killed at any moment (a
preempted job, SIGKILL, a full disk) leaves the checkpoints it finished and never half of one.

SB3's own ``CheckpointCallback`` saves into the final name as it goes; a kill during that write leaves a truncated
zip under that name. This one saves each checkpoint through :func:`rl_adaptive.files.atomic_write` (a temporary
beside it, then a rename). The model zip holds the policy's optimizers with their state dicts: an
:class:`~rl_adaptive.AdaptiveOptimizer`'s factors, signal statistics, rule state and step count come back with
``PPO.load`` / ``SAC.load``. What :class:`AdaptiveCallback` holds is rebuilt when the next ``learn()`` starts: the
returns of the episodes that had not been fed yet (fed with the next rollout's instead), the open update-size
window (the next rollout opens one) and the TD-closure probe (re-attached); nothing of it moves a factor.
"""

from __future__ import annotations

import os
from pathlib import Path

from stable_baselines3.common.callbacks import CheckpointCallback as _SB3CheckpointCallback

from ..files import atomic_write

__all__ = ["CheckpointCallback"]


class CheckpointCallback(_SB3CheckpointCallback):
    """SB3's ``CheckpointCallback`` (same arguments, same file names: ``{name_prefix}_{steps}_steps.zip`` every
    ``save_freq`` calls), each file written atomically. The replay buffer and VecNormalize files, when asked for,
    too."""

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            path = self._checkpoint_path(extension="zip")
            atomic_write(path, self.model.save)
            if self.verbose >= 2:
                print(f"Saving model checkpoint to {path}")
            if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
                buffer = self._checkpoint_path("replay_buffer_", extension="pkl")
                atomic_write(buffer, self.model.save_replay_buffer)  # type: ignore[attr-defined]
            if self.save_vecnormalize and self.model.get_vec_normalize_env() is not None:
                stats = self._checkpoint_path("vecnormalize_", extension="pkl")
                vec_normalize = self.model.get_vec_normalize_env()
                assert vec_normalize is not None
                atomic_write(stats, lambda tmp: vec_normalize.save(str(tmp)))
        return True


def latest_checkpoint(folder: str | os.PathLike[str], name_prefix: str = "rl_model") -> Path | None:
    """The checkpoint with the most steps in ``folder`` (None if there is none): the one to resume from."""
    found = list(Path(folder).glob(f"{name_prefix}_*_steps.zip"))
    if not found:
        return None
    return max(found, key=lambda p: int(p.stem.removeprefix(f"{name_prefix}_").removesuffix("_steps")))
