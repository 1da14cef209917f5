"""Gram matrices ``G = F Fᵀ`` and their gradient as two C ops.

For a layer's features as a matrix ``F`` (C channels x K positions) the
style statistics need

.. math:: G = F F^\\top, \\qquad
          \\frac{\\partial L}{\\partial F} = (\\bar G + \\bar G^\\top) F,

with :math:`\\bar G = \\partial L / \\partial G`. Theano's ``T.dot(F, F.T)``
computes all of ``G`` with one sgemm and its gradient with two products
(``Ḡ F`` and ``Ḡᵀ F``, a ``Dot22`` and a ``Gemm``): three C²K products per
layer, on one BLAS thread (a threaded OpenBLAS rounds differently on
different thread counts, :mod:`lasagne_style.threads`). These ops take
two: :class:`GramMatrix` computes the lower triangle only (``ssyrk``, half
the multiply-adds) and mirrors it; :class:`GramMatrixGrad` adds ``Ḡ + Ḡᵀ``
(C² additions) and takes one product. Each splits its products into two
fixed tasks of equal work (``c/gram.c``), which the OpenMP threads share,
so a second core helps and the bytes are the same on one thread or two.

Float32 only in C; other dtypes run the numpy ``perform``. Measurements:
docs/performance.md ("Gram matrices").
"""
import zlib

import numpy as np
import theano
import theano.tensor as T
from theano.gof import Apply, Op

from .c_sources import OP_THREADS, BlasOpenMP, reuse_output, sections

__all__ = ["GramMatrix", "GramMatrixGrad", "gram_matrix"]

#: The ops' C code (c/gram.c).
_C = sections("gram.c", ("functions", "gram", "gram_grad"))


class _GramOp(BlasOpenMP, Op):
    __props__ = ()

    def c_support_code(self):
        from theano.tensor.blas_headers import (blas_header_text,
                                                openblas_threads_text)
        code = "#include <omp.h>\n#include <limits.h>\n#include <stdlib.h>\n"
        if "scipy_openblas" in theano.config.blas.ldflags:
            # compat's BLAS flags rename the routines Theano calls; ssyrk
            # is not among them
            code += "#define ssyrk_ scipy_ssyrk_\n"
        code += blas_header_text()
        if "openblas" in theano.config.blas.ldflags:
            code += "#define GRAM_OPENBLAS 1\n" + openblas_threads_text()
        return code + OP_THREADS + _C["functions"]

    def c_code_cache_version(self):
        from theano.tensor.blas_headers import blas_header_version
        # the C text is part of the key: any change compiles a new module
        code = OP_THREADS + "".join(_C.values())
        return (1, zlib.crc32(code.encode())) + blas_header_version()

    def _c_or_perform(self, node):
        if not theano.config.blas.ldflags or any(
                v.dtype != "float32" for v in node.inputs):
            raise theano.gof.utils.MethodNotDefined()  # numpy perform


class GramMatrix(_GramOp):
    """``F (C, K) -> F Fᵀ (C, C)``; gradient :class:`GramMatrixGrad`."""

    def make_node(self, F):
        F = T.as_tensor_variable(F)
        if F.ndim != 2:
            raise TypeError("GramMatrix expects a matrix")
        return Apply(self, [F], [T.matrix(dtype=F.dtype)])

    def perform(self, node, inputs, outputs):
        F, = inputs
        outputs[0][0] = np.dot(F, F.T)

    def infer_shape(self, node, shapes):
        return [(shapes[0][0], shapes[0][0])]

    def grad(self, inputs, grads):
        return [GramMatrixGrad()(inputs[0], grads[0])]

    def c_code(self, node, name, inputs, outputs, sub):
        self._c_or_perform(node)
        F, z, fail = inputs[0], outputs[0], sub["fail"]
        return _C["gram"] % dict(
            F=F, z=z, fail=fail,
            output=reuse_output(z, "dims", 2, "Py_DECREF(Fa); " + fail))


class GramMatrixGrad(_GramOp):
    """``(F, Ḡ) -> (Ḡ + Ḡᵀ) F``: the gradient of :class:`GramMatrix` at
    ``F`` given ``Ḡ`` = dL/dG. Its own gradient is not implemented (the
    objective needs first derivatives only)."""

    def make_node(self, F, gG):
        F, gG = T.as_tensor_variable(F), T.as_tensor_variable(gG)
        if F.ndim != 2 or gG.ndim != 2:
            raise TypeError("GramMatrixGrad expects matrices")
        gG = T.cast(gG, F.dtype)
        return Apply(self, [F, gG], [F.type()])

    def perform(self, node, inputs, outputs):
        F, gG = inputs
        outputs[0][0] = np.dot(gG + gG.T, F).astype(F.dtype)

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def grad(self, inputs, grads):
        return [theano.gradient.grad_not_implemented(self, i, v)
                for i, v in enumerate(inputs)]

    def c_code(self, node, name, inputs, outputs, sub):
        self._c_or_perform(node)
        (F, gG), z, fail = inputs, outputs[0], sub["fail"]
        return _C["gram_grad"] % dict(
            F=F, gG=gG, z=z, fail=fail,
            output=reuse_output(z, "dims", 2,
                                "Py_DECREF(Fa); Py_DECREF(Ga); " + fail))


def gram_matrix(F):
    """``F Fᵀ`` of a matrix ``F`` (module docstring)."""
    return GramMatrix()(F)
