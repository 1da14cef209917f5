"""3x3 'same' cross-correlation by Winograd's minimal filtering F(m x m, 3x3).

Lavin and Gray (2016, *Fast Algorithms for Convolutional Neural Networks*):
each m x m block of outputs is computed from the (m+2) x (m+2) input tile
``d`` around it as

.. math:: Y = A^\\top \\left[ (G g G^\\top) \\odot (B^\\top d B) \\right] A,

so the sum over input channels becomes alpha² = (m+2)² independent matrix
products, one per element of the transformed tile: (m+2)² multiplies per m²
outputs and input channel instead of 9 m², 2.25x fewer for F(2x2, 3x3) and
4x fewer for F(4x4, 3x3). The filter transform ``U = G g Gᵀ`` is computed
once, in float64 (the network's weights are fixed).

Two implementations:

* **Fused** (:class:`FusedCorrelation`, the default of
  :class:`WinogradConv3x3Layer`, tile size :data:`FUSED` = 4). One C op per
  layer: the tiles are cut into blocks of about :data:`BLOCK_BYTES` of
  transformed data (at least :data:`MIN_TILES` tiles); per block, the input
  transform, alpha² sgemms (the BLAS Theano links) and the output transform
  with bias and ReLU run back to back on buffers that stay in cache, so no
  transformed tensor ever goes through memory. Blocks are shared among
  OpenMP threads, each calling a single-threaded sgemm. The gradient w.r.t.
  the input is the same op on the output gradient masked by ``y > 0`` (the
  ReLU's mask, read from the output) with the transposed, flipped filters:
  a 3x3 'same' correlation too. This is what NNPACK and oneDNN do on CPUs
  (prior art; the code here is written from the paper). F(4x4, 3x3)'s
  transforms have entries up to 8 (input) and 1/24 (filter): in float32 the
  outputs differ from direct correlation by about 5e-6 of their largest
  value against 3e-7 for F(2x2, 3x3), and the objective's loss agrees with
  CorrMM's within 1e-4 relative (tests/test_network.py).
* **Unfused** F(2x2, 3x3) (:func:`correlate3x3_same`, ``fused=0``): the
  input and output transforms as separate Theano ops (:class:`InputTransform`,
  :class:`OutputTransform`, gradients by their adjoints) around one
  ``batched_dot`` over all tiles; transformed tensors (16, C, tiles) go
  through memory. The default before 2026-11-27, kept as a second path.

Design choices (measurements: docs/performance.md):

* Fused F(4x4) is the default: of the three variants it takes the least
  time per layer (forward + input gradient), and it keeps no transformed
  tensor in memory.
* The 6-point transforms are written so that GCC vectorizes them
  (``__restrict__``, ``omp simd``, and the strip de-interleaved by phase so
  the column step reads unit strides), and the alpha² transformed planes of
  a block lie one cache line further apart than they need (WG_STRIDE), so
  that they do not share cache sets.
* Blocks hold about 2 MiB of transformed data and at least
  :data:`MIN_TILES` = 128 tiles: with 256-512 channels, smaller blocks lost
  sgemm speed to packing the filters. With fewer blocks than threads
  (deep layers of small images) the threads share each block's alpha²
  sgemms instead.
* Threads: this op uses OMP_NUM_THREADS if set, else OPENBLAS_NUM_THREADS
  if set (so ``OPENBLAS_NUM_THREADS=1`` keeps a process on one core, as
  ``make compare`` expects), else the cores.
* The same bytes on any thread count: the blocks do not depend on it, every
  sgemm runs on one thread, and the filter transform is computed by numpy's
  own loops, not a (threaded) BLAS gemm (tests/test_reproducibility.py).

Shapes: images are (N, C, H, W); transformed tensors of the unfused path are
(16, C, tiles_h * tiles_w), the 16 in row-major order of the 4x4 tile, with
ceil(H/2) x ceil(W/2) tiles. Sizes that are not multiples of m are padded
with zeros and cropped.
"""
import numpy as np
import theano
import theano.tensor as T
from lasagne.layers import Conv2DLayer
from theano.gof import Apply, Op

#: F(2x2, 3x3) transforms: input (Bᵀ), filter (G), output (Aᵀ).
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
               np.float32)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def transform_filters(W):
    """U = G g Gᵀ for every (output, input) channel pair of the numpy filters
    ``W`` (C_out, C_in, 3, 3): float32 array (16, C_out, C_in)."""
    return transform_filters_m(W, 2)


def _tiles(height, width):
    return (height + 1) // 2, (width + 1) // 2


def _by_b_t(parts, out):
    """out[i] = sum_k B_T[i, k] parts[k] (4 views in, 4 arrays out)."""
    np.subtract(parts[0], parts[2], out=out[0])
    np.add(parts[1], parts[2], out=out[1])
    np.subtract(parts[2], parts[1], out=out[2])
    np.subtract(parts[1], parts[3], out=out[3])


def _add_by_b(grads, parts):
    """parts[k] += sum_i B_T[i, k] grads[i]: the adjoint of :func:`_by_b_t`
    (``parts`` are overlapping views, so they are accumulated one by one)."""
    parts[0] += grads[0]
    parts[1] += grads[1]
    parts[1] -= grads[2]
    parts[1] += grads[3]
    parts[2] -= grads[0]
    parts[2] += grads[1]
    parts[2] += grads[2]
    parts[3] -= grads[3]


def input_transform(x):
    """Bᵀ d B of every 4x4 tile (stride 2) of ``x`` (C, H, W) padded by 1:
    (16, C, tiles)."""
    channels, height, width = x.shape
    tiles_h, tiles_w = _tiles(height, width)
    padded = np.zeros((channels, 2 * tiles_h + 2, 2 * tiles_w + 2), x.dtype)
    padded[:, 1:height + 1, 1:width + 1] = x
    rows = np.empty((4, channels, tiles_h, 2 * tiles_w + 2), x.dtype)
    _by_b_t([padded[:, a:a + 2 * tiles_h:2] for a in range(4)], rows)
    V = np.empty((4, 4, channels, tiles_h, tiles_w), x.dtype)
    for a in range(4):
        _by_b_t([rows[a][:, :, b:b + 2 * tiles_w:2] for b in range(4)], V[a])
    return V.reshape(16, channels, tiles_h * tiles_w)


