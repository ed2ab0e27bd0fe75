"""The shape of the code, checked: small modules and functions, no import cycle, a handful of
top-level modules.

The layer contracts themselves are import-linter's (pyproject.toml), run by scripts/test.sh before
pytest.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parent.parent / "syncer"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), over every import,
    function-level too."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.find_modules_directly_imported_by(module):
            if not other.startswith("syncer"):
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(m for m in graph.modules if m.startswith("syncer")):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_at_any_level():
    graph = grimp.build_graph("syncer", cache_dir=None)
    assert len(graph.modules) > 50
    assert _cycles(graph) == []


def test_modules_and_functions_stay_small():
    long_modules = {p.name: n for p in SOURCES if (n := len(p.read_text().splitlines())) > 400}
    long_functions = {
        f"{p.relative_to(PACKAGE)}:{node.name}": node.end_lineno - node.lineno + 1
        for p in SOURCES
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno >= 60
    }
    assert long_modules == {} and long_functions == {}


def test_the_package_root_keeps_entry_points_config_and_logging_only():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "config.py", "logs.py"]
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert packages == [
        "apply",
        "backends",
        "cli",
        "core",
        "engine",
        "kinds",
        "plan",
        "report",
        "scan",
        "service",
        "state",
    ]


def _function_level_imports(path: Path) -> list[str]:
    """`from syncer... import` / `import syncer...` statements inside functions (hidden
    dependencies)."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [
                f"{path.relative_to(PACKAGE)}:{node.lineno} {n}"
                for n in names
                if n.startswith("syncer")
            ]
    return found


def test_no_function_level_import_of_our_own_modules():
    """Dependencies are visible at the top of each module; the only exception loads the commands on
    demand."""
    hidden = [
        hit.split(":")[0] + " " + hit.split()[-1]
        for p in SOURCES
        for hit in _function_level_imports(p)
    ]
    assert hidden == ["cli/app.py syncer.cli"]
