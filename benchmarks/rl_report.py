"""Statistics, plots and BENCHMARKS.md sections from the RL benchmark's result files (``python -m benchmarks.rl
report``). Every number it writes is computed here from ``benchmarks/results/<suite>/*.json``."""

from __future__ import annotations

from benchmarks.report_base import PLOTS
from benchmarks.report_grid import algos_grid
from benchmarks.report_suites import a2c_dqn, cartpole_grid, digits, lunarlander, timing
from benchmarks.report_verdicts import closure_sizes, rule_verdicts, screen, update_sizes, verdict


def report() -> None:
    update_sizes()
    closure_sizes()
    screen()
    algos_grid()
    grid = cartpole_grid()
    ll = lunarlander()
    identity = a2c_dqn()
    digits()
    verdict(grid, ll, identity)
    rule_verdicts(grid)
    timing()
    print("BENCHMARKS.md updated; plots in", PLOTS)
