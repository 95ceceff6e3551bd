"""The package's layout holds: no import cycle (imports inside functions count too, except
``AppConfig.ready``, which runs once every module is loaded), and no module over 400 lines.
See docs/architecture.md for the rooms and the arrows between them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "django_stripe_portal"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _ready_bodies(tree: ast.Module) -> set[int]:
    """Line ranges of ``ready`` methods of AppConfig classes (their imports are allowed)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            getattr(base, "id", getattr(base, "attr", "")) == "AppConfig" for base in node.bases
        ):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "ready":
                    lines |= set(range(item.lineno, (item.end_lineno or item.lineno) + 1))
    return lines


def _imported(module: str, path: Path) -> set[str]:
    """The package's modules that ``module`` imports, wherever in the file."""
    tree = ast.parse(path.read_text(), str(path))
    allowed = _ready_bodies(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in allowed:
            continue
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
    edges = set()
    for target in targets:
        if target not in MODULES:
            continue
        # Importing a.b.c runs a/__init__ and a/b/__init__ first: those are arrows too,
        # except the importing module's own packages (already being imported).
        parts = target.split(".")
        for depth in range(2, len(parts) + 1):
            ancestor = ".".join(parts[:depth])
            if ancestor in MODULES and not module.startswith(ancestor + "."):
                edges.add(ancestor)
    edges.discard(module)
    return edges


def import_graph() -> dict[str, set[str]]:
    return {module: _imported(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One example path per strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The checker itself: a lazy import is an arrow; one in AppConfig.ready is not."""
    source = (
        "from django.apps import AppConfig\n"
        "def later():\n    from django_stripe_portal import conf\n"
        "class C(AppConfig):\n    def ready(self):\n"
        "        from django_stripe_portal import checks\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert _imported("django_stripe_portal.probe", path) == {"django_stripe_portal.conf"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "django_stripe_portal.conf" in graph["django_stripe_portal.client"]  # sanity
    assert _cycles(graph) == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        module: length
        for module, path in MODULES.items()
        if (length := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