def input_transform_adjoint(gV, height, width):
    """Gradient of :func:`input_transform` w.r.t. ``x``: (C, H, W)."""
    channels = gV.shape[1]
    tiles_h, tiles_w = _tiles(height, width)
    gV = gV.reshape(4, 4, channels, tiles_h, tiles_w)
    g_rows = np.zeros((4, channels, tiles_h, 2 * tiles_w + 2), gV.dtype)
    for a in range(4):
        _add_by_b(gV[a], [g_rows[a][:, :, b:b + 2 * tiles_w:2]
                          for b in range(4)])
    g_padded = np.zeros((channels, 2 * tiles_h + 2, 2 * tiles_w + 2),
                        gV.dtype)
    _add_by_b(g_rows, [g_padded[:, a:a + 2 * tiles_h:2] for a in range(4)])
    return np.ascontiguousarray(g_padded[:, 1:height + 1, 1:width + 1])


def output_transform(M, height, width):
    """Aᵀ m A of every transformed tile ``M`` (16, C, tiles), each 2x2 result
    put in place: (C, H, W)."""
    channels = M.shape[1]
    tiles_h, tiles_w = _tiles(height, width)
    m = M.reshape(4, 4, channels, tiles_h, tiles_w)
    s = np.empty((2, 4, channels, tiles_h, tiles_w), M.dtype)
    np.add(m[0], m[1], out=s[0])
    s[0] += m[2]
    np.subtract(m[1], m[2], out=s[1])
    s[1] -= m[3]
    out = np.empty((channels, tiles_h, 2, tiles_w, 2), M.dtype)
    for i in range(2):
        left, right = out[:, :, i, :, 0], out[:, :, i, :, 1]
        np.add(s[i, 0], s[i, 1], out=left)
        left += s[i, 2]
        np.subtract(s[i, 1], s[i, 2], out=right)
        right -= s[i, 3]
    out = out.reshape(channels, 2 * tiles_h, 2 * tiles_w)
    return np.ascontiguousarray(out[:, :height, :width])


def output_transform_adjoint(gY):
    """Gradient of :func:`output_transform` w.r.t. ``M``: (16, C, tiles)."""
    channels, height, width = gY.shape
    tiles_h, tiles_w = _tiles(height, width)
    g = np.zeros((channels, tiles_h, 2, tiles_w, 2), gY.dtype)
    g.reshape(channels, 2 * tiles_h, 2 * tiles_w)[:, :height, :width] = gY
    gs = np.empty((2, 4, channels, tiles_h, tiles_w), gY.dtype)
    for i in range(2):
        left, right = g[:, :, i, :, 0], g[:, :, i, :, 1]
        gs[i, 0] = left
        np.add(left, right, out=gs[i, 1])
        np.subtract(left, right, out=gs[i, 2])
        np.negative(right, out=gs[i, 3])
    gM = np.empty((4, 4, channels, tiles_h, tiles_w), gY.dtype)
    gM[0] = gs[0]
    np.add(gs[0], gs[1], out=gM[1])
    np.subtract(gs[0], gs[1], out=gM[2])
    np.negative(gs[1], out=gM[3])
    return gM.reshape(16, channels, tiles_h * tiles_w)


def _scalar(value):
    return T.as_tensor_variable(value).astype("int64")


# C loops of the four transforms: one pass over the tiles, parallel over
# channels (OpenMP) for large layers only: on small ones, waking the threads
# (which then spin against OpenBLAS's) cost more than the loop (48 px: 7x
# slower). ``in``/``out`` are C-contiguous float32; images are (C, H, W),
# transformed tensors (16, C, T) with T = th * tw tiles.
_C_LOOP = """
#pragma omp parallel for schedule(static) if (C * H * W >= PARALLEL_MIN)
for (npy_intp c = 0; c < C; c++) {
  for (npy_intp p = 0; p < th; p++) {
    for (npy_intp q = 0; q < tw; q++) {
      const npy_intp t = p * tw + q;
      %s
    }
  }
}
"""

# Tensors (16, C, T) are written one strip of tiles (fixed c, p) at a time, a
# few contiguous rows at once: 16 interleaved output streams were 3x slower.
_C_INPUT = """
#pragma omp parallel if (C * H * W >= PARALLEL_MIN)
{
const npy_intp width = 2 * tw + 2;
float* strip = (float*)malloc(4 * width * sizeof(float));
#pragma omp for schedule(static)
for (npy_intp c = 0; c < C; c++) {
  for (npy_intp p = 0; p < th; p++) {
    for (npy_intp s = 0; s < width; s++) {  /* B^T of 4 padded rows */
      float d[4];
      for (int i = 0; i < 4; i++) {
        const npy_intp r = 2 * p + i - 1, col = s - 1;
        d[i] = (r >= 0 && r < H && col >= 0 && col < W)
               ? in[(c * H + r) * W + col] : 0.f;
      }
      strip[s] = d[0] - d[2];
      strip[width + s] = d[1] + d[2];
      strip[2 * width + s] = d[2] - d[1];
      strip[3 * width + s] = d[1] - d[3];
    }
    for (int a = 0; a < 4; a++) {  /* then B along the columns */
      const float* R = strip + a * width;
      float* o0 = out + ((4 * a) * C + c) * T + p * tw;
      float* o1 = o0 + C * T;
      float* o2 = o1 + C * T;
      float* o3 = o2 + C * T;
      for (npy_intp q = 0; q < tw; q++) {
        const float x0 = R[2 * q], x1 = R[2 * q + 1];
        const float x2 = R[2 * q + 2], x3 = R[2 * q + 3];
        o0[q] = x0 - x2; o1[q] = x1 + x2; o2[q] = x2 - x1; o3[q] = x1 - x3;
      }
    }
  }
}
free(strip);
}
"""

_C_INPUT_ADJOINT = """
float g[4][4];
for (int k = 0; k < 16; k++) g[k / 4][k % 4] = in[(k * C + c) * T + t];
for (int i = 0; i < 4; i++) {  /* adjoint of the column step */
  const float a0 = g[i][0], a1 = g[i][1], a2 = g[i][2], a3 = g[i][3];
  g[i][0] = a0; g[i][1] = a1 - a2 + a3; g[i][2] = a1 + a2 - a0; g[i][3] = -a3;
}
for (int j = 0; j < 4; j++) {  /* adjoint of the row step */
  const float a0 = g[0][j], a1 = g[1][j], a2 = g[2][j], a3 = g[3][j];
  g[0][j] = a0; g[1][j] = a1 - a2 + a3; g[2][j] = a1 + a2 - a0; g[3][j] = -a3;
}
for (int i = 0; i < 4; i++) {  /* tiles overlap: accumulate */
  const npy_intp r = 2 * p + i - 1;
  if (r < 0 || r >= H) continue;
  for (int j = 0; j < 4; j++) {
    const npy_intp s = 2 * q + j - 1;
    if (s >= 0 && s < W) out[(c * H + r) * W + s] += g[i][j];
  }
}
"""

