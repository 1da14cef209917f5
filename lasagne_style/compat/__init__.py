"""Make Theano 1.0.5 and PyPI's Lasagne 0.1 work together on today's Python,
for our code and for original Theano/Lasagne code alike.

Every compatibility fix of the project lives in this package, one module per
kind of fix (fix 4, one line, is here). :func:`apply` applies them once;
importing :mod:`lasagne_style` installs an import hook (:class:`ImportHook`)
that calls it the moment anything imports ``theano`` or ``lasagne`` (so any
of our modules, or a user's script, may come first), and ``make setup`` adds
a one-line ``.pth`` file (:mod:`.startup`) that imports :mod:`lasagne_style`
at interpreter start-up. No module of the package imports Theano or Lasagne
when it loads: the hook must be in place first.

Theano, before it is imported (:func:`theano_flags`):

1. **BLAS** (:mod:`.blas`): Theano linked against PyPI's
   ``scipy-openblas32``, its ``scipy_``-prefixed symbols renamed by C
   macros; without it Theano uses a slow gemm, or fails probing
   ``numpy.distutils``.
2. **Compile cache** (:mod:`.compiledir`): when ``~/.theano`` cannot be
   created or written, Theano's cache moves to the temporary directory, with
   a warning, instead of a long traceback.
16. **scipy's modules for Theano's Python fallbacks on first use**
    (:mod:`.deferred`): ``scipy.stats`` and ``scipy.signal``, which Theano
    imports as it loads (0.2-0.3 s of every start), load when something
    first uses them.

Theano, once imported:

3. **Theano 0.8's API** (:mod:`.theano_api`): the ``downsample`` module
   Lasagne 0.1 and old scripts import, scipy.signal's private names that
   Theano's Python convolutions import, ``OpFromGraph`` gradient overrides
   set as ``op.grad``.
4. **Recursion limit** (here): ``theano.grad`` and graph pickling recurse
   once per op along the graph; the Winograd network (dozens of ops per
   layer) is deeper than Python's default limit of 1000 allows.
5. **Slow graph optimisation** (:mod:`.compiling`): ``get_vector_length``'s
   error message, formatted thousands of times per compile and never read,
   is a plain string.
6. **C code compiled again by every process** (:mod:`.compiling`): stable
   versions for ``COp`` modules and for ops without ``__props__``, so a warm
   start finds them in the cache.
7. **Cold start** (:mod:`.compiling`): at the first cache miss, all of a
   graph's missing C modules are compiled in parallel, without ``-g``, with
   their common headers precompiled.

Lasagne, once imported (:mod:`.lasagne01`):

8. **``Conv2DLayer(..., flip_filters=...)``** with Lasagne 0.2's meaning
   (``False`` cross-correlates, as VGG's weights expect).
9. **``lasagne.layers.dnn`` on the CPU**: ``Conv2DDNNLayer``,
   ``Pool2DDNNLayer`` and ``MaxPool2DDNNLayer`` as CPU layers with the same
   signatures and semantics; our own VGG builds its CorrMM layers from them.

Other people's old code (docs/legacy.md), one module each:

10. **``theano.scan``** (:mod:`.scan`): scan's compiled loop is built for
    Python 3.11 from the C file Theano ships; if it still cannot be built,
    scan uses its Python loop instead of failing.
11. **GPU-era imports** (:mod:`.gpu`): ``theano.sandbox.cuda`` and its
    ``dnn`` answer "not available" with CPU stand-ins; old pickles of GPU
    shared variables load on the CPU; ``lasagne.layers.corrmm`` and
    ``cuda_convnet`` get CPU layers like ``dnn``'s (fix 9).
12. **Old settings** (:mod:`.flags`): ``device=gpu*``/``cuda*`` in
    ``THEANO_FLAGS`` or a ``.theanorc`` becomes the CPU, with a notice; the
    user's ``gcc.cxxflags`` are appended to ours; a ``blas.ldflags`` naming a
    library that is not here is replaced by ours.
13. **``python2`` notebooks** (:mod:`.kernel`): ``install`` also adds a
    kernel alias of that name running this environment's Python 3.
14. **Lasagne 0.2's names** (:mod:`.lasagne02`), applied with fixes 8 and
    9 once Lasagne is imported: what code written for Lasagne's master
    branch imports and 0.1 lacks (``BatchNormLayer``/``batch_norm``,
    ``TransposedConv2DLayer``, ``elu``, ``adamax``... and 0.2's options of
    0.1's classes), at 0.2's import paths.

Theano, once imported, again:

15. **Warm start: the -march check** (:mod:`.compiling`): Theano's
    compile-and-run test of its ``-march`` flags, in every process, is
    remembered once it passed, per compiler, flags and processor.
17. **Warm start: the keys of a large cache** (:mod:`.compiling`): at its
    first compile Theano unpickles the key file of every cached module; it
    now reads those of the modules our objective used before, and all of
    them again at the first key it does not find.

Our Theano flags are placed *before* the user's ``THEANO_FLAGS``: Theano lets a
later key win, so anything the user sets still overrides them (except the
fixes of 12, which must).

The names below that live in the submodules (``blas_flags``,
``compile_cache_flags``, ``MODULE_HEADERS``, ``build_counts``,
``TheanoConv2D``, ``STARTUP_LINE``...) are importable from here as before
they moved; code that replaces one of them must replace it in its module.
"""
import contextlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings

