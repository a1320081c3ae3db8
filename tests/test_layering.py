"""Import layering read from the source (every import, `TYPE_CHECKING` and local ones too).

- `runtime/` imports nothing of Switchyard outside itself; only `cluster/transport.py`
  imports `nats`.
- `http/` depends on `coordinator.py`, never the reverse: serving lives in `launch.py`.
- `actors/` (provider registration included) knows nothing of `http/` or the coordinator.
- `agent/` imports nothing of the coordinator but `protocol/`, and has no cycle inside.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import switchyard

PACKAGE = Path(switchyard.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["switchyard", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, absolute (a `from X import y` yields X and X.y)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph(under: str) -> dict[str, set[str]]:
    """Module → the modules of this package it imports, for the files under `under`."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    root = PACKAGE / under if under else PACKAGE
    return {
        name: {m for m in _imports(path) if m in files and m != name}
        for name, path in files.items()
        if path.is_relative_to(root)
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the graph's own modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def _importers_of(prefix: str, graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {
        name: {m for m in deps if m == prefix or m.startswith(prefix + ".")}
        for name, deps in graph.items()
        if any(m == prefix or m.startswith(prefix + ".") for m in deps)
    }


def test_coordinator_imports_nothing_of_http() -> None:
    graph = _graph("")
    assert _importers_of("switchyard.http", {"c": graph["switchyard.coordinator"]}) == {}


def test_actors_import_neither_http_nor_the_coordinator() -> None:
    actors = _graph("actors")
    assert _importers_of("switchyard.http", actors) == {}
    assert _importers_of("switchyard.coordinator", actors) == {}
    assert _importers_of("switchyard.launch", actors) == {}


def test_http_and_coordinator_form_no_cycle() -> None:
    graph = _graph("")
    part = {
        name: deps
        for name, deps in graph.items()
        if name == "switchyard.coordinator" or name.startswith("switchyard.http")
    }
    assert _cycle(part) is None


def test_agent_has_no_import_cycle_and_imports_only_protocol() -> None:
    agent = _graph("agent")
    assert _cycle(agent) is None
    outside = {m for deps in agent.values() for m in deps if not m.startswith("switchyard.agent")}
    assert all(m.startswith("switchyard.protocol") for m in outside), outside


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_runtime_imports_nothing_of_switchyard_outside_it() -> None:
    runtime = _graph("runtime")
    outside = {m for deps in runtime.values() for m in deps}
    assert all(m.startswith("switchyard.runtime") for m in outside), outside


def test_only_the_cluster_transport_imports_nats() -> None:
    importers = {
        _module_name(path)
        for path in PACKAGE.rglob("*.py")
        if any(m == "nats" or m.startswith("nats.") for m in _imports(path))
    }
    allowed = {
        "switchyard.cluster.transport",
        "switchyard.cluster.transport_open",
        "switchyard.cluster.transport_kv",
        "switchyard.cluster.transport_objects",
        "switchyard.cluster.transport_errors",
        "switchyard.cluster.transport_subs",
    }
    assert importers <= allowed and "switchyard.cluster.transport" in importers
