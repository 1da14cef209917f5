"""Fix 1, BLAS: Theano linked against PyPI's ``scipy-openblas32``.

Theano's CPU convolution is im2col + ``sgemm``. Without a BLAS to link
against it falls back to a slow C-API gemm, and when ``blas.ldflags`` is left
unset it probes ``numpy.distutils`` for BLAS information that numpy 1.23 no
longer has (``AttributeError`` on import). We point Theano at
``scipy-openblas32``. That library prefixes its symbols (``scipy_sgemm_``),
so C macros rename the names Theano's C code calls, and an rpath lets the
compiled modules find the library.

:func:`lasagne_style.compat.theano_flags` puts these flags first, before the
user's (:mod:`.flags` decides when a user's own ``blas.ldflags`` is kept).
"""
import os

#: Fortran BLAS routines referenced by Theano's C code (``blas_headers.py``).
_BLAS_ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "sdot",
                  "ddot", "saxpy", "daxpy", "sscal", "dscal", "scopy", "dcopy",
                  "snrm2", "dnrm2", "sswap", "dswap")
#: OpenBLAS extension functions Theano calls to read/set the thread count.
_OPENBLAS_FUNCTIONS = ("openblas_get_num_threads", "openblas_set_num_threads",
                       "goto_get_num_procs")


def find_openblas():
    """Return the directory holding ``libscipy_openblas.so``, or None."""
    try:
        import scipy_openblas32
    except ImportError:
        return None
    libdir = os.path.join(os.path.dirname(scipy_openblas32.__file__), "lib")
    if os.path.exists(os.path.join(libdir, "libscipy_openblas.so")):
        return libdir
    return None


def blas_flags(libdir):
    """Theano flags (key -> value) that link Theano to scipy-openblas32."""
    renames = ["-D%s_=scipy_%s_" % (name, name) for name in _BLAS_ROUTINES]
    renames += ["-D%s=scipy_%s" % (name, name) for name in _OPENBLAS_FUNCTIONS]
    return {
        "blas.ldflags": "-L%s -lscipy_openblas -Wl,-rpath,%s" % (libdir,
                                                                 libdir),
        "gcc.cxxflags": " ".join(renames),
    }