_C_OUTPUT = """
float m[4][4], s0[4], s1[4];
for (int k = 0; k < 16; k++) m[k / 4][k % 4] = in[(k * C + c) * T + t];
for (int b = 0; b < 4; b++) {  /* A^T m */
  s0[b] = m[0][b] + m[1][b] + m[2][b];
  s1[b] = m[1][b] - m[2][b] - m[3][b];
}
const float y[2][2] = {{s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3]},
                       {s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]}};
for (int i = 0; i < 2; i++) {
  const npy_intp r = 2 * p + i;
  for (int j = 0; j < 2; j++) {
    const npy_intp s = 2 * q + j;
    if (r < H && s < W) out[(c * H + r) * W + s] = y[i][j];
  }
}
"""

_C_OUTPUT_ADJOINT = """
#pragma omp parallel if (C * H * W >= PARALLEL_MIN)
{
float* strip = (float*)malloc(2 * 2 * tw * sizeof(float));
#pragma omp for schedule(static)
for (npy_intp c = 0; c < C; c++) {
  for (npy_intp p = 0; p < th; p++) {
    for (int i = 0; i < 2; i++) {  /* two image rows, zero beyond the edges */
      const npy_intp r = 2 * p + i;
      for (npy_intp s = 0; s < 2 * tw; s++)
        strip[i * 2 * tw + s] =
            (r < H && s < W) ? in[(c * H + r) * W + s] : 0.f;
    }
    const float* g0 = strip;
    const float* g1 = strip + 2 * tw;
    for (int b = 0; b < 4; b++) {
      float* o0 = out + (b * C + c) * T + p * tw;
      float* o1 = o0 + 4 * C * T;
      float* o2 = o1 + 4 * C * T;
      float* o3 = o2 + 4 * C * T;
      for (npy_intp q = 0; q < tw; q++) {
        const float l0 = g0[2 * q], r0 = g0[2 * q + 1];
        const float l1 = g1[2 * q], r1 = g1[2 * q + 1];
        /* row i of A^T-adjoint: (l, l + r, l - r, -r)[b] */
        const float s0 =
            b == 0 ? l0 : b == 1 ? l0 + r0 : b == 2 ? l0 - r0 : -r0;
        const float s1 =
            b == 0 ? l1 : b == 1 ? l1 + r1 : b == 2 ? l1 - r1 : -r1;
        o0[q] = s0; o1[q] = s0 + s1; o2[q] = s0 - s1; o3[q] = -s1;
      }
    }
  }
}
free(strip);
}
"""


class _Transform(Op):
    """An op ``f(array, *sizes)``: a C loop (``c_loop``) where a compiler is
    available, else the numpy ``function``. Its gradient w.r.t. the array is
    given by :meth:`adjoint`; the sizes (image height and width, for ops whose
    input is a transformed tensor) have none. ``image_input`` and
    ``image_output`` say which side is an image (C, H, W)."""
    __props__ = ()
    function = c_loop = None
    image_input = image_output = False
    accumulates = False  # the C loop adds into its output

    def make_node(self, array, *sizes):
        array = T.as_tensor_variable(array)
        return Apply(self, [array] + [_scalar(s) for s in sizes],
                     [T.tensor3(dtype=array.dtype)])

    def perform(self, node, inputs, outputs):
        array, sizes = inputs[0], [int(s) for s in inputs[1:]]
        outputs[0][0] = type(self).function(array, *sizes)

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def grad(self, inputs, grads):
        return [self.adjoint(inputs, grads[0])] + [
            theano.gradient.DisconnectedType()() for _ in inputs[1:]]

    def c_compile_args(self):
        return ["-fopenmp"]

    def c_code_cache_version(self):
        return (4,)

    def c_code(self, node, name, inputs, outputs, sub):
        if node.inputs[0].dtype != "float32":
            raise theano.gof.utils.MethodNotDefined()  # numpy perform
        x, z, fail = inputs[0], outputs[0], sub["fail"]
        if self.image_input:
            sizes = ("C = PyArray_DIMS(in_arr)[0];"
                     " H = PyArray_DIMS(in_arr)[1];"
                     " W = PyArray_DIMS(in_arr)[2];")
        else:
            sizes = ("C = PyArray_DIMS(in_arr)[1];"
                     " H = ((npy_int64*)PyArray_DATA(%s))[0];"
                     " W = ((npy_int64*)PyArray_DATA(%s))[0];"
                     % (inputs[1], inputs[2]))
        dims = "C, H, W" if self.image_output else "16, C, th * tw"
        check = "" if self.image_input else """
            if (PyArray_DIMS(in_arr)[0] != 16
                    || PyArray_DIMS(in_arr)[2] != T) {
                PyErr_SetString(PyExc_ValueError,
                                "winograd: transformed tensor of wrong shape");
                Py_DECREF(in_arr); %(fail)s;
            }""" % dict(fail=fail)
        return """
        {
        PyArrayObject* in_arr = PyArray_GETCONTIGUOUS(%(x)s);
        if (!in_arr) { %(fail)s; }
        npy_intp C, H, W;
        %(sizes)s
        const npy_intp th = (H + 1) / 2, tw = (W + 1) / 2, T = th * tw;
        const npy_intp PARALLEL_MIN = 1 << 18;
        %(check)s
        npy_intp dims[3] = {%(dims)s};
        if (%(z)s && PyArray_IS_C_CONTIGUOUS(%(z)s)
                && PyArray_TYPE(%(z)s) == NPY_FLOAT32
                && PyArray_DIMS(%(z)s)[0] == dims[0]
                && PyArray_DIMS(%(z)s)[1] == dims[1]
                && PyArray_DIMS(%(z)s)[2] == dims[2]) {
            /* reuse the previous call's output: no fresh pages to fault in */
            if (%(accumulates)d)
                memset(PyArray_DATA(%(z)s), 0, PyArray_NBYTES(%(z)s));
        } else {
            Py_XDECREF(%(z)s);
            %(z)s = (PyArrayObject*)PyArray_ZEROS(3, dims, NPY_FLOAT32, 0);
            if (!%(z)s) { Py_DECREF(in_arr); %(fail)s; }
        }
        const float* in = (const float*)PyArray_DATA(in_arr);
        float* out = (float*)PyArray_DATA(%(z)s);
        %(loop)s
        Py_DECREF(in_arr);
        }
        """ % dict(x=x, z=z, fail=fail, sizes=sizes, check=check, dims=dims,
                   loop=type(self).c_loop, accumulates=int(self.accumulates))


