"""The package's shape, held by tests: no import circle (type-checking imports included), no
class over 200 lines, no mode compared by name outside the mode table, and the rooms import
downward only (capture, apis, storage and report never import the entry)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_seeded"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {
        _module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in PACKAGE.rglob("*.py")
    }


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules a module imports, anywhere in it (functions and TYPE_CHECKING
    blocks included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name in known:
                found.add(name)
    # importlib.import_module("pytest_seeded...") by name counts too.
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            found.add(node.value)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    # A package's face (__init__) is not an edge of its own: importing a.b.c loads a and a.b.
    return {name: _imports(tree, known) - {name} for name, tree in modules.items()}


def test_no_import_circle() -> None:
    graph = _graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt == "pytest_seeded" or nxt.endswith("__init__"):
                continue
            if state.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert circles == []


def test_no_class_over_200_lines() -> None:
    long = [
        (name, node.name, node.end_lineno - node.lineno + 1)
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 200
    ]  # fmt: skip
    assert long == []


MODE_NAME = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](replay|record|record-new|live)["']""")


def test_only_the_mode_table_compares_modes() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "modes.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MODE_NAME.search(line)
    ]
    assert found == []


def test_the_rooms_never_import_the_entry_or_one_test_s_life() -> None:
    graph = _graph()
    upward = {
        (name, imported)
        for name, imports in graph.items()
        if name.split(".")[1:2] and name.split(".")[1] in ("capture", "apis", "storage", "report")
        for imported in imports
        if imported in ("pytest_seeded.plugin", "pytest_seeded.testrun")
    }
    assert upward == set()
    # API shapes and storage are the ground: they import nothing of capture or report.
    ground = {
        (name, imported)
        for name, imports in graph.items()
        if name.startswith(("pytest_seeded.apis", "pytest_seeded.storage"))
        for imported in imports
        if imported.startswith(("pytest_seeded.capture", "pytest_seeded.report"))
    }
    assert ground == set()
