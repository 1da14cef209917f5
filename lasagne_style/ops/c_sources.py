"""The ops' C code, read from ``c/*.c`` beside this module.

A source file is cut into named sections by marker lines::

    /* @section name */

Each section runs from its marker to the next one (or to the end of the
file), without the blank lines around it; text before the first marker is
the file's own commentary and is never emitted. A section is either
literal C or a Python %-template, which the op fills with
``section % dict(...)``: ``%(name)s`` is Theano's variable or a generated
fragment, ``%%`` a literal ``%``. The files say which of their sections
are templates; they are not compiled on their own.

The files are package data (``setup.py``); a missing one raises
:class:`MissingCSource` naming it, when the op's module is imported.

:class:`BlasOpenMP` gives the ops that call the BLAS from OpenMP threads
their compile and link flags.
"""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
#: Where the ``.c`` files are.
C_DIR = os.path.join(HERE, "c")

_MARKER = re.compile(r"^/\* @section (\w+) \*/[ \t]*$", re.M)


class MissingCSource(ImportError):
    """A C source file or section the ops need is not there."""


def sections(filename, names=(), directory=C_DIR):
    """The sections of ``directory/filename``: a dict name -> text, which
    must hold ``names``."""
    path = os.path.join(directory, filename)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise MissingCSource(
            "lasagne_style.ops: C source %s is missing; the package was "
            "installed without its package data (reinstall it with pip, "
            "from a checkout or a wheel)" % path) from None
    found = {}
    markers = list(_MARKER.finditer(text))
    for marker, following in zip(markers, markers[1:] + [None]):
        end = following.start() if following else len(text)
        body = text[marker.end():end].strip("\n")
        if marker.group(1) in found:
            raise ValueError("%s: section %s twice" % (path, marker.group(1)))
        found[marker.group(1)] = body + "\n"
    missing = [name for name in names if name not in found]
    if missing:
        raise MissingCSource("%s has no section %s"
                             % (path, ", ".join(missing)))
    return found


_COMMON = sections("common.c", ("reuse_output", "op_threads"))
#: C support code: ``op_threads()``, the threads of our OpenMP ops (the
#: same rule for all of them).
OP_THREADS = _COMMON["op_threads"]


def reuse_output(z, dims, nd, fail, zero_new=False, zero_reused=False):
    """C: make ``z`` a C-contiguous float32 array of shape ``dims`` (a C
    array of ``nd`` npy_intp), reusing the previous call's when it has that
    shape (no fresh pages to fault in) and zeroing it then if
    ``zero_reused``; a new one holds zeros if ``zero_new``. ``fail``: C
    that releases what the op holds and jumps to Theano's failure."""
    return _COMMON["reuse_output"] % dict(
        z=z, dims=dims, nd=nd, fail=fail,
        new="ZEROS" if zero_new else "EMPTY", zero_reused=int(zero_reused))


class BlasOpenMP:
    """Mixin of a C op that calls the BLAS Theano links (``blas.ldflags``)
    from OpenMP threads: its libraries, directories and flags, and
    ``-fopenmp``."""

    @staticmethod
    def _ldflags(**kwargs):
        from theano.tensor.blas import ldflags
        return ldflags(**kwargs)

    def c_libraries(self):
        return self._ldflags()

    def c_lib_dirs(self):
        return self._ldflags(libs=False, libs_dir=True)

    def c_header_dirs(self):
        return self._ldflags(libs=False, include_dir=True)

    def c_compile_args(self):
        return self._ldflags(libs=False, flags=True) + ["-fopenmp"]