class InputTransformAdjoint(_Transform):
    """``(gV, height, width) -> gx``; see :func:`input_transform_adjoint`."""
    function = staticmethod(input_transform_adjoint)
    c_loop = _C_LOOP % _C_INPUT_ADJOINT
    image_output = accumulates = True

    def adjoint(self, inputs, g):
        return InputTransform()(g)


class InputTransform(_Transform):
    """``x (C, H, W) -> V (16, C, tiles)``; see :func:`input_transform`."""
    function = staticmethod(input_transform)
    c_loop = _C_INPUT
    image_input = True

    def adjoint(self, inputs, g):
        x = inputs[0]
        return InputTransformAdjoint()(g, x.shape[1], x.shape[2])


class OutputTransformAdjoint(_Transform):
    """``gY (C, H, W) -> gM``; see :func:`output_transform_adjoint`."""
    function = staticmethod(output_transform_adjoint)
    c_loop = _C_OUTPUT_ADJOINT
    image_input = True

    def adjoint(self, inputs, g):
        gY = inputs[0]
        return OutputTransform()(g, gY.shape[1], gY.shape[2])


class OutputTransform(_Transform):
    """``(M, height, width) -> Y (C, H, W)``; see :func:`output_transform`."""
    function = staticmethod(output_transform)
    c_loop = _C_LOOP % _C_OUTPUT
    image_output = True

    def adjoint(self, inputs, g):
        return OutputTransformAdjoint()(g)


def correlate3x3_same(x, U):
    """Cross-correlation of ``x`` (1, C_in, H, W) with 3x3 filters given by
    their transform ``U`` = :func:`transform_filters` (W), zero padding 1: the
    same result as ``conv2d(x, W, border_mode=1, filter_flip=False)``."""
    M = T.batched_dot(U, InputTransform()(x[0]))  # (16, C_out, tiles)
    return OutputTransform()(M, x.shape[2], x.shape[3]).dimshuffle(
        "x", 0, 1, 2)


class WinogradConv3x3Layer(Conv2DLayer):
    """Lasagne's Conv2DLayer (3x3, pad 1, stride 1) with fixed numpy weights
    ``W``, computed by Winograd's algorithm instead of Theano's CorrMM: by
    :class:`FusedCorrelation` with F(m x m, 3x3), bias and ReLU folded in,
    if ``fused`` (default :data:`FUSED`) is a tile size m, else by
    :func:`correlate3x3_same` (F(2x2, 3x3), unfused). ``W`` stays the
    layer's parameter; its transforms are constants."""

    def __init__(self, incoming, num_filters, W, b, fused=None, **kwargs):
        super(WinogradConv3x3Layer, self).__init__(
            incoming, num_filters, 3, pad=1, W=W, b=b, flip_filters=False,
            **kwargs)
        self.fused = FUSED if fused is None else fused
        if self.fused:
            self.U = T.constant(transform_filters_m(W, self.fused))
            self.U_adjoint = T.constant(transform_filters_m(
                adjoint_filters(W), self.fused))
        else:
            self.U = T.constant(transform_filters(W))

    def get_output_for(self, input, **kwargs):
        if self.fused:
            from lasagne.nonlinearities import rectify
            relu = self.nonlinearity is rectify
            y = FusedCorrelation(self.fused, relu)(input, self.U, self.b,
                                                    self.U_adjoint)
            return y if relu else self.nonlinearity(y)
        conved = correlate3x3_same(input, self.U)
        return self.nonlinearity(conved + self.b.dimshuffle("x", 0, "x", "x"))


def correlate3x3(x, W, m=4):
    """Cross-correlation of ``x`` (N, C_in, H, W) with numpy 3x3 filters
    ``W`` (C_out, C_in, 3, 3), zero padding 1, by :class:`FusedCorrelation`
    with F(m x m, 3x3): ``conv2d(x, W, border_mode=1, filter_flip=False)``,
    differentiable w.r.t. ``x``."""
    U = T.constant(transform_filters_m(W, m))
    U_adjoint = T.constant(transform_filters_m(adjoint_filters(W), m))
    return FusedCorrelation(m, False)(x, U, np.zeros(W.shape[0], "float32"),
                                      U_adjoint)


#: Tile size m of the fused F(m x m, 3x3) path that
#: :class:`WinogradConv3x3Layer` uses by default; 0: the unfused F(2x2, 3x3)
#: ops.
FUSED = 4

# ---------------------------------------------------------------------------
# Fused Winograd convolution: input transform -> gemms -> output transform
# per block of tiles, in one C op.
# ---------------------------------------------------------------------------

#: F(4x4, 3x3) transforms (Lavin and Gray 2016, interpolation points 0, +-1,
#: +-2 and infinity): input (Bᵀ), filter (G), output (Aᵀ).
B_T4 = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)
G4 = np.array([[1 / 4., 0, 0], [-1 / 6., -1 / 6., -1 / 6.],
               [-1 / 6., 1 / 6., -1 / 6.], [1 / 24., 1 / 12., 1 / 6.],
               [1 / 24., -1 / 12., 1 / 6.], [0, 0, 1]], np.float64)
A_T4 = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64)

#: Transforms (Bᵀ, G, Aᵀ) by output tile size m of F(m x m, 3x3).
TRANSFORMS = {2: (B_T.astype(np.float64), G.astype(np.float64),
                  A_T.astype(np.float64)),
              4: (B_T4, G4, A_T4)}


