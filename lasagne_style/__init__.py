"""lasagne_style: Gatys et al.'s neural style transfer and texture synthesis
on Theano + Lasagne.

Importing the package installs the Theano/Lasagne compatibility fixes
(:mod:`lasagne_style.compat`): they are applied the moment anything imports
``theano`` or ``lasagne``, so any module may come first and the CLI's
argument checks do not pay for Theano's start-up. The API functions are
imported lazily for the same reason. Before anything else, it sets how idle
OpenMP and OpenBLAS threads wait (:mod:`lasagne_style.threads`), except when
the start-up file imports it: those settings are for our own runs, not for
every Python program of the environment (:mod:`.cli` and :mod:`.api` set
them when they are imported).
"""
import os

from . import threads

# Before any library reads them; not for every program of the environment
# when the start-up .pth file imports us (the CLI and api set them).
if not os.environ.get("_LASAGNE_STYLE_AT_STARTUP"):
    threads.set_env_defaults()

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
