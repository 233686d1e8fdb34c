"""The package's import map: ``body`` stands alone, and no modules import each other in a circle.

Every ``import`` statement counts, at module level or inside a function (a lazy import is still
a dependency), parsed from the source so that nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pifuhd"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Names of the ``pifuhd`` modules one file imports (``from a.b import c`` counts ``a.b``
    and, where ``a.b.c`` is a module, ``a.b.c``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pifuhd")}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("pifuhd")
        ):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (packages' ``__init__`` excluded as targets)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = {m for m, p in files.items() if p.name != "__init__.py"}
    return {m: imports_of(p) & modules - {m} for m, p in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None (depth-first search, colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles():
    assert find_cycle(import_graph()) is None


@pytest.mark.parametrize("forbidden", ["pifuhd.synth", "pifuhd.data", "pifuhd.train"])
def test_body_imports_nothing_of_its_users(forbidden):
    graph = import_graph()
    body = {m: deps for m, deps in graph.items() if m.startswith("pifuhd.body")}
    assert len(body) >= 4
    bad = {m: sorted(d for d in deps if d.startswith(forbidden)) for m, deps in body.items()}
    assert not any(bad.values()), bad


def test_synth_does_not_import_data_or_train():
    graph = import_graph()
    bad = {
        m: sorted(d for d in deps if d.startswith(("pifuhd.data", "pifuhd.train")))
        for m, deps in graph.items()
        if m.startswith("pifuhd.synth")
    }
    assert not any(bad.values()), bad
