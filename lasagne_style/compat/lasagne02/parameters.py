"""Lasagne 0.2's parameters: a Theano *expression* as a layer parameter
(``W=l1.W.T``, tied weights), ``Layer.get_params(unwrap_shared=True)``
returning the shared variables inside such expressions, and 0.2's
``lasagne.utils`` additions ``collect_shared_vars``, ``inspect_kwargs``
and ``int_types``."""
import functools
import inspect

import theano

from ._util import int_types


def collect_shared_vars(expressions):
    """The shared variables a Theano expression (or a list of them) depends
    on, each once, in order of first appearance (Lasagne 0.2's
    ``utils.collect_shared_vars``)."""
    if isinstance(expressions, theano.Variable):
        expressions = [expressions]
    found = []
    for expression in expressions:
        for var in theano.gof.graph.inputs([expression]):
            if isinstance(var, theano.compile.SharedVariable) and \
                    not any(var is seen for seen in found):
                found.append(var)
    return found


def inspect_kwargs(func):
    """The names of the arguments of ``func`` that have a default value
    (Lasagne 0.2's ``utils.inspect_kwargs``)."""
    return [name for name, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty and
            p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _extend_parameters(lasagne):
    """Lasagne 0.2 accepts a Theano expression where a parameter is
    expected (``DenseLayer(l, 10, W=encoder.W.T)``: weights tied to another
    layer's); 0.1's ``create_param`` refuses it. ``get_params`` then lists
    the shared variables the expressions depend on (``unwrap_shared=True``,
    the default), so that updates and ``get_all_param_values`` see those."""
    utils, base = lasagne.utils, lasagne.layers.base
    if getattr(utils.create_param, "_lasagne02", False):
        return
    original_create = utils.create_param

    @functools.wraps(original_create)
    def create_param(spec, shape, name=None):
        if isinstance(spec, theano.Variable) and \
                not isinstance(spec, theano.compile.SharedVariable):
            # an expression: only its number of dimensions can be checked
            if spec.ndim != len(shape):
                raise RuntimeError("parameter variable has %d dimensions, "
                                   "should be %d" % (spec.ndim, len(shape)))
            return spec
        return original_create(spec, shape, name)

    create_param._lasagne02 = True
    utils.create_param = create_param
    original_get_params = base.Layer.get_params

    @functools.wraps(original_get_params)
    def get_params(self, unwrap_shared=True, **tags):
        params = original_get_params(self, **tags)
        if unwrap_shared:
            return collect_shared_vars(params)
        return params

    base.Layer.get_params = get_params
    utils.collect_shared_vars = collect_shared_vars
    utils.inspect_kwargs = inspect_kwargs
    utils.int_types = int_types
