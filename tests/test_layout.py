"""The house's shape, measured from the code: layers, circles, lazy imports, sizes (issue 27).

The import graph is read from every `import` in cronkit/, those inside functions too: a lazy import
is still a dependency. Modules are ordered in LAYERS, lowest first; an import from a module to one in
a higher layer runs "up", and only the few in UPWARD may.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cronkit"

# Lowest first: each layer may import the layers below it (and itself), never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cronkit.plain", "cronkit.version", "cronkit.errors", "cronkit.clock", "cronkit.host", "cronkit.safe"),
    ("cronkit.schedule",),
    ("cronkit.config",),
    ("cronkit.registry",),
    ("cronkit.runlog", "cronkit.locks"),
    ("cronkit.context", "cronkit.notify", "cronkit.insights"),
    ("cronkit.runner",),
    ("cronkit.health", "cronkit.cronfile", "cronkit.duties"),
    ("cronkit.targets", "cronkit.tasks", "cronkit.adopt"),
    ("cronkit.web",),
    ("cronkit.cli",),
    ("cronkit.main", "cronkit.__main__", "cronkit"),
)
# The imports allowed to run up, each with its reason.
UPWARD: dict[tuple[str, str], str] = {
    ("cronkit.notify.promfile", "cronkit.duties.missed"):
        "the metrics file written after each run counts the task's missed slots by check's own reading",
}
MAX_UPWARD = 3
MAX_LAZY_IMPORTS = 60
MAX_TOP_LEVEL_MODULES = 12
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _imports(tree: ast.Module) -> Iterator[tuple[ast.stmt, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield from ((node, f"{node.module}.{alias.name}") for alias in node.names)


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, tree in TREES.items():
        for _, target in _imports(tree):
            found = _resolve(target) if target.startswith("cronkit") else None
            if found and found != name:
                edges[name].add(found)
    return edges


def _layer(module: str) -> int:
    best: tuple[int, int] | None = None
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > best[1]):
                best = (index, len(name))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in MODULES:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
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
                    work.append((child, iter(sorted(edges[child]))))
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


def test_the_import_graph_has_no_circle_even_counting_imports_inside_functions() -> None:
    assert _circles(_edges()) == []


def test_imports_point_down_the_layers() -> None:
    upward = sorted((name, target) for name, targets in _edges().items() for target in targets
                    if _layer(target) > _layer(name))
    assert [pair for pair in upward if pair not in UPWARD] == []
    assert len(upward) <= MAX_UPWARD


def test_imports_sit_at_the_top_of_files_but_at_a_few_declared_lazy_seams() -> None:
    inside: dict[tuple[str, int], bool] = {}
    for name, tree in TREES.items():
        lines = MODULES[name].read_text().splitlines()
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(function):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        # Declared: a `# lazy:` comment above it in its function (one may cover a chain of them).
                        above = lines[function.lineno - 1:inner.lineno]
                        inside[(name, inner.lineno)] = any("# lazy:" in line for line in above)
    undeclared = sorted(place for place, declared in inside.items() if not declared)
    assert undeclared == [], "an import inside a function needs a `# lazy: <reason>` comment above it"
    assert len(inside) <= MAX_LAZY_IMPORTS


def test_the_top_level_holds_few_modules() -> None:
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_modules_and_functions_stay_small() -> None:
    long_modules = [(name, n) for name, path in MODULES.items()
                    if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES]
    long_functions = [(name, node.name, n) for name, tree in TREES.items() for node in ast.walk(tree)
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and (n := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES]
    assert long_modules == []
    assert long_functions == []
