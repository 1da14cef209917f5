"""Fix 16, the scipy modules Theano imports for Python fallbacks, loaded
when first used.

When Theano loads, ``theano.scalar.basic_scipy`` imports ``scipy.stats``
(for the Python code of one op, ``Chi2SF``) and the convolution modules
import private names of ``scipy.signal`` (for the ``perform`` of their
Python convolutions), which loads ``scipy.signal`` with ``scipy.stats``,
``interpolate`` and ``fft``: 0.2-0.3 s of every start, for code a run of
ours never calls. While Theano loads, the import hook
(:class:`lasagne_style.compat.ImportHook`)

- answers ``import scipy.stats`` with a module that loads itself on its
  first attribute access (``importlib.util.LazyLoader``, the standard
  library's recipe; an ``import scipy.stats`` anywhere else loads it at
  once, as Python 3.11 reads the module's ``__spec__`` on every import
  statement);
- refuses ``scipy.signal`` (Theano catches the ImportError); fix 3
  (:func:`.theano_api.restore_scipy_signal_names`) then gives the
  convolution modules the names as functions that import scipy's on their
  first call (:func:`on_first_call`).

Code that uses these modules sees no difference. Nothing changes when they
are already loaded, or when scipy is not installed.
"""
import importlib
import importlib.machinery
import importlib.util

#: Loaded lazily while Theano loads.
LAZY = "scipy.stats"
#: Refused while Theano loads (its importers catch the ImportError).
REFUSED = "scipy.signal"


def lazy_spec(name, path):
    """The spec the path finder gives ``name``, with a loader that defers
    executing the module to its first attribute access; None if not
    found."""
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None:
        return None
    spec.loader = importlib.util.LazyLoader(spec.loader)
    return spec


def on_first_call(module, name):
    """A function that imports ``module`` when first called and calls its
    ``name``."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args,
                                                              **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = "%s.%s, imported when first called." % (module, name)
    return call
