/* The C code of lasagne_style.ops.gram's ops (sections: see c_sources.py).
   "functions" is literal C (the ops' support code, after the BLAS
   declarations); "gram" and "gram_grad" are templates of an op's c_code:
   %(F)s, %(gG)s its inputs, %(z)s its output, %(fail)s Theano's failure,
   %(output)s the shared reuse_output snippet (common.c) for dims.

   A row-major C x K matrix F is, to the Fortran BLAS, the K x C matrix
   A = F^T with leading dimension K, so G = F F^T = A^T A and, as G is
   symmetric, its row-major and column-major layouts are the same. Each op
   does its products as two fixed tasks, which one or two OpenMP threads
   share (the same calls on any thread count: the same bytes), each task
   calling a single-threaded BLAS. */

/* @section functions */
/* Threads: op_threads() (common.c), at most the two tasks. */
static int gram_threads(void) {
  const int nth = op_threads();
  return nth > 2 ? 2 : nth;
}

/* G (C x C) = F F^T for F (C x K), both row-major. With h = C / 2, task 0
   computes the diagonal blocks G[:h, :h] and G[h:, h:] (two ssyrk, lower
   triangles) and task 1 the block G[h:, :h] (one sgemm): C^2 K / 4
   multiply-adds each. The lower triangle is then copied to the upper. */
static void gram_rows(const float* F, int C, int K, float* G) {
  const int h = C / 2, r = C - h;
  const float one = 1.f, zero = 0.f;
  char lower = 'L', trans = 'T', none = 'N';
  #pragma omp parallel for num_threads(gram_threads()) schedule(static, 1)
  for (int task = 0; task < 2; task++) {
    if (task == 0) {
      if (h > 0) ssyrk_(&lower, &trans, &h, &K, &one, F, &K, &zero, G, &C);
      ssyrk_(&lower, &trans, &r, &K, &one, F + (npy_intp)h * K, &K, &zero,
             G + (npy_intp)h * C + h, &C);
    } else if (h > 0) {
      sgemm_(&trans, &none, &r, &h, &K, &one, F + (npy_intp)h * K, &K, F,
             &K, &zero, G + h, &C);
    }
  }
  for (npy_intp j = 0; j < C; j++)
    for (npy_intp i = j + 1; i < C; i++) G[i * C + j] = G[j * C + i];
}

/* gF (C x K) = (gG + gG^T) F, both row-major: S = gG + gG^T (exactly
   symmetric: addition commutes), then, to the BLAS, gF^T = F^T S, its K
   rows split in two halves, one task each. */
static int gram_grad_rows(const float* F, const float* gG, int C, int K,
                          float* gF) {
  float* S = (float*)malloc(sizeof(float) * (size_t)C * (size_t)C);
  if (!S) return -1;
  for (npy_intp i = 0; i < C; i++)
    for (npy_intp j = 0; j < C; j++)
      S[i * C + j] = gG[i * C + j] + gG[j * C + i];
  const int half = K / 2;
  const float one = 1.f, zero = 0.f;
  char none = 'N';
  #pragma omp parallel for num_threads(gram_threads()) schedule(static, 1)
  for (int task = 0; task < 2; task++) {
    const int k0 = task ? half : 0, rows = task ? K - half : half;
    if (rows > 0)
      sgemm_(&none, &none, &rows, &C, &C, &one, F + k0, &K, S, &C, &zero,
             gF + k0, &K);
  }
  free(S);
  return 0;
}

/* Run code with OpenBLAS on one thread of its own (each task is one
   thread): a user's larger thread count is set back afterwards. */
#ifdef GRAM_OPENBLAS
#define GRAM_BLAS_ONE_THREAD(code) { \
  const int blas_threads = openblas_get_num_threads(); \
  if (blas_threads > 1) openblas_set_num_threads(1); \
  code; \
  if (blas_threads > 1) openblas_set_num_threads(blas_threads); }
#else
#define GRAM_BLAS_ONE_THREAD(code) { code; }
#endif

/* @section gram */
{
PyArrayObject* Fa = (%(F)s && PyArray_TYPE(%(F)s) == NPY_FLOAT32
                     && PyArray_NDIM(%(F)s) == 2)
    ? PyArray_GETCONTIGUOUS(%(F)s) : NULL;
if (!Fa) {
  PyErr_SetString(PyExc_TypeError, "gram: a float32 matrix only");
  %(fail)s;
}
if (PyArray_DIMS(Fa)[1] > INT_MAX || PyArray_DIMS(Fa)[0] > INT_MAX) {
  PyErr_SetString(PyExc_ValueError, "gram: matrix too large for the BLAS");
  Py_DECREF(Fa); %(fail)s;
}
npy_intp dims[2] = {PyArray_DIMS(Fa)[0], PyArray_DIMS(Fa)[0]};
%(output)s
GRAM_BLAS_ONE_THREAD(gram_rows((const float*)PyArray_DATA(Fa), (int)dims[0],
                               (int)PyArray_DIMS(Fa)[1],
                               (float*)PyArray_DATA(%(z)s)))
Py_DECREF(Fa);
}

/* @section gram_grad */
{
PyArrayObject* Fa = (%(F)s && PyArray_TYPE(%(F)s) == NPY_FLOAT32
                     && PyArray_NDIM(%(F)s) == 2)
    ? PyArray_GETCONTIGUOUS(%(F)s) : NULL;
PyArrayObject* Ga = (%(gG)s && PyArray_TYPE(%(gG)s) == NPY_FLOAT32
                     && PyArray_NDIM(%(gG)s) == 2)
    ? PyArray_GETCONTIGUOUS(%(gG)s) : NULL;
if (!Fa || !Ga) {
  PyErr_SetString(PyExc_TypeError, "gram_grad: float32 matrices only");
  Py_XDECREF(Fa); Py_XDECREF(Ga); %(fail)s;
}
const npy_intp C = PyArray_DIMS(Fa)[0], K = PyArray_DIMS(Fa)[1];
if (PyArray_DIMS(Ga)[0] != C || PyArray_DIMS(Ga)[1] != C
    || C > INT_MAX || K > INT_MAX) {
  PyErr_SetString(PyExc_ValueError, "gram_grad: inconsistent shapes");
  Py_DECREF(Fa); Py_DECREF(Ga); %(fail)s;
}
npy_intp dims[2] = {C, K};
%(output)s
int failed = 0;
GRAM_BLAS_ONE_THREAD(failed = gram_grad_rows(
    (const float*)PyArray_DATA(Fa), (const float*)PyArray_DATA(Ga), (int)C,
    (int)K, (float*)PyArray_DATA(%(z)s)))
Py_DECREF(Fa); Py_DECREF(Ga);
if (failed) { PyErr_NoMemory(); %(fail)s; }
}
