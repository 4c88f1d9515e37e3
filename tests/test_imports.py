"""The house's rules, read from the imports: core/ imports neither Streamlit nor ui/; no module
imports another's private names; core/ and ui/ import each other's modules without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "core"
PACKAGES = ("core", "ui")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(packages=PACKAGES) -> dict[str, Path]:
    return {_module_name(p): p for package in packages for p in (REPO / package).rglob("*.py")}


def module_imports(packages=PACKAGES, sources: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Return each module's imports of the others (function-level ones included); sources, if
    given, replaces the files' text (module name → source), for testing the rules themselves."""
    texts = sources or {name: path.read_text() for name, path in _sources(packages).items()}
    graph: dict[str, set[str]] = {}
    for name, text in texts.items():
        found = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m in texts and m != name and m not in PACKAGES}
    return graph


def core_imports() -> dict[str, set[str]]:
    """Return each core module's imports of other core modules."""
    return module_imports(("core",))


def private_imports(sources: dict[str, str]) -> list[str]:
    """Return 'module: name' for each private name (_x) imported from another module."""
    found = []
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            ours = isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            if ours and node.module.split(".")[0] in (*PACKAGES, "views", "tests"):
                found += [
                    f"{name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle as a list of modules, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            if (cycle := visit(imported, [*path, module])) is not None:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        if (cycle := visit(module, [])) is not None:
            return cycle
    return None


def test_core_and_ui_modules_import_each_other_without_cycles():
    assert find_cycle(module_imports()) is None


def test_core_never_imports_ui():
    assert not {m for deps in core_imports().values() for m in deps if m.startswith("ui")}
    for name, deps in module_imports().items():
        if name.startswith("core"):
            assert not any(d.startswith("ui") for d in deps), name


def test_no_module_imports_another_modules_private_names():
    files = {**_sources(), **{p.stem: p for p in (REPO / "views").glob("*.py")}}
    files["app"] = REPO / "app.py"
    assert private_imports({name: path.read_text() for name, path in files.items()}) == []


def test_the_rules_catch_what_they_forbid():
    # a cycle through ui, a private import: each rule fails on a house that breaks it
    broken = {
        "ui.a": "from ui import b\nfrom core.config import _hidden\n",
        "ui.b": "import ui.a\n",
        "core.config": "_hidden = 1\n",
    }
    assert find_cycle(module_imports(sources=broken)) == ["ui.a", "ui.b", "ui.a"]
    assert private_imports(broken) == ["ui.a: core.config._hidden"]


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_config_is_a_leaf_that_imports_no_training_code():
    assert not {m for m in core_imports()["core.config"] if m.startswith("core.train")}


def test_core_never_imports_streamlit():
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] == "streamlit" for n in names), path
