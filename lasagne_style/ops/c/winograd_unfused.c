/* The C code of the unfused F(2x2, 3x3) ops of lasagne_style.ops.winograd
   (InputTransform, InputTransformAdjoint, OutputTransform,
   OutputTransformAdjoint; sections: see c_sources.py).

   Each op is the `op` template around one loop over the tiles: `input`,
   `output_adjoint` (loops of their own), or `tile_loop` around the C of
   one tile (`input_adjoint_tile`, `output_tile`). ``in``/``out`` are
   C-contiguous float32; images are (C, H, W), transformed tensors
   (16, C, T) with T = th * tw tiles of 2x2 outputs, the 16 in row-major
   order of the 4x4 tile.

   The loops are parallel over channels (OpenMP) for large layers only
   (C H W >= PARALLEL_MIN): on small ones, waking the threads (which then
   spin against OpenBLAS's) cost more than the loop. Tensors (16, C, T) are
   written one strip of tiles (fixed c, p) at a time, a few contiguous rows
   at once: 16 interleaved output streams were slower (figures:
   docs/performance.md).

   Templates: `op` (%(x)s input, %(z)s output, %(fail)s, %(sizes)s one of
   the `sizes_*` sections, %(check)s `check_transformed` or nothing,
   %(dims)s the output's sizes, %(output)s the shared reuse_output snippet,
   %(loop)s the loop), `sizes_transformed` (%(height)s, %(width)s: the
   scalar inputs), `check_transformed` (%(fail)s) and `tile_loop`
   (%(tile)s). The others are literal C. */

/* @section tile_loop */
#pragma omp parallel for schedule(static) if (C * H * W >= PARALLEL_MIN)
for (npy_intp c = 0; c < C; c++) {
  for (npy_intp p = 0; p < th; p++) {
    for (npy_intp q = 0; q < tw; q++) {
      const npy_intp t = p * tw + q;
      %(tile)s
    }
  }
}

/* @section input */
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

/* @section input_adjoint_tile */
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

/* @section output_tile */
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

/* @section output_adjoint */
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

/* @section sizes_image */
C = PyArray_DIMS(in_arr)[0];
H = PyArray_DIMS(in_arr)[1];
W = PyArray_DIMS(in_arr)[2];

/* @section sizes_transformed */
C = PyArray_DIMS(in_arr)[1];
H = ((npy_int64*)PyArray_DATA(%(height)s))[0];
W = ((npy_int64*)PyArray_DATA(%(width)s))[0];

/* @section check_transformed */
if (PyArray_DIMS(in_arr)[0] != 16 || PyArray_DIMS(in_arr)[2] != T) {
  PyErr_SetString(PyExc_ValueError,
                  "winograd: transformed tensor of wrong shape");
  Py_DECREF(in_arr); %(fail)s;
}

/* @section op */
{
PyArrayObject* in_arr = PyArray_GETCONTIGUOUS(%(x)s);
if (!in_arr) { %(fail)s; }
npy_intp C, H, W;
%(sizes)s
const npy_intp th = (H + 1) / 2, tw = (W + 1) / 2, T = th * tw;
const npy_intp PARALLEL_MIN = 1 << 18;
%(check)s
npy_intp dims[3] = {%(dims)s};
%(output)s
const float* in = (const float*)PyArray_DATA(in_arr);
float* out = (float*)PyArray_DATA(%(z)s);
%(loop)s
Py_DECREF(in_arr);
}
