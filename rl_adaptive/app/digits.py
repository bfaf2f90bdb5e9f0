"""The supervised sanity check: the design document's comparison, AdamW against ``AdaptiveOptimizer(AdamW)`` on
scikit-learn's digits, so that a user who does not do RL sees the wrapper work. ``examples/compare.py`` and the
benchmark's ``digits`` suite both train through :func:`train_digits`."""

from __future__ import annotations

from typing import Any

import torch

from ..optimizer import AdaptiveOptimizer

__all__ = ["digits_split", "train_digits"]


def digits_split(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits (8x8 images, 10 classes), scaled to [0, 1]: a stratified 70/30 split by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.3, random_state=seed, stratify=y)
    as_t = lambda a, dtype: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    return (
        as_t(x_train, torch.float32),
        as_t(y_train, torch.long),
        as_t(x_test, torch.float32),
        as_t(y_test, torch.long),
    )


def train_digits(
    adaptive: dict[str, Any] | None, seed: int, epochs: int, lr: float = 1e-3, batch: int = 64
) -> dict[str, list[float]]:
    """A 64-128-10 MLP on digits with AdamW (weight decay 0.01), wrapped in ``AdaptiveOptimizer(**adaptive)`` unless
    ``adaptive`` is None. The loss feeds the loss channel every step, the held-out accuracy the reward channel every
    epoch. Returns the per-step loss, lr and weight decay and the per-epoch accuracy."""
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = digits_split(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    base = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    wrapped = AdaptiveOptimizer(base, **adaptive) if adaptive is not None else None
    opt: torch.optim.Optimizer = wrapped if wrapped is not None else base
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "lr": [], "wd": []}

    def current(knob: str, key: str) -> float:
        # the wrapper writes the user's values back after each step: the adapted ones are its lr and wd
        value = getattr(wrapped, knob) if wrapped is not None else base.param_groups[0][key]
        assert value is not None  # AdamW keeps both
        return float(value)

    for _ in range(epochs):
        perm = torch.randperm(len(x_train))
        for start in range(0, len(x_train), batch):
            idx = perm[start : start + batch]
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            if wrapped is not None:
                wrapped.step_loss(loss)
            opt.step()
            opt.zero_grad()
            history["loss"].append(loss.item())
            history["lr"].append(current("lr", "lr"))
            history["wd"].append(current("wd", "weight_decay"))
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        if wrapped is not None:
            wrapped.step_reward(accuracy)  # reward channel: held-out accuracy, once per epoch
        history["accuracy"].append(accuracy)
    return history
