"""Baseline AdamW against AdaptiveOptimizer(AdamW): loss curves and lr adaptation, side by side.

The design document's offered comparison (its usage example is the "design" preset), on a plain supervised task
(scikit-learn's digits, 8x8 images, 10 classes), so that a user who does not do RL sees the wrapper work. Several
seeds; the plot shows the mean with the min-max band of the training loss and test accuracy, and the adapted
learning rate and weight decay. The training loop is rl_adaptive.app.digits.train_digits: read it for the three calls
the wrapper needs (step_loss, step, step_reward).

    python examples/compare.py --seeds 3 --epochs 30 --out runs/compare
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from rl_adaptive.app.digits import train_digits
from rl_adaptive.app.report import plot_digits
from rl_adaptive.files import write_text


def main() -> None:
    parser = argparse.ArgumentParser(description="AdamW vs AdaptiveOptimizer(AdamW) on scikit-learn's digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    variants = {"AdamW": None, "AdaptiveOptimizer(AdamW)": {"preset": "design"}}
    results = {
        name: [train_digits(adaptive, seed, args.epochs, args.lr) for seed in range(args.seeds)]
        for name, adaptive in variants.items()
    }
    write_text(args.out / "compare.json", json.dumps(results))  # whole or not at all
    plot_digits(results, args.out / "compare.png")
    for name, runs in results.items():
        final = [r["accuracy"][-1] for r in runs]
        print(f"{name:26s} final test accuracy {np.mean(final):.4f} (seeds: {', '.join(f'{a:.3f}' for a in final)})")
    print(f"plot: {args.out / 'compare.png'}")


if __name__ == "__main__":
    main()
