"""Helpers shared by the benchmark scripts: provenance, result files, BENCHMARKS.md sections."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


def commit(root: Path = ROOT) -> str:
    """The commit being measured (with '-dirty' when the tree has uncommitted changes to tracked files): this
    checkout's, or that of the checkout at ``root``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_hash() -> str:
    """A short hash of the code a run depends on (the library and the agents), whatever the commit says."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "rl_adaptive").rglob("*.py"), *(ROOT / "agents").glob("*.py")]):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> dict[str, Any]:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def write_json(path: Path, payload: dict[str, Any] | list[Any]) -> None:
    from rl_adaptive.files import write_text

    write_text(path, json.dumps(payload, indent=1, default=float))  # atomic: a half-written result never exists


def bootstrap_ci(values: np.ndarray, stat=np.median, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of ``stat`` (default the median) over ``values``, as floats: the
    library's :func:`rl_adaptive.app.stats.bootstrap_interval` (scipy, its own generator)."""
    from rl_adaptive.app.stats import bootstrap_interval

    low, high = bootstrap_interval(values, stat, reps=reps, seed=seed)
    return float(low), float(high)


def replace_section(name: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = path.read_text() if path.exists() else ""
    block = f"{start}\n{text.strip()}\n{end}"
    if start in content and end in content:
        content = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, content, flags=re.S)
    else:
        content = content.rstrip() + "\n\n" + block + "\n"
    from rl_adaptive.files import write_text

    write_text(path, content)  # a report interrupted halfway leaves the old file, not half of it


def iqm_ci(scores: dict[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """rliable's IQM and 95% stratified bootstrap CI per variant (``scores[variant]``: (runs,) or (runs, tasks)).

    The benchmark report's statistics (rliable, from the ``benchmarks`` extra); the library's command uses
    :func:`rl_adaptive.app.stats.iqm_ci`, scipy's equivalent, which tests/test_stats.py checks against this.
    """
    from rliable import library as rly
    from rliable import metrics

    out = {}
    state = np.random.get_state()  # rliable draws from numpy's global generator: leave it as it was
    try:
        for k, v in scores.items():
            matrix = np.asarray(v, dtype=float).reshape(len(v), -1)
            # Reseeding per variant gives every variant the same resamples, so equal scores get equal intervals.
            np.random.seed(seed)
            point, interval = rly.get_interval_estimates(
                {k: matrix}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps
            )
            out[k] = {
                "iqm": float(point[k][0]),
                "ci_low": float(interval[k][0, 0]),
                "ci_high": float(interval[k][1, 0]),
                "runs": int(matrix.shape[0]),
            }
    finally:
        np.random.set_state(state)
    return out
