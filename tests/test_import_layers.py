"""The package's import graph, read from the source with `ast`: no two modules import each other, however
indirectly (a function-level or type-checking import counts too), and the value vocabulary imports none
of the layers that use it. Why a test: a circle makes a module's meaning depend on import order, and the
layering that docs/ARCHITECTURE.md states is only true while something checks it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "joulebench"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """The project modules ``path`` imports anywhere in its body (``from a.b import c`` is ``a.b.c`` when
    that is a module of its own, else ``a.b``). Parent packages are not counted: their ``__init__`` files
    hold no imports of the project."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in MODULES:
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            out |= subs or {node.module}
            if len(subs) < len(node.names):  # names taken from the module itself
                out.add(node.module)
    return out - {_module_name(path)}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_reader_sees_the_imports_it_should() -> None:
    """The graph is not empty by accident: known edges are there, one of them function-level."""
    assert "joulebench.experiments.executors" in GRAPH["joulebench.experiments.sweep"]
    assert "joulebench.meters.window" in GRAPH["joulebench.workloads.llm"]
    assert "joulebench.meters.idle" in GRAPH["joulebench.experiments.executors"]  # inside open_context


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others() -> None:
    assert _circles(GRAPH) == []


@pytest.mark.parametrize("module", ["joulebench.values", "joulebench.errors", "joulebench.units",
                                    "joulebench.parsing", "joulebench.files"])
def test_the_vocabulary_modules_import_no_layer_above_them(module: str) -> None:
    layers = ("meters", "workloads", "experiments", "serving", "calibration", "report", "commands", "analytic")
    above = {m for m in GRAPH[module] if m.split(".")[1] in layers}
    assert above == set()
