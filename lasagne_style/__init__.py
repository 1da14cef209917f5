"""lasagne_style: Gatys et al.'s neural style transfer and texture synthesis
on Theano + Lasagne.

Importing the package installs the Theano/Lasagne compatibility fixes
(:mod:`lasagne_style.compat`): they are applied the moment anything imports
``theano`` or ``lasagne``, so any module may come first and the CLI's
argument checks do not pay for Theano's start-up. The API functions are
imported lazily for the same reason.
"""
from . import compat
from .errors import UserError
from .version import __version__

__all__ = ["stylize", "synthesize", "score", "UserError", "__version__"]

compat.install_import_hook()


def __getattr__(name):
    if name in ("stylize", "synthesize", "score"):
        from . import api
        return getattr(api, name)
    raise AttributeError("module 'lasagne_style' has no attribute %r" % name)