from . import deferred, lasagne01
# what is used here, and (re-exported) the names this module had before
# its fixes moved to modules of their own
from .blas import (  # noqa: F401
    _BLAS_ROUTINES, _OPENBLAS_FUNCTIONS, blas_flags, find_openblas)
from .compiledir import compile_cache_flags, usable_directory  # noqa: F401
from .compiling import (  # noqa: F401
    MAX_COMPILERS, MODULE_HEADERS, build_counts, _compiler_jobs,
    _precompiled_header, _toolchain)
from .lasagne01 import TheanoConv2D, theano_conv2d  # noqa: F401
from .startup import (  # noqa: F401
    STARTUP_FILE, STARTUP_LINE, startup_file_path)

RECURSION_LIMIT = 20000
_state = {"theano": False, "lasagne": False, "dnn_notice": False,
          "loading_theano": False}
blas_library = None  # path of the BLAS Theano links against, or None
# Lasagne layer classes of fixes 8 and 9, set by apply()
Conv2DLayer = Conv2DDNNLayer = Pool2DDNNLayer = MaxPool2DDNNLayer = None


def theano_flags(user_flags, libdir, rc=None, notices=None):
    """The ``THEANO_FLAGS`` string to use: ours first, then the user's, then
    what must override the user's (:mod:`.flags`: a GPU device becomes the
    CPU, the user's ``gcc.cxxflags`` are appended to our BLAS renames, a
    ``blas.ldflags`` naming a library that is not here becomes ours).

    ``rc``: the ``.theanorc`` flags (default: none); one-line messages for
    the user are appended to ``notices``. Values are double-quoted because
    Theano splits the string on commas with a POSIX shlex, and the rpath
    link flag contains commas.
    """
    from . import flags
    user = flags.parse(user_flags)
    blas, after, told = flags.plan(user, rc or {}, None if libdir is None
                                   else blas_flags(libdir))
    if notices is not None:
        notices.extend(told)
    ours = {"floatX": "float32"}
    ours.update(blas)
    ours.update(compile_cache_flags(user_flags))
    user_flags = flags.drop(user_flags, [k for k, v in after.items()
                                         if v is None])
    parts = [flags.quote(*kv) for kv in ours.items()]
    if user_flags:
        parts.append(user_flags)
    parts += [flags.quote(k, v) for k, v in after.items() if v is not None]
    return ",".join(parts)


def _configure_theano():
    global blas_library
    from . import flags
    # Theano imports pkg_resources lazily too (theano.gpuarray.linalg, from
    # scan's optimisations): a warning the user can do nothing about
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    libdir = find_openblas()
    notices = []
    user_flags = os.environ.get("THEANO_FLAGS", "")
    os.environ["THEANO_FLAGS"] = theano_flags(
        user_flags, libdir, flags.read_theanorc(), notices)
    for notice in notices:
        print(notice, file=sys.stderr)
    if libdir is None:
        warnings.warn("scipy-openblas32 is not installed: Theano will use a "
                      "slow built-in gemm (pip install scipy-openblas32).")
    elif "scipy_openblas" in flags.parse(os.environ["THEANO_FLAGS"]).get(
            "blas.ldflags", ""):
        blas_library = os.path.join(libdir, "libscipy_openblas.so")


def _patch_theano():
    from . import compiling, scan, theano_api
    theano_api.install()
    compiling.install()
    scan.install()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    _state["theano"] = True


def _patch_lasagne():
    global Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer, MaxPool2DDNNLayer
    (Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer,
     MaxPool2DDNNLayer) = lasagne01.install()
    from . import lasagne02
    lasagne02.apply()
    _state["lasagne"] = True


