/* The C code of lasagne_style.ops.winograd's fused ops (FusedCorrelation,
   FusedCorrelationGrad; sections: see c_sources.py). Both sections are
   Python templates.

   `functions`: one set of C functions per tile size m. ``wg<m>_conv``
   correlates one image (C_in, H, W) with filters given by their transform
   U (alpha^2, C_out, C_in; each of the alpha^2 matrices in the panel order
   of wg_product), alpha = m + 2, optionally masking the input by
   ``mask > 0`` (the ReLU of the backward pass), adding a bias and
   rectifying. The tiles (row-major, t = p * tw + q) are cut into blocks of
   ``nb`` consecutive tiles; per block, in buffers of the thread that owns
   it: V (alpha^2, C_in, nb) = input transform, in panels of WG_PANEL
   tiles, then alpha^2 products M[k] = U[k] V[k] (C_out, nb) by wg_product,
   then the output transform, written to the image. Blocks are shared
   among OpenMP threads; with fewer blocks than threads, the blocks run in
   turn and the threads share each block's alpha^2 products and, channel by
   channel, its transforms. Filled by
   winograd._fused_functions: %(m)d, %(a)d = alpha, %(aa)d = alpha^2,
   %(min_tiles)d, %(vector)d (VECTOR_FLOATS), %(cols)d (PANEL_COLUMNS),
   and the unrolled
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
/* The products' kernel: WG_VECTOR floats a vector register (16 where the
   compiler may use AVX-512, else 8; %(vector)d if not 0), a panel of V
   WG_PANEL = 2 vectors of tiles, a panel of U WG_COLS output channels. */
#if %(vector)d
#define WG_VECTOR %(vector)d
#elif defined(__AVX512F__)
#define WG_VECTOR 16
#else
#define WG_VECTOR 8
#endif
#define WG_PANEL (2 * WG_VECTOR)
#define WG_COLS %(cols)d
#if WG_COLS != 6 || (WG_VECTOR != 8 && WG_VECTOR != 16)
#error "wg_product's cases and WG_SPLAT are written for 6 columns and 8 or 16 floats"
#endif
/* tiles of a block rounded up to whole panels */
#define WG_ROUND(n) (((n) + WG_PANEL - 1) / WG_PANEL * WG_PANEL)
/* floats between the alpha² matrices of a block: one cache line more than
   they need, so that the alpha² streams of a transform do not share cache
   sets (with 64 channels and 64 tiles they were 16 KiB apart) */
#define WG_STRIDE(C, n) ((C) * WG_ROUND(n) + 16)
typedef float wg_vec __attribute__((vector_size(4 * WG_VECTOR), aligned(4)));
#define WG_X8(x) x, x, x, x, x, x, x, x
#if WG_VECTOR == 16
#define WG_SPLAT(x) ((wg_vec){WG_X8(x), WG_X8(x)})
#else
#define WG_SPLAT(x) ((wg_vec){WG_X8(x)})
#endif
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
/* M[r][t] = sum_c V[c][t] B[c][r] for the nc (<= WG_COLS) output channels
   of one panel of U (B: Ci x nc) and the WG_PANEL tiles of one panel of V
   (Ci x WG_PANEL): 2 nc vector accumulators, rows of M ldm floats apart.
   Inlined with a constant nc, so that the accumulators are registers. */
static inline __attribute__((always_inline)) void wg_kernel(
    const float* __restrict__ V, const float* __restrict__ B, npy_intp Ci,
    float* __restrict__ M, npy_intp ldm, const int nc)
{
  wg_vec acc[WG_COLS][2];
  for (int r = 0; r < nc; r++) acc[r][0] = acc[r][1] = WG_SPLAT(0.f);
  for (npy_intp c = 0; c < Ci; c++) {
    const wg_vec v0 = *(const wg_vec*)(V + c * WG_PANEL);
    const wg_vec v1 = *(const wg_vec*)(V + c * WG_PANEL + WG_VECTOR);
    for (int r = 0; r < nc; r++) {
      const wg_vec b = WG_SPLAT(B[c * nc + r]);
      acc[r][0] += v0 * b;
      acc[r][1] += v1 * b;
    }
  }
  for (int r = 0; r < nc; r++) {
    *(wg_vec*)(M + r * ldm) = acc[r][0];
    *(wg_vec*)(M + r * ldm + WG_VECTOR) = acc[r][1];
  }
}
/* One of a block's alpha² products, M (Co x WG_ROUND(n)) = U (Co x Ci) V
   (Ci x n), in the layouts the transforms read and write: V in panels of
   WG_PANEL tiles (tile t, channel c at (t / P) P Ci + c P + t %% P), U in
   panels of WG_COLS output channels (winograd_reference.kernel_filters:
   the panel of channel j's Ci x width values at j Ci), M row-major. The
   panel of U stays in L1 while the tiles' panels stream past it. */
