"""Other people's old Theano/Lasagne code: small programs in the shape of
2015-2018 code, each run in a fresh ``.venv`` interpreter that never imports
lasagne_style (the start-up file applies the fixes), each checked against
numpy computations written here from the definitions."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from lasagne_style import compat
from lasagne_style.compat import flags, kernel, scan

LEGACY = os.path.join(ROOT, "tests", "legacy")


def _env(**changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "THEANO_FLAGS", "THEANORC")}
    env.update(changes)
    return env


def run(script, *args, env=None, cwd=None):
    proc = subprocess.run([sys.executable, os.path.join(LEGACY, script)]
                          + [str(a) for a in args], capture_output=True,
                          text=True, env=env or _env(), cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def notices(stderr):
    return [line for line in stderr.splitlines()
            if line.startswith("lasagne_style:")]


# -- numpy references -------------------------------------------------------

def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def correlate(X, K, pad=0, stride=1, flip=False):
    """X (N, C, H, W), K (O, C, kh, kw): zero-padded, strided
    cross-correlation (a true convolution with ``flip``)."""
    X, K = X.astype(np.float64), K.astype(np.float64)
    if flip:
        K = K[:, :, ::-1, ::-1]
    kh, kw = K.shape[2:]
    P = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (P.shape[2] - kh) // stride + 1
    ow = (P.shape[3] - kw) // stride + 1
    out = np.zeros((X.shape[0], K.shape[0], oh, ow))
    for a in range(kh):
        for b in range(kw):
            patch = P[:, :, a:a + stride * oh:stride, b:b + stride * ow:stride]
            out += np.einsum("oc,nchw->nohw", K[:, :, a, b], patch)
    return out


def transposed(Y, K, shape, pad, stride, flip):
    """The gradient with respect to the input (of ``shape``) of
    ``correlate(., K, pad, stride, flip)`` applied to ``Y``: each input
    pixel gathers the outputs whose window covered it."""
    K = K.astype(np.float64)
    if flip:
        K = K[:, :, ::-1, ::-1]
    n, c, H, W = shape
    kh, kw = K.shape[2:]
    Z = np.zeros((n, c, H + 2 * pad + kh + stride * Y.shape[2],
                  W + 2 * pad + kw + stride * Y.shape[3]))
    for i in range(Y.shape[2]):
        for j in range(Y.shape[3]):
            Z[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] \
                += np.einsum("no,ocab->ncab", Y[:, :, i, j], K)
    return Z[:, :, pad:pad + H, pad:pad + W]


def pool(X, size, stride, reduce, ignore_border):
    """Pooling of the two last axes by ``reduce`` over size x size windows;
    without ``ignore_border``, windows go on until one reaches the end (the
    last may be partial)."""
    def starts(n):
        if ignore_border:
            count = (n - size) // stride + 1
        elif stride >= size:
            count = -(-n // stride)
        else:  # until a window reaches the end
            count = -(-(n - size) // stride) + 1
        return range(0, count * stride, stride)
    rows, cols = starts(X.shape[2]), starts(X.shape[3])
    out = np.zeros(X.shape[:2] + (len(rows), len(cols)))
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            out[:, :, a, b] = reduce(X[:, :, i:i + size, j:j + size],
                                     axis=(2, 3))
    return out


def close(got, expected, tol=1e-4):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = max(1.0, np.abs(expected).max())
    assert np.abs(got - expected).max() <= tol * scale, \
        np.abs(got - expected).max()


# -- scan: a recurrent net --------------------------------------------------

def test_recurrent_net_with_scan_compiles_and_is_right(tmp_path):
    out = tmp_path / "rnn.npz"
    proc = run("recurrent_scan.py", out)
    d = np.load(out)
    # Python 3.11 builds scan's compiled loop with the adjusted C
    assert bool(d["compiled"]), proc.stdout
    X, W, U, b = (d[k].astype(np.float64) for k in ("X", "W", "U", "b"))
    steps, batch, _ = X.shape
    hs = [np.zeros((batch, U.shape[0]))]
    for t in range(steps):
        hs.append(np.tanh(X[t] @ W + hs[-1] @ U + b))
    H = np.array(hs[1:])
    close(d["H"], H)
    close(d["loss"], np.sum(H[-1] ** 2) + 0.1 * H.sum())
    # backpropagation through time
    gW, gU, gb = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    carried = np.zeros_like(H[0])
    for t in reversed(range(steps)):
        dh = 0.1 + carried + (2 * H[-1] if t == steps - 1 else 0)
        da = dh * (1 - H[t] ** 2)
        gW += X[t].T @ da
        gU += hs[t].T @ da
        gb += da.sum(axis=0)
        carried = da @ U.T
    close(d["gW"], gW)
    close(d["gU"], gU)
    close(d["gb"], gb)
    # Lasagne 0.1's LSTMLayer without peepholes
    p = {k[5:]: d[k].astype(np.float64) for k in d.files
         if k.startswith("lstm_")}
    Xb = d["Xb"].astype(np.float64)

    def gate(name, x, h):
        return x @ p["W_in_to_" + name] + h @ p["W_hid_to_" + name] + \
            p["b_" + name]
    c = np.repeat(p["cell_init"], batch, axis=0)
    h = np.repeat(p["hid_init"], batch, axis=0)
    outputs = []
    for t in range(Xb.shape[1]):
        x = Xb[:, t]
        i, f = sigmoid(gate("ingate", x, h)), sigmoid(gate("forgetgate", x, h))
        o, g = sigmoid(gate("outgate", x, h)), np.tanh(gate("cell", x, h))
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h)
    close(d["lstm"], np.stack(outputs, axis=1))


SCAN_FALLBACK = """
import numpy as np
from lasagne_style.compat import scan
scan._EDITS = ()  # the C no longer compiles on this Python
import theano, theano.tensor as T
x = T.vector()
s, _ = theano.scan(lambda v, a: a * 0.5 + v, sequences=x,
                   outputs_info=T.zeros_like(x[0]))
