"""The package's layers only point down, and no module imports itself through others.

The layer order (ground floor first) is written here once, from DESIGN.md; every
``import`` in src/physlens — at module level or inside a function — is read with
:mod:`ast`, so a lazy import that climbs is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "src" / "physlens"

# lowest first; a module may import from its own layer and the layers below
LAYERS: list[tuple[str, ...]] = [
    ("errors", "io", "expressions", "codec", "symbolic", "plugins", "autodiff", "clock", "linalg"),  # 0 ground floor
    ("findings", "data"),                                                        # 1 records and data
    ("systems", "models"),                                                       # 2 simulators, emulators
    ("train",),                                                                  # 3 the one training loop
    ("probes",),                                                                 # 4 the readers
    ("scoring",),                                                                # 5 the only code that sees truth
    ("report",),                                                                 # 6 pages and figures of a run
    ("execution", "study", "sweep", "tracking"),                                 # 7 runners
    ("cli",),                                                                    # 8 the commands
]
FACADE = "physlens"  # physlens/__init__.py re-exports the public names: it sits on top


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(path: Path, mods: dict[str, Path]) -> list[tuple[str, int]]:
    """Imported physlens modules: ``from pkg import sub`` counts as importing ``pkg.sub`` when that is a module."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "physlens"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "physlens":
            subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
            out += [(s, node.lineno) for s in subs] or [(node.module, node.lineno)]
    return out


def layer_of(module: str) -> int | None:
    """The layer index of a physlens module (None for the facade)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError(f"{module} is in no layer: add its room to LAYERS (and to DESIGN.md)")


def test_every_module_has_a_layer():
    for mod in _modules():
        layer_of(mod)


def test_no_import_points_up():
    mods = _modules()
    climbs = []
    for mod, path in mods.items():
        here = layer_of(mod)
        if here is None:
            continue
        for target, line in _imports(path, mods):
            there = layer_of(target)
            if there is not None and there > here:
                climbs.append(f"{path.relative_to(ROOT.parent)}:{line}: {mod} (layer {here}) imports "
                              f"{target} (layer {there})")
    assert not climbs, "imports that point up:\n" + "\n".join(climbs)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles_between_modules():
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        # a package's __init__ that re-exports its own submodules is its facade, not a circle
        graph[mod] = {t for t, _ in _imports(path, mods) if t in mods and t != mod
                      and not (path.name == "__init__.py" and t.startswith(mod + "."))}
        # a submodule reaching its own package's facade would close a circle through __init__
    circles = _cycles(graph)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("module, expected", [("physlens.codec", 0), ("physlens.probes.symmetry", 4),
                                              ("physlens.cli.sweep", 8)])
def test_layer_order_is_the_documented_one(module, expected):
    assert layer_of(module) == expected
