"""torch.compile of the wrapper's step with a factor that changes every step: how many recompiles?

Run: ``python -m benchmarks.compile_check``. Counts dynamo's graphs and recompiles (``torch._dynamo.utils.counters``
and the recompile log) over 20 steps whose lr factor takes 7 values, for the bare optimizer, the wrapper with a float
lr and the wrapper with an lr tensor. Prints one line per case; the numbers are quoted in docs/contract.md.
"""

from __future__ import annotations

import logging

import torch
import torch._dynamo
from torch._dynamo.utils import counters

from rl_adaptive import AdaptiveOptimizer, Rule


class Changing(Rule):
    """A new lr factor every step (7 values in turn)."""

    channel = "step"

    def at_step(self, step: int) -> None:
        self.factor = 1.0 / (1 + step % 7)


def count(make, steps: int = 20) -> tuple[int, int]:
    """(unique graphs, recompiles) of ``torch.compile(backend="eager")`` around ``opt.step()``."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect()
    logging.getLogger("torch._dynamo").addHandler(handler)
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 8)
    opt = make(model.parameters())

    @torch.compile(backend="eager")
    def step() -> None:
        opt.step()

    try:
        for _ in range(steps):
            model(torch.randn(4, 8)).sum().backward()
            step()
            opt.zero_grad()
    finally:
        logging.getLogger("torch._dynamo").removeHandler(handler)
    recompiles = sum("Recompiling function" in m for m in messages)
    return int(counters["stats"]["unique_graphs"]), recompiles


def main() -> None:
    torch.set_num_threads(1)
    torch._logging.set_logs(recompiles=True)
    cases = {
        "bare AdamW, float lr": lambda p: torch.optim.AdamW(p, lr=1e-3),
        "wrapper, float lr, factor changing every step": lambda p: AdaptiveOptimizer(
            torch.optim.AdamW(p, lr=1e-3), lr_rule=Changing(warmup=0)
        ),
        "wrapper, lr tensor, factor changing every step": lambda p: AdaptiveOptimizer(
            torch.optim.AdamW(p, lr=torch.tensor(1e-3), foreach=False), lr_rule=Changing(warmup=0)
        ),
    }
    print(f"torch {torch.__version__}, 20 steps, 7 lr factors in turn")
    for name, make in cases.items():
        graphs, recompiles = count(make)
        print(f"{name}: {graphs} unique graphs, {recompiles} recompiles")


if __name__ == "__main__":
    main()
