"""The shape the code keeps (issue: an architecture a newcomer can read): `transports → bot → core`, no import
cycles, nothing outside core touches the store, core imports no chat library, and no class or function grows past
what a reader takes in at once without a comment saying why."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "bot", "transports", "prompts")
CHAT_LIBRARIES = ("telegram", "discord")
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 50
# Big on purpose, each with the reason in its own docstring or comment.
SIZE_EXCEPTIONS = {
    "orch.core.store.sqlite.SqliteStore",  # one method per Store operation: the SQL stays in one place
    "orch.core.store.postgres.PostgresStore",  # the same, in PostgreSQL's SQL
}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found["orch." + ".".join(parts)] = path
    return found


MODULES = modules()


def imports(path: Path, *, runtime_only: bool) -> set[str]:
    """The orch modules (and external top-level packages) a module imports; with `runtime_only`, what it imports
    when it is imported (not under TYPE_CHECKING, not inside a function)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if runtime_only and isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if runtime_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    candidate = f"{child.module}.{alias.name}"
                    found.add(candidate if candidate in MODULES else child.module)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_no_import_cycles() -> None:
    graph = {name: {m for m in imports(path, runtime_only=True) if m in MODULES and m != name}
             for name, path in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    assert cycles == []


def test_layers() -> None:
    wrong: list[str] = []
    for name, path in MODULES.items():
        used = imports(path, runtime_only=False)
        if name.startswith(("orch.bot", "orch.transports")):
            wrong += [f"{name} uses the store ({m})" for m in used if m.startswith("orch.core.store")]
        if name.startswith("orch.bot"):
            wrong += [f"{name} imports a transport ({m})" for m in used if m.startswith("orch.transports")]
        if name.startswith("orch.core"):
            wrong += [f"{name} imports {m}" for m in used
                      if m.startswith(("orch.bot", "orch.transports")) or m.split(".")[0] in CHAT_LIBRARIES]
    assert wrong == []


def definitions() -> Iterator[tuple[str, ast.AST, int]]:
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                yield f"{name}.{node.name}", node, node.end_lineno - node.lineno + 1


def test_classes_and_functions_stay_readable() -> None:
    too_big = [f"{name}: {lines} lines" for name, node, lines in definitions() if name not in SIZE_EXCEPTIONS and (
        (isinstance(node, ast.ClassDef) and lines > MAX_CLASS_LINES)
        or (not isinstance(node, ast.ClassDef) and lines > MAX_FUNCTION_LINES))]
    assert too_big == []
