"""lasagne_style: Gatys et al.'s neural style transfer and texture synthesis
on Theano + Lasagne.

Importing the package installs the Theano/Lasagne compatibility fixes
(:mod:`lasagne_style.compat`): they are applied the moment anything imports
``theano`` or ``lasagne``, so any module may come first and the CLI's
argument checks do not pay for Theano's start-up. The API functions are
imported lazily for the same reason. Before anything else, it sets how idle
OpenMP and OpenBLAS threads wait (:mod:`lasagne_style.threads`).
"""
from . import threads

threads.set_idle_defaults()  # before any library reads them

from . import compat  # noqa: E402
from .errors import UserError  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ["stylize", "synthesize", "score", "UserError", "__version__"]

compat.install_import_hook()


def __getattr__(name):
    if name in ("stylize", "synthesize", "score"):
        from . import api
        return getattr(api, name)
    raise AttributeError("module 'lasagne_style' has no attribute %r" % name)
