/* C shared by the ops of lasagne_style.ops (sections: see c_sources.py).

   reuse_output (template, filled by c_sources.reuse_output): makes the
   op's output %(z)s a C-contiguous float32 array of shape %(dims)s, a C
   array of %(nd)d npy_intp. The previous call's array is reused when it
   has that shape: a fresh one would be fresh pages for the kernel to fault
   in at every call. %(zero_reused)d (0 or 1) says whether a reused array
   is cleared, %(new)s whether a new one is ZEROS or EMPTY (uninitialised);
   ops that accumulate into their output want both zeroed. %(fail)s
   releases what the op holds and jumps to Theano's failure label.

   op_threads (literal C, support code): the OpenMP threads of our ops
   (the fused Winograd convolutions, the Gram products). */

/* @section reuse_output */
{
  int fits = %(z)s && PyArray_IS_C_CONTIGUOUS(%(z)s)
             && PyArray_TYPE(%(z)s) == NPY_FLOAT32;
  for (int d = 0; fits && d < %(nd)d; d++)
    fits = PyArray_DIMS(%(z)s)[d] == %(dims)s[d];
  if (fits) {
    /* reuse the previous call's output: no fresh pages to fault in */
    if (%(zero_reused)d)
      memset(PyArray_DATA(%(z)s), 0, PyArray_NBYTES(%(z)s));
  } else {
    Py_XDECREF(%(z)s);
    %(z)s = (PyArrayObject*)PyArray_%(new)s(%(nd)d, %(dims)s, NPY_FLOAT32, 0);
    if (!%(z)s) { %(fail)s; }
  }
}

/* @section op_threads */
#ifndef OP_THREADS
#define OP_THREADS
/* OMP_NUM_THREADS if set, else OPENBLAS_NUM_THREADS if set (read from the
   environment: threads.blas_on_one_thread keeps OpenBLAS itself on one
   thread), else the cores; at least one. */
static int op_threads(void)
{
  int nth = omp_get_max_threads();
  const char* blas_env = getenv("OPENBLAS_NUM_THREADS");
  if (!getenv("OMP_NUM_THREADS") && blas_env && atoi(blas_env) > 0
      && atoi(blas_env) < nth) nth = atoi(blas_env);
  return nth < 1 ? 1 : nth;
}
#endif
