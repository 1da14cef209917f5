"""The Gram matrix ops against numpy in float64, finite differences, the
numpy ``perform`` path and themselves on one thread and two."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import theano
import theano.tensor as T

from lasagne_style import statistics
from lasagne_style.ops.gram import GramMatrix, GramMatrixGrad, gram_matrix

# (channels, positions): one channel, odd counts (unequal halves), and
# layer shapes of a 256 px evaluation
SHAPES = [(1, 5), (3, 7), (5, 1), (64, 4096), (129, 1001), (512, 218)]


def _functions(dtype):
    F = T.matrix("F", dtype=dtype)
    W = T.matrix("W", dtype=dtype)
    G = gram_matrix(F)
    # borrowed outputs: the ops see (and reuse) their previous buffers
    return (theano.function([F], theano.Out(G, borrow=True)),
            theano.function([F, W], theano.Out(T.grad((G * W).sum(), F),
                                               borrow=True)))


FUNCTIONS = {}


def functions(dtype="float32"):
    if dtype not in FUNCTIONS:
        FUNCTIONS[dtype] = _functions(dtype)
    return FUNCTIONS[dtype]


@pytest.mark.parametrize("shape", SHAPES)
def test_gram_and_gradient_against_numpy(shape):
    gram, grad = functions()
    rng = np.random.RandomState(sum(shape))
    for _ in range(2):  # the second call reuses the output buffers
        F = rng.randn(*shape).astype(np.float32)
        W = rng.randn(shape[0], shape[0]).astype(np.float32)
        F64 = F.astype(np.float64)
        G = gram(F).copy()
        expected = F64 @ F64.T
        assert np.array_equal(G, G.T)  # the mirrored triangle
        np.testing.assert_allclose(G, expected, rtol=0,
                                   atol=1e-5 * np.abs(expected).max())
        expected_grad = (W + W.T).astype(np.float64) @ F64
        np.testing.assert_allclose(grad(F, W), expected_grad, rtol=0,
                                   atol=1e-5 * np.abs(expected_grad).max())


def test_the_c_code_runs_on_float32_and_not_on_float64():
    gram32, grad32 = functions("float32")
    gram64, grad64 = functions("float64")
    ops = [type(node.op) for f in (gram32, grad32)
           for node in f.maker.fgraph.toposort()]
    assert GramMatrix in ops and GramMatrixGrad in ops
    rng = np.random.RandomState(1)
    F, W = rng.randn(17, 40), rng.randn(17, 17)
    np.testing.assert_allclose(gram32(F.astype(np.float32)), gram64(F),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        grad32(F.astype(np.float32), W.astype(np.float32)), grad64(F, W),
        rtol=1e-5, atol=1e-4)


def test_a_strided_input_is_read_as_its_values():
    gram, grad = functions()
    F = np.random.RandomState(2).randn(40, 17).astype(np.float32).T
    W = np.eye(17, dtype=np.float32)
    np.testing.assert_allclose(gram(F), F @ F.T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(grad(F, W), 2 * F, rtol=1e-6)


def test_gradient_against_finite_differences():
    rng = np.random.RandomState(3)
    W = rng.randn(4, 4)  # not symmetric: both of Ḡ's halves count
    theano.gradient.verify_grad(lambda F: (gram_matrix(F) * W).sum(),
                                [rng.randn(4, 6)], rng=rng)


def test_the_statistics_use_the_ops():
    F = T.matrix("F", dtype="float32")
    for stat in (statistics.gram(F, 7), statistics._covariance(F, 7)):
        f = theano.function([F], T.grad(((stat - 1) ** 2).sum(), F))
        ops = {type(node.op).__name__ for node in f.maker.fgraph.toposort()}
        assert {"GramMatrix", "GramMatrixGrad"} <= ops, ops
        assert "Dot22" not in ops and "Gemm" not in ops, ops


BYTES_SCRIPT = """
import hashlib, json
import numpy as np
import theano, theano.tensor as T
from lasagne_style.ops.gram import gram_matrix
F, W = T.matrix(dtype="float32"), T.matrix(dtype="float32")
G = gram_matrix(F)
f = theano.function([F, W], [G, T.grad((G * W).sum(), F)])
rng = np.random.RandomState(0)
x = rng.randn(129, 30011).astype(np.float32)
w = rng.randn(129, 129).astype(np.float32)
print(json.dumps([hashlib.sha256(a.tobytes()).hexdigest() for a in f(x, w)]))
"""


def test_the_same_bytes_on_one_thread_and_two():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one processor")
    seen = []
    for threads in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, "-c", BYTES_SCRIPT], env=env,
                             check=True, capture_output=True, text=True)
        seen.append(json.loads(out.stdout.splitlines()[-1]))
    assert seen[0] == seen[1]
    assert hashlib.sha256(b"").hexdigest() not in seen[0]
