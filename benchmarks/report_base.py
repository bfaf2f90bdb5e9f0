"""What every section of the RL benchmark's report shares: plotting, formatting, and which variant stands for the
default on each algorithm."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._common import RESULTS, ROOT
from benchmarks.suites import SUITES

PLOTS = RESULTS / "plots"
README_MD = ROOT / "README.md"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 100) -> None:
    from rl_adaptive.files import atomic_write

    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi))  # a report stopped halfway leaves the old plot
    pyplot().close(fig)


def provenance(rows: list[dict[str, Any]]) -> str:
    commits = sorted({r["commit"] for r in rows})
    hashes = sorted({r.get("code_hash", "unrecorded") for r in rows})
    m = rows[0]["machine"]
    walls = [r["wall_s"] for r in rows]
    return (
        f"{len(rows)} runs at commit(s) {', '.join(f'`{c}`' for c in commits)} (library code hash "
        f"{', '.join(f'`{h}`' for h in hashes)}) on {m['processor']}, "
        f"{m['cpus']} CPUs, torch {m['torch']}, one process per core; median {np.median(walls):.0f} s per run, "
        f"{sum(walls) / 3600:.2f} core-hours in all."
    )


def fmt_iqm(s: dict[str, float], digits: int = 1) -> str:
    return f"{s['iqm']:.{digits}f} [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"


def variants_in(rows: list[dict[str, Any]], suite: str) -> list[str]:
    order = SUITES[suite]["variants"]
    present = {r["cell"]["variant"] for r in rows}
    return [v for v in order if v in present] + sorted(present - set(order))


def significant(x: float, digits: int = 2) -> float:
    return float(f"{x:.{digits}g}")


#: The variants whose cells are, bit for bit, the default's when the algorithm's default is that one rule
#: (tests/test_default.py proves each; the trust-region rule's target and exponent come from the same table row).
_TWINS = {"kl": "kl", "trust_region_cautious": "trust_region_cautious", "td_closure": "td_closure"}


def default_twin(algo: str) -> str:
    """The variant whose cells the default's are, bit for bit, on ``algo``: the one rule of its row of
    ``rl_adaptive.sb3.ALGORITHMS`` (PPO ``kl``, A2C ``trust_region_cautious``), the bare optimizer (``fixed``) where
    that row is empty; the default itself (``default``) for any other row."""
    from rl_adaptive.presets import DEFAULT_PRESET
    from rl_adaptive.sb3 import ALGORITHMS

    row = ALGORITHMS.get(algo.upper())
    own = dict(row.default) if row is not None else {}
    if not own:
        return "fixed"
    rule = own.pop("lr_rule", None)
    if set(own) - {"target_update", "update_power"} or not isinstance(rule, str) or rule not in _TWINS:
        return DEFAULT_PRESET
    return _TWINS[rule]


def default_variant(variants: list[str], algo: str = "ppo") -> str | None:
    """The evaluated variant that stands for the default on ``algo``: ``default``'s own cells, else its twin's."""
    from rl_adaptive.presets import DEFAULT_PRESET

    for v in (DEFAULT_PRESET, default_twin(algo)):
        if v in variants:
            return v
    return None