def transform_filters_m(W, m):
    """U = G g Gᵀ of F(m x m, 3x3) for every (output, input) channel pair of
    ``W`` (C_out, C_in, 3, 3): float32 (alpha², C_out, C_in), alpha = m + 2,
    computed in float64."""
    G_m = TRANSFORMS[m][1]
    # one product: U[a*alpha + b] = sum_kl (G ⊗ G)[a*alpha + b, 3k + l] W[kl],
    # about 4x faster than einsum("ak,oikl,bl->aboi"). By numpy's own loops,
    # not a BLAS gemm: a threaded gemm rounds differently on other thread
    # counts, and the float32 filters (so every result) would then depend on
    # OPENBLAS_NUM_THREADS (measurements: docs/performance.md)
    W = np.asarray(W, np.float64)
    U = np.einsum("ak,kn->an", np.kron(G_m, G_m),
                  W.transpose(2, 3, 0, 1).reshape(9, -1), optimize=False)
    return np.ascontiguousarray(U.reshape((-1,) + W.shape[:2]), np.float32)


def adjoint_filters(W):
    """Filters of the adjoint of a 3x3 'same' cross-correlation: the
    gradient of ``y = x ⋆ W`` w.r.t. ``x`` is ``gy ⋆ W'`` with
    ``W'[i, o, k, l] = W[o, i, 2 - k, 2 - l]`` (transposed and flipped)."""
    W = np.asarray(W)
    return np.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def _combination(coefficients, terms):
    """C expression of sum_k coefficients[k] * terms[k], zeros skipped."""
    out = []
    for c, t in zip(coefficients, terms):
        if c == 0:
            continue
        if c == 1:
            out.append("+ " + t)
        elif c == -1:
            out.append("- " + t)
        else:
            out.append("%s %sf * %s" % ("+" if c > 0 else "-",
                                        repr(float(abs(c))), t))
    return " ".join(out).lstrip("+ ") if out else "0.f"


def _assignments(matrix, target, terms):
    """``target % i = sum_k matrix[i, k] * terms[k]`` for every row i."""
    return "\n".join("%s = %s;" % (target % i, _combination(row, terms))
                     for i, row in enumerate(matrix))


