"""The import graph of ``autograder/`` has no circle, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

from autograder import REPO_ROOT


def _module_name(file: Path, root: Path) -> str:
    parts = list(file.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the package at ``root`` that it imports, anywhere in its source.

    Every ``import`` and ``from … import`` counts: at module level, inside functions and under
    ``if TYPE_CHECKING``. ``from pkg import name`` points at ``pkg.name`` when that is a module
    of the package, else at ``pkg``.
    """
    files = sorted(root.rglob("*.py"))
    modules = {_module_name(f, root): f for f in files}
    packages = {_module_name(f, root) for f in files if f.name == "__init__.py"}
    top = root.name
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        here = name if name in packages else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules and target.startswith(top):
                    target = target.rpartition(".")[0]  # `import a.b.c` where c is a name
                if target in modules and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def find_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as [a, b, …, a], or [] when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def test_autograder_has_no_import_circle():
    graph = import_graph(REPO_ROOT / "autograder")
    assert "autograder.grading.batch" in graph and "autograder.grading.outcome" in graph["autograder.grading.batch"]
    circle = find_circle(graph)
    assert not circle, "import circle: " + " -> ".join(circle)


def test_result_consumers_do_not_import_the_worker_pool():
    graph = import_graph(REPO_ROOT / "autograder")
    for consumer in ("autograder.grading.feedback", "autograder.report", "autograder.grading.outputs",
                     "autograder.grading.store"):
        assert "autograder.grading.batch" not in graph[consumer], consumer


def _package(tmp_path: Path, sources: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in sources.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "sub/__init__.py": "",
        "sub/a.py": "from . import b\n",
        "sub/b.py": "def f():\n    from .. import c\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.a import thing\n",
    })
    graph = import_graph(root)
    assert graph["pkg.sub.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.sub.a"}
    assert find_circle(graph) == ["pkg.c", "pkg.sub.a", "pkg.sub.b", "pkg.c"]


def test_absolute_imports_and_a_graph_without_circle(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from .a import x\n",
        "a.py": "import pkg.b\nimport os\n",
        "b.py": "from pkg import c\n",
        "c.py": "x = 1\n",
    })
    graph = import_graph(root)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert find_circle(graph) == []
    (root / "c.py").write_text("import pkg.a as again\n")
    assert find_circle(import_graph(root)) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
