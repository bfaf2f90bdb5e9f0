"""The benchmark machinery: cells, the resumable runner, provenance, and the report's arithmetic.

The figures in BENCHMARKS.md and the README come from this code, so it is tested like the library: a real (tiny)
PPO cell is run and written, and the report's statistics are checked on result rows whose answer is known.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _common, report_base, report_grid, report_suites, rl  # noqa: E402


def test_check_variants_names_the_valid_choices():
    rl.check_variants(["fixed", "kl", "default", "kl_target_0.02"])
    with pytest.raises(ValueError, match=r"variants: unknown variant 'klx'; choose from fixed, .*kl_target_0\.02"):
        rl.check_variants(["kl", "klx"])


def test_adaptive_kwargs_of_a_variant():
    assert rl.adaptive_kwargs("fixed") is None
    assert rl.adaptive_kwargs("design") == {"preset": "design"}
    kwargs = rl.adaptive_kwargs("kl_target_0.02")
    assert kwargs == {"lr_rule": "kl", "target_kl": 0.02}
    kwargs["target_kl"] = 1.0  # a copy: the table itself is not changed by a caller
    assert rl.EXPERIMENTS["kl_target_0.02"]["target_kl"] == 0.02


def test_cells_cover_the_suite_and_extend_with_seeds():
    grid = rl.cells("cartpole_grid", variants=["fixed", "kl"], seeds=2)
    assert len(grid) == 2 * 2 * 5  # variants x seeds x lrs
    assert len({c.cell_id for c in grid}) == len(grid)
    a2c_dqn = rl.cells("a2c_dqn")
    assert {c.algo for c in a2c_dqn} == {"a2c", "dqn"}
    assert len(a2c_dqn) == 2 * 3 * 5


def test_run_writes_a_cell_with_provenance_and_skips_it_next_time(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rl, "RESULTS", tmp_path)
    monkeypatch.setitem(rl.SUITES["cartpole_grid"], "timesteps", 512)
    monkeypatch.setitem(rl.SUITES["cartpole_grid"], "lrs", [1e-3])
    (cell,) = rl.cells("cartpole_grid", variants=["kl"], seeds=1)
    line = rl.run_cell(cell)  # a real PPO run on CartPole-v1, 512 steps
    assert cell.cell_id in line
    payload = json.loads(cell.path.read_text())
    assert payload["cell"]["variant"] == "kl" and payload["cell"]["lr"] == 1e-3
    assert payload["code_hash"] == _common.code_hash() and payload["commit"]
    assert payload["adaptive"] == {"preset": "kl"}
    assert payload["trained_timesteps"] >= 512
    assert len(payload["final"]["returns"]) == 10 and np.isfinite(payload["final"]["mean"])
    assert payload["curve"] and all(c["lr"] > 0 for c in payload["curve"])
    # Resumable: a cell on disk is not run again.
    rl.run("cartpole_grid", workers=1, variants=["kl"], seeds=1)
    assert "0 cells to run" in capsys.readouterr().out


def test_replace_section_replaces_between_markers_and_appends_when_missing(tmp_path):
    md = tmp_path / "doc.md"
    md.write_text("head\n<!-- x:start -->\nold\n<!-- x:end -->\ntail\n")
    _common.replace_section("x", "new $1 \\1 text", md)  # no regex replacement syntax leaks through
    assert md.read_text() == "head\n<!-- x:start -->\nnew $1 \\1 text\n<!-- x:end -->\ntail\n"
    _common.replace_section("y", "other", md)
    assert md.read_text().endswith("<!-- y:start -->\nother\n<!-- y:end -->\n")


def _row(variant: str, seed: int, final: float, lrs: list[float]) -> dict:
    curve = [{"timesteps": 1000 * (i + 1), "return": 0.0, "lr": lr} for i, lr in enumerate(lrs)]
    return {"cell": {"variant": variant, "seed": seed}, "final": {"mean": final}, "curve": curve}


def test_paired_difference_and_first_lr_change():
    rows = [
        _row("fixed", 0, 100.0, [1e-3] * 4),
        _row("fixed", 1, 200.0, [1e-3] * 4),
        _row("kl", 0, 130.0, [1e-3, 1e-3, 1.5e-3, 1.5e-3]),  # moves at step 3000
        _row("kl", 1, 190.0, [1e-3, 1.5e-3, 1.5e-3, 1e-3]),  # moves at step 2000
        _row("kl", 7, 999.0, [1e-3] * 4),  # no fixed twin: not paired
    ]
    assert report_suites._first_change(rows[2]["curve"]) == 3000
    assert report_suites._first_change(rows[0]["curve"]) == np.inf
    lines = report_suites._paired(rows, ["fixed", "kl"])
    (kl_line,) = [line for line in lines if line.startswith("| kl ")]
    cells = [c.strip() for c in kl_line.strip("|").split("|")]
    assert cells[1] == "2"  # paired seeds
    assert cells[2].startswith("+10.0 [")  # mean of +30 and -10
    assert cells[3] == "1 / 1"
    assert cells[4] == "2,500"  # median of 3000 and 2000


def test_first_reach_counts_never_as_infinite():
    curve = [{"timesteps": 10, "return": 50.0}, {"timesteps": 20, "return": 210.0}]
    assert report_suites._first_reach(curve, 200.0) == 20
    assert report_suites._first_reach(curve, 300.0) == np.inf


def test_unknown_algorithm_and_missing_competitor_are_named(monkeypatch):
    with pytest.raises(ValueError, match=r"algos: screen has no algorithm 'sac'; choose from ppo, a2c"):
        rl.run("screen", workers=1, variants=None, seeds=1, algos=["sac"])
    from benchmarks import competitors

    missing = competitors.Competitor("nopkg-xyz", "nopkg_xyz", "Opt", 1.0)
    monkeypatch.setitem(competitors.COMPETITORS, "nothere", missing)
    with pytest.raises(ImportError, match=r"nopkg-xyz: pip install -e '\.\[benchmarks\]'"):
        rl.check_variants(["nothere"])
    with pytest.raises(ValueError, match="competitor: unknown competitor 'adam'; choose from prodigy"):
        competitors.competitor_policy_kwargs("adam")


def test_the_runner_refuses_an_unknown_algorithm_on_one_line(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["rl.py", "run", "algos_grid", "--algos", "bogus"])
    with pytest.raises(SystemExit) as exit_:
        rl.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "rl.py run: error: algos: algos_grid has no algorithm 'bogus'; choose from ppo, a2c, dqn, sac, td3"
    )


def test_a_cells_own_error_is_a_traceback_not_a_usage_line(monkeypatch):
    """Only bad arguments are one usage line: an error inside a cell (a bug, or a broken environment) keeps its
    traceback, and is never reported as if the command line were wrong."""
    monkeypatch.setattr("sys.argv", ["rl.py", "run", "algos_grid", "--algos", "sac", "--variants", "fixed"])
    monkeypatch.setattr(rl, "plan", lambda *args: [])

    def broken(*args):
        raise ValueError("inside a cell")

    monkeypatch.setattr(rl, "execute", broken)
    with pytest.raises(ValueError, match="inside a cell"):
        rl.main()


def test_the_runner_runs_only_the_lr_multipliers_asked_for(monkeypatch, capsys):
    ran: list[rl.Cell] = []
    monkeypatch.setattr(rl.Cell, "path", property(lambda cell: Path("/nonexistent") / cell.cell_id))

    def no_jobs(fn, todo, *args):  # what would run, with nothing run
        ran.extend(todo)
        yield from ()

    monkeypatch.setattr("rl_adaptive.app.parallel.imap_jobs", no_jobs)
    rl.run("algos_grid", workers=1, variants=["fixed"], seeds=2, algos=["sac"], mults=[0.03, 30.0])
    assert sorted({(c.lr_mult, c.seed) for c in ran}) == [(0.03, 0), (0.03, 1), (30.0, 0), (30.0, 1)]
    assert {c.algo for c in ran} == {"sac"}
    with pytest.raises(ValueError, match=r"lr_mults: algos_grid has no multiplier 30; choose from 0.1, 0.3, 1, 3, 10"):
        rl.run("algos_grid", workers=1, variants=None, seeds=1, algos=["ppo"], mults=[30.0])
    with pytest.raises(ValueError, match=r"lr_mults: cartpole_grid has no lr multipliers; suites with them: "):
        rl.run("cartpole_grid", workers=1, variants=None, seeds=1, mults=[1.0])


def test_lr_multipliers_apply_to_each_variants_own_lr():
    cells = rl.cells("screen", variants=["fixed", "prodigy", "schedulefree"], seeds=1)
    lrs = {(c.algo, c.variant, c.lr_mult): c.lr for c in cells}
    assert lrs[("ppo", "fixed", 10.0)] == pytest.approx(1e-2)  # rl-zoo's lin_1e-3, held constant
    assert lrs[("a2c", "fixed", 0.1)] == pytest.approx(7e-5)  # SB3's A2C default, rl-zoo sets none
    assert lrs[("ppo", "prodigy", 0.1)] == pytest.approx(0.1)  # Prodigy expects lr=1.0
    assert lrs[("a2c", "schedulefree", 1.0)] == pytest.approx(0.0025)  # Schedule-Free AdamW's default
    assert {c.timesteps for c in cells if c.algo == "a2c"} == {200_000}


@pytest.mark.parametrize("variant", ["prodigy", "dadaptation", "schedulefree", "adaptive_prodigy"])
def test_competitor_cells_train_with_their_own_optimizer(variant, tmp_path, monkeypatch):
    from benchmarks.competitors import COMPETITORS

    monkeypatch.setattr(rl, "RESULTS", tmp_path)
    monkeypatch.setitem(rl.SUITES["screen"], "timesteps", {"ppo": 512, "a2c": 512})
    cell = next(c for c in rl.cells("screen", variants=[variant], seeds=1) if c.algo == "ppo" and c.lr_mult == 1)
    rl.run_cell(cell)  # a real PPO run on CartPole-v1 with the competitor as SB3's optimizer
    payload = json.loads(cell.path.read_text())
    assert payload["learning_rate"] == repr(COMPETITORS[variant].lr)
    assert np.isfinite(payload["final"]["mean"]) and payload["trained_timesteps"] >= 512
    if variant == "schedulefree":  # train/eval switched around both phases; the gap PPO's ratio starts from
        assert len(payload["mode_kl"]) == 2 and all(k >= 0 for k in payload["mode_kl"])
        assert payload["mode_kl"][1] > 0  # after a phase, the averaged and the trained weights differ
    if variant == "adaptive_prodigy":  # the default preset around Prodigy: on PPO the KL rule scales its lr
        assert payload["adaptive"] is None and not payload["updates"]  # a competitor's run; no probe on PPO
        assert {c["lr"] for c in payload["curve"]} - {1.0}, "the KL rule moved the wrapper's lr"


def test_adaptive_prodigy_on_sac_is_prodigy_bit_for_bit():
    """Why BENCHMARKS.md runs ``adaptive_prodigy`` on PPO only: on SAC the default preset adapts nothing."""
    import torch
    from stable_baselines3 import SAC

    from benchmarks.competitors import EntropyCoefLr, competitor_policy_kwargs
    from rl_adaptive.sb3 import AdaptiveCallback

    def train(variant, *callbacks):  # the entropy Adam at fixed's lr, as in a competitor cell
        kwargs = dict(learning_starts=100, buffer_size=2000, batch_size=64, seed=1, device="cpu")
        sac = SAC(
            "MlpPolicy", "Pendulum-v1", policy_kwargs=competitor_policy_kwargs(variant), learning_rate=1.0, **kwargs
        )
        start = sac.actor.mu.weight.detach().clone()
        sac.learn(300, callback=[*callbacks, EntropyCoefLr(3e-4)])
        assert not torch.equal(start, sac.actor.mu.weight)  # it trained
        return sac

    callback = AdaptiveCallback()
    wrapped, bare = train("adaptive_prodigy", callback), train("prodigy")
    assert type(bare.actor.optimizer).__name__ == "Prodigy" and len(callback.optimizers) == 2  # actor, critic
    for optimizer in callback.optimizers.values():
        assert optimizer.factors() == {"lr": 1.0} and optimizer.signals["loss"].count > 0  # fed, and nothing moved
    for (name, x), (_, y) in zip(wrapped.policy.state_dict().items(), bare.policy.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_sacs_entropy_coefficient_keeps_fixeds_lr_in_a_competitor_cell():
    """SB3 resets the entropy Adam's lr to learning_rate at every train(): at a competitor's 1.0 it blew SAC up
    within 100 steps. The callback keeps that Adam at fixed's lr while SB3 still sets the networks' optimizers."""
    from stable_baselines3 import SAC, TD3

    from benchmarks.competitors import EntropyCoefLr

    sac = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1.0, learning_starts=50, seed=0, device="cpu")
    sac.learn(120, callback=EntropyCoefLr(1e-3))
    assert [g["lr"] for g in sac.ent_coef_optimizer.param_groups] == [1e-3]
    assert sac.actor.optimizer.param_groups[0]["lr"] == sac.critic.optimizer.param_groups[0]["lr"] == 1.0
    assert np.isfinite(sac.log_ent_coef.item()) and abs(sac.log_ent_coef.item()) < 0.1  # 70 steps at 1e-3
    td3 = TD3("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, learning_starts=50, seed=0, device="cpu")
    td3.learn(60, callback=EntropyCoefLr(1.0))  # no entropy optimizer: nothing to keep
    assert td3.actor.optimizer.param_groups[0]["lr"] == 1e-3


def test_the_algos_grid_uses_rl_zoos_budgets_and_each_variants_own_lr():
    cells = rl.cells("algos_grid", seeds=1)
    budgets = {(c.algo, c.env): c.timesteps for c in cells}
    assert budgets == {  # None: the agent's own n_timesteps, read from rl-zoo's files
        ("ppo", "CartPole-v1"): 50_000,  # shortened from rl-zoo's 100k (fixed is solved by then), and said so
        ("a2c", "CartPole-v1"): None,
        ("dqn", "CartPole-v1"): None,
        ("sac", "Pendulum-v1"): None,
        ("td3", "Pendulum-v1"): None,
    }
    from rl_adaptive.app.agents import load_zoo_agent

    assert load_zoo_agent("dqn", "CartPole-v1").n_timesteps == 50_000  # rl-zoo's, not the old agents/dqn.yml
    lrs = {(c.algo, c.variant, c.lr_mult): c.lr for c in cells}
    assert lrs[("dqn", "fixed", 1.0)] == pytest.approx(2.3e-3)
    assert lrs[("sac", "dadaptation", 0.3)] == pytest.approx(0.3)
    mults = {key: sorted({c.lr_mult for c in cells if (c.algo, c.env) == key}) for key in budgets}
    assert mults[("sac", "Pendulum-v1")] == [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]  # widened, and said why
    assert all(mults[(a, "CartPole-v1")] == [0.1, 0.3, 1.0, 3.0, 10.0] for a in ("ppo", "a2c", "dqn"))
    assert mults[("td3", "Pendulum-v1")] == [0.1, 0.3, 1.0, 3.0, 10.0]
    assert lrs[("sac", "prodigy", 30.0)] == pytest.approx(30.0)  # a competitor's widened grid: its own lr x30
    assert len(cells) == 5 * 4 * 5 + 5 * 7


def test_the_grid_report_shows_each_algorithms_own_multipliers(monkeypatch):
    def cell(algo: str, mult: float, final: float) -> dict:  # the report takes the env from the suite
        return {
            "cell": {"algo": algo, "variant": "fixed", "lr_mult": mult, "seed": 0},
            "final": {"mean": final},
            "trained_timesteps": 100,
            "commit": "c",
            "machine": {"processor": "x86_64", "cpus": 2, "torch": "2"},
            "wall_s": 1,
        }

    rows = [cell("sac", m, -150.0 if m < 30 else -900.0) for m in rl.lr_mults("algos_grid", "sac")]  # Pendulum
    rows += [{**cell("sac", m, -150.0), "cell": {**cell("sac", m, 0)["cell"], "variant": "prodigy"}} for m in (1, 3)]
    rows += [
        {**cell("sac", m, 0), "cell": {**cell("sac", m, 0)["cell"], "variant": "prodigy"}, "final": {}, "diverged": {}}
        for m in rl.lr_mults("algos_grid", "sac")
        if m not in (1, 3)
    ]
    rows += [cell("ppo", m, 500.0) for m in rl.lr_mults("algos_grid", "ppo")]
    written: dict[str, str] = {}
    monkeypatch.setattr(report_grid, "load", lambda suite: rows if suite == "algos_grid" else [])
    monkeypatch.setattr(report_grid, "RESULTS", Path("/nonexistent"))  # no default_twins.json to quote
    monkeypatch.setattr(report_grid, "replace_section", lambda name, text, path=None: written.__setitem__(name, text))
    report_grid.algos_grid()
    grid = written["algos-grid"]
    assert "times 0.1, 0.3, 1, 3, 10 (SAC: 0.03, 0.1, 0.3, 1, 3, 10, 30, widened: fixed SAC solved" in grid
    sac = grid.split("**SAC**", 1)[1]
    assert "| lr x0.03 | lr x0.1 | lr x0.3 | lr x1 | lr x3 | lr x10 | lr x30 |" in sac
    assert "| fixed | 1 | 6/7 |" in sac and "widen it" not in sac  # fails at x30: the grid can show a gain
    # five diverged cells: not solved, and no return to rank, so no IQM
    assert "| prodigy | 1 | 2/7 | 6/7 | 0/1 | 0/1 | 0/1 | 1/1 | 1/1 | 0/1 | 0/1 | none: 5 of 7 cells diverged |" in sac
    assert "Fixed PPO solves every cell: this grid cannot show a gain; widen it." in grid


def _grid_row(variant: str, mult: float, seed: int, final: float) -> dict:
    return {"cell": {"variant": variant, "lr_mult": mult, "seed": seed}, "final": {"mean": final}}


def test_grid_targets_count_solved_cells_and_compare_fractions_across_seed_counts():
    mults = [0.1, 1.0, 10.0]
    rows = [_grid_row("fixed", m, s, 500.0 if m == 1.0 else 100.0) for m in mults for s in range(5)]
    rows += [_grid_row("default", m, s, 500.0) for m in mults for s in range(5)]
    rows += [_grid_row("default", 1.0, 5, 10.0)]  # an extra seed at one multiplier only: not counted
    rows += [_grid_row("prodigy", m, s, 500.0 if s < 2 else 0.0) for m in mults for s in range(3)]
    grid = report_grid._grid_cells(rows, mults, 475.0)
    assert grid["default"]["n"] == 5 and grid["default"]["solved"] == {0.1: 5, 1.0: 5, 10.0: 5}
    assert grid["fixed"]["solved"] == {0.1: 0, 1.0: 5, 10.0: 0}
    assert grid["prodigy"]["scores"].shape == (3, 3)
    targets = report_grid._grid_targets("ppo", grid)
    assert targets[0].endswith("| yes |")  # 15/15 against 5/15
    assert targets[1].endswith("| yes |")  # 5/5 against 5/5 at the tuned lr
    assert "prodigy" in targets[2] and "6/9" in targets[2] and targets[2].endswith("| yes |")
    assert all(t.endswith("| not run yet |") for t in targets[3:])  # schedulefree, dadaptation
    worse = report_grid._grid_cells(
        [*rows[:15], *(_grid_row("default", m, s, 100.0) for m in mults for s in range(5))], mults, 475.0
    )
    assert [t.rsplit("|", 2)[1].strip() for t in report_grid._grid_targets("ppo", worse)[:2]] == ["no", "no"]
    same = [_grid_row("default", r["cell"]["lr_mult"], r["cell"]["seed"], r["final"]["mean"]) for r in rows[:15]]
    bare = report_grid._grid_cells([*rows[:15], *same], mults, 475.0)  # the default's cells are fixed's
    assert report_base.default_twin("dqn") == "fixed"  # the default is the bare optimizer on DQN: a miss says so
    assert report_grid._grid_targets("dqn", bare)[0].endswith(
        "| no: no rule acts on DQN (the default is the bare optimizer there) |"
    )
    # too few seeds for the count (5 for default and fixed, 3 for a competitor): no verdict yet
    short = report_grid._grid_cells(
        [r for r in rows if r["cell"]["seed"] < 3 or r["cell"]["variant"] == "default"]
        + [_grid_row("schedulefree", m, 0, 500.0) for m in mults],
        mults,
        475.0,
    )
    targets = report_grid._grid_targets("dqn", short)
    assert targets[0].endswith("| not yet: `fixed` 3 of 5 seeds |") and targets[1].endswith("3 of 5 seeds |")
    assert "prodigy" in targets[2] and targets[2].endswith("| yes |")  # default 5 seeds, prodigy 3: enough
    assert targets[3].endswith("| not yet: `schedulefree` 1 of 3 seeds |")
    # a screening variant's 3 seeds against fixed's on the same seeds: fixed solves seed 0-2 at x1 only
    assert report_grid._fixed_on_seeds(grid, 3, 475.0, 9) == "3/9"
    rows_fixed = [_grid_row("fixed", m, s, 500.0 if s == 4 else 100.0) for m in mults for s in range(5)]
    late = report_grid._grid_cells(rows_fixed, mults, 475.0)
    assert report_grid._fixed_on_seeds(late, 3, 475.0, 9) == "0/9"  # seed 4's solves are not on the first 3 seeds
    assert report_grid._fixed_on_seeds(late, 6, 475.0, 18) == "-"  # fixed has fewer seeds than the variant


def test_the_defaults_row_stands_on_its_own_cells_else_on_its_twins():
    assert [report_base.default_twin(a) for a in ("ppo", "a2c", "dqn", "sac", "td3")] == [
        "kl",
        "trust_region_cautious",
        "fixed",
        "fixed",
        "fixed",
    ]
    assert report_base.default_variant(["fixed", "kl"], "ppo") == "kl"  # the CartPole grid of the KL rule
    assert report_base.default_variant(["default", "fixed", "kl"], "ppo") == "default"  # its own cells first
    assert report_base.default_variant(["fixed", "trust_region_cautious"], "a2c") == "trust_region_cautious"
    assert report_base.default_variant(["fixed", "kl"], "a2c") is None  # the KL rule is not A2C's default
    assert report_base.default_variant(["fixed"], "dqn") == "fixed"


def test_a_default_no_test_proves_a_twin_for_has_none(monkeypatch):
    from rl_adaptive.sb3 import models

    row = models.ALGORITHMS["A2C"]
    two_rules = dataclasses.replace(row, default={**row.default, "reward_rule": "trend"})
    monkeypatch.setitem(models.ALGORITHMS, "A2C", two_rules)  # type: ignore[index]
    assert report_base.default_twin("a2c") == "default"
    assert report_base.default_variant(["fixed", "trust_region_cautious"], "a2c") is None


# What differs between two runs of the same cell: when and where it ran, and how long it took.
_TIMING = {"finished", "machine", "wall_s", "probe_s"}


def _comparable(path):
    payload = json.loads(path.read_text())
    return {k: v for k, v in payload.items() if k not in _TIMING}


def test_ray_backend_writes_the_same_result_files_as_the_local_pool(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ray")
    monkeypatch.chdir(ROOT)  # Ray's local workers import benchmarks/ from here
    monkeypatch.setitem(rl.SUITES["cartpole_grid"], "timesteps", 256)
    monkeypatch.setitem(rl.SUITES["cartpole_grid"], "lrs", [1e-3])
    files = {}
    for backend in ("local", "ray"):
        monkeypatch.setattr(rl, "RESULTS", tmp_path / backend)
        rl.run("cartpole_grid", workers=2, variants=["fixed", "kl"], seeds=1, backend=backend)
        files[backend] = sorted((tmp_path / backend / "cartpole_grid").glob("*.json"))
    assert "2 cells to run with Ray (local, 2 CPUs)" in capsys.readouterr().out
    assert [p.name for p in files["local"]] == [p.name for p in files["ray"]] and len(files["ray"]) == 2
    for local, remote in zip(files["local"], files["ray"], strict=True):
        a, b = _comparable(local), _comparable(remote)
        a["curve"] = [{k: v for k, v in c.items() if k != "wall_s"} for c in a["curve"]]
        b["curve"] = [{k: v for k, v in c.items() if k != "wall_s"} for c in b["curve"]]
        assert a == b


def test_unknown_backend_and_an_address_without_ray_are_refused():
    from rl_adaptive.app.parallel import imap_jobs

    with pytest.raises(ValueError, match="backend: unknown backend 'dask'; choose from local, ray"):
        list(imap_jobs(abs, [1], 1, backend="dask"))
    with pytest.raises(ValueError, match="address: only the ray backend connects to a cluster"):
        list(imap_jobs(abs, [1], 1, address="auto"))


def _overhead_payload(default_ratio, default_ci, every_ci, ppo_ci, added, growth):
    entry = {"median_ratio": default_ratio, "ci95": default_ci, "median_us": 350.0}
    every = {"median_ratio": every_ci[0] / 2 + every_ci[1] / 2, "ci95": every_ci, "median_us": 370.0}
    ppo = {"median_ratio": sum(ppo_ci) / 2, "ci95": ppo_ci, "median_us": 60_000.0}
    return {
        "commit": "abc1234",
        "machine": {"processor": "x86_64", "cpus": 2, "torch": "2.13"},
        "rounds": 3,
        "iters_per_round": 10,
        "results": {"sb3_64x64/optimizer": {"bare_us": 340.0, "default": entry, "every_rule": every}},
        "ppo": {"bare_us": 59_000.0, "default": ppo, "env_steps": 256},
        "curve": {
            name: {
                "params": n,
                "bare_step_us": 1.0,
                **{v: {"added_us": a, "ci95": [a - 1, a + 1]} for v in ("default", "every_rule")},
            }
            for name, n, a in (("small", 10_000, added[0]), ("large", 100_000_000, added[1]))
        },
        "memory": {
            "steps": 100_000,
            "warm_steps": 10_000,
            "growth_bytes": growth,
            "state_numbers": 42,
            "state_numbers_at_start": 42,
            "state_bytes": 800,
            "numbers_per_channel": 7,
            "numbers_per_rule": {"lr_rule.kl": 1},
        },
    }


def test_overhead_section_says_met_or_not_from_the_numbers(monkeypatch):
    from benchmarks import overhead_report

    written = {}
    monkeypatch.setattr(overhead_report, "replace_section", lambda name, text: written.__setitem__(name, text))

    def section(*args, **kwargs) -> str:
        overhead_report.write_section(_overhead_payload(*args, **kwargs))
        return written["overhead"]

    text = section(1.015, [1.010, 1.019], [1.06, 1.10], [0.995, 1.02], added=(6.0, 9.0), growth=120)
    assert "optimizer alone, 64x64 policy: +1.5% [+1.0%, +1.9%], target at most 2%: **met**." in text
    assert "every rule on, the seed's loop, optimizer alone, 64x64 policy: +8.0% [+6.0%, +10.0%], target at " in text
    assert "most 5%: **not met**." in text
    assert "a PPO iteration (CartPole-v1, rl-zoo): +0.8% [-0.5%, +2.0%], target at most 1%: met at the median" in text
    assert "6.0 µs at 10,000 parameters, 9.0 µs at 100,000,000 (1.50x), target at most 2x (+1 µs): **met**." in text
    assert "+120 bytes traced, state 42 numbers at the start and 42 at the end" in text
    assert "SAC iteration" not in text  # no off-policy measure in the payload: nothing said
    payload = _overhead_payload(1.015, [1.010, 1.019], [1.06, 1.10], [0.995, 1.02], added=(6.0, 9.0), growth=120)
    payload["off_policy"] = {
        "bare_us": 20_000.0,
        "default": {"median_ratio": 1.031, "ci95": [1.02, 1.06], "median_us": 20_620.0},
        "algo": "sac",
        "env": "Pendulum-v1",
        "adaptive": {"lr_rule": "td_closure"},
    }
    overhead_report.write_section(payload)
    assert (
        "`{'lr_rule': 'td_closure'}` and AdaptiveCallback, a SAC iteration (Pendulum-v1, rl-zoo): +3.1% [+2.0%, "
        "+6.0%], target at most 5%: met at the median" in written["overhead"]
    )
    assert "takes 20.00 ms with the bare optimizer and 20.62 ms" in written["overhead"]
    text = section(1.03, [1.021, 1.04], [1.01, 1.04], [1.02, 1.03], added=(6.0, 14.0), growth=10_000)
    assert "+3.0% [+2.1%, +4.0%], target at most 2%: **not met**." in text
    assert "(2.33x), target at most 2x (+1 µs): **not met**." in text
    assert "target no growth (at most 4,096 bytes): **not met**." in text


def test_overhead_memory_probe_on_the_real_wrapper():
    from benchmarks import overhead

    m = overhead.memory(steps=2_000, warm=400)
    assert m["state_numbers"] == m["state_numbers_at_start"] > 0
    assert m["numbers_per_channel"] == 7
    assert m["growth_bytes"] < 64 * 1024  # a leak of 50 bytes per step would be 80,000


def test_the_off_policy_overhead_runs_sac_side_by_side():
    from benchmarks import overhead

    entry = overhead.sb3_iterations("sac", "Pendulum-v1", {"lr_rule": "td_closure"}, rounds=2, iterations=3)
    assert entry["bare_us"] > 0 and entry["default"]["median_us"] > 0
    assert entry["adaptive"] == {"lr_rule": "td_closure"} and entry["env_steps"] == 1
