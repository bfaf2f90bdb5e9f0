"""The documentation site (MkDocs with mkdocstrings): it builds with warnings as errors, its API reference covers
every public name of the package and of its SB3 integration, and a broken reference fails the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import rl_adaptive
import rl_adaptive.sb3

ROOT = Path(__file__).resolve().parent.parent


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "-f",
            str(root / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_site_builds_strict_and_its_api_reference_covers_every_public_name(tmp_path):
    built = _build(ROOT, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    public = [f"rl_adaptive.{name}" for name in rl_adaptive.__all__ if name != "__version__"]
    public += [f"rl_adaptive.sb3.{name}" for name in rl_adaptive.sb3.__all__]
    # mkdocstrings anchors each object by its path where it is defined; a re-export is found by its short name too
    missing = [name for name in public if f'id="{name}"' not in api and f'.{name.rsplit(".", 1)[1]}"' not in api]
    assert not missing, f"the API reference leaves out {missing}"
    assert "rl-adaptive" in (tmp_path / "site" / "agents" / "index.html").read_text()


def test_a_broken_reference_fails_the_build(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    (root / "rl_adaptive").symlink_to(ROOT / "rl_adaptive")
    api = root / "docs" / "api.md"
    api.write_text(api.read_text() + "\n::: rl_adaptive.sb3.no_such_thing\n")
    built = _build(root, tmp_path / "site")
    assert built.returncode != 0
    assert "no_such_thing" in built.stderr