static void wg_product(const float* V, const float* U, float* M,
    npy_intp n, npy_intp Ci, npy_intp Co)
{
  const npy_intp ldm = WG_ROUND(n);
  for (npy_intp j = 0; j < Co; j += WG_COLS) {
    const int nc = Co - j < WG_COLS ? (int)(Co - j) : WG_COLS;
    const float* B = U + j * Ci;
    for (npy_intp t = 0; t < n; t += WG_PANEL) {
      const float* Vt = V + t * Ci;
      float* Mt = M + j * ldm + t;
      switch (nc) {
        case WG_COLS: wg_kernel(Vt, B, Ci, Mt, ldm, WG_COLS); break;
        case 5: wg_kernel(Vt, B, Ci, Mt, ldm, 5); break;
        case 4: wg_kernel(Vt, B, Ci, Mt, ldm, 4); break;
        case 3: wg_kernel(Vt, B, Ci, Mt, ldm, 3); break;
        case 2: wg_kernel(Vt, B, Ci, Mt, ldm, 2); break;
        default: wg_kernel(Vt, B, Ci, Mt, ldm, 1); break;
      }
    }
  }
}
/* The first tile of block b of nblocks over T tiles (panels panels),
   T for b = nblocks: blocks start at panel boundaries and differ by at
   most a panel. */
static inline npy_intp wg_block(npy_intp b, npy_intp nblocks,
    npy_intp panels, npy_intp T)
{
  const npy_intp t = WG_PANEL * (b * panels / nblocks);
  return t < T ? t : T;
}
#endif
/* The input transform of tiles t0 .. t1 - 1, channels c0 .. c1 - 1 (of C). */
static void wg%(m)d_input(const float* x, const float* mask, npy_intp C,
    npy_intp c0, npy_intp c1, npy_intp H, npy_intp W, npy_intp tw,
    npy_intp t0, npy_intp t1, float* __restrict__ V,
    float* __restrict__ rows, float* __restrict__ strip)
{
  const npy_intp n = t1 - t0, p0 = t0 / tw, p1 = (t1 - 1) / tw;
  const npy_intp CN = WG_STRIDE(C, n);
  for (npy_intp c = c0; c < c1; c++) {
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
      /* then B along each row, written by runs of tiles in one panel */
      for (npy_intp qs = 0, qe; qs < nq; qs = qe) {
        const npy_intp t = p * tw + q0 - t0 + qs, lane = t %% WG_PANEL;
        qe = qs + WG_PANEL - lane < nq ? qs + WG_PANEL - lane : nq;
        float* v = V + (t - lane) * C + c * WG_PANEL + lane - qs;
        for (int i = 0; i < %(a)d; i++) {
          const float* __restrict__ S = rows + i * ws;
          float* __restrict__ vi = v + i * %(a)d * CN;
          #pragma omp simd
          for (npy_intp q = qs; q < qe; q++) {
            %(load_e)s
            %(cols_b)s
          }
        }
      }
    }
  }
  if (n %% WG_PANEL) {  /* the last panel's lanes past n: zeros, not stale
                          values (their products are never read) */
    const npy_intp lane = n %% WG_PANEL, last = (n - lane) * C;
    for (int k = 0; k < %(aa)d; k++)
      for (npy_intp c = c0; c < c1; c++)
        memset(V + k * CN + last + c * WG_PANEL + lane, 0,
               (WG_PANEL - lane) * sizeof(float));
  }
}

