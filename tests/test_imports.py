"""The house's rules, read from the imports: core/ imports neither Streamlit nor ui/; the run
store imports no training code; the leaves (core/spec/) import no I/O; a page's panels import
no other page's panels; no module imports another's private names; no import cycles; core/
imports torchvision only inside the functions that use it."""

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
        "ui.a": "from ui import b\nfrom core.spec.config import _hidden\n",
        "ui.b": "import ui.a\n",
        "core.spec.config": "_hidden = 1\n",
    }
    assert find_cycle(module_imports(sources=broken)) == ["ui.a", "ui.b", "ui.a"]
    assert private_imports(broken) == ["ui.a: core.spec.config._hidden"]


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# what a leaf (core/spec/: specs, settings, limits, estimates) may import besides other leaves:
# definitions without files, locks or training (the datasets' table, the augmentation settings)
LEAF_MAY_IMPORT = {"core.data.datasets", "core.data.augment"}
PAGE_PANELS = ("ui.build", "ui.train", "ui.evaluate", "ui.inside")  # one package per page
SHARED_UI = ("ui.shared", "ui.charts", "ui.feed")


def leaf_breaches(graph: dict[str, set[str]]) -> list[str]:
    """Return 'leaf → module' for each import of a leaf outside the leaves."""
    leaves = [n for n in graph if n.startswith("core.spec") or n in LEAF_MAY_IMPORT]
    return sorted(
        f"{name} → {m}"
        for name in leaves
        for m in graph[name]
        if m.startswith("core.")
        and not m.startswith("core.spec")
        and m not in LEAF_MAY_IMPORT
        and m != "core.moved"
    )


def _package(module: str, packages) -> str | None:
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


def panel_breaches(graph: dict[str, set[str]]) -> list[str]:
    """Return 'module → module' for each page's panel importing another page's panel, and each
    shared ui piece importing a page's panel."""
    found = []
    for name, deps in graph.items():
        own, shared = _package(name, PAGE_PANELS), _package(name, SHARED_UI)
        for m in deps:
            theirs = _package(m, PAGE_PANELS)
            if theirs and ((own and theirs != own) or shared):
                found.append(f"{name} → {m}")
    return sorted(found)


def test_the_leaves_import_no_io():
    assert leaf_breaches(core_imports()) == []


def test_the_run_store_imports_no_training_code():
    store = {n: d for n, d in core_imports().items() if n.startswith("core.runs")}
    assert store, "the run store's package moved: update this test"
    found = sorted(f"{n} → {m}" for n, d in store.items() for m in d if m.startswith("core.train"))
    assert found == []


def test_a_pages_panels_import_no_other_pages_panels():
    assert panel_breaches(module_imports()) == []


def test_the_newer_rules_catch_what_they_forbid():
    broken = {
        "core.spec.config": "from core.data import mydigits\n",
        "core.data.mydigits": "import os\n",
        "ui.train.panel": "from ui.evaluate import run_import\n",
        "ui.evaluate.run_import": "x = 1\n",
        "ui.shared.widgets": "from ui.train import panel\n",
    }
    graph = module_imports(sources=broken)
    assert leaf_breaches(graph) == ["core.spec.config → core.data.mydigits"]
    assert panel_breaches(graph) == [
        "ui.shared.widgets → ui.train.panel",
        "ui.train.panel → ui.evaluate.run_import",
    ]


# the page bench and the room's bench speak Streamlit's wire protocol to a running server, as a
# browser or a phone does; they import the protocol's messages, not the framework
STREAMLIT_CLIENT = {
    "core/bench/pages.py": "streamlit.proto",
    "core/bench/room.py": "streamlit.proto",
}


def test_core_never_imports_streamlit():
    for path in CORE.rglob("*.py"):
        client = STREAMLIT_CLIENT.get(str(path.relative_to(REPO)))
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            names = [n for n in names if not (client and n.startswith(client))]
            assert not any(n.split(".")[0] == "streamlit" for n in names), path


def test_old_module_names_still_import_as_the_same_module():
    # scripts and commands written before the regroup (issue 23) keep working
    import importlib

    from core.moved import CORE_MOVES
    from ui import UI_MOVES

    for old, new in {**CORE_MOVES, **UI_MOVES}.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    # the four modules whose names became packages still hand out their names
    from core.bench import time_to_accuracy  # noqa: F401
    from core.data import make_task, shared_mnist  # noqa: F401
    from core.export import export_script  # noqa: F401
    from core.runs import list_runs, load_run  # noqa: F401


# A module past about 400 lines is probably two ideas, a function past about 80 two steps
# (../shared/STYLE.md; issue 23): the engine, the app's pieces, the pages and the frame
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 420, 80


def long_code(sources: dict[str, str]) -> list[str]:
    """Return 'module: n lines' for each module, and 'module.function: n lines' for each
    function, longer than the house allows."""
    found = []
    for name, text in sources.items():
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{name}.{node.name}: {length} lines")
    return found


def test_no_module_or_function_is_longer_than_the_house_allows():
    paths = [*(REPO / "core").rglob("*.py"), *(REPO / "ui").rglob("*.py")]
    paths += [*(REPO / "views").glob("*.py"), REPO / "app.py"]
    sources = {str(p.relative_to(REPO)): p.read_text() for p in paths}
    assert long_code(sources) == []
    # and the check sees what it is for
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_code({"m": f"def f():\n{body}\n"}) == ["m.f: 81 lines"]
    assert long_code({"m": "x = 1\n" * (MAX_MODULE_LINES + 1)}) == ["m: 421 lines"]


def module_level_imports(source: str) -> set[str]:
    """Return the modules a source imports when it is imported: outside any function body
    (at the top, or under a module-level if, try or class)."""
    found: set[str] = set()
    pending = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending += [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
    return found


def test_core_imports_torchvision_only_where_it_is_used():
    # importing torchvision pulls in torch._dynamo, 1.6 CPU-seconds: a module-level import
    # made every CLI command and page that reads settings pay it
    eager = [
        path
        for path in CORE.rglob("*.py")
        if any(m.split(".")[0] == "torchvision" for m in module_level_imports(path.read_text()))
    ]
    assert eager == []
    assert module_level_imports("import torchvision\ndef f():\n    import numpy\n") == {
        "torchvision"
    }
    guarded = "try:\n    from torchvision import ops\nexcept ImportError:\n    ops = None\n"
    assert module_level_imports(guarded) == {"torchvision"}
