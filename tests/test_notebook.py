"""The notebook runs end to end in fast mode (LASAGNE_STYLE_FAST=1), its
algorithm in cells gives the package's loss, and its committed .ipynb holds
exactly the cells of its jupytext source.

It is executed in memory by nbclient in a python3 kernel of this test's own
interpreter (the virtualenv's); the committed file is never written.
"""
import base64
import os
import sys

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = os.path.join(ROOT, "notebooks", "neural_style.ipynb")
SOURCE = os.path.join(ROOT, "notebooks", "neural_style.py")
MAX_BYTES = 8 * 1024 * 1024  # committed outputs must stay small

PROBE = ("import os, sys\n"
         "print(sys.executable)\n"
         "print(sys.prefix)\n"
         "print(FAST)\n"
         "print(os.getcwd())")


def test_notebook_is_small():
    assert os.path.getsize(NOTEBOOK) < MAX_BYTES


def test_documented_figures_are_outputs_of_the_committed_notebook():
    # docs/notebook.md shows byte copies (docs/notebook/figures.py)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    outputs = {base64.b64decode(data) for cell in nb.cells
               if cell.cell_type == "code" for output in cell.outputs
               for kind, data in output.get("data", {}).items()
               if kind in ("image/jpeg", "image/png")}
    folder = os.path.join(ROOT, "docs", "notebook")
    pictures = [n for n in os.listdir(folder) if n.endswith((".jpg", ".png"))]
    assert pictures
    for name in pictures:
        with open(os.path.join(folder, name), "rb") as f:
            assert f.read() in outputs, name


def test_notebook_has_the_cells_of_its_source():
    jupytext = pytest.importorskip("jupytext")
    source = jupytext.read(SOURCE)
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert ([(c.cell_type, c.source) for c in committed.cells]
            == [(c.cell_type, c.source) for c in source.cells]), (
        "notebooks/neural_style.ipynb differs from neural_style.py: "
        "run `make notebook`")


def test_notebook_runs_in_fast_mode(monkeypatch):
    monkeypatch.setenv("LASAGNE_STYLE_FAST", "1")  # inherited by the kernel
    with open(NOTEBOOK, "rb") as f:
        committed = f.read()
    nb = nbformat.reads(committed.decode("utf-8"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    notebooks_dir = os.path.dirname(NOTEBOOK)
    # jupyter_client starts a kernel whose argv[0] is "python" with
    # sys.executable, i.e. this (virtualenv's) interpreter; checked below.
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=600, startup_timeout=120,
        allow_errors=False, resources={"metadata": {"path": notebooks_dir}})
    client.execute()  # raises CellExecutionError on the first failing cell

    probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs
                    if o.get("output_type") == "stream"
                    and o.get("name") == "stdout").split("\n")
    executable, prefix, fast, cwd = probe[:4]
    assert os.path.abspath(prefix) == os.path.abspath(sys.prefix)
    assert os.path.abspath(executable) == os.path.abspath(sys.executable)
    assert fast == "True"
    assert os.path.realpath(cwd) == os.path.realpath(notebooks_dir)
    errors = [o for cell in nb.cells if cell.cell_type == "code"
              for o in cell.outputs if o.get("output_type") == "error"]
    assert not errors
    # section 2's algorithm in cells gives the package's loss (1e-5
    # relative) on its texture and its stylization, for both convolutions
    lines = "".join(o.get("text", "") for cell in nb.cells
                    if cell.cell_type == "code" for o in cell.outputs
                    if o.get("name") == "stdout").split("\n")
    header = lines.index(next(line for line in lines if line.split() == [
        "result", "convolution", "in", "cells", "package", "rel.", "diff"]))
    table = [line.split() for line in lines[header + 1:header + 5]]
    assert [row[:2] for row in table] == [
        [what, convolution] for what in ("texture", "transfer")
        for convolution in ("corrmm", "winograd")]
    for what, convolution, ours, package, difference in table:
        assert abs(float(ours) - float(package)) <= 1e-5 * float(package)
        assert float(difference) < 1e-5
    with open(NOTEBOOK, "rb") as f:
        assert f.read() == committed, "the committed notebook was modified"
