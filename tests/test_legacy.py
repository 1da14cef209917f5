"""Original Theano/Lasagne code runs in this environment unchanged.

A recipe-shaped script (tests/legacy/recipe_shaped.py: VGG19 from
``lasagne.layers.dnn.Conv2DDNNLayer`` or the homework's ``Conv2DLayer`` hint,
``flip_filters=False``, weights from ``export-weights`` via ``pickle.load``,
scipy's L-BFGS) runs in a fresh ``.venv`` interpreter that never imports
lasagne_style; its conv1_1 must be VGG's cross-correlation and its loss our
``score --preset recipe``. Every module of ours works as a first import, also
with ``nose`` on the path (whose ``SkipTest`` Theano's old CUDA package
raises).
"""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import reference
from conftest import ROOT, sample
from lasagne_style import compat, images

SCRIPT = os.path.join(ROOT, "tests", "legacy", "recipe_shaped.py")
PACKAGE = os.path.join(ROOT, "lasagne_style")


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(changes)
    return env


@pytest.fixture(scope="module")
def zoo_pickle(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("zoo") / "vgg19_normalized.pkl")
    proc = subprocess.run([sys.executable, "-m", "lasagne_style.cli",
                           "export-weights", path], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "32 float32 arrays" in proc.stdout
    return path


def test_export_weights_is_the_model_zoo_layout(zoo_pickle, params):
    with open(zoo_pickle, "rb") as f:
        assert f.read(2) == b"\x80\x02"  # protocol 2: Python 2 reads it
        f.seek(0)
        model = pickle.load(f)
    values = model["param values"]
    assert len(values) == 32
    for (W, b), (W2, b2) in zip(params, zip(values[::2], values[1::2])):
        assert W2.dtype == np.float32 and b2.dtype == np.float32
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


@pytest.mark.parametrize("variant", ["dnn", "hint"])
def test_recipe_shaped_script_computes_the_recipe(variant, zoo_pickle, params,
                                                  tmp_path):
    proc = subprocess.run(
        [sys.executable, SCRIPT, zoo_pickle, sample("grace_hopper.jpg"),
         sample("night_cafe.jpg"), str(tmp_path), variant],
        capture_output=True, text=True, cwd=str(tmp_path), env=_env(),
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ("run on the CPU" in proc.stderr) == (variant == "dnn")
    # conv1_1 of the script's network is VGG's cross-correlation
    content = images.load_image(str(tmp_path / "content.png"))
    x = images.preprocess(content)[0].astype(np.float64)
    W, b = params[0]
    expected = np.maximum(reference.cross_correlate(x, W, b), 0)
    got = np.load(str(tmp_path / "conv1_1.npy"))[0]
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    # its loss is ours, on the 8-bit image it saved
    loss = float(proc.stdout.split("loss")[-1])
    ours = compat_score(tmp_path)
    assert abs(loss - ours) <= 1e-4 * abs(ours), (loss, ours)


def compat_score(folder):
    from lasagne_style import api
    return api.score(str(folder / "result.png"), str(folder / "style.png"),
                     content=str(folder / "content.png"),
                     preset="recipe")["total"]


def test_flip_filters_has_lasagne_0_2_meaning(rng):
    import lasagne
    import theano
    import theano.tensor as T
    from lasagne.layers import Conv2DLayer, InputLayer
    from lasagne.layers.dnn import Conv2DDNNLayer, Pool2DDNNLayer

    x = rng.randn(1, 3, 7, 9).astype(np.float32)
    W = rng.randn(4, 3, 3, 3).astype(np.float32)
    b = rng.randn(4).astype(np.float32)
    identity = lasagne.nonlinearities.identity
    l_in = InputLayer((1, 3, None, None))
    layers = [Conv2DLayer(l_in, 4, 3, pad=1, W=W, b=b, nonlinearity=identity),
              Conv2DLayer(l_in, 4, 3, pad=1, W=W, b=b, nonlinearity=identity,
                          flip_filters=False),
              Conv2DDNNLayer(l_in, 4, 3, pad=1, W=W, b=b,
                             nonlinearity=identity),
              Pool2DDNNLayer(l_in, 2, mode="average_exc_pad")]
    var = T.tensor4()
    flipped, plain, dnn, pooled = theano.function(
        [var], lasagne.layers.get_output(layers, var))(x)
    correlation = reference.cross_correlate(x[0], W, b)
    convolution = reference.cross_correlate(x[0], W[:, :, ::-1, ::-1], b)
    np.testing.assert_allclose(plain[0], correlation, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dnn[0], correlation, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(flipped[0], convolution, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pooled[0], reference.average_pool(x[0]),
                               rtol=1e-5)
    assert not np.allclose(flipped, plain, atol=1e-2)


def _fake_nose(folder):
    """A ``nose`` whose SkipTest is unittest's, as in real nose."""
    package = folder / "nose" / "plugins"
    package.mkdir(parents=True)
    (folder / "nose" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "skip.py").write_text("from unittest import SkipTest\n")
    return str(folder)


def _modules():
    names = sorted(f[:-3] for f in os.listdir(PACKAGE)
                   if f.endswith(".py") and f != "__init__.py")
    names += sorted(f for f in os.listdir(PACKAGE) if os.path.exists(
        os.path.join(PACKAGE, f, "__init__.py")))  # compat is a package
    return ["lasagne_style." + n for n in names]


def test_every_module_is_a_valid_first_import_with_nose_installed(tmp_path):
    nose_dir = _fake_nose(tmp_path)
    statements = ["import %s" % m for m in _modules()] + [
        "import theano", "import lasagne",
        "from lasagne.layers.dnn import Conv2DDNNLayer"]
    check = ("import sys, theano, lasagne.layers\n"
             "assert 'scipy_openblas' in theano.config.blas.ldflags\n"
             "from lasagne.layers.dnn import Conv2DDNNLayer\n"
             "assert 'lasagne_style' in sys.modules\n")
    for statement in statements:
        proc = subprocess.run([sys.executable, "-c", statement + "\n" + check],
                              capture_output=True, text=True,
                              cwd=str(tmp_path),
                              env=_env(PYTHONPATH=nose_dir))
        assert proc.returncode == 0, (statement, proc.stderr[-2000:])


def test_startup_file_is_what_makes_plain_import_work(tmp_path):
    assert os.path.exists(compat.startup_file_path())
    code = "import lasagne"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=str(tmp_path), env=_env())
    off = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, cwd=str(tmp_path),
                         env=_env(LASAGNE_STYLE_STARTUP="0"))
    assert on.returncode == 0, on.stderr[-2000:]
    # without our fixes, Lasagne 0.1 cannot be imported on Theano 1.0
    assert off.returncode != 0


def test_unwritable_home_moves_the_compile_cache(tmp_path):
    home = tmp_path / "home"
    home.write_text("a file where a directory should be")
    with pytest.warns(UserWarning, match="compile cache"):
        flags = compat.compile_cache_flags("", home=str(home))
    assert flags["base_compiledir"].startswith(
        os.path.join(os.path.dirname(flags["base_compiledir"]), "theano"))
    assert compat.compile_cache_flags("base_compiledir=/x",
                                      home=str(home)) == {}
    assert compat.compile_cache_flags("", home=str(tmp_path)) == {}


def test_a_notebook_kernel_of_this_environment_imports_lasagne_first():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = ("import lasagne\n"  # the recipe's first line
            "import skimage.transform\n"
            "import theano\n"
            "from lasagne.layers.dnn import Conv2DDNNLayer as ConvLayer\n"
            "layer = ConvLayer((1, 3, 8, 8), 4, 3, pad=1,"
            " flip_filters=False)\n"
            "print(theano.config.blas.ldflags.split()[1], "
            "layer.output_shape, layer.flip_filters)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            startup_timeout=120).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs
                   if o.get("name") == "stdout")
    assert text.strip() == "-lscipy_openblas (1, 4, 8, 8) False"
