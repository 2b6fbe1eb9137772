"""The import contract of ``rfbnet_tf``: imports go one way, binaries stay at the top.

The import graph is read from the source with ``ast`` (every ``import`` / ``from`` of an ``rfbnet_tf`` module,
also those inside functions).  Rules:

* nothing imports a binary (:data:`BINARIES`, the modules run with ``python -m``);
* every edge goes from a layer to the same or a lower one (:data:`LAYERS`);
* no cycle between packages (a subpackage, or a top-level module, is one node);
* the worker side of ``prepare`` (:data:`WORKER_MODULES` and every registered dataset) imports no TensorFlow.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import rfbnet_tf
from rfbnet_tf.constants import DATA_WORKER_ENV
from rfbnet_tf.datasets import sources

PACKAGE_DIR = os.path.dirname(os.path.abspath(rfbnet_tf.__file__))

BINARIES = frozenset({
    "rfbnet_tf.prepare_data",
    "rfbnet_tf.train",
    "rfbnet_tf.evaluate",
    "rfbnet_tf.export",
    "rfbnet_tf.predict",
    "rfbnet_tf.benchmark",
    "rfbnet_tf.backfill_run_info",
    "rfbnet_tf.study",
    "rfbnet_tf.zoo_table",
})

BINARY_LAYER = 4
LAYERS = {
    # the lowest layer: no rfbnet_tf imports beyond itself
    "rfbnet_tf.version": 0,
    "rfbnet_tf.constants": 0,
    "rfbnet_tf.utils": 0,
    "rfbnet_tf.cli": 0,
    "rfbnet_tf.metrics": 0,
    "rfbnet_tf.drawing": 0,
    # data
    "rfbnet_tf.preprocessing": 1,
    "rfbnet_tf.datasets": 1,
    # networks
    "rfbnet_tf.layers": 2,
    "rfbnet_tf.models": 2,
    "rfbnet_tf": 2,  # __init__: the version, and importing models registers the Keras objects
    # library modules the binaries are made of
    "rfbnet_tf.rundir": 3,
    "rfbnet_tf.configs": 3,
    "rfbnet_tf.training": 3,
    "rfbnet_tf.evaluation": 3,
    "rfbnet_tf.inference": 3,
    "rfbnet_tf.profiling": 3,
    "rfbnet_tf.reproduction": 3,
    "rfbnet_tf.recordings": 3,
}
"""Layer of each package / top-level module (the longest matching prefix wins; binaries: BINARY_LAYER).

``rfbnet_tf`` itself (``__init__``) matches only itself."""

WORKER_MODULES = (
    "rfbnet_tf.datasets.frame_conversion",
    "rfbnet_tf.datasets.example_encoding",
    "rfbnet_tf.datasets.frame_resizing",
    "rfbnet_tf.datasets.records",
    "rfbnet_tf.datasets.shards",
    "rfbnet_tf.preprocessing.depth_encoding",
)
"""What a spawned worker of ``prepare`` imports (besides the dataset modules): TensorFlow-free, so it starts fast."""


def _module_name(path: str) -> str:
    relative = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))
    parts = relative[:-len(".py")].split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict:
    """Module name -> file path of every module of the package."""
    modules = {}
    for root, _, names in os.walk(PACKAGE_DIR):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                modules[_module_name(path)] = path
    return modules


def _resolve(name: str, modules) -> str:
    """The module ``name`` refers to: itself, or its package when it names an attribute of one."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, path: str, modules) -> set:
    """The rfbnet_tf modules ``module`` imports (anywhere in its body)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    is_package = path.endswith("__init__.py")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            # `from package import submodule` imports the submodule; `from module import name` the module
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            if name == "rfbnet_tf" or name.startswith("rfbnet_tf."):
                target = _resolve(name, modules)
                if target and target != module:
                    found.add(target)
    return found


def import_graph() -> dict:
    """Module -> set of rfbnet_tf modules it imports."""
    modules = _modules()
    return {module: _imports(module, path, modules) for module, path in modules.items()}


def layer(module: str):
    """The layer of ``module`` (None when LAYERS has none for it)."""
    if module in BINARIES:
        return BINARY_LAYER
    if module == "rfbnet_tf":
        return LAYERS[module]
    prefix = module
    while prefix != "rfbnet_tf":
        if prefix in LAYERS:
            return LAYERS[prefix]
        prefix = prefix.rpartition(".")[0]
    return None


def package(module: str) -> str:
    """The node of the package graph: ``rfbnet_tf.<first component>``."""
    return ".".join(module.split(".")[:2])


def test_the_graph_sees_known_imports():
    graph = import_graph()
    assert "rfbnet_tf.cli" in graph["rfbnet_tf.train"]
    assert "rfbnet_tf.utils.files" in graph["rfbnet_tf.rundir.layout"]
    # an import inside a function body
    assert "rfbnet_tf.models" in graph["rfbnet_tf.rundir.config_file"]
    assert set(BINARIES) <= set(graph), sorted(set(BINARIES) - set(graph))


def test_every_module_has_a_layer():
    missing = sorted(module for module in import_graph() if layer(module) is None)
    assert not missing, f"modules without a layer in LAYERS: {missing}"


def test_every_module_run_as_a_program_is_listed_as_a_binary():
    modules = _modules()
    programs = set()
    for module, path in modules.items():
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        if module.endswith(".__main__") or 'if __name__ == "__main__"' in source:
            programs.add(module)
    assert programs == set(BINARIES), f"not in BINARIES: {sorted(programs - BINARIES)}; " \
                                      f"in BINARIES but no program: {sorted(BINARIES - programs)}"


def test_nothing_imports_a_binary():
    bad = sorted(f"{source} -> {target}" for source, targets in import_graph().items()
                 for target in targets if target in BINARIES)
    assert not bad, "binaries imported by other modules:\n  " + "\n  ".join(bad)


def test_imports_go_to_the_same_or_a_lower_layer():
    bad = sorted(f"{source} (layer {layer(source)}) -> {target} (layer {layer(target)})"
                 for source, targets in import_graph().items() for target in targets
                 if None not in (layer(source), layer(target)) and layer(target) > layer(source))
    assert not bad, "imports of a higher layer:\n  " + "\n  ".join(bad)


def test_no_cycle_between_packages():
    edges = {}
    for source, targets in import_graph().items():
        for target in targets:
            if package(source) != package(target):
                edges.setdefault(package(source), {}).setdefault(package(target), f"{source} -> {target}")

    def path_back(start, goal, seen):
        for middle in edges.get(start, {}):
            if middle == goal:
                return [edges[start][middle]]
            if middle not in seen:
                seen.add(middle)
                rest = path_back(middle, goal, seen)
                if rest:
                    return [edges[start][middle]] + rest
        return None

    cycles = set()
    for node in edges:
        cycle = path_back(node, node, {node})
        if cycle:
            cycles.add(" ; ".join(sorted(cycle)))
    assert not cycles, "import cycles between packages (one edge per step):\n  " + "\n  ".join(sorted(cycles))


def test_the_worker_side_of_prepare_imports_no_tensorflow():
    modules = WORKER_MODULES + tuple(f"rfbnet_tf.datasets.{name}" for name in sources.REGISTERED)
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, DATA_WORKER_ENV: "1"},
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"the worker side imports: {result.stdout.strip()}"