/* The output transform of tiles t0 .. t1 - 1, channels c0 .. c1 - 1. */
static void wg%(m)d_output(const float* M, npy_intp C, npy_intp c0,
    npy_intp c1, npy_intp H, npy_intp W, npy_intp tw, npy_intp t0,
    npy_intp t1, const float* bias, int relu, float* y, float* stage)
{
  const npy_intp n = t1 - t0, p0 = t0 / tw, p1 = (t1 - 1) / tw;
  const npy_intp CN = WG_STRIDE(C, n);
  for (npy_intp c = c0; c < c1; c++) {
    const float bc = bias ? bias[c] : 0.f;
    for (npy_intp p = p0; p <= p1; p++) {
      const npy_intp q0 = p == p0 ? t0 - p * tw : 0;
      const npy_intp q1 = p == p1 ? t1 - p * tw : tw;
      const npy_intp nq = q1 - q0, sw = %(m)d * nq;
      const float* mp = M + c * WG_ROUND(n) + (p * tw + q0 - t0);
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
        const npy_intp r = %(m)d * p + i, col = %(m)d * q0;
        if (r >= H) break;
        const npy_intp count = W - col < sw ? W - col : sw;
        memcpy(y + (c * H + r) * W + col, stage + i * sw,
               count * sizeof(float));
      }
    }
  }
}

/* Returns 0, or -1 if out of memory. */
static int wg%(m)d_conv(const float* x, const float* mask, npy_intp Ci,
    npy_intp H, npy_intp W, const float* U, npy_intp Co, const float* bias,
    int relu, float* y, npy_intp budget)
{
  const npy_intp th = (H + %(m)d - 1) / %(m)d, tw = (W + %(m)d - 1) / %(m)d;
  const npy_intp T = th * tw;
  const int nth = op_threads();  /* common.c */
  /* Same bytes on any thread count: a tile's values are the same in any
     block, and each product runs on one thread.
     The threads share the blocks, or, with fewer blocks than threads, the
     (m+2)^2 independent products and the transforms of each block. */
  npy_intp nb = budget / (%(aa)d * (Ci + Co) * (npy_intp)sizeof(float));
  nb = nb / WG_PANEL * WG_PANEL;
  if (nb < %(min_tiles)d) nb = %(min_tiles)d;
  if (nb > T) nb = T;
  /* as many blocks as that asks, rounded up to whole rounds of the
     threads, cut at panel boundaries into blocks that differ by at most a
     panel: a short last block, or a round with an idle thread, left a
     thread waiting (a tile's values do not depend on its block) */
  const npy_intp panels = (T + WG_PANEL - 1) / WG_PANEL;
  npy_intp nblocks = (T + nb - 1) / nb;
  if (nblocks >= nth) nblocks = (nblocks + nth - 1) / nth * nth;
  if (nblocks > panels) nblocks = panels;
  nb = WG_PANEL * ((panels + nblocks - 1) / nblocks);  /* the largest */
  const int by_block = nblocks >= nth;
  const npy_intp ws_max = %(m)d * ((nb < tw ? nb : tw) + 1);
  int failed = 0;
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
          const npy_intp t0 = wg_block(b, nblocks, panels, T);
          const npy_intp t1 = wg_block(b + 1, nblocks, panels, T);
          wg%(m)d_input(x, mask, Ci, 0, Ci, H, W, tw, t0, t1, V, rows,
                        strip);
          for (int k = 0; k < %(aa)d; k++)
            wg_product(V + k * WG_STRIDE(Ci, t1 - t0), U + k * Co * Ci,
                       Mb + k * WG_STRIDE(Co, t1 - t0), t1 - t0, Ci, Co);
          wg%(m)d_output(Mb, Co, 0, Co, H, W, tw, t0, t1, bias, relu, y,
                         rows);
        }
      } else {
        /* one thread's buffers hold the block; all run its products,
           and its transforms channel by channel (each channel's values
           are the same whichever thread computes them) */
        float* V0 = V;
        float* M0 = Mb;
        #pragma omp single copyprivate(V0, M0)
        {}
        for (npy_intp b = 0; b < nblocks; b++) {
          const npy_intp t0 = wg_block(b, nblocks, panels, T);
          const npy_intp t1 = wg_block(b + 1, nblocks, panels, T);
          #pragma omp for schedule(static)
          for (npy_intp c = 0; c < Ci; c++)
            wg%(m)d_input(x, mask, Ci, c, c + 1, H, W, tw, t0, t1, V0, rows,
                          strip);
          #pragma omp for schedule(static)
          for (int k = 0; k < %(aa)d; k++)
            wg_product(V0 + k * WG_STRIDE(Ci, t1 - t0), U + k * Co * Ci,
                       M0 + k * WG_STRIDE(Co, t1 - t0), t1 - t0, Ci, Co);
          #pragma omp for schedule(static)
          for (npy_intp c = 0; c < Co; c++)
            wg%(m)d_output(M0, Co, c, c + 1, H, W, tw, t0, t1, bias, relu, y,
                           rows);
        }
      }
    }
  }
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
