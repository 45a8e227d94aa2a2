"""No two modules of the package import each other at module level, directly or through
others (issue 18: deploy <-> features and artifacts <-> kernels were such cycles). Imports
inside functions are not counted: they run on use, after both modules exist."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "emlearn_lab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "device_src" not in p.parts}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.parse(path.read_text()).body:      # module level only
            for n in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
                if isinstance(n, ast.ImportFrom):
                    base = package.split(".")[:len(package.split(".")) - n.level + 1] \
                        if n.level else []
                    target = ".".join(base + ([n.module] if n.module else []))
                    for alias in n.names:
                        sub = f"{target}.{alias.name}"
                        deps.add(sub if sub in paths else target)
                elif isinstance(n, ast.Import):
                    deps.update(a.name for a in n.names)
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def _cycles(graph: dict) -> list:
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_level_import_cycles():
    assert _cycles(_graph()) == []


def test_the_scan_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = _graph()
    assert "emlearn_lab.device.session" in graph["emlearn_lab.device.deploy"]
