"""Files are written whole or not at all: a crash mid-write leaves the old file, and every file a training run
writes arrives by a rename."""

from __future__ import annotations

import os

import pytest

from rl_adaptive import files


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")

    def half(tmp):
        tmp.write_text("ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, half)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    files.write_text(path, "new")
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_the_temporary_keeps_the_suffix_writers_read_the_format_from(tmp_path):
    seen = []
    files.atomic_write(tmp_path / "plot.png", lambda tmp: seen.append(tmp.suffix) or tmp.write_bytes(b"x"))
    assert seen == [".png"]


def test_every_file_of_a_training_run_arrives_by_a_rename(tmp_path, monkeypatch):
    from rl_adaptive.app.agents import load_agent
    from rl_adaptive.app.training import train_agent

    renamed = []
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: renamed.append(os.path.basename(dst)) or replace(src, dst))
    train_agent(load_agent("ppo", "CartPole-v1"), timesteps=256, out_dir=tmp_path, tensorboard=False)
    written = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert written == ["metrics.csv", "metrics.json", "model.zip", "plot.png"]
    assert sorted(renamed) == written
