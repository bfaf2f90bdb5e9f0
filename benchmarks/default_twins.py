"""Is the default, on a full-length cell of the lr grids, the same training as the cell its row reports?

Where the default's own cells are not on disk, the lr grids report the default's row on an algorithm from its twin's
cells (``report_base.default_twin``: PPO ``kl``, A2C ``trust_region_cautious``, elsewhere ``fixed``); PPO's
``default`` cells on disk ran when the default was the KL rule alone. ``tests/test_default.py`` proves each identity
on tiny budgets. This runs today's default on full-length cells and compares its learning curve and final
evaluation with the committed cell the report uses. Where they differ it also runs the twin at today's commit, to
tell the default apart from the code changes since the committed cell ran. The report quotes the outcome.

    python -m benchmarks.default_twins a2c:10:0 ppo:1:0      # algorithm:lr multiplier:seed
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from benchmarks._common import RESULTS, write_json
from benchmarks.report_base import default_variant
from benchmarks.rl import cells, compute_cell
from benchmarks.suites import load

PATH = RESULTS / "default_twins.json"


def _returns(run: dict[str, Any]) -> tuple[list[float], list[float]]:
    return run["final"]["returns"], [point["return"] for point in run["curve"]]


def check(algo: str, mult: float, seed: int) -> dict[str, Any]:
    """Run the default on one grid cell; compare it with the committed cell that stands for the default there."""
    on_disk = {r["cell_id"]: r for r in load("algos_grid")}
    variants = {r["cell"]["variant"] for r in on_disk.values() if r["cell"]["algo"] == algo}
    stand_in = default_variant(sorted(variants), algo)
    if stand_in is None:
        raise SystemExit(f"{algo}: no committed cell stands for the default (run its grid first)")
    grid = cells("algos_grid", ["default"], seed + 1)
    (cell,) = [c for c in grid if (c.algo, c.lr_mult, c.seed) == (algo, mult, seed)]
    reference = on_disk.get(replace(cell, variant=stand_in).cell_id)
    if reference is None:
        raise SystemExit(f"{replace(cell, variant=stand_in).cell_id}: not on disk")
    run = compute_cell(cell)
    result = {
        "cell_id": cell.cell_id,
        "commit": run["commit"],
        "wall_s": round(run["wall_s"], 1),
        "final": run["final"]["mean"],
        "reference": reference["cell_id"],
        "reference_commit": reference["commit"],
        "reference_final": reference["final"]["mean"],
        "identical": _returns(run) == _returns(reference),
        "twin_now_identical": None,
    }
    if not result["identical"] and stand_in != cell.variant:
        # Is it the default that differs from its twin, or the code since the committed cell ran? Run the twin here.
        result["twin_now_identical"] = _returns(run) == _returns(compute_cell(replace(cell, variant=stand_in)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cells", nargs="+", metavar="ALGO:MULT:SEED")
    args = parser.parse_args()
    done = {r["cell_id"]: r for r in json.loads(PATH.read_text())} if PATH.exists() else {}
    for spec in args.cells:
        algo, mult, seed = spec.split(":")
        result = check(algo, float(mult), int(seed))
        print(json.dumps(result))
        done[result["cell_id"]] = result
        write_json(PATH, sorted(done.values(), key=lambda r: r["cell_id"]))


if __name__ == "__main__":
    main()
