"""Fixes 5-7, 15 and 17: compiling a Theano function, faster.

5. **Slow graph optimisation.** When ``get_vector_length`` cannot tell a
   shape's length it raises ``ValueError`` with a ``debugprint`` of the whole
   graph above the variable in the message, and the optimizer calls it
   thousands of times only to catch that error: most of the time of compiling
   our objective went into formatting messages nobody reads. We make the
   message a plain ``str``.
6. **C code compiled again by every process.** ``COp`` (``DimShuffle`` among
   others) versions its compiled module by ``hash()`` of its C sources, and
   Python 3 salts string hashes per process, so the cached module is never
   found and is compiled again at every start. We version it by a SHA-256 of
   the sources instead. ``Dot22`` and ``DeepCopyOp`` were compiled again for
   another reason: ``CLinker`` counts an op's ``__props__`` among the
   versions of a module's parts, so an empty tuple reads as "no version"; a
   module whose parts all have versions gets one again.
7. **Cold start: C modules compiled one after another.** Theano links a
   function node by node and compiles each missing C module with ``g++`` in
   turn, and a cold start is almost all compilation. At the first module
   missing from the cache, all the graph's missing modules are described as
   ``Op.make_c_thunk`` would describe them and built in parallel (one
   compiler per core, at most :data:`MAX_COMPILERS`) in private directories;
   Theano's own compile step then finds each one built from exactly its
   sources and arguments, or compiles it itself. Two cheaper compiles as
   well: without ``-g`` (debug information nobody reads, ~20 % of each
   compile), and with the six headers every module begins with precompiled
   (about 0.3 s of a 0.6 s compile) in ``<compiledir>/lasagne_style_pch``,
   once per compiler, numpy, Python and Theano version and set of flags (GCC
   does not check that a precompiled header's sources are unchanged;
   deleting the directory is always safe). The batch keeps Theano's compile
   lock fresh and stops starting compilers on Ctrl-C; those still running
   then delete what they build (they used to leave a folder each in the
   temporary directory). Warm starts are unchanged (the parallel step starts
   at a cache miss). The measurements behind these fixes (cold and warm
   starts, before and after): docs/performance.md, "How start-up got there".

15. **Warm start: the -march check.** The first C module of every process
    makes Theano compile and run a test program with the ``-march`` flags it
    derived from ``g++ -march=native`` (``try_march_flag``): 0.14 s of a
    warm start, for the same answer each time. A pass is remembered in
    ``<compiledir>/lasagne_style_march.json``, by a SHA-256 of the compiler,
    its version, the flags and the processor's model and feature flags
    (``/proc/cpuinfo``); a failure is never remembered, a file that does not
    parse is ignored, and without ``/proc/cpuinfo`` Theano checks as
    before. The file only ever lets a check be skipped: the flags are
    Theano's own of this process.

17. **Warm start: every cached module's key read.** At its first compile,
    Theano unpickles the key file of every module in its cache (0.43 of
    0.51 s with 960 modules, most of them from tests and other programs).
    The cache directories of the modules our objective's graphs used
    (:func:`remembered_modules`) are remembered in
    ``<compiledir>/lasagne_style_modules.json`` (a JSON list of directory
    names, parsed with an allow-list), and Theano's refresh unpickles only
    their key files; the others are left as Theano leaves a key file it
    cannot read yet. At the first key not found (a module to compile, or
    one only another program used), every refresh of that process is
    Theano's own again, so a module is never compiled twice. Expired
    modules are still found and deleted (their age is checked before their
    key would be read).

:func:`install` applies them once Theano is imported (Theano itself is
imported only inside the functions, never when this module loads).
"""
import contextlib
import functools
import os
import sys
import tempfile
import threading

#: At most this many compilers at once (fix 7): each takes 0.1-0.3 GB.
MAX_COMPILERS = 8
#: The lines every module Theano generates begins with (fix 7 precompiles
#: them): forcing them in first changes nothing, as the module includes the
#: same headers, in the same order, before anything else.
MODULE_HEADERS = ('#include <Python.h>\n#include <iostream>\n'
                  '#include "theano_mod_helper.h"\n#include <math.h>\n'
                  '#include <numpy/arrayobject.h>\n'
                  '#include <numpy/arrayscalars.h>\n')

_header_lock = threading.Lock()
#: Fix 7's modules: compiled in parallel ("built"), then taken by Theano
#: ("used"); read by the tests.
build_counts = {"built": 0, "used": 0}
_failed_headers = set()  # precompiled-header directories that failed


def install():
    """Apply fixes 5, 6, 7, 15 and 17 to the imported Theano."""
    _quiet_get_vector_length()
    _stable_cop_versions()
    _version_modules_of_propless_ops()
    _compile_modules_in_parallel()
    _remember_march_checks()
    _load_recorded_keys_first()


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


#: Fix 15's record: at most this many passed checks are kept.
MARCH_RECORDS = 32


