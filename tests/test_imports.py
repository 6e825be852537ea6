"""The import structure the README's layout section draws.

Read from the source (module-level imports; ``if TYPE_CHECKING:`` blocks and
imports inside functions are not edges): no module imports another that
imports it back, the packages form no cycle, and the layers under ``ingest/``
import nothing above them -- mail/ parses, store/ keeps git and the msgmap,
over/ and search/ each read and write their own database.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pubinbox

SRC = Path(pubinbox.__file__).resolve().parent

#: package -> the packages (top-level modules included) it may import
BELOW: dict[str, set[str]] = {
    "errors": set(),
    "deflate": set(),
    "native": set(),
    "config": {"errors"},
    "mail": {"errors", "deflate", "native"},
    "store": {"errors"},
    "over": {"errors", "mail"},
    "search": {"errors", "mail", "native"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = ("pubinbox", *p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    deps.add(full if full in mods else node.module)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pubinbox"


def test_no_module_imports_one_that_imports_it_back() -> None:
    # (one did: web.message -> seriesview -> atom -> threadview -> message, which
    # only imported when api.py happened to be imported first)
    assert _cycles(_graph()) == []


def test_packages_import_downwards() -> None:
    graph = _graph()
    packages: dict[str, set[str]] = {}
    for m, deps in graph.items():
        packages.setdefault(_package(m), set()).update(_package(d) for d in deps if _package(d) != _package(m))
    assert _cycles(packages) == []
    for pkg, allowed in BELOW.items():
        assert packages.get(pkg, set()) <= allowed, (pkg, packages.get(pkg, set()) - allowed)


def test_the_graph_is_read() -> None:
    """The checks above see real edges (else they would pass on anything)."""
    graph = _graph()
    assert "pubinbox.mail.parse" in graph["pubinbox.ingest.message"]
    assert "pubinbox.over.reader" in graph["pubinbox.inbox"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
