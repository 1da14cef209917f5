"""3x3 'same' cross-correlation by Winograd's minimal filtering F(2x2, 3x3).

Lavin and Gray (2016, *Fast Algorithms for Convolutional Neural Networks*):
each 2x2 block of outputs is computed from the 4x4 input tile ``d`` around it
as

.. math:: Y = A^\\top \\left[ (G g G^\\top) \\odot (B^\\top d B) \\right] A,

so the sum over input channels becomes 16 independent matrix products, one per
element of the 4x4 transformed tile, batched over all tiles (Theano's
``batched_dot``, i.e. BLAS gemm): 16 multiplies per 2x2 outputs and input
channel instead of 36, 2.25x fewer. The filter transform ``U = G g Gᵀ`` is
computed once (the network's weights are fixed). The input and output
transforms are additions and subtractions over each tile, done by two small
Theano ops (:class:`InputTransform`, :class:`OutputTransform`) whose gradients
are their adjoint transforms, two more ops. Each op has a C loop, parallel over
channels with OpenMP, and a numpy version (the fallback without a compiler,
and the reference in the tests). As ops rather than dozens of Theano slicing
and ``tensordot`` nodes per layer, the graph compiles as fast as CorrMM's and no
intermediate copies are made.

Shapes: an image (C, H, W) has ``tiles_h x tiles_w`` = ceil(H/2) x ceil(W/2)
tiles; transformed tensors are (16, C, tiles_h * tiles_w), the 16 in row-major
order of the 4x4 tile. Odd H or W are padded with zeros and cropped.
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
    U = np.einsum("ak,oikl,bl->aboi", G, np.asarray(W, np.float64), G)
    return np.ascontiguousarray(U.reshape((16,) + U.shape[2:]), np.float32)


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
        d[i] = (r >= 0 && r < H && col >= 0 && col < W) ? in[(c * H + r) * W + col] : 0.f;
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
        const float x0 = R[2 * q], x1 = R[2 * q + 1], x2 = R[2 * q + 2], x3 = R[2 * q + 3];
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
        strip[i * 2 * tw + s] = (r < H && s < W) ? in[(c * H + r) * W + s] : 0.f;
    }
    const float* g0 = strip;
    const float* g1 = strip + 2 * tw;
    for (int b = 0; b < 4; b++) {
      float* o0 = out + (b * C + c) * T + p * tw;
      float* o1 = o0 + 4 * C * T;
      float* o2 = o1 + 4 * C * T;
      float* o3 = o2 + 4 * C * T;
      for (npy_intp q = 0; q < tw; q++) {
        const float l0 = g0[2 * q], r0 = g0[2 * q + 1], l1 = g1[2 * q], r1 = g1[2 * q + 1];
        /* row i of A^T-adjoint: (l, l + r, l - r, -r)[b] */
        const float s0 = b == 0 ? l0 : b == 1 ? l0 + r0 : b == 2 ? l0 - r0 : -r0;
        const float s1 = b == 0 ? l1 : b == 1 ? l1 + r1 : b == 2 ? l1 - r1 : -r1;
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
            sizes = ("C = PyArray_DIMS(in_arr)[0]; H = PyArray_DIMS(in_arr)[1];"
                     " W = PyArray_DIMS(in_arr)[2];")
        else:
            sizes = ("C = PyArray_DIMS(in_arr)[1];"
                     " H = ((npy_int64*)PyArray_DATA(%s))[0];"
                     " W = ((npy_int64*)PyArray_DATA(%s))[0];"
                     % (inputs[1], inputs[2]))
        dims = "C, H, W" if self.image_output else "16, C, th * tw"
        check = "" if self.image_input else """
            if (PyArray_DIMS(in_arr)[0] != 16 || PyArray_DIMS(in_arr)[2] != T) {
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
            if (%(accumulates)d) memset(PyArray_DATA(%(z)s), 0, PyArray_NBYTES(%(z)s));
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
    ``W``, computed by :func:`correlate3x3_same` instead of Theano's CorrMM.
    ``W`` stays the layer's parameter; its transform is a constant."""

    def __init__(self, incoming, num_filters, W, b, **kwargs):
        super(WinogradConv3x3Layer, self).__init__(
            incoming, num_filters, 3, pad=1, W=W, b=b, flip_filters=False,
            **kwargs)
        self.U = T.constant(transform_filters(W))

    def get_output_for(self, input, **kwargs):
        conved = correlate3x3_same(input, self.U)
        return self.nonlinearity(conved + self.b.dimshuffle("x", 0, "x", "x"))
