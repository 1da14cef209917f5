"""Old Theano settings, from ``THEANO_FLAGS`` or a ``.theanorc``.

* **GPU devices.** ``device=gpu``/``gpu0`` (Theano's old CUDA back-end,
  removed in 1.0: ``ValueError`` on import), ``cuda*``/``opencl*`` (the new
  back-end, which needs pygpu, not on PyPI) and the same in
  ``init_gpu_device`` and ``contexts`` become the CPU, with one line on
  stderr. The old back-end's own flags (``lib.cnmem``, ``nvcc.*``), which
  Theano 1.0 warns it does not know, are dropped with them.
* **Compiler flags.** A user's ``gcc.cxxflags`` (``-march=native`` is in
  many old ``.theanorc`` files) is appended to ours instead of replacing the
  macros that rename the BLAS symbols (which gave ``undefined symbol:
  dgemm_``).
* **BLAS.** A user's ``blas.ldflags`` is kept when every library it names
  can be found; then our symbol renames are left out, since they would
  point Theano at symbols that library does not have. One naming a library
  that is not here (an old ``-lopenblas``, ``-lmkl_rt``) is replaced by
  ours, with one line on stderr.

Flags set in ``THEANO_FLAGS`` win over a ``.theanorc``, as in Theano.
"""
import configparser
import ctypes.util
import os
import shlex

GPU_KEYS = ("device", "init_gpu_device", "contexts")
#: Flags of the old GPU back-end that Theano 1.0 does not know.
OLD_GPU_PREFIXES = ("lib.cnmem", "nvcc.")


def parse(flags):
    """``THEANO_FLAGS`` as Theano reads it: a dict, a later key winning."""
    splitter = shlex.shlex(flags or "", posix=True)
    splitter.whitespace = ","
    splitter.whitespace_split = True
    result = {}
    for pair in splitter:
        key, equals, value = pair.strip().partition("=")
        if equals:
            result[key] = value
    return result


def theanorc_files(environ=None):
    """The configuration files Theano reads (``$THEANORC`` or
    ``~/.theanorc``)."""
    environ = os.environ if environ is None else environ
    return [os.path.expanduser(name) for name in
            environ.get("THEANORC", "~/.theanorc").split(os.pathsep)]


def read_theanorc(files=None):
    """Flags of the ``.theanorc`` files: ``[global]`` keys bare, others as
    ``section.key``, in lower case (as configparser, Theano's reader, gives
    them). Unreadable files give nothing (Theano reports them)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(theanorc_files() if files is None else files)
    except (configparser.Error, UnicodeDecodeError, OSError):
        return {}
    result = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            result[key if section == "global" else
                   "%s.%s" % (section, key)] = value
    return result


def gpu_value(key, value):
    """Whether ``value`` of flag ``key`` asks for a GPU."""
    value = value.strip().lower()
    if key == "contexts":
        return bool(value)
    return value.startswith(("gpu", "cuda", "opencl"))


def library_found(ldflags):
    """Whether every library ``ldflags`` names (``-lNAME``, or a path) is on
    this machine, in its ``-L`` directories or where the linker looks."""
    words = shlex.split(ldflags)
    dirs = [w[2:] for w in words if w.startswith("-L") and len(w) > 2]
    for word in words:
        if word.startswith("-l") and len(word) > 2:
            name = word[2:]
            if not any(os.path.exists(os.path.join(d, "lib%s%s" % (name, e)))
                       for d in dirs for e in (".so", ".a", ".dylib")) \
                    and ctypes.util.find_library(name) is None:
                return False
        elif word.endswith((".so", ".a", ".dylib")) or ".so." in word:
            if not word.startswith("-") and not os.path.exists(word):
                return False
    return True


def plan(user, rc, our_blas):
    """What to add after the user's flags, and what to tell them.

    ``user``: the parsed ``THEANO_FLAGS``; ``rc``: the ``.theanorc`` flags;
    ``our_blas``: our ``{'blas.ldflags', 'gcc.cxxflags'}`` or None. Returns
    ``(ours, after, notices)``: BLAS flags that go before the user's
    (possibly empty), flags that must override the user's, and one-line
    notices."""
    def value(key):
        return user[key] if key in user else rc.get(key)

    after, notices, ours = {}, [], {}
    gpu = [(key, value(key)) for key in GPU_KEYS
           if value(key) is not None and gpu_value(key, value(key))]
    if gpu:
        after.update(device="cpu", init_gpu_device="", contexts="")
        notices.append("lasagne_style: no GPU back-end here (%s): Theano runs "
                       "on the CPU" % ", ".join("%s=%s" % kv for kv in gpu))
        for key in user:
            if key.startswith(OLD_GPU_PREFIXES):
                after[key] = None  # removed from the string
    ldflags = value("blas.ldflags")
    if our_blas is None:
        if ldflags is None:
            ours["blas.ldflags"] = ""  # skips the numpy.distutils probe
        return ours, after, notices
    if ldflags is not None and library_found(ldflags):
        return ours, after, notices  # the user's BLAS, without our renames
    if ldflags is not None:
        notices.append("lasagne_style: blas.ldflags=%s names a library that "
                       "is not here: using scipy-openblas32 instead" %
                       ldflags.strip())
        after["blas.ldflags"] = our_blas["blas.ldflags"]
    ours["blas.ldflags"] = our_blas["blas.ldflags"]
    cxxflags = value("gcc.cxxflags")
    if cxxflags and cxxflags.strip():
        after["gcc.cxxflags"] = "%s %s" % (our_blas["gcc.cxxflags"],
                                           cxxflags.strip())
    else:
        ours["gcc.cxxflags"] = our_blas["gcc.cxxflags"]
    return ours, after, notices


def drop(flags, keys):
    """``flags`` (a ``THEANO_FLAGS`` string) without the pairs whose key is in
    ``keys``; unchanged when there are none."""
    if not keys:
        return flags
    splitter = shlex.shlex(flags, posix=True)
    splitter.whitespace = ","
    splitter.whitespace_split = True
    kept = [pair for pair in splitter
            if pair.strip().partition("=")[0] not in keys]
    return ",".join(quote(*pair.split("=", 1)) if "=" in pair else pair
                    for pair in kept)


def quote(key, value):
    """One ``key=value`` pair, quoted for Theano's POSIX shlex."""
    return '%s="%s"' % (key, value.replace("\\", "\\\\").replace('"', '\\"'))
