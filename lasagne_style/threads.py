"""What libraries read from the environment when they load: how idle
threads wait, numpy's huge-page advice and OpenBLAS's kernels; set before
they load.

An evaluation alternates between two thread pools: OpenMP's (our fused
Winograd, pooling and Gram matrix ops, :mod:`lasagne_style.ops.winograd`,
:mod:`lasagne_style.ops.pooling`, :mod:`lasagne_style.ops.gram`) and
OpenBLAS's (Theano's own products, such as masked Gram matrices; on one
thread in our runs, see below, and in any other Theano code with the
threads the user allows). By
default an idle thread of either pool keeps spinning for a while before it
sleeps: OpenBLAS for 2^28 cycles (``OPENBLAS_THREAD_TIMEOUT``, default 28),
libgomp for 300 000 spins (``OMP_WAIT_POLICY`` unset). On a machine with as
many cores as threads, a pool that just finished spins on the cores the other
pool needs.

Letting idle threads sleep at once (:data:`ENV_DEFAULTS`) lowered the
seconds per evaluation at 256 and 512 px on a 2-core machine (measurements:
docs/performance.md).

**Huge pages.** numpy asks the kernel for transparent huge pages
(``madvise``) on every large array. Where the kernel's ``defrag`` setting is
``madvise`` (its default), each first touch of such an array may then wait
for the kernel to compact memory: building the network's transformed filters
(414 MB of new arrays) took 1.24-1.42 s with the advice and 0.64-0.68 s
without, and a warm 64 px run 3.45 s against 2.93 s (docs/performance.md).
``NUMPY_MADVISE_HUGEPAGE=0`` turns the advice off.

**OpenBLAS's kernels.** The OpenBLAS builds numpy and scipy ship (0.3.20
and 0.3.21 here) do not know recent processors and fall back to their
generic SSE3 kernels (``Prescott``) on them: on this machine's Zen 5 an
sgemm ``F Fᵀ`` (64 x 65536) took 10.7 ms on one thread against 4.1 ms
with the AVX-512 kernels, a float64 gemm like the filter transform's 23 ms
against 13, and our L-BFGS-B, whose passes are numpy's, 0.230 s per
evaluation at 512 px with 30 pairs against 0.181 s (docs/performance.md).
Where the processor has AVX-512, ``OPENBLAS_CORETYPE=SkylakeX`` makes
every OpenBLAS of the process use those kernels (Theano's newer
scipy-openblas32 chose them already).

The libraries read these variables once, when they are loaded, so
:func:`set_env_defaults` runs first thing when the package, the CLI or the
API is imported, before numpy. When the start-up ``.pth`` file imports the
package at interpreter start-up, it does not: those settings are for our
runs, not for every Python program of the environment (the CLI and the API
set them when they are imported). A value already in the environment
wins. Flushing denormal floats to
zero (FTZ/DAZ) was tried too, one run each: no difference beyond the
run-to-run spread.

**The same bytes on any thread count.** A threaded OpenBLAS sgemm does not
round like a single-threaded one for every shape: Theano's ``Dot22`` of a
Gram matrix ``F F^T`` over a number of positions that is not a power of two
gave other bits with ``OPENBLAS_NUM_THREADS`` 1 and 2, and so did every
result after a few evaluations. :func:`blas_on_one_thread` (called when an
objective is built) keeps OpenBLAS on one thread; our own OpenMP ops
(Winograd convolutions, pooling, Gram matrices) split their work the same
way on any thread count and use the threads the environment allows. Cost per
evaluation: docs/performance.md.
"""
import os
import sys

#: The processor features of OpenBLAS's ``SkylakeX`` kernels.
AVX512 = frozenset(["avx512f", "avx512cd", "avx512bw", "avx512dq",
                    "avx512vl"])


def openblas_coretype(cpuinfo="/proc/cpuinfo"):
    """``"SkylakeX"`` where the processor has the AVX-512 features of
    OpenBLAS's kernels of that name (:data:`AVX512`, as the kernel reports
    them in ``cpuinfo``), else None (OpenBLAS chooses)."""
    try:
        with open(cpuinfo) as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.partition(":")[2].split())
                    return "SkylakeX" if AVX512 <= flags else None
    except OSError:
        pass
    return None


#: Variables read when a library loads, and the values this package sets
#: unless the environment has them: idle threads sleep at once
#: (``PASSIVE``), OpenBLAS's after 2^4 cycles (its smallest timeout), numpy
#: gives no huge-page advice, and OpenBLAS uses its AVX-512 kernels where
#: the processor has them.
ENV_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4",
                "NUMPY_MADVISE_HUGEPAGE": "0"}
_CORETYPE = openblas_coretype()
if _CORETYPE:
    ENV_DEFAULTS["OPENBLAS_CORETYPE"] = _CORETYPE


#: The names :func:`set_env_defaults` put into ``os.environ`` in this
#: process (not those the user set).
set_here = []


def set_env_defaults(environ=None):
    """Put :data:`ENV_DEFAULTS` into ``environ`` (``os.environ``) where it
    has no value of its own; returns the names set. numpy, if already
    loaded (an API user imported it first), is told directly."""
    environ = os.environ if environ is None else environ
    missing = [name for name in ENV_DEFAULTS if name not in environ]
    for name in missing:
        environ[name] = ENV_DEFAULTS[name]
    if environ is os.environ:
        set_here.extend(missing)
        if "NUMPY_MADVISE_HUGEPAGE" in missing and "numpy" in sys.modules:
            _numpy_hugepage_advice(False)
    return missing


def _numpy_hugepage_advice(enabled):
    """What ``NUMPY_MADVISE_HUGEPAGE`` sets when numpy loads, for a numpy
    already loaded (numpy's private switch; nothing if it has none)."""
    numpy = sys.modules["numpy"]
    core = getattr(numpy, "_core", None) or getattr(numpy, "core", None)
    switch = getattr(getattr(core, "multiarray", None),
                     "_set_madvise_hugepage", None)
    if switch is not None:
        switch(enabled)


def unset_env_defaults():
    """Take back from ``os.environ`` what :func:`set_env_defaults` put
    there, so that libraries loaded afterwards run with their own defaults
    (the benchmark's PyTorch reference). A value the user set stays."""
    while set_here:
        os.environ.pop(set_here.pop(), None)


def blas_on_one_thread():
    """From now on, the OpenBLAS that Theano links against
    (scipy-openblas32) runs every call on one thread, so that its rounding
    does not depend on the thread count (see the module docstring). Returns
    False when that library is not there (another BLAS: not changed)."""
    import theano

    if "scipy_openblas" not in theano.config.blas.ldflags:
        return False
    try:
        import scipy_openblas32
        library = getattr(scipy_openblas32, "dll", None)
        if library is None:  # older wheels load it on this call
            scipy_openblas32.get_openblas_config()
            library = scipy_openblas32.dll
        library.scipy_openblas_set_num_threads(1)
    except (ImportError, AttributeError, OSError):
        return False
    return True