f = theano.function([x], s)
print(f(np.arange(5, dtype='float32')).tolist())
print(f(np.ones(3, dtype='float32')).tolist())
"""


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason="the shipped C compiles before Python 3.11")
def test_scan_falls_back_to_its_python_loop_when_the_build_fails(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCAN_FALLBACK], capture_output=True, text=True,
        env=_env(THEANO_FLAGS="compiledir=%s" % (tmp_path / "cache")),
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    told = notices(proc.stderr)
    assert len(told) == 1 and "scan runs its Python loop" in told[0], told
    lines = [json.loads(line) for line in proc.stdout.split("\n")[-3:-1]]
    expected = [0.0]
    for v in range(1, 5):
        expected.append(expected[-1] * 0.5 + v)
    np.testing.assert_allclose(lines[0], expected)
    np.testing.assert_allclose(lines[1], [1.0, 1.5, 1.75])


def test_scan_source_is_adjusted_only_for_python_3_11_on():
    source = scan.GENERATED_BY + "\n" + "".join(
        old + "\n" for old, _ in scan._EDITS)
    assert scan.adjusted_source(source, (3, 10)) == source
    adjusted = scan.adjusted_source(source, (3, 11))
    assert "PyCode_NewEmpty" in adjusted and "->f_lineno" not in adjusted
    assert scan.adjusted_source("/* other */", (3, 11)) == "/* other */"
    with pytest.raises(ValueError):
        scan.adjusted_source(scan.GENERATED_BY + "\nchanged", (3, 11))


# -- OpFromGraph gradient overrides: saliency maps ---------------------------

def test_gradient_override_saliency_maps(tmp_path):
    out = tmp_path / "saliency.npz"
    run("saliency_override.py", out)
    d = np.load(out)
    assert not d["cuda_enabled"]
    W1, W2, X = (d[k].astype(np.float64) for k in ("W1", "W2", "X"))
    a1 = X @ W1
    scores = np.maximum(a1, 0) @ W2
    g2 = W2[:, scores.argmax(axis=1)].T  # d score / d hidden, per row
    expected = {"plain": g2 * (a1 > 0),
                "guided": g2 * (a1 > 0) * (g2 > 0),
                "deconv": np.maximum(g2, 0)}
    for name, g1 in expected.items():
        close(d[name], g1 @ W1.T)
    assert not np.allclose(d["guided"], d["plain"], atol=1e-3)


# -- the GPU era on the CPU --------------------------------------------------

def test_gpu_era_script_runs_on_the_cpu(tmp_path):
    pickled = tmp_path / "W_gpu.pkl"
    run("make_gpu_pickle.py", pickled, env=_env(LASAGNE_STYLE_STARTUP="0"))
    out = tmp_path / "gpu.npz"
    proc = run("gpu_era.py", out, pickled, cwd=str(tmp_path))
    told = notices(proc.stderr)
    assert any("device=gpu0" in line and "on the CPU" in line
               for line in told), told
    assert "lib.cnmem" not in proc.stderr  # dropped with the GPU device
    d = np.load(out)
    assert str(d["device"]) == "cpu"
    assert not d["cuda_enabled"] and not d["dnn_available"]
    X, K = d["X"].astype(np.float64), d["K"].astype(np.float64)
    close(d["dnn_cross"], correlate(X, K, pad=1))
    close(d["dnn_conv_strided"], correlate(X, K, stride=2, flip=True))
    close(d["dnn_pool"], pool(X, 2, 2, np.mean, True))
    # DCGAN's deconvolution: kernels (img channels, out channels, 3, 3)
    close(d["deconv"], transposed(X, K.transpose(1, 0, 2, 3), (2, 4, 18, 16),
                                  pad=1, stride=2, flip=True))
    close(d["ds_max"], pool(X, 2, 2, np.max, False))
    windows = pool(X, 2, 2, np.max, True)
    same = np.zeros_like(X)
    for i in range(windows.shape[2]):
        for j in range(windows.shape[3]):
            block = X[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            same[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] = np.where(
                block == windows[:, :, i:i + 1, j:j + 1], block, 0)
    close(d["ds_same"], same)
    close(d["mm"], correlate(X, K, pad=1))
    close(d["cc"], correlate(X, K, pad=1, stride=2))
    assert tuple(d["cc_shape"]) == (4, 5, 4, -1)  # c01b, batch unknown
    close(d["ccpool"], pool(X, 3, 2, np.max, False))
    close(d["gan_deconv"], transposed(d["Xs"], d["gan_W"], (2, 4, 10, 8),
                                      pad=2, stride=2, flip=True))
    close(d["test_value"], correlate(X, K, pad=2, flip=True))
    value = np.arange(12, dtype=np.float64).reshape(3, 4) / 4
    assert str(d["pickled_type"]) == "TensorSharedVariable"
    close(d["pickled_value"], value)
    close(d["pickled_sum"], np.array(2 * value.sum()))


# -- flags of old .theanorc files and scripts -------------------------------

def test_user_compiler_flags_are_appended_to_ours():
    user = flags.parse('gcc.cxxflags="-march=native -O3"')
    ours, after, told = flags.plan(user, {}, compat.blas_flags("/lib"))
    assert after["gcc.cxxflags"].startswith("-Dsgemm_=scipy_sgemm_")
    assert after["gcc.cxxflags"].endswith(" -march=native -O3")
    assert told == []
    # from a .theanorc, where THEANO_FLAGS would otherwise hide it
    ours, after, told = flags.plan({}, {"gcc.cxxflags": "-march=native"},
                                   compat.blas_flags("/lib"))
    assert after["gcc.cxxflags"].endswith("scipy_goto_get_num_procs "
                                          "-march=native")


def test_missing_blas_library_is_replaced_and_present_one_kept(tmp_path):
    ours = compat.blas_flags("/ours")
    _, after, told = flags.plan({"blas.ldflags": "-lopenblas_not_here"}, {},
                                ours)
    assert after["blas.ldflags"] == ours["blas.ldflags"]
    assert len(told) == 1 and "-lopenblas_not_here" in told[0]
    (tmp_path / "libmine.so").write_bytes(b"")
    mine = "-L%s -lmine" % tmp_path
    blas, after, told = flags.plan({"blas.ldflags": mine}, {}, ours)
    # the user's BLAS, and none of our renames of its symbols
    assert blas == {} and after == {} and told == []
    parsed = flags.parse(compat.theano_flags("blas.ldflags=%s" % mine,
                                             "/ours"))
    assert parsed["blas.ldflags"] == mine and "gcc.cxxflags" not in parsed


def test_gpu_devices_become_the_cpu():
    for user, rc in (({"device": "gpu"}, {}), ({}, {"device": "gpu1"}),
                     ({"device": "cuda0"}, {}),
                     ({}, {"init_gpu_device": "gpu"})):
        _, after, told = flags.plan(user, rc, None)
        assert after["device"] == "cpu" and len(told) == 1, (user, rc)
    _, after, told = flags.plan({"device": "cpu"}, {"device": "gpu"}, None)
    assert after == {} and told == []  # THEANO_FLAGS wins over .theanorc
    string = compat.theano_flags("device=gpu0,lib.cnmem=0.8,floatX=float64",
                                 None)
    parsed = flags.parse(string)
    assert parsed["device"] == "cpu" and parsed["floatX"] == "float64"
    assert "lib.cnmem" not in parsed


def test_theanorc_read_as_theano_reads_it(tmp_path):
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\ndevice = gpu\nfloatX = float32\n\n"
                  "[blas]\nldflags = -lopenblas\n[gcc]\ncxxflags = -O2\n")
    assert flags.read_theanorc([str(rc)]) == {
        "device": "gpu", "floatx": "float32", "blas.ldflags": "-lopenblas",
        "gcc.cxxflags": "-O2"}
    assert flags.theanorc_files({"THEANORC": "a%sb" % os.pathsep}) == [
        "a", "b"]
    rc.write_text("not an ini file")
    assert flags.read_theanorc([str(rc)]) == {}


THEANORC_SCRIPT = """
import numpy as np
import theano, theano.tensor as T
a, b = T.matrices('a', 'b')
f = theano.function([a, b], T.dot(a, b))
ops = [type(n.op).__name__ for n in f.maker.fgraph.toposort()]
A = np.arange(12, dtype='float32').reshape(3, 4)
print(theano.config.device, theano.config.gcc.cxxflags.split()[-1],
      any('Dot22' in op or 'Gemm' in op for op in ops),
      float(np.abs(f(A, A.T) - A @ A.T).max()))
