"""Make Theano 1.0.5 and PyPI's Lasagne 0.1 work together on today's Python,
for our code and for original Theano/Lasagne code alike.

Every compatibility fix of the project lives here. :func:`apply` applies them
once; importing :mod:`lasagne_style` installs an import hook that calls it the
moment anything imports ``theano`` or ``lasagne`` (so any of our modules, or a
user's script, may come first), and ``make setup`` adds a one-line ``.pth``
file that imports :mod:`lasagne_style` at interpreter start-up, which costs a
few milliseconds and nothing more until Theano is imported
(``LASAGNE_STYLE_STARTUP=0`` switches it off; ``python -m
lasagne_style.compat remove`` deletes it).

Theano, before it is imported:

1. **BLAS.** Theano's CPU convolution is im2col + ``sgemm``. Without a BLAS
   to link against it falls back to a slow C-API gemm, and when
   ``blas.ldflags`` is left unset it probes ``numpy.distutils`` for BLAS
   information that numpy 1.23 no longer has (``AttributeError`` on import).
   We point Theano at PyPI's ``scipy-openblas32``. That library prefixes its
   symbols (``scipy_sgemm_``), so C macros rename the names Theano's C code
   calls, and an rpath lets the compiled modules find the library.
2. **Compile cache.** When ``~/.theano`` cannot be created or written (a
   read-only HOME), Theano fails with a long traceback; we move its cache to
   the temporary directory and say so.

Theano, once imported:

3. **Theano 0.8's API** (:mod:`.theano_api`): the ``downsample`` module
   Lasagne 0.1 and old scripts import (``max_pool_2d``,
   ``DownsampleFactorMax``, ``max_pool_2d_same_size``), forwarding to
   ``theano.tensor.signal.pool``; scipy.signal's private names that
   Theano's Python convolutions import (``compute_test_value`` with a
   convolution); ``OpFromGraph`` gradient overrides set as ``op.grad``.
4. **Recursion limit.** ``theano.grad`` and graph pickling recurse once per
   op along the graph; the Winograd network (dozens of ops per layer) is
   deeper than Python's default limit of 1000 allows.
5. **Slow graph optimisation.** When ``get_vector_length`` cannot tell a
   shape's length it raises ``ValueError`` with a ``debugprint`` of the whole
   graph above the variable in the message, and the optimizer calls it
   thousands of times only to catch that error: most of the time of compiling
   our objective went into formatting messages nobody reads. We make the
   message a plain ``str``.
6. **C code compiled again by every process.** ``COp`` (``DimShuffle``
   among others) versions its compiled module by ``hash()`` of its C
   sources, and Python 3 salts string hashes per process, so the cached
   module is never found and is compiled again at every start (0.7 s of a
   warm start-up, measured 2026-11-27). We version it by a SHA-256 of the
   sources instead. ``Dot22`` and ``DeepCopyOp`` were compiled again for
   another reason (1.4 s): ``CLinker`` counts an op's ``__props__`` among
   the versions of a module's parts, so an empty tuple reads as "no
   version"; a module whose parts all have versions gets one again.
7. **Cold start: C modules compiled one after another.** Theano links a
   function node by node and compiles each missing C module with ``g++`` in
   turn: 45 modules, 36.5 s of a 39.9 s cold 64 px transfer (2026-11-28,
   2 cores). At the first module missing from the cache, all the graph's
   missing modules are described as ``Op.make_c_thunk`` would describe them
   and built in parallel (one compiler per core, at most
   :data:`MAX_COMPILERS`) in private directories; Theano's own compile step
   then finds each one built from exactly its sources and arguments, or
   compiles it itself. Two cheaper compiles as well: without ``-g`` (debug
   information nobody reads, ~20 % of each compile), and with the six
   headers every module begins with precompiled (about 0.3 s of a 0.6 s
   compile) in ``<compiledir>/lasagne_style_pch``, once per compiler,
   numpy, Python and Theano version and set of flags (GCC does not check
   that a precompiled header's sources are unchanged; deleting the
   directory is always safe). The batch keeps Theano's compile lock fresh
   and stops starting compilers on Ctrl-C; those still running then delete
   what they build (they used to leave a folder each in the temporary
   directory). Cold start 41.3 (38.7-44.0) s ->
   17.1 (15.2-17.7) s, 5 runs each, whole commands in turn; warm starts
   unchanged (the parallel step starts at a cache miss).

Lasagne, once imported:

8. **``Conv2DLayer(..., flip_filters=...)``** with Lasagne 0.2's meaning:
   ``True`` (the default, Lasagne 0.1's behaviour) convolves, ``False``
   cross-correlates, which is what VGG's weights and the recipe expect.
   Lasagne 0.1 has no such argument, and deleting it from the recipe
   silently computes another network (measured: conv1_1 off by 1.28
   relative L2). The deprecated ``image_shape`` keyword is passed to Theano
   as ``input_shape``; the layer pickles, as old code's networks were.
9. **``lasagne.layers.dnn`` on the CPU.** Lasagne 0.1's cuDNN layers need
   Theano's old CUDA backend, which Theano 1.0 removed (importing it raises
   ``ImportError``, or ``SkipTest`` when ``nose`` is installed). When the
   real module cannot be imported, ``Conv2DDNNLayer``, ``Pool2DDNNLayer`` and
   ``MaxPool2DDNNLayer`` are CPU layers with the same signatures and
   semantics (``Conv2DDNNLayer`` cross-correlates unless
   ``flip_filters=True``); importing the module says so once on stderr. Our
   own VGG builds its CorrMM layers from the same classes.

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
    branch imports and 0.1 lacks -- ``BatchNormLayer``/``batch_norm``,
    ``TransformerLayer``, ``TransposedConv2DLayer``/``Deconv2DLayer``,
    ``DilatedConv2DLayer``, ``Upscale2DLayer``, ``ExpressionLayer``,
    ``prelu``, ``elu``, ``adamax``, ``categorical_accuracy`` and more --
    written here, at 0.2's import paths (``lasagne.layers.special``
    included), and 0.2's options of 0.1's classes (``only_return_final``
    of the recurrent layers, ``DenseLayer(num_leading_axes=)``...),
    added in place with 0.1's behaviour unchanged when not given.

Our Theano flags are placed *before* the user's ``THEANO_FLAGS``: Theano lets a
later key win, so anything the user sets still overrides them (except the
fixes of 12, which must).
"""
import contextlib
import functools
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import threading
import warnings

