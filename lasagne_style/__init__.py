"""lasagne_style: Gatys et al.'s neural style transfer and texture synthesis
on Theano + Lasagne.

Importing the package applies the Theano/Lasagne compatibility fixes
(:mod:`lasagne_style.compat`) before Theano is loaded; the API functions are
imported lazily so that ``lasagne_style.weights`` and the CLI's argument
checks do not pay for Theano's start-up.
"""
__version__ = "0.1.0"

__all__ = ["stylize", "synthesize", "score", "UserError", "__version__"]

from .errors import UserError  # noqa: E402


def __getattr__(name):
    if name in ("stylize", "synthesize", "score"):
        from . import api
        return getattr(api, name)
    raise AttributeError("module 'lasagne_style' has no attribute %r" % name)
