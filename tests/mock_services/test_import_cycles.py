"""No import cycles in mock_services (harness's are reported, not asserted: another area owns it).

The graph is read from the source with :mod:`ast`, not by importing: an edge ``a -> b`` for every
``import b`` / ``from b import x`` / ``from . import b`` in module ``a``, wherever it is -- at the
top, inside a function (a deferred import), or under ``if TYPE_CHECKING:`` (a cycle hidden from
the interpreter is still two modules that cannot be understood, or moved, one without the
other). ``from package import name`` is an edge to ``package.name`` when that is a module, to
``package`` otherwise. A cycle is a strongly connected component of two or more modules
(Tarjan's algorithm, iterative so a deep graph cannot hit the recursion limit).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (see the module docstring)."""
    paths = {module_name(root, path): path for path in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in paths else source for a in node.names]
            else:
                continue
            edges.update(target for target in targets if target in paths and target != name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of two or more modules, each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def describe(graph: dict[str, set[str]], component: list[str]) -> str:
    """The edges inside one cycle, one per line (what to break)."""
    members = set(component)
    return "\n".join(f"  {a} -> {b}" for a in component for b in sorted(graph[a] & members))


def test_mock_services_has_no_import_cycle() -> None:
    graph = import_graph(REPO, "mock_services")
    assert len(graph) > 100  # the whole package was read, not an empty directory
    found = cycles(graph)
    report = "\n".join(f"cycle {', '.join(c)}:\n{describe(graph, c)}" for c in found)
    print(report or "mock_services: no import cycle")
    assert not found, f"import cycles in mock_services:\n{report}"


def test_harness_cycles_are_reported() -> None:
    """Reported only: harness/ belongs to another area (issue 11 breaks its cycles there)."""
    graph = import_graph(REPO, "harness")
    assert len(graph) > 50
    found = cycles(graph)
    print("\n".join(f"harness cycle {', '.join(c)}:\n{describe(graph, c)}" for c in found) or "harness: no cycle")


def test_the_checker_finds_cycles(tmp_path: Path) -> None:
    """The graph and the cycle search see top-level, relative, deferred and TYPE_CHECKING imports."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg import a\n")
    (package / "c.py").write_text("def later():\n    from .sub import d\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "d.py").write_text("from .. import c\nimport pkg.a\n")
    (package / "e.py").write_text("import pkg.a\n")  # into a cycle, not part of one
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.sub.d"}
    assert graph["pkg.sub.d"] == {"pkg.c", "pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub.d"]]
    assert describe(graph, ["pkg.a", "pkg.b"]) == "  pkg.a -> pkg.b\n  pkg.b -> pkg.a"