#: Fortran BLAS routines referenced by Theano's C code (``blas_headers.py``).
_BLAS_ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "sdot",
                  "ddot", "saxpy", "daxpy", "sscal", "dscal", "scopy", "dcopy",
                  "snrm2", "dnrm2", "sswap", "dswap")
#: OpenBLAS extension functions Theano calls to read/set the thread count.
_OPENBLAS_FUNCTIONS = ("openblas_get_num_threads", "openblas_set_num_threads",
                       "goto_get_num_procs")

RECURSION_LIMIT = 20000
#: At most this many compilers at once (fix 7): each takes 0.1-0.3 GB.
MAX_COMPILERS = 8
#: The lines every module Theano generates begins with (fix 7 precompiles
#: them): forcing them in first changes nothing, as the module includes the
#: same headers, in the same order, before anything else.
MODULE_HEADERS = ('#include <Python.h>\n#include <iostream>\n'
                  '#include "theano_mod_helper.h"\n#include <math.h>\n'
                  '#include <numpy/arrayobject.h>\n'
                  '#include <numpy/arrayscalars.h>\n')
#: The start-up file ``make setup`` puts in site-packages, and its one line:
#: import lasagne_style (which installs the import hook) unless switched off.
STARTUP_FILE = "lasagne_style-startup.pth"
STARTUP_LINE = ("import os, importlib.util; "
                "os.environ.get('LASAGNE_STYLE_STARTUP', '1') == '0' "
                "or importlib.util.find_spec('lasagne_style') is None "
                "or (os.environ.__setitem__('_LASAGNE_STYLE_AT_STARTUP', "
                "'1'), __import__('lasagne_style'), "
                "os.environ.pop('_LASAGNE_STYLE_AT_STARTUP'))\n")

