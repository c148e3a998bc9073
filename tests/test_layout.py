"""The package's layout rules, checked on its source with ``ast`` (nothing is imported or run):

- no function of ``depthutils/`` is longer than one screen: 80 lines, from the ``def`` line through the last line
  of its body, docstring included (decorators are not counted);
- nothing below the orchestration layer imports ``depthutils.train``: only the entry points (the CLI, the
  pipeline, ``retrain``, the package's public API) call ``fit``. Evaluation, data loading and the checkpoint
  policy live in their own modules (docs/ARCHITECTURE.md: nothing flows backwards);
- no import cycle among the package's modules, counting every import: at module level, inside functions and under
  ``TYPE_CHECKING`` alike (a lazy import still ties two modules together).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "depthutils"
MAX_FUNCTION_LINES = 80
#: The modules that may import depthutils.train (they sit above it).
TRAIN_IMPORTERS = {
    "depthutils/cli.py",
    "depthutils/pipeline.py",
    "depthutils/retrain.py",
    "depthutils/ladder.py",
    "depthutils/__init__.py",
}
#: Every folder of Python code in the repository: the package, its tools, the records of the study, the tests.
CODE = ("depthutils", "tools", "report/scripts", "tests")


def _sources() -> Iterator[tuple[str, ast.Module]]:
    """(path relative to the repository, parsed module) of every .py file of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE.parent).as_posix(), ast.parse(path.read_text(), filename=str(path))


def _long_functions(tree: ast.Module, limit: int) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function or method (nested ones too) longer than ``limit`` lines."""
    out = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    length = child.end_lineno - child.lineno + 1
                    if length > limit:
                        out.append((name, length))
                name += "."
            visit(child, name)

    visit(tree, "")
    return out


def _module_name(rel: str) -> str:
    """'depthutils/data/dataset.py' → 'depthutils.data.dataset'; a package's __init__.py → the package."""
    parts = rel[: -len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(rel: str, tree: ast.Module) -> set[str]:
    """Every module ``rel`` imports, anywhere in the file (inside functions too), as absolute dotted names;
    ``from X import y`` counts as importing X and X.y (y may be a submodule)."""
    module = _module_name(rel)
    package = module if rel.endswith("__init__.py") else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: level 1 is the file's own package, each further level one up
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def _imports_train(rel: str, tree: ast.Module) -> bool:
    """Whether ``rel`` imports train.py, directly or as the package's ``fit`` (which is train's)."""
    found = _imports(rel, tree)
    return "depthutils.fit" in found or any(m == "depthutils.train" or m.startswith("depthutils.train.") for m in found)


def _repository_sources() -> Iterator[tuple[str, ast.Module]]:
    """(path relative to the repository, parsed module) of every .py file of the repository's code folders."""
    root = PACKAGE.parent
    paths = sorted({p for folder in CODE for p in (root / folder).rglob("*.py")} | {root / "conftest.py"})
    for path in paths:
        yield path.relative_to(root).as_posix(), ast.parse(path.read_text(), filename=str(path))


def test_no_function_is_longer_than_one_screen():
    offenders = []
    for rel, tree in _repository_sources():
        for name, length in _long_functions(tree, MAX_FUNCTION_LINES):
            offenders.append(f"{rel}:{name}:{length}")
    assert not offenders, (
        f"functions longer than {MAX_FUNCTION_LINES} lines (file:name:lines); split them into helpers: "
        + ", ".join(offenders)
    )


def test_no_script_edits_sys_path():
    """tools/ and the records import the installed package; a script that edits sys.path imports another script."""
    root = PACKAGE.parent
    edits = [
        p.relative_to(root).as_posix()
        for folder in ("tools", "report/scripts")
        for p in sorted((root / folder).iterdir())
        if p.is_file() and "sys.path" in p.read_text()
    ]
    assert not edits, f"these scripts edit sys.path: {edits}"


def test_only_the_entry_points_import_train():
    # the check itself, on the forms an import of train can take
    for rel, src in [
        ("depthutils/baselines.py", "def f():\n    from .train import load_data\n"),
        ("depthutils/data/dataset.py", "from ..train import fit\n"),
        ("depthutils/evaluation.py", "from . import train\n"),
        ("depthutils/bench.py", "import depthutils.train as t\n"),
        ("depthutils/compare.py", "from depthutils import train\n"),
        ("depthutils/plots.py", "from depthutils import fit\n"),
    ]:
        assert _imports_train(rel, ast.parse(src)), src
    assert not _imports_train(
        "depthutils/data/dataset.py", ast.parse("from .train_utils import x\nfrom . import nyu\n")
    )

    importers = sorted(rel for rel, tree in _sources() if _imports_train(rel, tree))
    assert set(importers) <= TRAIN_IMPORTERS, (
        f"only {sorted(TRAIN_IMPORTERS)} may import depthutils.train (the orchestration layer); also importing it: "
        f"{sorted(set(importers) - TRAIN_IMPORTERS)}. Import evaluation from depthutils.evaluation, load_data from "
        "depthutils.data.dataset."
    )


def test_importing_the_library_does_not_load_the_training_loop():
    """The layering at run time: the package, its comparison, evaluation and prediction import without train.py,
    and ``depthutils.fit`` still works (loaded on first use)."""
    import subprocess
    import sys

    code = (
        "import sys, depthutils, depthutils.compare, depthutils.evaluation, depthutils.predict, depthutils.pipeline\n"
        "assert 'depthutils.train' not in sys.modules, 'train.py was imported'\n"
        "from depthutils import fit\n"
        "assert fit.__module__ == 'depthutils.train'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _package_imports(rel: str, tree: ast.Module, modules: set[str]) -> set[str]:
    """The package modules that module ``rel`` imports anywhere in its source: unlike :func:`_imports`, ``from
    .data import X`` is an edge to ``depthutils.data`` alone, and ``from . import data`` to ``depthutils.data``,
    not to the package that holds them (every submodule runs its package's __init__; that is no cycle)."""
    me = _module_name(rel)
    package = me if rel.endswith("__init__.py") else me.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            target = ".".join(x for x in (base, node.module or "") if x)
            for alias in node.names:  # `from . import data` names a module; `from .data import X` its package
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return (out & modules) - {me}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that comes back to its start, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle_in_the_package():
    sources = dict(_sources())
    modules = {_module_name(rel) for rel in sources}
    graph = {_module_name(rel): _package_imports(rel, tree, modules) for rel, tree in sources.items()}
    assert graph["depthutils.config"] and graph["depthutils.train"]  # the walk sees imports at all
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_check_finds_a_lazy_import():
    tree = ast.parse("def f():\n    from .study import ROWS\n")
    modules = {"depthutils.config", "depthutils.study"}
    graph = {
        "depthutils.config": _package_imports("depthutils/config.py", tree, modules),
        "depthutils.study": {"depthutils.config"},
    }
    assert _cycle(graph) == ["depthutils.config", "depthutils.study", "depthutils.config"]
