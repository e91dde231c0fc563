"""The package's import structure: no cycles, no private names across modules, a light import.

Every module of ``milestone_discovery`` is parsed with :mod:`ast` (nothing is
imported), and every import of another package module counts, at module level
or inside a function, relative or absolute. Imports under ``if TYPE_CHECKING:``
do not run, so they do not count.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "milestone_discovery"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

#: modules a bare ``import milestone_discovery`` (or ``milestones --help``) must not load
HEAVY = ("sklearn", "scipy", "matplotlib", "numba", "shap", "pandas")

#: edges of cycles whose fix is pending in files owned by another change:
#: (importer, imported) -> reason. Each is checked by an ``xfail(strict=True)`` test
#: below, so removing the edge in the code makes that test fail until it is removed here.
PENDING_EDGES: dict[tuple[str, str], str] = {}

#: private names still imported across modules, pending in files owned by another change:
#: (importer, imported module, name) -> reason
PENDING_PRIVATE: dict[tuple[str, str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST):
    """Every ``import``/``from ... import`` node that can run (not under ``if TYPE_CHECKING``)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from`` import reads from."""
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[tuple[str, str]]:
    """``(imported module, name or "")`` for each package module ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))
    found = []
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name in MODULES]
            continue
        source = _resolve(module, node)
        if source not in MODULES:
            continue
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            # `from . import stats` imports the module `stats`, not a name of the package
            found.append((sub, "") if sub in MODULES else (source, alias.name))
    return found


def _graph(skip: dict[tuple[str, str], str] | None = None) -> dict[str, set[str]]:
    graph = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _ in _imports(module):
            if target != module and (module, target) not in (skip or {}):
                graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` if it is acyclic."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _short(name: str) -> str:
    return name.removeprefix(f"{PACKAGE}.")


# ----------------------------------------------------------------------------- the checker
def test_checker_parses_every_kind_of_import():
    edges = set(_imports(f"{PACKAGE}.cli"))  # imports inside functions, relative
    assert (f"{PACKAGE}.study", "discover") in edges
    assert (f"{PACKAGE}.errors", "MilestoneError") in edges


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# ----------------------------------------------------------------------------- the rules
def test_no_import_cycle():
    cycle = find_cycle(_graph(skip=PENDING_EDGES))
    assert cycle is None, "import cycle: " + " -> ".join(map(_short, cycle))


@pytest.mark.parametrize(
    "edge",
    [
        pytest.param(
            edge,
            marks=pytest.mark.xfail(strict=True, reason=reason),
            id="->".join(map(_short, edge)),
        )
        for edge, reason in PENDING_EDGES.items()
    ]
    or [pytest.param(None, marks=pytest.mark.skip(reason="no pending cycle"))],
)
def test_pending_cycle_is_gone(edge):
    """Fails (xfail) while the pending edge exists and closes a cycle; passes once fixed."""
    graph = _graph(skip={e: r for e, r in PENDING_EDGES.items() if e != edge})
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(map(_short, cycle))


def _private_imports() -> list[tuple[str, str, str]]:
    return [
        (module, source, name)
        for module in MODULES
        for source, name in _imports(module)
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
    ]


def test_no_private_name_is_imported_across_modules():
    found = [p for p in _private_imports() if p not in PENDING_PRIVATE]
    assert not found, "private names imported across modules: " + ", ".join(
        f"{_short(m)} imports {name} from {_short(s)}" for m, s, name in found
    )


@pytest.mark.parametrize(
    "private",
    [
        pytest.param(
            key,
            marks=pytest.mark.xfail(strict=True, reason=reason),
            id=f"{_short(key[0])}:{key[2]}",
        )
        for key, reason in PENDING_PRIVATE.items()
    ]
    or [pytest.param(None, marks=pytest.mark.skip(reason="no pending private import"))],
)
def test_pending_private_import_is_gone(private):
    assert private not in _private_imports()


def _loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_importing_the_package_loads_no_heavy_dependency():
    loaded = _loaded_after("import milestone_discovery")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_command_line_loads_no_heavy_dependency_to_build_its_parser():
    loaded = _loaded_after(
        "from milestone_discovery.cli import build_parser\nbuild_parser().format_help()"
    )
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_public_names_resolve_lazily():
    import milestone_discovery

    assert set(milestone_discovery._EXPORTS) == set(milestone_discovery.__all__)
    for name in milestone_discovery.__all__:
        assert getattr(milestone_discovery, name) is not None, name
    assert set(milestone_discovery.__all__) <= set(dir(milestone_discovery))
    with pytest.raises(AttributeError, match="no_such_name"):
        milestone_discovery.no_such_name  # noqa: B018
