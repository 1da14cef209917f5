"""Make Theano 1.0.5 and PyPI's Lasagne 0.1 work together on today's Python.

Every compatibility fix of the project lives here and is applied once, by
:func:`apply`, before anything imports Theano or Lasagne:

1. **BLAS for Theano.** Theano's CPU convolution is im2col + ``sgemm``. Without
   a BLAS to link against it falls back to a slow C-API gemm, and when
   ``blas.ldflags`` is left unset it probes ``numpy.distutils`` for BLAS
   information that numpy 1.23 no longer has (``AttributeError`` on import).
   We point Theano at PyPI's ``scipy-openblas32``. That library prefixes its
   symbols (``scipy_sgemm_``), so C macros rename the names Theano's C code
   calls, and an rpath lets the compiled modules find the library.
2. **``theano.tensor.signal.downsample``.** Lasagne 0.1 imports this module,
   which Theano 0.9 removed; we register a small module whose
   ``max_pool_2d`` forwards to ``theano.tensor.signal.pool.pool_2d``.
3. **Recursion limit.** ``theano.grad`` and graph pickling recurse once per
   op along the graph; the Winograd network (dozens of ops per layer) is
   deeper than Python's default limit of 1000 allows.
4. **Slow graph optimisation.** When ``get_vector_length`` cannot tell a
   shape's length it raises ``ValueError`` with a ``debugprint`` of the whole
   graph above the variable in the message, and the optimizer calls it
   thousands of times only to catch that error: most of the time of compiling
   our objective went into formatting messages nobody reads. We make the
   message a plain ``str``.

Our Theano flags are placed *before* the user's ``THEANO_FLAGS``: Theano lets a
later key win, so anything the user sets still overrides them.
"""
import os
import sys
import types
import warnings

#: Fortran BLAS routines referenced by Theano's C code (``blas_headers.py``).
_BLAS_ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "sdot",
                  "ddot", "saxpy", "daxpy", "sscal", "dscal", "scopy", "dcopy",
                  "snrm2", "dnrm2", "sswap", "dswap")
#: OpenBLAS extension functions Theano calls to read/set the thread count.
_OPENBLAS_FUNCTIONS = ("openblas_get_num_threads", "openblas_set_num_threads",
                       "goto_get_num_procs")

_applied = False
RECURSION_LIMIT = 20000
blas_library = None  # path of the BLAS Theano links against, or None


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
        "blas.ldflags": "-L%s -lscipy_openblas -Wl,-rpath,%s" % (libdir, libdir),
        "gcc.cxxflags": " ".join(renames),
    }


def theano_flags(user_flags, libdir):
    """The ``THEANO_FLAGS`` string to use: ours first, then the user's.

    Values are double-quoted because Theano splits the string on commas with
    a POSIX shlex, and the rpath link flag contains commas.
    """
    ours = {"floatX": "float32"}
    if libdir is not None:
        ours.update(blas_flags(libdir))
    else:
        ours["blas.ldflags"] = ""  # skips the numpy.distutils probe that fails
    parts = ['%s="%s"' % kv for kv in ours.items()]
    if user_flags:
        parts.append(user_flags)
    return ",".join(parts)


def _install_downsample_module():
    import theano.tensor.signal
    from theano.tensor.signal import pool

    def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0),
                    mode="max"):
        return pool.pool_2d(input, ws=ds, ignore_border=ignore_border,
                            stride=st, pad=padding, mode=mode)

    module = types.ModuleType("theano.tensor.signal.downsample")
    module.max_pool_2d = max_pool_2d
    module.__doc__ = "Lasagne 0.1 shim: forwards to theano.tensor.signal.pool."
    sys.modules[module.__name__] = module
    theano.tensor.signal.downsample = module


def _quiet_get_vector_length():
    import theano
    import theano.tensor
    import theano.tensor.basic
    original = theano.tensor.basic.get_vector_length

    def get_vector_length(v):
        printing = theano.printing
        debugprint = printing.debugprint
        printing.debugprint = lambda obj, file=None, **kwargs: str(obj)
        try:
            return original(v)
        finally:
            printing.debugprint = debugprint

    get_vector_length.__doc__ = original.__doc__
    theano.tensor.basic.get_vector_length = get_vector_length
    theano.tensor.get_vector_length = get_vector_length


def apply():
    """Configure Theano and make Lasagne importable (idempotent)."""
    global _applied, blas_library
    if _applied:
        return
    if "theano" in sys.modules:
        warnings.warn("Theano was imported before lasagne_style: its BLAS "
                      "settings could not be applied.")
    else:
        libdir = find_openblas()
        os.environ["THEANO_FLAGS"] = theano_flags(
            os.environ.get("THEANO_FLAGS", ""), libdir)
        if libdir is None:
            warnings.warn("scipy-openblas32 is not installed: Theano will use "
                          "a slow built-in gemm (pip install scipy-openblas32)."
                          )
        else:
            blas_library = os.path.join(libdir, "libscipy_openblas.so")
    with warnings.catch_warnings():
        # Theano 1.0.5 and Lasagne 0.1 use APIs that newer numpy, scipy and
        # setuptools (pkg_resources) deprecate; the user can do nothing.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import theano  # noqa: F401
        _install_downsample_module()
        _quiet_get_vector_length()
        import lasagne  # noqa: F401
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    _applied = True
