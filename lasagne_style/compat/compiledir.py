"""Fix 2, Theano's compile cache in a usable directory.

When ``~/.theano`` cannot be created or written (a read-only HOME, a HOME
that is a file), Theano fails with a long traceback; we move its cache to the
temporary directory (``theano-cache-<uid>``) and say so in a warning. A
``compiledir`` or ``base_compiledir`` the user chose is left alone.
"""
import os
import tempfile
import warnings


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