"""


def test_an_old_theanorc_runs(tmp_path):
    """device=gpu, -march=native and -lopenblas in ~/.theanorc: Theano runs
    on the CPU, with its BLAS linked and the user's compiler flag."""
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\ndevice = gpu\nfloatX = float32\n\n"
                  "[lib]\ncnmem = 0.9\n\n[nvcc]\nfastmath = True\n\n"
                  "[gcc]\ncxxflags = -march=native\n\n"
                  "[blas]\nldflags = -lopenblas_not_here\n")
    proc = subprocess.run([sys.executable, "-c", THEANORC_SCRIPT],
                          capture_output=True, text=True, cwd=str(tmp_path),
                          env=_env(THEANORC=str(rc)), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    told = notices(proc.stderr)
    assert len(told) == 2, told
    device, last_flag, blas, error = proc.stdout.split()
    assert (device, last_flag, blas) == ("cpu", "-march=native", "True")
    assert float(error) == 0.0


# -- python2 notebooks --------------------------------------------------------

def test_python2_kernel_alias_runs_an_old_notebook(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    prefix = tmp_path / "prefix"
    folder = kernel.install(str(prefix))
    assert kernel.present(str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, theano\nprint(sys.version_info[0], "
        "theano.config.floatX)")])
    nb.metadata["kernelspec"] = {"name": "python2", "language": "python",
                                 "display_name": "Python 2"}
    nbclient.NotebookClient(nb, timeout=300, startup_timeout=120).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert text.split() == ["3", "float32"]
    # a real python2 kernel is never replaced; ours is removed cleanly
    kernel.remove(str(prefix))
    assert not os.path.exists(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "kernel.json"), "w") as f:
        json.dump({"argv": ["python2"], "display_name": "Python 2"}, f)
    assert kernel.install(str(prefix)) is None
