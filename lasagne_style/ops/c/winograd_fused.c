/* The C code of lasagne_style.ops.winograd's fused ops (FusedCorrelation,
   FusedCorrelationGrad; sections: see c_sources.py). Both sections are
   Python templates.

   `functions`: one set of C functions per tile size m. ``wg<m>_conv``
   correlates one image (C_in, H, W) with filters given by their transform
   U (alpha^2, C_out, C_in), alpha = m + 2, optionally masking the input by
   ``mask > 0`` (the ReLU of the backward pass), adding a bias and
   rectifying. The tiles (row-major, t = p * tw + q) are cut into blocks of
   ``nb`` consecutive tiles; per block, in buffers of the thread that owns
   it: V (alpha^2, C_in, nb) = input transform, then alpha^2 sgemms
   M[k] = U[k] V[k] (C_out, nb), then the output transform, written to the
   image. Blocks are shared among OpenMP threads, each calling a
   single-threaded sgemm (OpenBLAS's own threads are set to 1 meanwhile);
   with fewer blocks than threads, the blocks run in turn and the threads
   share each block's alpha^2 sgemms. Filled by winograd._fused_functions:
   %(m)d, %(a)d = alpha, %(aa)d = alpha^2, %(min_tiles)d, and the unrolled
   transforms of F(m x m, 3x3) (%(deinterleave)s, %(load_rows)s,
   %(rows_bt)s, %(load_e)s, %(cols_b)s, %(load_m)s, %(a_t_rows)s,
   %(a_t_cols)s, %(relu)s, %(store)s).

   `op`: the op's c_code, which calls wg<m>_conv on each image of the batch.
   %(x)s, %(U)s: the input and the filters' transform; %(e)s the third
   array (``ba``, the bias, or ``ma``, the mask of FusedCorrelationGrad),
   read from %(e_in)s and checked by %(check_e)s; %(mask_ptr)s and
   %(bias_ptr)s what wg<m>_conv gets; %(y)s the output, %(output)s the
   shared reuse_output snippet, %(fail)s Theano's failure; %(m)d, %(aa)d,
   %(relu)d, %(budget)d (BLOCK_BYTES). */

/* @section functions */
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
  const int nth = op_threads();  /* common.c */
#ifdef WG_OPENBLAS
  const int blas_threads = openblas_get_num_threads();
#endif
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

/* @section op */
{
PyArrayObject* xa = (%(x)s && PyArray_TYPE(%(x)s) == NPY_FLOAT32)
    ? PyArray_GETCONTIGUOUS(%(x)s) : NULL;
PyArrayObject* Ua = (%(U)s && PyArray_TYPE(%(U)s) == NPY_FLOAT32)
    ? PyArray_GETCONTIGUOUS(%(U)s) : NULL;
PyArrayObject* %(e)s = (%(e_in)s && PyArray_TYPE(%(e_in)s) == NPY_FLOAT32)
    ? PyArray_GETCONTIGUOUS(%(e_in)s) : NULL;
if (xa && Ua && %(e)s) {
  npy_intp N = PyArray_DIMS(xa)[0], Ci = PyArray_DIMS(xa)[1];
  npy_intp H = PyArray_DIMS(xa)[2], W = PyArray_DIMS(xa)[3];
  npy_intp Co = PyArray_DIMS(Ua)[1];
  if (PyArray_NDIM(xa) != 4 || PyArray_NDIM(Ua) != 3
      || PyArray_DIMS(Ua)[0] != %(aa)d || PyArray_DIMS(Ua)[2] != Ci
      || !(%(check_e)s)) {
    PyErr_SetString(PyExc_ValueError, "winograd: inconsistent shapes");
    Py_XDECREF(xa); Py_XDECREF(Ua); Py_XDECREF(%(e)s); %(fail)s;
  }
  npy_intp dims[4] = {N, Co, H, W};
  %(output)s
  const float* x = (const float*)PyArray_DATA(xa);
  const float* U = (const float*)PyArray_DATA(Ua);
  float* y = (float*)PyArray_DATA(%(y)s);
  int failed = 0;
  for (npy_intp n = 0; n < N && !failed; n++)
    failed = wg%(m)d_conv(x + n * Ci * H * W, %(mask_ptr)s, Ci, H, W,
                          U, Co, %(bias_ptr)s, %(relu)d,
                          y + n * Co * H * W, %(budget)d);
  Py_XDECREF(xa); Py_XDECREF(Ua); Py_XDECREF(%(e)s);
  if (failed) { PyErr_NoMemory(); %(fail)s; }
} else {
  PyErr_SetString(PyExc_TypeError, "winograd: float32 arrays only");
  Py_XDECREF(xa); Py_XDECREF(Ua); Py_XDECREF(%(e)s); %(fail)s;
}
}
