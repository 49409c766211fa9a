"""Import boundaries: no cycles, no module imports a layer above its own, nothing imports ``cli``.

The graph is read from the source (every ``import`` statement, module level and inside
functions alike, except ``if TYPE_CHECKING:`` blocks), so a lazy import cannot hide a
cycle. ``export/`` installs as ``edge_detsam2.export`` and is checked as such.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Lowest first. A module may import its own layer and those below it, never above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "edge_detsam2",
            "edge_detsam2.errors",
            "edge_detsam2.jsonl",
            "edge_detsam2.yamlio",
            "edge_detsam2.progress",
            "edge_detsam2.frame",
            "edge_detsam2.kinematics",
            "edge_detsam2.artifacts",
            "edge_detsam2.onnxrt",
        ),
    ),
    ("formats and geometry", ("edge_detsam2.tracks", "edge_detsam2.geometry", "edge_detsam2.events.types")),
    ("events", ("edge_detsam2.events",)),
    ("models", ("edge_detsam2.detector", "edge_detsam2.tracker")),
    ("config", ("edge_detsam2.config",)),
    ("sources and perception", ("edge_detsam2.sources", "edge_detsam2.perception")),
    ("pipeline", ("edge_detsam2.pipeline",)),
    ("daemon and scoreboard", ("edge_detsam2.daemon", "edge_detsam2.scoreboard")),
    (
        "tools",
        ("edge_detsam2.sim", "edge_detsam2.evaluation", "edge_detsam2.training", "edge_detsam2.export"),
    ),
    ("cli", ("edge_detsam2.cli", "edge_detsam2.__main__")),
]

#: Formats and the event engine stay free of the application around them.
PURE = ("edge_detsam2.events", "edge_detsam2.geometry", "edge_detsam2.tracks", "edge_detsam2.jsonl")
NOT_IN_PURE = ("edge_detsam2.config", "edge_detsam2.daemon", "edge_detsam2.cli", "torch")


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for base, prefix in ((ROOT / "edge_detsam2", "edge_detsam2"), (ROOT / "export", "edge_detsam2.export")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([prefix, *parts])] = path
    return mods


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path, module: str, is_pkg: bool) -> set[str]:
    """Absolute names this file imports (``from x import y`` gives ``x.y`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                found.add(base)
                found.update(f"{base}.{a.name}" for a in child.names)
            visit(child)

    visit(tree)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    out: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = _imports(path, name, path.name == "__init__.py")
        out[name] = {t for t in targets if t in mods and t != name}
    return out


def _layer(module: str) -> int:
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            # the longest matching prefix decides (events.types sits below the rest of events)
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    return rank


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    assert not [m for m in graph if _layer(m) < 0]


def test_no_module_imports_a_layer_above_its_own(graph: dict[str, set[str]]) -> None:
    upward = [
        f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
        for m, targets in graph.items()
        for t in sorted(targets)
        if _layer(t) > _layer(m)
    ]
    assert not upward, "\n".join(upward)


def test_nothing_outside_cli_imports_cli(graph: dict[str, set[str]]) -> None:
    bad = [
        (m, t)
        for m, ts in graph.items()
        for t in ts
        if t.startswith("edge_detsam2.cli") and not m.startswith(("edge_detsam2.cli", "edge_detsam2.__main__"))
    ]
    assert not bad


def test_formats_geometry_and_events_stay_pure() -> None:
    bad = []
    for name, path in _modules().items():
        if not name.startswith(PURE):
            continue
        for t in _imports(path, name, path.name == "__init__.py"):
            if any(t == n or t.startswith(n + ".") for n in NOT_IN_PURE):
                bad.append(f"{name} imports {t}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    # Tarjan's strongly connected components; any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    assert not cycles, cycles


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The checks above can fail: a planted cycle and a planted upward import are found."""
    planted = {"edge_detsam2.events.engine": {"edge_detsam2.daemon.daemon"}, "edge_detsam2.daemon.daemon": set()}
    planted["edge_detsam2.daemon.daemon"].add("edge_detsam2.events.engine")
    with pytest.raises(AssertionError):
        test_no_import_cycles(planted)
    with pytest.raises(AssertionError):
        test_no_module_imports_a_layer_above_its_own(planted)


def test_every_package_is_installed_by_a_wheel() -> None:
    """pyproject lists packages explicitly: a new subpackage left out works editable but not from a wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(["edge_detsam2", *p.parent.relative_to(ROOT / "edge_detsam2").parts])
        for p in (ROOT / "edge_detsam2").rglob("__init__.py")
    }
    assert found - listed == set()