# One C function per tile size m: ``wg<m>_conv`` correlates one image
# (C_in, H, W) with filters given by their transform U (alpha², C_out, C_in),
# optionally masking the input by ``mask > 0`` (the ReLU of the backward
# pass), adding a bias and rectifying. The tiles (row-major, t = p * tw + q)
# are cut into blocks of ``nb`` consecutive tiles; per block, in buffers of
# the thread that owns it: V (alpha², C_in, nb) = input transform, then
# alpha² sgemms M[k] = U[k] V[k] (C_out, nb), then the output transform,
# written to the image. Blocks are shared among OpenMP threads, each calling
# a single-threaded sgemm (OpenBLAS's own threads are set to 1 meanwhile);
# with fewer blocks than threads, the blocks run in turn and the threads
# share each block's alpha² sgemms.
_C_FUSED = """
#ifndef WG_STRIDE
/* floats between the alpha² matrices of a block: one cache line more than
   they need, so that the alpha² streams of a transform do not share cache
   sets (with 64 channels and 64 tiles they were 16 KiB apart) */
#define WG_STRIDE(C, n) ((C) * (n) + 16)
/* Per-thread buffers kept between calls (a few MB per thread): fresh
   ones would be fresh pages to fault in at every call. NULL if out of
   memory. */
static float* wg_buffer(int slot, npy_intp count)
{
  static thread_local float* buffers[4] = {NULL, NULL, NULL, NULL};
  static thread_local npy_intp sizes[4] = {0, 0, 0, 0};
  if (sizes[slot] < count) {
    free(buffers[slot]);
    buffers[slot] = (float*)malloc(count * sizeof(float));
    sizes[slot] = buffers[slot] ? count : 0;
  }
  return buffers[slot];
}
#endif
static void wg%(m)d_input(const float* x, const float* mask, npy_intp C,
    npy_intp H, npy_intp W, npy_intp tw, npy_intp t0, npy_intp t1,
    float* __restrict__ V, float* __restrict__ rows,
    float* __restrict__ strip)
{
  const npy_intp n = t1 - t0, p0 = t0 / tw, p1 = (t1 - 1) / tw;
  const npy_intp CN = WG_STRIDE(C, n);
  for (npy_intp c = 0; c < C; c++) {
    const float* xc = x + c * H * W;
    const float* mc = mask ? mask + c * H * W : NULL;
    for (npy_intp p = p0; p <= p1; p++) {
      const npy_intp q0 = p == p0 ? t0 - p * tw : 0;
      const npy_intp q1 = p == p1 ? t1 - p * tw : tw;
      /* a strip: columns s0 .. s0 + ws - 1 of the tile rows, L = nq + 1
         columns per phase s mod m */
      const npy_intp nq = q1 - q0, L = nq + 1, ws = %(m)d * L;
      const npy_intp s0 = %(m)d * q0 - 1;
      const npy_intp lo = s0 < 0 ? -s0 : 0;
      const npy_intp hi = W - s0 < ws ? W - s0 : ws;
      for (int a = 0; a < %(a)d; a++) {  /* the tile rows, zero outside */
        float* __restrict__ R = rows + a * ws;
        float* __restrict__ D = strip + a * ws;
        const npy_intp r = %(m)d * p - 1 + a;
        if (r < 0 || r >= H) {
          memset(D, 0, ws * sizeof(float));
          continue;
        }
        for (npy_intp s = 0; s < lo; s++) R[s] = 0.f;
        const float* xr = xc + r * W + s0;
        if (mc) {
          const float* mr = mc + r * W + s0;
          for (npy_intp s = lo; s < hi; s++) R[s] = mr[s] > 0.f ? xr[s] : 0.f;
        } else {
          memcpy(R + lo, xr + lo, (hi - lo) * sizeof(float));
        }
        for (npy_intp s = hi; s < ws; s++) R[s] = 0.f;
        /* de-interleave by phase, so that the column step reads unit
           strides: strip[a][k][j] = R[m j + k] */
        #pragma omp simd
        for (npy_intp j = 0; j < L; j++) {
          %(deinterleave)s
        }
      }
      #pragma omp simd
      for (npy_intp s = 0; s < ws; s++) {  /* B^T down the columns */
        %(load_rows)s
        %(rows_bt)s
      }
      float* v = V + c * n + (p * tw + q0 - t0);
      for (int i = 0; i < %(a)d; i++) {  /* then B along each row */
        const float* __restrict__ S = rows + i * ws;
        float* __restrict__ vi = v + i * %(a)d * CN;
        #pragma omp simd
        for (npy_intp q = 0; q < nq; q++) {
          %(load_e)s
          %(cols_b)s
        }
      }
    }
  }
}

static void wg%(m)d_output(const float* M, npy_intp C, npy_intp H,
    npy_intp W, npy_intp tw, npy_intp t0, npy_intp t1, const float* bias,
    int relu, float* y, float* stage)
{
  const npy_intp n = t1 - t0, p0 = t0 / tw, p1 = (t1 - 1) / tw;
  const npy_intp CN = WG_STRIDE(C, n);
  for (npy_intp c = 0; c < C; c++) {
    const float bc = bias ? bias[c] : 0.f;
    for (npy_intp p = p0; p <= p1; p++) {
      const npy_intp q0 = p == p0 ? t0 - p * tw : 0;
      const npy_intp q1 = p == p1 ? t1 - p * tw : tw;
      const npy_intp nq = q1 - q0, sw = %(m)d * nq;
      const float* mp = M + c * n + (p * tw + q0 - t0);
      #pragma omp simd
      for (npy_intp q = 0; q < nq; q++) {
        %(load_m)s
        %(a_t_rows)s
        %(a_t_cols)s
        if (relu) {
          %(relu)s
        }
        %(store)s
      }
      for (int i = 0; i < %(m)d; i++) {
        const npy_intp r = %(m)d * p + i, c0 = %(m)d * q0;
        if (r >= H) break;
        const npy_intp count = W - c0 < sw ? W - c0 : sw;
        memcpy(y + (c * H + r) * W + c0, stage + i * sw,
               count * sizeof(float));
      }
    }
  }
}

/* The k-th of a block's (m+2)^2 products: M_k (n x Co) = V_k (n x Ci)
   U_k (Ci x Co), column-major as sgemm sees them. */
static void wg%(m)d_product(const float* V, const float* U, float* Mb,
    npy_intp n_tiles, npy_intp Ci, npy_intp Co, int k)
{
  int n = (int)n_tiles, ci = (int)Ci, co = (int)Co;
  char no = 'N';
  float one = 1.f, zero = 0.f;
  sgemm_(&no, &no, &n, &co, &ci, &one, V + k * WG_STRIDE(Ci, n), &n,
         U + k * Co * Ci, &ci, &zero, Mb + k * WG_STRIDE(Co, n), &n);
}

/* Returns 0, or -1 if out of memory. */
static int wg%(m)d_conv(const float* x, const float* mask, npy_intp Ci,
    npy_intp H, npy_intp W, const float* U, npy_intp Co, const float* bias,
    int relu, float* y, npy_intp budget)
{
  const npy_intp th = (H + %(m)d - 1) / %(m)d, tw = (W + %(m)d - 1) / %(m)d;
  const npy_intp T = th * tw;
  /* threads: OMP_NUM_THREADS if set, else OPENBLAS_NUM_THREADS if set
     (read from the environment: threads.blas_on_one_thread keeps OpenBLAS
     itself on one thread), else the cores */
  int nth = omp_get_max_threads();
  const char* blas_env = getenv("OPENBLAS_NUM_THREADS");
  if (!getenv("OMP_NUM_THREADS") && blas_env && atoi(blas_env) > 0
      && atoi(blas_env) < nth) nth = atoi(blas_env);
#ifdef WG_OPENBLAS
  const int blas_threads = openblas_get_num_threads();
#endif
  if (nth < 1) nth = 1;
  /* Same bytes on any thread count: the blocks of tiles do not depend on
     it, and every sgemm runs on one thread (a threaded OpenBLAS sgemm
     rounds differently from a single-threaded one). The threads share the
     blocks, or, with fewer blocks than threads, the (m+2)^2 independent
     sgemms of each block. */
  npy_intp nb = budget / (%(aa)d * (Ci + Co) * (npy_intp)sizeof(float));
  nb = nb / 16 * 16;
  if (nb < %(min_tiles)d) nb = %(min_tiles)d;
  if (nb > T) nb = T;
  const npy_intp nblocks = (T + nb - 1) / nb;
  const int by_block = nblocks >= nth;
  const npy_intp ws_max = %(m)d * ((nb < tw ? nb : tw) + 1);
  int failed = 0;
#ifdef WG_OPENBLAS
  if (blas_threads > 1) openblas_set_num_threads(1);
#endif
  #pragma omp parallel num_threads(nth)
  {
    float* V = wg_buffer(0, %(aa)d * WG_STRIDE(Ci, nb));
    float* Mb = wg_buffer(1, %(aa)d * WG_STRIDE(Co, nb));
    float* rows = wg_buffer(2, %(a)d * ws_max);
    float* strip = wg_buffer(3, %(a)d * ws_max);
    if (!V || !Mb || !rows || !strip) {
      #pragma omp atomic write
      failed = 1;
    }
    #pragma omp barrier
    if (!failed) {
      if (by_block) {
        #pragma omp for schedule(dynamic, 1)
        for (npy_intp b = 0; b < nblocks; b++) {
          const npy_intp t0 = b * nb, t1 = t0 + nb < T ? t0 + nb : T;
          wg%(m)d_input(x, mask, Ci, H, W, tw, t0, t1, V, rows, strip);
          for (int k = 0; k < %(aa)d; k++)
            wg%(m)d_product(V, U, Mb, t1 - t0, Ci, Co, k);
          wg%(m)d_output(Mb, Co, H, W, tw, t0, t1, bias, relu, y, rows);
        }
      } else {
        /* one thread's buffers hold the block; all run its sgemms */
        float* V0 = V;
        float* M0 = Mb;
        #pragma omp single copyprivate(V0, M0)
        {}
        for (npy_intp b = 0; b < nblocks; b++) {
          const npy_intp t0 = b * nb, t1 = t0 + nb < T ? t0 + nb : T;
          #pragma omp single
          wg%(m)d_input(x, mask, Ci, H, W, tw, t0, t1, V0, rows, strip);
          #pragma omp for schedule(static)
          for (int k = 0; k < %(aa)d; k++)
            wg%(m)d_product(V0, U, M0, t1 - t0, Ci, Co, k);
          #pragma omp single
          wg%(m)d_output(M0, Co, H, W, tw, t0, t1, bias, relu, y, rows);
        }
      }
    }
  }
#ifdef WG_OPENBLAS
  if (blas_threads > 1) openblas_set_num_threads(blas_threads);
#endif
  return failed ? -1 : 0;
}
"""


