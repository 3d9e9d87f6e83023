"""The layout's rules, checked on the source: a change that breaks one fails here, not in review."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
DOMAIN_MODULES = {"models", "services", "selectors", "tasks", "events", "subscribers", "live", "schemas", "payloads"}
INTERFACE_MODULES = {"api", "views", "admin", "urls", "consumers", "forms"}
MAX_LINES = 500


def _sources():
    for path in sorted(APPS.rglob("*.py")):
        if "migrations" in path.parts or "djstripe_migrations" in path.parts:
            continue
        yield path


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def _is_domain(path: Path) -> bool:
    parts = path.relative_to(APPS).with_suffix("").parts
    return any(part in DOMAIN_MODULES for part in parts[1:])


def test_no_module_under_apps_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_simulator_or_fake_ships_inside_the_product():
    found = [str(p.relative_to(ROOT)) for p in APPS.rglob("*") if p.is_dir() and
             ("simulator" in p.name or "fake" in p.name)]
    assert found == []


@pytest.mark.parametrize("path", [p for p in _sources() if _is_domain(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_modules_import_no_interface_module(path):
    bad = [name for name in _imports(path) if name.startswith("apps.") and
           any(part in INTERFACE_MODULES for part in name.split(".")[2:])]
    assert bad == []


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_apps_private_names(path):
    own_app = path.relative_to(APPS).parts[0]
    bad = []
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "apps" or len(parts) < 3 or parts[1] == own_app:
            continue
        if any(part.startswith("_") and not part.startswith("__") for part in parts[2:]):
            bad.append(name)
    assert bad == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reaches_into_another_modules_private_names(path):
    """`from .services import _locked` or `services._save(...)`: a private name used outside its module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()  # names bound to imported modules (`from . import services`, `import x.y as z`)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if _private(alias.name):
                    bad.append(f"from {'.' * node.level}{node.module or ''} import {alias.name}")
                elif alias.name.islower():
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in modules:
            bad.append(f"{node.value.id}.{node.attr}")
    assert bad == []


def _module_imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of ours that `path` imports when it is loaded (imports inside functions don't count)."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for statement in ast.parse(path.read_text()).body:
        for node in ast.walk(statement) if isinstance(statement, (ast.If, ast.Try)) else [statement]:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    result = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            result.add(target)
    return result


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                on_stack.discard(member)
                component.append(member)
            on_stack.discard(node)
            if component:
                found.append(sorted([node, *component]))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_only_import_cycle_is_inside_the_generation_lifecycle():
    paths = {_module_name(p): p for p in _sources()}
    graph = {name: _module_imports(path, set(paths)) for name, path in paths.items()}
    outside = [c for c in _cycles(graph) if not all(m.startswith("apps.generations.") for m in c)]
    assert outside == []
