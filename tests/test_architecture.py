"""The layer order of ARCHITECTURE.md, enforced: every ``import mmhvae.X`` in the package
(at module level or inside a function) must point to a layer the importer may use, and no
chain of imports between modules may come back to where it started."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mmhvae"

# layer -> the layers it may import directly (its own is always allowed). ``base`` is the
# package's top-level modules (errors, config, files, ...). Synthesis and evaluation
# (inference) never import training; the model is a pure network.
MAY_IMPORT: dict[str, set[str]] = {
    "base": set(),
    "data": {"base"},
    "phantom": {"base", "data"},
    "model": {"base"},
    "losses": {"base"},
    "methods": {"base", "model", "losses"},
    "runs": {"base", "methods"},
    "training": {"base", "data", "model", "losses", "methods", "runs"},
    "synthesis": {"base", "data", "methods", "runs"},
    "evaluation": {"base", "data", "methods", "runs", "synthesis"},
    "experiments": {
        "base",
        "data",
        "phantom",
        "methods",
        "runs",
        "training",
        "synthesis",
        "evaluation",
    },
    "cli": {
        "base",
        "data",
        "phantom",
        "methods",
        "runs",
        "training",
        "synthesis",
        "evaluation",
        "experiments",
    },
}
TOP_LEVEL_LAYERS = {"runs": "runs", "__main__": "cli"}  # top-level modules that are not base


def layer_of(module: str) -> str:
    """``mmhvae.methods.base`` -> ``methods``; ``mmhvae.config`` -> ``base``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return TOP_LEVEL_LAYERS.get(parts[1], "base")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every mmhvae module ``path`` imports (absolute or relative), wherever in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mmhvae"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "mmhvae":
                continue
            for alias in node.names:  # ``from mmhvae.x import y`` may name a submodule y
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


FACADE = "mmhvae"  # the package root: __version__ for everyone, and a lazy public API


def graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, without the root facade (it may import anything
    lazily, and anything may read ``__version__`` from it)."""
    edges = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}
    edges.pop(FACADE)
    return {m: targets - {FACADE} for m, targets in edges.items()}


def violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in edges.items():
        layer = layer_of(module)
        for target in targets:
            other = layer_of(target)
            if other != layer and other not in MAY_IMPORT[layer]:
                bad.append(f"{module} ({layer}) imports {target} ({other})")
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between modules (a package ``__init__`` counts as its own module)."""
    found, state = [], dict.fromkeys(edges, 0)  # 0 new, 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if target not in state or target == node:
                continue
            if state[target] == 1:
                found.append(stack[stack.index(target) :] + [target])
            elif state[target] == 0:
                visit(target, [*stack, target])
        state[node] = 2

    for node in sorted(edges):
        if state[node] == 0:
            visit(node, [node])
    return found


def test_every_layer_is_known() -> None:
    assert {layer_of(m) for m in graph()} <= set(MAY_IMPORT)


def test_imports_point_down_the_layers() -> None:
    assert violations(graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("mmhvae.model.network", "mmhvae.methods.base"),  # the network must stay pure
        ("mmhvae.synthesis.dataset", "mmhvae.training.trainer"),  # inference imports training
        ("mmhvae.evaluation.evaluate", "mmhvae.experiments.compare"),
    ],
)
def test_the_check_catches_an_upward_import(module: str, target: str) -> None:
    edges = graph()
    edges[module] = edges[module] | {target}
    assert violations(edges) == [
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
    ]


def test_the_check_catches_a_cycle_inside_a_layer() -> None:
    edges = graph()
    edges["mmhvae.methods.subsets"] = edges["mmhvae.methods.subsets"] | {"mmhvae.methods.mmhvae"}
    assert cycles(edges)


def test_relative_and_local_imports_are_seen(tmp_path: Path) -> None:
    assert "mmhvae.methods.subsets" in imports_of(PACKAGE / "methods" / "mmhvae.py")
    assert "mmhvae.experiments.demo" in imports_of(PACKAGE / "cli" / "demo.py")  # inside run()
