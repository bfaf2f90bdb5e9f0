"""Baseline AdamW against AdaptiveOptimizer(AdamW): loss curves and lr adaptation, side by side.

The design document's offered comparison, on a plain supervised task (scikit-learn's digits, 8x8 images, 10
classes), so that a user who does not do RL sees the wrapper work. Several seeds; the plot shows the mean with the
min-max band of the training loss and test accuracy, and the adapted learning rate and weight decay.

    python examples/compare.py --seeds 3 --epochs 30 --out runs/compare
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from rl_adaptive import AdaptiveOptimizer

# The design document's usage example.
ADAPTIVE = dict(lr_rule="trend+variance", betas_rule=("relative", "variance"), wd_rule="trend", reward_rule="trend")


def data(seed: int):
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.3, random_state=seed, stratify=y)
    as_t = lambda a, dtype: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    return (
        as_t(x_train, torch.float32),
        as_t(y_train, torch.long),
        as_t(x_test, torch.float32),
        as_t(y_test, torch.long),
    )


def run(adaptive: dict | None, seed: int, epochs: int, lr: float, batch: int = 64) -> dict[str, list[float]]:
    """Train on digits with AdamW, wrapped in AdaptiveOptimizer(**adaptive) unless ``adaptive`` is None."""
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = data(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    base = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    opt = AdaptiveOptimizer(base, **adaptive) if adaptive is not None else base
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "lr": [], "wd": []}
    for _ in range(epochs):
        perm = torch.randperm(len(x_train))
        for start in range(0, len(x_train), batch):
            idx = perm[start : start + batch]
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            if adaptive is not None:
                opt.step_loss(loss)
            opt.step()
            opt.zero_grad()
            history["loss"].append(loss.item())
            history["lr"].append(opt.lr if adaptive is not None else base.param_groups[0]["lr"])
            history["wd"].append(opt.wd if adaptive is not None else base.param_groups[0]["weight_decay"])
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        if adaptive is not None:
            opt.step_reward(accuracy)  # reward channel: held-out accuracy, once per epoch
        history["accuracy"].append(accuracy)
    return history


def smooth(values: list[float], width: int = 20) -> np.ndarray:
    v = np.asarray(values)
    return np.convolve(v, np.ones(width) / width, mode="valid") if len(v) > width else v


def plot(results: dict[str, list[dict[str, list[float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [
        ("loss", "training loss (smoothed)", axes[0, 0], True),
        ("accuracy", "test accuracy", axes[0, 1], False),
        ("lr", "learning rate", axes[1, 0], False),
        ("wd", "weight decay", axes[1, 1], False),
    ]
    for name, runs in results.items():
        for key, title, ax, smoothed in panels:
            curves = np.array([smooth(r[key]) if smoothed else np.asarray(r[key]) for r in runs])
            x = np.arange(curves.shape[1])
            ax.plot(x, curves.mean(0), label=name)
            ax.fill_between(x, curves.min(0), curves.max(0), alpha=0.2)
            ax.set_title(title)
    axes[0, 0].set_yscale("log")
    axes[1, 0].set_yscale("log")
    axes[0, 0].set_xlabel("step")
    axes[0, 1].set_xlabel("epoch")
    axes[1, 0].set_xlabel("step")
    axes[1, 1].set_xlabel("step")
    axes[0, 0].legend()
    fig.suptitle("AdamW vs AdaptiveOptimizer(AdamW) on digits (mean, min-max band over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description="AdamW vs AdaptiveOptimizer(AdamW) on scikit-learn's digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    results = {
        "AdamW": [run(None, s, args.epochs, args.lr) for s in range(args.seeds)],
        "AdaptiveOptimizer(AdamW)": [run(ADAPTIVE, s, args.epochs, args.lr) for s in range(args.seeds)],
    }
    (args.out / "compare.json").write_text(json.dumps(results))
    plot(results, args.out / "compare.png")
    for name, runs in results.items():
        final = [r["accuracy"][-1] for r in runs]
        print(f"{name:26s} final test accuracy {np.mean(final):.4f} (seeds: {', '.join(f'{a:.3f}' for a in final)})")
    print(f"plot: {args.out / 'compare.png'}")


if __name__ == "__main__":
    main()
