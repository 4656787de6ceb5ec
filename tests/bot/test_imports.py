"""No import cycles in bot/: each module imports alone, and the graph of bot's own imports has no loop."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import orch.bot

BOT = Path(orch.bot.__file__).parent


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(BOT.rglob("*.py")):
        parts = path.relative_to(BOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(("orch.bot", *parts))] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The bot modules `path` imports, those under `if TYPE_CHECKING:` included (a cycle for mypy is one too)."""
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            named.add(node.module)
            # `from orch.bot import format` names a module, not a name in orch.bot.
            named.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in named if name in modules}


def test_the_graph_of_bot_imports_has_no_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name):], name]))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_each_bot_module_imports_alone() -> None:
    # A fresh interpreter per module: which module comes first is what makes a cycle fail.
    processes = {name: subprocess.Popen([sys.executable, "-c", f"import {name}"], stderr=subprocess.PIPE, text=True)
                 for name in _modules()}
    failures = {name: process.communicate()[1] for name, process in processes.items() if process.wait() != 0}
    assert failures == {}
