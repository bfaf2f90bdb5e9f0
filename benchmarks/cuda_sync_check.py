"""Check on a GPU that the wrapper's step loop never syncs with the host (the contract issue's CUDA check).

The seed's own loop (forward, backward, ``step_loss(loss)`` with the loss tensor, ``step_reward(r)`` with a tensor,
``step()``) runs on CUDA under ``torch.cuda.set_sync_debug_mode("error")``, which makes every synchronizing call
raise. With the default preset no iteration may sync; with every rule on, only the batched reads of the signals
(one per ``signal_sync_every`` values per channel) may, and the script counts them by running those iterations
with the debug mode at "warn" instead. AdamW runs with ``capturable=True`` (its step counts on the GPU) so that the
bare optimizer's own step does not sync either.

    python -m benchmarks.cuda_sync_check          # exits 0 with a report, 1 on an unexpected sync, 2 without CUDA
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import torch

from rl_adaptive import AdaptiveOptimizer

EVERY_RULE: dict[str, Any] = {
    "lr_rule": "trend+variance",
    "betas_rule": ("relative", "variance"),
    "wd_rule": "trend",
    "reward_rule": "trend",
}


def loop(opt: AdaptiveOptimizer, model: torch.nn.Module, steps: int) -> int:
    """Run the seed's loop; return how many iterations synced (each one raised under mode "error")."""
    x, y = torch.randn(256, 32, device="cuda"), torch.randn(256, 1, device="cuda")
    synced = 0
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        batch_read = any(len(p) + 1 >= opt.signal_sync_every for c, p in opt._pending.items() if opt._by_channel[c])
        torch.cuda.set_sync_debug_mode("warn" if batch_read else "error")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                opt.step_loss(loss)
                opt.step_reward(-loss.detach())
                opt.step()
            synced += any("synchroniz" in str(w.message) for w in caught)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return synced


def main() -> int:
    if not torch.cuda.is_available():
        print("cuda_sync_check: no CUDA device here; run it where there is one")
        return 2
    steps = 64
    presets: tuple[tuple[str, dict[str, Any]], ...] = (("default preset", {}), ("every rule on", EVERY_RULE))
    for name, rules in presets:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1)).cuda()
        base = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=True)
        opt = AdaptiveOptimizer(base, **rules)
        loop(opt, model, 4)  # warm-up: the base optimizer's lazy state
        try:
            synced = loop(opt, model, steps)
        except RuntimeError as e:  # a sync where none is allowed
            print(f"cuda_sync_check: {name}: unexpected host sync: {e}")
            return 1
        allowed = 0 if not rules else 2 * (steps // opt.signal_sync_every + 1)
        print(f"cuda_sync_check: {name}: {synced} of {steps} iterations synced (allowed at most {allowed})")
        if synced > allowed:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
