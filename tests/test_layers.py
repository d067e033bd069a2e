"""The package's layers, read from the source: no cycle between modules, and no package
importing one above it (docs/ARCHITECTURE.md draws them)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import postback

ROOT = Path(postback.__file__).parent

# Bottom to top. A module may import its own package and anything in a lower layer;
# packages that share a layer (the HTTP adapters) do not import each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors"}),
    frozenset({"domain"}),
    frozenset({"settings", "logthrottle", "metrics", "http_status", "report_table", "exporting"}),
    frozenset({"visitors"}),
    frozenset({"batching"}),
    frozenset({"store"}),
    frozenset({"dispatch"}),
    frozenset({"services", "alerting"}),
    frozenset({"importing", "runtime", "backup"}),
    frozenset({"edge", "api", "console"}),
    frozenset({"app", "serving"}),
    frozenset({"demo_history"}),
    frozenset({"demo"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)
# The schema migrations are scripts that Alembic loads by path, not modules of the package.
SKIPPED = ("postback.store.migrations",)


def module_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("postback", *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if not name.startswith(SKIPPED):
            found[name] = path
    return found


def imported_names(path: Path, package: str) -> Iterator[str]:
    """Every module name an import statement in the file names, at any depth (imports
    inside functions and under TYPE_CHECKING are dependencies too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (a submodule's import also runs its
    parent packages' __init__, so those count too)."""
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in imported_names(path, package):
            parts = imported.split(".")
            for depth in range(2, len(parts) + 1):
                target = ".".join(parts[:depth])
                if target in files and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(package: str) -> int:
    for rank, members in enumerate(LAYERS):
        if package in members:
            return rank
    raise AssertionError(f"postback.{package} is in no layer: add it to LAYERS")


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_package_imports_one_above_it_or_beside_it() -> None:
    wrong: list[str] = []
    for module, targets in import_graph().items():
        source = top_package(module)
        if source == "__init__":
            continue
        for target in targets:
            destination = top_package(target)
            if destination in (source, "__init__"):
                continue
            if layer_of(destination) >= layer_of(source):
                wrong.append(f"{module} imports {target}")
    assert sorted(wrong) == []


def test_every_package_has_a_layer() -> None:
    for module in import_graph():
        package = top_package(module)
        if package != "__init__":
            layer_of(package)
