"""The package's import graph has no cycle, imports point down the layers, every module imports.

docs/architecture.md draws the layers; this test holds them: a module may import only
modules that do not import it back, directly or through others. Every ``import`` statement
counts, wherever it sits (a function-level import hides a cycle, it does not remove it),
except those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import federated_relations

PACKAGE = Path(federated_relations.__file__).resolve().parent
NAME = "federated_relations"


def _modules() -> dict[str, Path]:
    """Return ``{dotted name: path}`` of every module of the package but migrations."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Return the import statements that run (not those under ``if TYPE_CHECKING:``)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Return the dotted names an import statement may load (module and module.name)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        parent = ".".join(base + ([node.module] if node.module else []))
    else:
        parent = node.module or ""
    return [parent, *(f"{parent}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """Return ``{module: modules of the package it imports}``."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _imports(tree):
            for target in _targets(name, path.name == "__init__.py", node):
                # A package's own __init__ is no layer of its own (it imports nothing of ours
                # but lazily); a submodule importing its package's name is not a cycle.
                if target in modules and target != name and target != NAME:
                    graph[name].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_type_checking_imports_do_not_count():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .models import X\n"
        "def f():\n    from .peers import y\n"
    )
    targets = [t for node in _imports(tree) for t in _targets("pkg.mod", False, node)]
    assert "pkg.models" not in targets
    assert "pkg.peers" in targets  # a function-level import is an edge


def test_the_graph_sees_the_layers():
    graph = import_graph()
    # A few edges the layers rely on: if these vanish the graph reader is broken.
    assert f"{NAME}.peers" in graph[f"{NAME}.objects"]
    assert f"{NAME}.client" in graph[f"{NAME}.peers"]
    assert f"{NAME}.generic" in graph[f"{NAME}.m2m.fields"]
    assert f"{NAME}.m2m.fields" in graph[f"{NAME}.fields"]


#: The layers of docs/architecture.md, bottom first: a module never imports a higher one.
LAYERS = [
    "conf exceptions signals failures keys reverse_related tenancy",
    "protocol client signing registry",
    "peers",
    "objects",
    "models",
    "resolver validation deletion prefetch remote",
    "fields m2m m2m.fields m2m.checks m2m.descriptors m2m.managers m2m.through forms widgets "
    "lookups generic",
]


def _layer(module: str) -> int:
    """Return the layer of ``module``; everything not listed is integration (the top)."""
    name = module.removeprefix(f"{NAME}.")
    for number, names in enumerate(LAYERS):
        if name in names.split():
            return number
    return len(LAYERS)


def test_imports_point_down_the_layers():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in import_graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert upward == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_every_module_imports(module):
    importlib.import_module(module)
