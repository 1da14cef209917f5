"""What the modules of :mod:`lasagne_style.compat.lasagne02` share: what
counts as an integer, argument checks, the shapes of per-feature
parameters, taking a layer's nonlinearity, and the names 0.2 code looks
classes up by."""
import numbers

import numpy as np

#: Lasagne 0.2's ``utils.int_types``: what counts as an integer argument.
int_types = (numbers.Integral, np.integer)


def _ints(value, n, what="value"):
    """``value`` (an int or n of them) as a tuple of n Python ints."""
    values = tuple(value) if isinstance(value, (tuple, list)) else \
        (value,) * n
    if len(values) != n or not all(isinstance(v, int_types)
                                   for v in values):
        raise TypeError("expected an int or %d ints for %s, got %r"
                        % (n, what, value))
    return tuple(int(v) for v in values)


def _param_shape(input_shape, shared, layer_name):
    shape = tuple(size for axis, size in enumerate(input_shape)
                  if axis not in shared)
    if any(size is None for size in shape):
        raise ValueError("%s needs known input sizes for every axis its "
                         "parameters are not shared over" % layer_name)
    return shape


def _broadcast_pattern(ndim, shared):
    """The dimshuffle pattern that puts a parameter of the unshared axes
    back among ``ndim`` axes (``'x'`` where shared)."""
    axes = iter(range(ndim - len(shared)))
    return ["x" if axis in shared else next(axes) for axis in range(ndim)]


def _steal_nonlinearity(layer, drop_bias):
    """Take ``layer``'s nonlinearity (and bias) away, as Lasagne 0.2's
    ``batch_norm``, ``prelu``... do; return the nonlinearity, or None."""
    from lasagne import nonlinearities
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = nonlinearities.identity
    if drop_bias and getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    return nonlinearity


def _named(obj, module, name=None):
    """Give a class or function the name and module 0.2 code (and pickle)
    looks it up by: those defined in a function would not pickle."""
    obj.__name__ = obj.__qualname__ = name or obj.__name__
    obj.__module__ = module
    return obj