_header_lock = threading.Lock()
#: Fix 7's modules: compiled in parallel ("built"), then taken by Theano
#: ("used"); read by the tests.
build_counts = {"built": 0, "used": 0}
_failed_headers = set()  # precompiled-header directories that failed
_state = {"theano": False, "lasagne": False, "dnn_notice": False}
blas_library = None  # path of the BLAS Theano links against, or None
# Lasagne layer classes of fixes 8 and 9, set by apply()
Conv2DLayer = Conv2DDNNLayer = Pool2DDNNLayer = MaxPool2DDNNLayer = None


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


def usable_directory(path):
    """Whether ``path`` is, or can be created as, a writable directory:
    tried (creating it, as Theano would, and a file in it), because
    permission bits do not tell (root may "write" to /proc, a read-only
    mount looks writable)."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def compile_cache_flags(user_flags, home=None):
    """``{'base_compiledir': DIR}`` in the temporary directory when Theano's
    default cache (``~/.theano``) is unusable and the user chose none."""
    if "compiledir" in user_flags:
        return {}
    default = os.path.join(home or os.path.expanduser("~"), ".theano")
    if usable_directory(default):
        return {}
    fallback = os.path.join(tempfile.gettempdir(),
                            "theano-cache-%d" % os.getuid())
    warnings.warn("%s is not writable: Theano's compile cache is %s this "
                  "time (set THEANO_FLAGS=base_compiledir=DIR to choose one)"
                  % (default, fallback))
    return {"base_compiledir": fallback}


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
    from . import theano_api
    theano_api.install()
    _quiet_get_vector_length()
    _stable_cop_versions()
    _version_modules_of_propless_ops()
    _compile_modules_in_parallel()
    from . import scan
    scan.install()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    _state["theano"] = True


def _stable_cop_versions():
    import hashlib

    from theano.gof.op import COp

    def c_code_cache_version(self):
        digest = hashlib.sha256("\0".join(self.func_codes).encode("utf-8"))
        version = (int(digest.hexdigest()[:15], 16),)
        if hasattr(self, "params_type"):
            version += (self.params_type.c_code_cache_version(),)
        return version

    COp.c_code_cache_version = c_code_cache_version


def _version_modules_of_propless_ops():
    from theano.gof.cc import CLinker
    original = CLinker.cmodule_key_

    def cmodule_key_(self, fgraph, *args, **kwargs):
        key = original(self, fgraph, *args, **kwargs)
        if key is None or key[0] != ():
            return key
        versions = []
        for node in fgraph.toposort():
            versions.append(node.op.c_code_cache_version_apply(node))
            versions += [v.type.c_code_cache_version()
                         for v in node.inputs + node.outputs]
        return (tuple(versions), key[1]) if all(versions) else key

    CLinker.cmodule_key_ = cmodule_key_



def _compiler_jobs(linker):
    """Arguments of ``compile_str`` for each C module that linking
    ``linker``'s graph will compile: nodes linked by ``Op.make_thunk`` (which
    builds a node's module as done here) whose module is not in the cache. A
    node whose module cannot be described here is left to Theano."""
    from theano.gof.cc import CLinker, get_module_cache
    from theano.gof.cmodule import get_module_hash
    from theano.gof.fg import FunctionGraph
    from theano.gof.op import Op
    cache = get_module_cache()
    jobs = {}
    for node in linker.fgraph.toposort():
        if type(node.op).make_thunk is not Op.make_thunk:
            continue  # Scan, IfElse and others link themselves
        try:
            node.op.prepare_node(node, None, None, "c")
            clinker = CLinker().accept(FunctionGraph(node.inputs,
                                                     node.outputs))
            key = clinker.cmodule_key()
            if key in cache.entry_from_key:
                continue
            module = clinker.get_dynamic_module()
            source = module.code()  # names the module (its code_hash)
            if get_module_hash(source, key) in cache.module_hash_to_key_data:
                continue  # Theano finds it by its source
            jobs[module.code_hash] = dict(
                module_name=module.code_hash, src_code=source,
                include_dirs=clinker.header_dirs(),
                lib_dirs=clinker.lib_dirs(), libs=clinker.libraries(),
                preargs=clinker.compile_args())
        except Exception:  # no C code, or not ours to judge: Theano decides
            continue
    return list(jobs.values())


@functools.lru_cache(maxsize=None)
def _toolchain():
    """What a precompiled header depends on besides the compiler flags."""
    import subprocess

    import numpy
    import theano
    try:
        compiler = subprocess.run(
            [theano.config.cxx, "-dumpfullversion", "-dumpversion"],
            capture_output=True, text=True).stdout.strip()
    except OSError:
        compiler = "?"
    return "\0".join([compiler, numpy.__version__, numpy.get_include(),
                      sys.version, theano.__version__, MODULE_HEADERS])


def _precompiled_header(command, build):
    """For a ``g++`` command compiling a Theano module that begins with
    :data:`MODULE_HEADERS`: a header of those lines, precompiled in Theano's
    cache directory once per compiler, numpy, Python and Theano version and
    set of compiler flags (built here when ``build`` and no other thread is
    building one). ``None`` when there is none to use."""
    import hashlib
    import subprocess

    import theano
    source = next((word for word in command if word.endswith("mod.cpp")),
                  None)
    try:
        with open(source) as module:
            if module.read(len(MODULE_HEADERS)) != MODULE_HEADERS:
                return None
    except (OSError, TypeError):
        return None
    output = command.index("-o")
    flags = [word for word in command[1:output] if word != "-shared"
             and not word.startswith(("-l", "-L", "-Wl,"))]
    digest = hashlib.sha256("\0".join([_toolchain()] + command[:1] + flags)
                            .encode("utf-8"))
    directory = os.path.join(theano.config.compiledir, "lasagne_style_pch",
                             digest.hexdigest()[:16])
    header = os.path.join(directory, "headers.h")
    if os.path.exists(header + ".gch"):
        return header
    if not build or directory in _failed_headers or not \
            _header_lock.acquire(False):
        return None  # rather than wait while another thread builds one
    try:
        if os.path.exists(header + ".gch"):
            return header
        os.makedirs(directory, exist_ok=True)
        partial = "%s.%d" % (header, os.getpid())
        with open(partial, "w") as text:
            text.write(MODULE_HEADERS)
        os.replace(partial, header)  # other processes see each file whole
        done = subprocess.run(command[:1] + flags + [
            "-x", "c++-header", header, "-o", partial + ".gch"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode:
            raise OSError("the precompiled header failed to build")
        os.replace(partial + ".gch", header + ".gch")
        return header
    except OSError:
        _failed_headers.add(directory)
        return None
    finally:
        _header_lock.release()


def _compile_modules_in_parallel():
    import concurrent.futures
    import shutil

    from theano.gof import cmodule, compilelock
    from theano.gof.vm import VM_Linker
    compile_str = cmodule.GCC_compiler.compile_str
    run_command = cmodule.output_subprocess_Popen
    linking = []  # the linker whose make_all runs, until its first compile
    built = {}  # module name -> (compile_str arguments, directory, linker)
    built_lock = threading.Lock()  # built, and each batch's abandoned flag

    def build(job, linker, abandoned):
        location = tempfile.mkdtemp(prefix="lasagne_style_build_")
        try:
            compile_str(location=location, py_module=False, **job)
        except Exception:  # Theano compiles it again and reports the error
            shutil.rmtree(location, ignore_errors=True)
            return
        with built_lock:
            if not abandoned:
                built[job["module_name"]] = (job, location, linker)
                build_counts["built"] += 1
                return
        # finished after an interrupt abandoned its batch: nobody takes it
        shutil.rmtree(location, ignore_errors=True)

    def build_all_missing(linker):
        workers = min(MAX_COMPILERS, len(os.sched_getaffinity(0))
                      if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1)
        jobs = _compiler_jobs(linker)
        if workers < 2 or len(jobs) < 2:
            return
        pool = concurrent.futures.ThreadPoolExecutor(workers)
        abandoned = []  # made true (non-empty) on an interrupt
        try:
            pending = [pool.submit(build, job, linker, abandoned)
                       for job in jobs]
            while pending:
                pending = concurrent.futures.wait(pending, timeout=20)[1]
                compilelock.get_lock()  # refreshes the lock Theano holds,
                compilelock.release_lock()  # so no one else overrides it
        except BaseException:  # Ctrl-C: no new compilers, and the running
            with built_lock:   # ones delete what they build
                abandoned.append(True)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def make_all(self, *args, **kwargs):
        outer = linking[:]
        linking[:] = [self] if self.c_thunks is not False else []
        try:
            return original_make_all(self, *args, **kwargs)
        finally:  # what Theano did not ask for
            linking[:] = outer
            for name in [n for n, entry in built.items() if entry[2] is self]:
                shutil.rmtree(built.pop(name)[1], ignore_errors=True)

    def prebuilt_compile_str(module_name, src_code, location=None,
                             py_module=True, **kwargs):
        if linking:  # the first module missing from the cache: build all
            build_all_missing(linking.pop())
        job, directory, _ = built.pop(module_name, ({}, None, None))
        try:
            if not py_module or job != dict(kwargs, module_name=module_name,
                                            src_code=src_code):
                return compile_str(module_name, src_code, location=location,
                                   py_module=py_module, **kwargs)
            for name in os.listdir(directory):  # mod.cpp and the library
                shutil.move(os.path.join(directory, name), location)
            open(os.path.join(location, "__init__.py"), "w").close()
            build_counts["used"] += 1
            return cmodule.dlimport(os.path.join(location, "%s.%s" % (
                module_name, cmodule.get_lib_extension())))
        finally:
            if directory:
                shutil.rmtree(directory, ignore_errors=True)

    def compiler_command(command, **kwargs):
        if command[2:3] == ["-g"] and command[0] == cmodule.theano.config.cxx:
            command = command[:2] + command[3:]  # no debug information
            # built by a batch's compiler thread, while the others compile,
            # never by Theano's own thread, which would wait for it
            header = _precompiled_header(
                command, build=threading.current_thread()
                is not threading.main_thread())
            if header:
                command = command[:1] + ["-include", header] + command[1:]
        return run_command(command, **kwargs)

    original_make_all = VM_Linker.make_all
    VM_Linker.make_all = make_all
    cmodule.GCC_compiler.compile_str = staticmethod(prebuilt_compile_str)
    cmodule.output_subprocess_Popen = compiler_command

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


class TheanoConv2D:
    """A Lasagne 0.1 ``convolution`` function: Theano's ``conv2d`` with
    ``filter_flip=flip_filters`` (False: cross-correlation, what VGG's
    filters are). Lasagne pads explicitly and then asks for a valid
    convolution; its deprecated ``image_shape`` becomes ``input_shape``.
    A class rather than a closure so that layers holding it pickle (old
    code pickles whole networks)."""

    def __init__(self, flip_filters):
        self.flip_filters = flip_filters
        self.__name__ = "conv2d" if flip_filters else "cross_correlation"

    def __call__(self, input, filters, subsample=(1, 1), image_shape=None,
                 filter_shape=None, border_mode="valid", **unused):
        import theano.tensor as T
        return T.nnet.conv2d(input, filters, input_shape=image_shape,
                             filter_shape=filter_shape,
                             border_mode=border_mode, subsample=subsample,
                             filter_flip=self.flip_filters)


def theano_conv2d(flip_filters):
    """The ``convolution`` of :class:`TheanoConv2D` for ``flip_filters``."""
    return TheanoConv2D(flip_filters)


def _define_layers():
    """The layer classes of fixes 8 and 9, on top of Lasagne 0.1's."""
    from lasagne import init, nonlinearities
    from lasagne.layers import conv, pool

    class FlipConv2DLayer(conv.Conv2DLayer):
        """Lasagne 0.1's ``Conv2DLayer`` plus Lasagne 0.2's ``flip_filters``
        (True: convolution, Lasagne 0.1's only behaviour; False:
        cross-correlation). It chooses Theano's ``conv2d`` filter flip; a
        ``convolution`` function given explicitly decides for itself."""

        def __init__(self, incoming, num_filters, filter_size, *args,
                     flip_filters=True, convolution=None, **kwargs):
            self.flip_filters = flip_filters
            super().__init__(incoming, num_filters, filter_size, *args,
                             convolution=convolution or theano_conv2d(
                                 flip_filters), **kwargs)

    class CPUConv2DDNNLayer(FlipConv2DLayer):
        """``lasagne.layers.dnn.Conv2DDNNLayer`` on the CPU (Theano's CorrMM):
        same arguments; cross-correlation unless ``flip_filters=True``, as
        in Lasagne 0.1's cuDNN layer."""

        def __init__(self, incoming, num_filters, filter_size, stride=(1, 1),
                     pad=0, untie_biases=False, W=init.GlorotUniform(),
                     b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                     flip_filters=False, **kwargs):
            super().__init__(incoming, num_filters, filter_size, stride, pad,
                             untie_biases, W, b, nonlinearity,
                             flip_filters=flip_filters, **kwargs)

    class CPUPool2DDNNLayer(pool.Pool2DLayer):
        """``lasagne.layers.dnn.Pool2DDNNLayer`` on the CPU: same arguments
        (``ignore_border`` must stay True, as for cuDNN)."""

        def __init__(self, incoming, pool_size, stride=None, pad=(0, 0),
                     ignore_border=True, mode="max", **kwargs):
            if not ignore_border:
                raise NotImplementedError("Pool2DDNNLayer does not support "
                                          "ignore_border=False")
            super().__init__(incoming, pool_size, stride, pad, True, mode,
                             **kwargs)

    class CPUMaxPool2DDNNLayer(CPUPool2DDNNLayer):
        """``lasagne.layers.dnn.MaxPool2DDNNLayer`` on the CPU."""

        def __init__(self, incoming, pool_size, stride=None, pad=(0, 0),
                     ignore_border=True, **kwargs):
            super().__init__(incoming, pool_size, stride, pad, ignore_border,
                             mode="max", **kwargs)

    # the names users see in reprs and error messages
    for cls, name in ((FlipConv2DLayer, "Conv2DLayer"),
                      (CPUConv2DDNNLayer, "Conv2DDNNLayer"),
                      (CPUPool2DDNNLayer, "Pool2DDNNLayer"),
                      (CPUMaxPool2DDNNLayer, "MaxPool2DDNNLayer")):
        cls.__name__ = cls.__qualname__ = name
    return (FlipConv2DLayer, CPUConv2DDNNLayer, CPUPool2DDNNLayer,
            CPUMaxPool2DDNNLayer)