def _processor():
    """The processor's model and feature flags (``/proc/cpuinfo``), or
    ``None`` where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as info:
            lines = [line.strip() for line in info
                     if line.startswith(("model name", "flags"))]
    except OSError:
        return None
    return "\n".join(sorted(set(lines))) or None


def march_record():
    """Where fix 15 remembers the -march checks that passed."""
    import theano
    return os.path.join(theano.config.compiledir, "lasagne_style_march.json")


def _read_record(path, pattern):
    """The strings in one of our records: an empty list for a missing file
    or one that is not a JSON list of strings matching ``pattern`` whole (an
    untrusted file: nothing else is read from it)."""
    import json
    import re
    try:
        with open(path) as record:
            items = json.load(record)
    except (OSError, ValueError):
        return []
    if not isinstance(items, list) or not all(
            isinstance(item, str) and re.fullmatch(pattern, item)
            for item in items):
        return []
    return items


def _write_record(path, items):
    """Replace a record at once (no reader sees half of it); a cache that
    cannot be written only costs what the record would have saved."""
    import json
    partial = "%s.%d" % (path, os.getpid())
    try:
        with open(partial, "w") as record:
            json.dump(items, record)
        os.replace(partial, path)
    except OSError:
        pass


def _remember_march_checks():
    import hashlib

    from theano.gof import cmodule
    original = cmodule.try_march_flag

    def try_march_flag(flags):
        processor = _processor()
        if processor is None:
            return original(flags)
        digest = hashlib.sha256("\0".join(
            [cmodule.theano.config.cxx, cmodule.gcc_version_str, processor]
            + list(flags)).encode("utf-8")).hexdigest()
        path = march_record()
        passed = _read_record(path, "[0-9a-f]{64}")
        if digest in passed:
            return True, True
        result = original(flags)
        if tuple(result) == (True, True):
            _write_record(path, (passed + [digest])[-MARCH_RECORDS:])
        return result

    cmodule.try_march_flag = try_march_flag


#: Fix 17's record: at most this many cache directories are kept.
MODULE_RECORDS = 4096
#: What a cache directory's name may be in fix 17's record (Theano names
#: them with ``tempfile.mkdtemp``).
MODULE_DIRECTORY = "[A-Za-z0-9_]{1,64}"


def module_record(compiledir):
    """Where fix 17 remembers the cache directories of the modules our
    objective used."""
    return os.path.join(compiledir, "lasagne_style_modules.json")


class DeferredKey(Exception):
    """A key file fix 17 leaves for later: Theano's refresh passes over a
    key file it cannot unpickle and tries it again at its next refresh."""


class _RecordedKeysOnly:
    """Stands for ``pickle`` in Theano's ``cmodule`` while fix 17's refresh
    runs: on the refreshing thread, key files outside the recorded
    directories raise :class:`DeferredKey` instead of being unpickled;
    anything else is ``pickle``'s own."""

    def __init__(self, pickle, recorded):
        self.pickle = pickle
        self.recorded = recorded
        self.thread = threading.get_ident()

    def load(self, file, *args, **kwargs):
        folder = os.path.basename(os.path.dirname(getattr(file, "name", "")))
        if (threading.get_ident() == self.thread
                and folder not in self.recorded):
            raise DeferredKey(folder)
        return self.pickle.load(file, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.pickle, name)


#: The module files fix 17's :func:`remembered_modules` saw used, per
#: cache directory; ``None`` outside it.
_remembering = {"used": None}


@contextlib.contextmanager
def remembered_modules():
    """Fix 17: the C modules Theano uses while this context is open are
    added to the record that tells later processes which key files to read
    at their first compile (for the objective's graph: what a warm start
    compiles)."""
    outer = _remembering["used"]
    if outer is None:
        _remembering["used"] = set()
    try:
        yield
    finally:
        if outer is None:
            used, _remembering["used"] = _remembering["used"], None
            _add_to_module_records(used)


def _add_to_module_records(used):
    """Add the directories of ``used``, (compiledir, module file) pairs, to
    each compiledir's record; the record's directories that are gone are
    dropped, and the file is only written when something is new."""
    import re
    names = {}
    for compiledir, path in used:
        folder = os.path.dirname(path)
        if (os.path.dirname(folder) == compiledir and re.fullmatch(
                MODULE_DIRECTORY, os.path.basename(folder))):
            names.setdefault(compiledir, set()).add(os.path.basename(folder))
    for compiledir, new in names.items():
        path = module_record(compiledir)
        recorded = _read_record(path, MODULE_DIRECTORY)
        if new <= set(recorded):
            continue
        kept = [name for name in recorded if name not in new
                and os.path.isdir(os.path.join(compiledir, name))]
        _write_record(path, (kept + sorted(new))[-MODULE_RECORDS:])


def _load_recorded_keys_first():
    from theano.gof import cmodule
    cache = cmodule.ModuleCache
    refresh, module_from_key = cache.refresh, cache.module_from_key

    def refresh_recorded(self, age_thresh_use=None, delete_if_problem=False,
                         cleanup=True):
        args = self, age_thresh_use, delete_if_problem, cleanup
        if (delete_if_problem or getattr(self, "refresh_all", False)
                or isinstance(cmodule.pickle, _RecordedKeysOnly)):
            return refresh(*args)
        pickle = cmodule.pickle
        cmodule.pickle = _RecordedKeysOnly(pickle, set(_read_record(
            module_record(self.dirname), MODULE_DIRECTORY)))
        try:
            return refresh(*args)
        finally:
            cmodule.pickle = pickle

    def module_from_recorded_key(self, key, lnk=None, keep_lock=False):
        if key[0] and key not in self.entry_from_key:
            self.refresh_all = True  # it may be among the deferred keys
        module = module_from_key(self, key, lnk, keep_lock)
        if _remembering["used"] is not None:
            _remembering["used"].add((self.dirname, module.__file__))
        return module

    cache.refresh = refresh_recorded
    cache.module_from_key = module_from_recorded_key
