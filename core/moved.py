"""Old module names that still import: each a name for the module now in a package.

Digit Lab's modules were regrouped into packages (issue 23). Scripts, notebooks and commands
written against the old names (`import core.models`, `python -m ui.pagebench`) keep working:
the old name is the same module object as the new one, not a copy.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# old name → where the module lives now (core.data, core.runs, core.export and core.bench
# became packages of the same name: their __init__ hands out the old module's names)
CORE_MOVES = {
    "core.datasets": "core.data.datasets",
    "core.datapack": "core.data.datapack",
    "core.debianpack": "core.data.debianpack",
    "core.augment": "core.data.augment",
    "core.mydigits": "core.data.mydigits",
    "core.image": "core.spec.image",
    "core.models": "core.spec.models",
    "core.presets": "core.spec.presets",
    "core.config": "core.spec.config",
    "core.compute": "core.spec.compute",
    "core.budget": "core.spec.budget",
    "core.lesson": "core.spec.lesson",
    "core.scratch": "core.train.scratch",
    "core.race": "core.train.race",
    "core.finetune": "core.train.finetune",
    "core.runschema": "core.runs.schema",
    "core.statedict": "core.runs.statedict",
    "core.atomic": "core.runs.atomic",
    "core.filelock": "core.runs.filelock",
    "core.uploads": "core.runs.uploads",
    "core.evaluation": "core.analysis.evaluation",
    "core.probes": "core.analysis.probes",
    "core.inside": "core.analysis.inside",
    "core.backprop": "core.analysis.backprop",
    "core.preprocess": "core.draw.preprocess",
    "core.drawings": "core.draw.drawings",
    "core.digitpaths": "core.draw.digitpaths",
    "core.optdigits": "core.draw.optdigits",
    "core.quicktrain": "core.draw.quicktrain",
    "core.follow": "core.draw.follow",
    "core.appbench": "core.bench.app",
    "core.drawbench": "core.bench.drawing",
    "core.executorbench": "core.bench.executors",
    "core.overheadbench": "core.bench.overhead",
    "core.appserver": "core.bench.appserver",
}


class OldNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as the module that now lives under its new one."""

    def __init__(self, moves: dict[str, str]) -> None:
        self.moves = moves

    def find_spec(self, name, path=None, target=None):
        if name not in self.moves:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return importlib.import_module(self.moves[spec.name])

    def exec_module(self, module) -> None:
        pass  # the module ran under its new name

    def get_code(self, name):
        """Return the new module's code: `python -m old.name` runs it (runpy asks for this)."""
        real = importlib.util.find_spec(self.moves[name])
        return real.loader.get_code(real.name)


def keep_old_names(moves: dict[str, str]) -> None:
    """Let the old names in `moves` import (once per table)."""
    if not any(isinstance(f, OldNames) and f.moves is moves for f in sys.meta_path):
        sys.meta_path.append(OldNames(moves))


def lazy_names(package: str, *modules: str):
    """Return a module __getattr__ that hands out the names of `modules` (the old module's,
    now split among them) from `package` when asked: a package that took over an old module's
    name (core.data) still serves its names, without importing them until one is used."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")  # a submodule comes first
        for module in modules:
            target = importlib.import_module(module)
            if hasattr(target, name):
                return getattr(target, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
