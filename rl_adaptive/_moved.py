"""Modules that moved when the package took its layered layout (after 0.1.0), importable under their old names.

``rl_adaptive.agents`` is ``rl_adaptive.app.agents``, and so on: the same module object, so code written against
the flat layout keeps working, and so does a model saved by it (SB3 pickles a learning-rate schedule such as
``rl_adaptive.agents.LinearSchedule`` by its module's name). Importing an old name warns (DeprecationWarning).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

#: Old name -> where the module lives now.
MOVED: dict[str, str] = {
    **{f"rl_adaptive.{name}": f"rl_adaptive.sb3.{name}" for name in ("probe", "zoo")},
    **{
        f"rl_adaptive.{name}": f"rl_adaptive.app.{name}"
        for name in ("agents", "training", "report", "stats", "digits", "parallel", "cli")
    },
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name of :data:`MOVED` and loads it as the module at its new place."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)  # the module itself: one set of classes under both names

    def exec_module(self, module: ModuleType) -> None:  # already executed under its new name
        pass


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (after the standard finders: a real module of the name wins)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