def _patch_lasagne():
    global Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer, MaxPool2DDNNLayer
    import lasagne.layers
    (Conv2DLayer, Conv2DDNNLayer, Pool2DDNNLayer,
     MaxPool2DDNNLayer) = _define_layers()
    # Not in lasagne.layers.conv: Lasagne's own __init__ looks its class up
    # there (``super(Conv2DLayer, self)``).
    lasagne.layers.Conv2DLayer = Conv2DLayer
    from . import lasagne02
    lasagne02.apply()
    _state["lasagne"] = True


def _stand_in_layers():
    """The CPU layers standing in for cuDNN's (fix 9), for :mod:`.gpu`."""
    return Conv2DDNNLayer, Pool2DDNNLayer, MaxPool2DDNNLayer


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
            self.loader.exec_module(module)
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
            return self._patched(name, path, _patch_theano)
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


def startup_file_path():
    """Where :data:`STARTUP_FILE` goes: this environment's site-packages."""
    import sysconfig
    return os.path.join(sysconfig.get_paths()["purelib"], STARTUP_FILE)


def main(argv=None):
    """``python -m lasagne_style.compat install|remove|status``: the
    start-up file that makes plain ``import theano`` / ``import lasagne``
    work in this environment, and the ``python2`` kernel alias for old
    notebooks (:mod:`.kernel`)."""
    from . import kernel
    command = (argv if argv is not None else sys.argv[1:] or ["status"])[0]
    path = startup_file_path()
    if command == "install":
        with open(path, "w") as f:
            f.write(STARTUP_LINE)
        print("installed %s" % path)
        folder = kernel.install()
        if folder:
            print("installed the python2 kernel alias %s" % folder)
    elif command == "remove":
        if os.path.exists(path):
            os.remove(path)
        kernel.remove()
        print("removed %s and the python2 kernel alias" % path)
    elif command == "status":
        print("%s %s" % (path, "present" if os.path.exists(path)
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
