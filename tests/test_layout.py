"""The package's layout: imports run one way (no circle, none back up the
pipeline), the README's module table names every module, and the modules
that are new in the layout work as a first import."""
import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "lasagne_style")

#: The pipeline's order, as in the README's module table: a module may
#: import only modules of its own rank or lower ranks (and no circle).
RANKS = [
    {"version", "errors", "threads", "signals", "compat"},
    {"config", "files", "memory"},
    {"options", "checkpoint", "images", "colors", "plots", "copying"},
    {"vgg_weights", "ops", "vgg", "winograd", "pooling"},
    {"statistics", "losses", "objective"},
    {"lbfgsb", "optimize", "adversarial"},
    {"schedule"},
    {"api"},
    {"compare", "batch", "bench"},
    {"cli", "distributed"},
]


def _modules():
    """Module name (dotted, without the package) -> its source path."""
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                found[re.sub(r"\.?__init__$", "", rel) or "__init__"] = path
    return found


def _imports(module, path):
    """The package's modules that ``module`` imports, anywhere in its code
    (inside functions too)."""
    package = module.split(".") if os.path.basename(path) == \
        "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
            elif (node.module or "").startswith("lasagne_style"):
                base, node.level = [], 1
                node.module = node.module[len("lasagne_style") + 1:] or None
            else:
                continue
            target = base + (node.module.split(".") if node.module else [])
            for alias in node.names:
                candidate = ".".join(target + [alias.name])
                found.add(candidate if candidate in _MODULES
                          else ".".join(target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lasagne_style."):
                    found.add(alias.name[len("lasagne_style."):])
    return {m for m in found if m and m != module and m in _MODULES}


_MODULES = _modules()


def _top(module):
    return module.split(".")[0]


def _rank(module):
    for rank, names in enumerate(RANKS):
        if _top(module) in names:
            return rank
    raise AssertionError("module %s is not in the layout's table" % module)


def test_every_module_has_a_rank():
    for module in _MODULES:
        if module != "__init__":
            _rank(module)


def test_no_import_runs_back_up():
    wrong = []
    for module, path in _MODULES.items():
        if module == "__init__":
            continue
        for target in _imports(module, path):
            if _top(target) != _top(module) and _rank(target) > _rank(module):
                wrong.append("%s imports %s" % (module, target))
    assert not wrong, wrong


def test_no_circle():
    # a submodule may take names from its own package's __init__, which
    # imports it: Python's usual package pattern, not a circle between
    # parts of the pipeline
    graph = {m: {t for t in _imports(m, p) if not m.startswith(t + ".")}
             for m, p in _MODULES.items()}
    state = {}

    def visit(module, trail):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", " -> ".join(trail + [module])
        state[module] = "open"
        for target in graph[module]:
            visit(target, trail + [module])
        state[module] = "done"

    for module in graph:
        visit(module, [])


def test_the_readme_module_table_names_every_module():
    text = open(os.path.join(ROOT, "README.md")).read()
    table = text[text.index("## Modules"):text.index("## Troubleshooting")]
    for module in _MODULES:
        top = _top(module)
        if top in ("__init__", "version", "distributed", "winograd",
                   "pooling"):
            continue  # the package itself, its version, deprecated aliases
        assert "`%s`" % top in table or "`%s/`" % top in table, top
        if "." in module and not module.endswith("__main__"):
            name = module.split(".")[-1]
            assert "`%s`" % name in table or "`%s/`" % name in table, module


def test_the_readme_is_a_manual_of_at_most_300_lines():
    # reference material and dated measurements belong in docs/
    with open(os.path.join(ROOT, "README.md")) as f:
        assert len(f.read().splitlines()) <= 300


@pytest.mark.parametrize("module", ["options", "signals", "batch.manifest",
                                    "batch.local", "batch.dask_client",
                                    "batch.dask_worker", "ops",
                                    "ops.c_sources", "ops.winograd_reference",
                                    "ops.winograd", "ops.pooling", "ops.gram",
                                    "compat.lasagne02", "compat.blas",
                                    "compat.compiledir", "compat.compiling",
                                    "compat.lasagne01", "compat.startup"])
def test_new_modules_are_valid_first_imports(module):
    proc = subprocess.run([sys.executable, "-c", "import lasagne_style.%s"
                           % module], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_the_deprecated_distributed_module_still_imports():
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c",
         "import lasagne_style.distributed"], capture_output=True,
        text=True, cwd=ROOT)
    assert "moved to lasagne_style.batch" in proc.stderr
    proc = subprocess.run([sys.executable, "-c", "from lasagne_style."
                           "distributed import run, log_path"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("old,new,name", [
    ("winograd", "ops.winograd", "WinogradConv3x3Layer"),
    ("pooling", "ops.pooling", "AveragePool2x2Layer")])
def test_the_deprecated_op_modules_still_import(old, new, name):
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c",
         "import lasagne_style.%s" % old], capture_output=True, text=True,
        cwd=ROOT)
    assert "moved to lasagne_style.%s" % new in proc.stderr
    code = ("from lasagne_style.%s import %s as a\n"
            "from lasagne_style.%s import %s as b\n"
            "assert a is b" % (old, name, new, name))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