def _fused_support_code(m):
    """:data:`_C_FUSED` with the transforms of F(m x m, 3x3) unrolled."""
    B_T_m, _, A_T_m = TRANSFORMS[m]
    a = m + 2
    rows = ["d%d" % k for k in range(a)]
    load_rows = " ".join("const float d%d = strip[%d * ws + s];" % (k, k)
                         for k in range(a))
    rows_bt = _assignments(B_T_m, "rows[%d * ws + s]", rows)
    deinterleave = " ".join("D[%d * L + j] = R[%d * j + %d];" % (k, m, k)
                            for k in range(m))
    load_e = " ".join("const float e%d = S[%d * L + q + %d];"
                      % (k, k % m, k // m) for k in range(a))
    cols_b = _assignments(B_T_m, "vi[%d * CN + q]",
                          ["e%d" % k for k in range(a)])
    load_m = " ".join("const float m%d = mp[%d * CN + q];" % (k, k)
                      for k in range(a * a))
    a_t_rows = "\n".join(
        "const float s%d_%d = %s;" % (i, j, _combination(
            A_T_m[i], ["m%d" % (k * a + j) for k in range(a)]))
        for i in range(m) for j in range(a))
    a_t_cols = "\n".join(
        "float o%d_%d = bc + %s;" % (i, j, _combination(
            A_T_m[j], ["s%d_%d" % (i, k) for k in range(a)]))
        for i in range(m) for j in range(m))
    relu = " ".join("o%d_%d = o%d_%d > 0.f ? o%d_%d : 0.f;" % ((i, j) * 3)
                    for i in range(m) for j in range(m))
    store = " ".join("stage[%d * sw + %d * q + %d] = o%d_%d;" % (i, m, j, i, j)
                     for i in range(m) for j in range(m))
    return _C_FUSED % dict(m=m, a=a, aa=a * a, load_rows=load_rows,
                           min_tiles=MIN_TILES,
                           deinterleave=deinterleave,
                           rows_bt=rows_bt, load_e=load_e, cols_b=cols_b,
                           load_m=load_m, a_t_rows=a_t_rows,
                           a_t_cols=a_t_cols, relu=relu, store=store)


def winograd_correlate(x, U, m, bias=None, relu=False, mask=None):
    """numpy F(m x m, 3x3) 'same' cross-correlation of ``x`` (C_in, H, W)
    with filters transformed by :func:`transform_filters_m`: tiles of
    ``x`` padded by 1 (and by zeros to whole tiles), V = Bᵀ d B, M = U V
    summed over input channels, Y = Aᵀ M A cropped; then ``+ bias`` and
    ``max(., 0)`` if asked. ``mask``: ``x`` is first zeroed where
    ``mask <= 0``. The reference of the fused C op, computed in float64."""
    B_T_m, _, A_T_m = TRANSFORMS[m]
    a = m + 2
    x = np.asarray(x, np.float64)
    if mask is not None:
        x = np.where(np.asarray(mask) > 0, x, 0.)
    channels, height, width = x.shape
    th, tw = -(-height // m), -(-width // m)
    padded = np.zeros((channels, m * th + 2, m * tw + 2))
    padded[:, 1:height + 1, 1:width + 1] = x
    s = padded.strides
    tiles = np.lib.stride_tricks.as_strided(
        padded, (channels, th, tw, a, a), (s[0], m * s[1], m * s[2]) + s[1:])
    V = np.einsum("ik,cpqkl,jl->ijcpq", B_T_m, tiles, B_T_m)
    U = np.asarray(U, np.float64).reshape(a, a, U.shape[1], U.shape[2])
    M = np.einsum("ijoc,ijcpq->ijopq", U, V)
    Y = np.einsum("ri,ijopq,sj->oprqs", A_T_m, M, A_T_m)
    Y = Y.reshape(-1, m * th, m * tw)[:, :height, :width]
    if bias is not None:
        Y = Y + np.asarray(bias, np.float64)[:, None, None]
    if relu:
        Y = np.maximum(Y, 0)
    return Y


def _fused_flags():
    from theano.tensor.blas import ldflags
    return ldflags


#: Bytes of transformed input and products (alpha² (C_in + C_out) floats a
#: tile) one block of tiles may take; see the module docstring.
BLOCK_BYTES = 1 << 21
#: Fewest tiles in a block: smaller sgemms lose more to packing the filters.
MIN_TILES = 128


class FusedCorrelation(Op):
    """``y = relu?(x ⋆ W + b)`` for ``x`` (N, C_in, H, W), 3x3 filters ``W``
    given by their transform ``U`` = :func:`transform_filters_m` (W, m),
    zero padding 1, by Winograd's F(m x m, 3x3) fused per block of tiles
    (see :data:`_C_FUSED`). Inputs: ``x, U, b, U_adjoint`` where
    ``U_adjoint`` is the transform of :func:`adjoint_filters` (W), used
    only by the gradient: ``dL/dx = FusedCorrelationGrad(dL/dy, y)``, the
    correlation of ``dL/dy`` (masked by ``y > 0`` if ``relu``) with the
    transposed, flipped filters, by the same C code."""
    __props__ = ("m", "relu")
    masked = False

    def __init__(self, m=4, relu=True):
        self.m, self.relu = m, bool(relu)

    def make_node(self, x, U, b, U_adjoint):
        x = T.as_tensor_variable(x)
        U, b, U_adjoint = [T.cast(v, x.dtype) for v in (U, b, U_adjoint)]
        return Apply(self, [x, U, b, U_adjoint], [x.type()])

    def perform(self, node, inputs, outputs):
        x, U, b = inputs[:3]
        mask = inputs[1] if self.masked else None
        if self.masked:
            x, U, b = inputs[0], inputs[2], None
        y = np.empty(x.shape[:1] + (U.shape[1],) + x.shape[2:], x.dtype)
        for n in range(x.shape[0]):
            y[n] = winograd_correlate(
                x[n], U, self.m, b, self.relu,
                None if mask is None else mask[n])
        outputs[0][0] = y

    def L_op(self, inputs, outputs, grads):
        x, U, b, U_adjoint = inputs
        y, gy = outputs[0], grads[0]
        if self.relu:
            gx = FusedCorrelationGrad(self.m)(gy, y, U_adjoint, U)
            gb = T.switch(y > 0, gy, 0).sum(axis=(0, 2, 3))
        else:
            gx = FusedCorrelation(self.m, False)(
                gy, U_adjoint, T.zeros_like(U_adjoint[0, :, 0]), U)
            gb = gy.sum(axis=(0, 2, 3))
        undefined = theano.gradient.grad_undefined
        return [gx, undefined(self, 1, U, "filters are constants"), gb,
                undefined(self, 3, U_adjoint, "filters are constants")]

    def c_support_code(self):
        from theano.tensor.blas_headers import (blas_header_text,
                                                openblas_threads_text)
        code = "#include <omp.h>\n#include <string.h>\n#include <stdlib.h>\n"
        code += blas_header_text()
        if "openblas" in theano.config.blas.ldflags:
            code += "#define WG_OPENBLAS 1\n" + openblas_threads_text()
        return code + "".join(_fused_support_code(m) for m in (self.m,))

    def c_libraries(self):
        return _fused_flags()()

    def c_lib_dirs(self):
        return _fused_flags()(libs=False, libs_dir=True)

    def c_header_dirs(self):
        return _fused_flags()(libs=False, include_dir=True)

    def c_compile_args(self):
        return _fused_flags()(libs=False, flags=True) + ["-fopenmp"]

    def c_code_cache_version(self):
        from theano.tensor.blas_headers import blas_header_version
        import zlib
        # the generated code itself is part of the key: any change to it
        # (or to BLOCK_BYTES, MIN_TILES) compiles a new module
        code = _fused_support_code(self.m) + self._c_body(
            ["x", "U", "b", "Ua"], ["y"], {"fail": ""})
        return (2, zlib.crc32(code.encode()), BLOCK_BYTES) + \
            blas_header_version()

    def c_code(self, node, name, inputs, outputs, sub):
        if not theano.config.blas.ldflags or any(
                v.dtype != "float32" for v in node.inputs[:2]):
            raise theano.gof.utils.MethodNotDefined()  # numpy perform
        return self._c_body(inputs, outputs, sub)

    def _c_body(self, inputs, outputs, sub):
        if self.masked:
            x, mask, U = inputs[:3]
        else:
            x, U, b = inputs[:3]
            mask = None
        y, fail = outputs[0], sub["fail"]
        arrays = [("xa", x), ("Ua", U)] + (
            [("ma", mask)] if self.masked else [("ba", b)])
        get = "\n".join(
            "PyArrayObject* %s = (%s && PyArray_TYPE(%s) == NPY_FLOAT32) ? "
            "PyArray_GETCONTIGUOUS(%s) : NULL;" % (n, v, v, v)
            for n, v in arrays)
        names = [n for n, _ in arrays]
        release = " ".join("Py_XDECREF(%s);" % n for n in names)
        check_b = ("PyArray_NDIM(ba) == 1 && PyArray_DIMS(ba)[0] == Co"
                   if not self.masked else
                   "PyArray_NDIM(ma) == 4 && PyArray_DIMS(ma)[0] == N "
                   "&& PyArray_DIMS(ma)[1] == Ci && PyArray_DIMS(ma)[2] == H "
                   "&& PyArray_DIMS(ma)[3] == W")
        return """
        {
        %(get)s
        if (%(all)s) {
          npy_intp N = PyArray_DIMS(xa)[0], Ci = PyArray_DIMS(xa)[1];
          npy_intp H = PyArray_DIMS(xa)[2], W = PyArray_DIMS(xa)[3];
          npy_intp Co = PyArray_DIMS(Ua)[1];
          if (PyArray_NDIM(xa) != 4 || PyArray_NDIM(Ua) != 3
              || PyArray_DIMS(Ua)[0] != %(aa)d || PyArray_DIMS(Ua)[2] != Ci
              || !(%(check_b)s)) {
            PyErr_SetString(PyExc_ValueError,
                            "winograd: inconsistent shapes");
            %(release)s %(fail)s;
          }
          npy_intp dims[4] = {N, Co, H, W};
          if (!(%(y)s && PyArray_IS_C_CONTIGUOUS(%(y)s)
                && PyArray_TYPE(%(y)s) == NPY_FLOAT32
                && PyArray_DIMS(%(y)s)[0] == N && PyArray_DIMS(%(y)s)[1] == Co
                && PyArray_DIMS(%(y)s)[2] == H
                && PyArray_DIMS(%(y)s)[3] == W)) {
            Py_XDECREF(%(y)s);
            %(y)s = (PyArrayObject*)PyArray_EMPTY(4, dims, NPY_FLOAT32, 0);
            if (!%(y)s) { %(release)s %(fail)s; }
          }
          const float* x = (const float*)PyArray_DATA(xa);
          const float* U = (const float*)PyArray_DATA(Ua);
          float* y = (float*)PyArray_DATA(%(y)s);
          int failed = 0;
          for (npy_intp n = 0; n < N && !failed; n++)
            failed = wg%(m)d_conv(x + n * Ci * H * W, %(mask_ptr)s, Ci, H, W,
                                  U, Co, %(bias_ptr)s, %(relu)d,
                                  y + n * Co * H * W, %(budget)d);
          %(release)s
          if (failed) { PyErr_NoMemory(); %(fail)s; }
        } else {
          PyErr_SetString(PyExc_TypeError, "winograd: float32 arrays only");
          %(release)s %(fail)s;
        }
        }
        """ % dict(get=get, all=" && ".join(names), aa=(self.m + 2) ** 2,
                   check_b=check_b, release=release, fail=fail, y=y,
                   m=self.m, relu=int(self.relu and not self.masked),
                   budget=BLOCK_BYTES,
                   mask_ptr=("(const float*)PyArray_DATA(ma) + n * Ci * H * W"
                             if self.masked else "NULL"),
                   bias_ptr=("NULL" if self.masked
                             else "(const float*)PyArray_DATA(ba)"))


class FusedCorrelationGrad(FusedCorrelation):
    """``(gy, y, U_adjoint, U) -> gx``: the gradient of
    :class:`FusedCorrelation` (``relu=True``) w.r.t. its input, the
    correlation of ``gy`` masked by ``y > 0`` with the transposed, flipped
    filters (transform ``U_adjoint``), no bias. Its own gradient is not
    implemented (the objective needs first derivatives only)."""
    __props__ = ("m",)
    masked = True

    def __init__(self, m=4):
        self.m, self.relu = m, False

    def make_node(self, gy, y, U_adjoint, U):
        gy = T.as_tensor_variable(gy)
        y, U_adjoint, U = [T.cast(v, gy.dtype) for v in (y, U_adjoint, U)]
        return Apply(self, [gy, y, U_adjoint, U], [gy.type()])

    def L_op(self, inputs, outputs, grads):
        return [theano.gradient.grad_not_implemented(self, i, v)
                for i, v in enumerate(inputs)]