class _PatchingLoader:
    """The real loader of ``theano`` or ``lasagne``, followed by our
    patches; anything else (``get_source`` for tracebacks...) is the real
    loader's."""

    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with _quiet_deprecations():
            try:
                self.loader.exec_module(module)
            finally:  # fix 16 defers only while Theano's modules run
                _state["loading_theano"] = False
            self.patch()


@contextlib.contextmanager
def _quiet_deprecations():
    # Theano 1.0.5 and Lasagne 0.1 use APIs that newer numpy, scipy and
    # setuptools (pkg_resources) deprecate; the user can do nothing about it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore",
                                message="pkg_resources is deprecated")
        yield


class ImportHook:
    """A ``sys.meta_path`` entry that applies the fixes around the first
    import of ``theano`` and of ``lasagne``, and makes
    ``lasagne.layers.dnn`` fall back to the CPU stand-ins."""

    def find_spec(self, name, path=None, target=None):
        if name.startswith(("theano.", "lasagne.")):
            return self._find_submodule(name, path)
        if name == "theano" and not _state["theano"]:
            _configure_theano()
            _state["loading_theano"] = True
            return self._patched(name, path, _patch_theano)
        if _state["loading_theano"] and name == deferred.LAZY:
            return deferred.lazy_spec(name, path)
        if _state["loading_theano"] and name == deferred.REFUSED:
            raise ImportError("deferred by lasagne_style.compat (fix 16)")
        if name == "lasagne" and not _state["lasagne"]:
            import theano  # noqa: F401  (patched first, through this hook)
            return self._patched(name, path, _patch_lasagne)
        return None

    @staticmethod
    def _find_submodule(name, path):
        from . import gpu
        if name == "theano.scan_module.scan_perform_ext" and _state["theano"]:
            from . import scan
            real = importlib.machinery.PathFinder.find_spec(name, path)
            if real is not None:
                return importlib.util.spec_from_file_location(
                    name, real.origin, loader=scan.ExtLoader(real))
        if name in gpu.LASAGNE_MODULES and _state["lasagne"]:
            real = importlib.machinery.PathFinder.find_spec(name, path)
            return importlib.util.spec_from_loader(
                name, gpu.LasagneGpuLoader(real, name.rsplit(".", 1)[1]))
        if name in gpu.CUDA_MODULES and _state["theano"]:
            return importlib.util.spec_from_loader(
                name, gpu.StandInLoader(gpu.CUDA_MODULES[name]),
                is_package=name == gpu.CUDA)
        return None

    @staticmethod
    def _patched(name, path, patch):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


def _insert_hook():
    if not any(isinstance(f, ImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, ImportHook())


def install_import_hook():
    """Apply the fixes when Theano or Lasagne is first imported (at once if
    one of them already is)."""
    _insert_hook()
    if "theano" in sys.modules or "lasagne" in sys.modules:
        apply()


def apply():
    """Configure, import and patch Theano and Lasagne (idempotent)."""
    _insert_hook()
    if "theano" in sys.modules and not _state["theano"]:
        warnings.warn("Theano was imported before lasagne_style: its BLAS "
                      "settings could not be applied.")
        _patch_theano()
    if "lasagne" in sys.modules and not _state["lasagne"]:
        _patch_lasagne()
    with _quiet_deprecations():
        import lasagne  # noqa: F401  (through the hook: patched)


def main(argv=None):
    """``python -m lasagne_style.compat install|remove|status``: the
    start-up file that makes plain ``import theano`` / ``import lasagne``
    work in this environment (:mod:`.startup`), and the ``python2`` kernel
    alias for old notebooks (:mod:`.kernel`)."""
    from . import kernel, startup
    command = (argv if argv is not None else sys.argv[1:] or ["status"])[0]
    path = startup.startup_file_path()
    if command == "install":
        startup.install()
        print("installed %s" % path)
        folder = kernel.install()
        if folder:
            print("installed the python2 kernel alias %s" % folder)
    elif command == "remove":
        startup.remove()
        kernel.remove()
        print("removed %s and the python2 kernel alias" % path)
    elif command == "status":
        print("%s %s" % (path, "present" if startup.present()
                         else "absent"))
        print("python2 kernel alias %s: %s" % (
            kernel.kernel_dir(), "present" if kernel.present() else "absent"))
    else:
        print("usage: python -m lasagne_style.compat install|remove|status",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
