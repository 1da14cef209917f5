"""Lasagne 0.2's names on PyPI's Lasagne 0.1 (issue 30, item 9).

From late 2015 on, Lasagne's documentation told users to install Lasagne
from its master branch ("0.2.dev1"), and code written from 2016 to 2018 uses
names that Lasagne 0.1, the only Lasagne on PyPI, does not have. Lasagne 0.2
was never released, so the names are written here: our own implementations
of the API of Lasagne's master branch (its documentation and source were
read for the semantics; nothing is copied from them). :func:`apply` puts
each name where 0.2 code imports it from -- ``lasagne.layers`` and the
submodule that defines it in Lasagne 0.2 (``lasagne.layers.conv``,
``lasagne.layers.special``, ...) -- right after Lasagne is imported
(:mod:`lasagne_style.compat` calls it with fixes 8 and 9).

One module per family; each one's docstring lists what it provides:

- :mod:`.parameters`: a Theano *expression* as a layer parameter
  (``W=l1.W.T``, tied weights) and ``Layer.get_params(unwrap_shared=True)``
  returning the shared variables inside such expressions;
  ``utils.collect_shared_vars``, ``utils.int_types``,
  ``utils.inspect_kwargs``;
- :mod:`.functions`: ``nonlinearities`` (``elu``, ``selu``/``SELU``,
  ``softplus``, ``ScaledTanH``), ``objectives`` (``categorical_accuracy``,
  ``binary_accuracy``, ``binary_hinge_loss``, ``multiclass_hinge_loss``,
  ``huber_loss``, ``align_targets``), ``updates`` (``adamax``,
  ``amsgrad``);
- :mod:`.special`: ``lasagne.layers.special`` (``BiasLayer``,
  ``ScaleLayer``, ``standardize``, ``ExpressionLayer``, ``InverseLayer``,
  ``TransformerLayer``, ``prelu``, ``rrelu``...);
- :mod:`.normalization`, :mod:`.conv`, :mod:`.pool`: 0.2's additions to
  those ``lasagne.layers`` modules (``BatchNormLayer``/``batch_norm``,
  ``instance_norm``, ``layer_norm``; ``TransposedConv2DLayer``,
  ``DilatedConv2DLayer``, ``Conv3DLayer``...; ``Pool1DLayer``,
  ``Upscale2DLayer``, ``SpatialPyramidPoolingLayer``...);
- :mod:`.extended`: the options 0.2 added to 0.1's classes, in place and
  with 0.1's behaviour when not given (``only_return_final`` of the
  recurrent layers, ``DenseLayer(num_leading_axes=)``,
  ``DropoutLayer(shared_axes=)``, ``Conv1DLayer(flip_filters=)``,
  ``cropping=`` of the merge layers), and ``dropout_channels``,
  ``dropout_locations``, ``autocrop``...;
- :mod:`._util`: the helpers they share.

The layers are defined inside functions that receive the imported
``lasagne`` (Lasagne is imported first); :func:`apply` calls them and puts
every name in place.

Not provided: ``TPSTransformerLayer``, ``LocallyConnected2DLayer``,
``AlphaDropoutLayer``, 3-D pooling, ``Conv2DLayer(num_groups=...)`` and
cuDNN's ``BatchNormDNNLayer``/``batch_norm_dnn``/``Conv3DDNNLayer``; see
docs/legacy.md.
"""
import sys
import types

from ._util import int_types
from .conv import _conv_layers, conv_input_length
from .extended import (FlippedConvolution, _extend_conv1d, _extend_dense,
                       _extend_dropout, _extend_merge, _extend_recurrent,
                       autocrop, autocrop_array_shapes)
from .functions import (SELU, ScaledTanh, ScaledTanH, adamax,
                        align_targets, amsgrad, binary_accuracy,
                        binary_hinge_loss, categorical_accuracy, elu,
                        huber_loss, multiclass_hinge_loss, selu, softplus)
from .normalization import _normalization_layers
from .parameters import _extend_parameters, collect_shared_vars, \
    inspect_kwargs
from .pool import _pool_layers
from .special import _special_layers, affine_sample

# the public names of lasagne02.py, the one module this package was split
# from (a Conv1DLayer(flip_filters=False) pickled then names
# FlippedConvolution here)
__all__ = ["apply", "provided", "int_types", "collect_shared_vars",
           "inspect_kwargs", "elu", "SELU", "selu", "ScaledTanH",
           "ScaledTanh", "softplus", "align_targets", "categorical_accuracy",
           "binary_accuracy", "binary_hinge_loss", "multiclass_hinge_loss",
           "huber_loss", "adamax", "amsgrad", "affine_sample",
           "conv_input_length", "FlippedConvolution", "autocrop",
           "autocrop_array_shapes"]


def _publish(module, names):
    """Put ``names`` in ``module`` (and its ``__all__``, for ``import
    *``), leaving any name the module already has alone."""
    exported = getattr(module, "__all__", None)
    for name, obj in names.items():
        if hasattr(module, name):
            continue
        setattr(module, name, obj)
        if exported is not None and name not in exported:
            exported.append(name)


def _special_module(lasagne):
    """``lasagne.layers.special``, a module Lasagne 0.1 does not have."""
    name = "lasagne.layers.special"
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name, "Lasagne 0.2's special layers, "
                                  "written for Lasagne 0.1 by "
                                  "lasagne_style.compat.lasagne02.")
        module.__all__ = []
        sys.modules[name] = module
        lasagne.layers.special = module
    return module


#: Set by :func:`apply`: the names it added, by module.
provided = {}


def apply():
    """Add Lasagne 0.2's names to the imported Lasagne 0.1 (idempotent)."""
    import lasagne
    import lasagne.layers
    if provided:
        return provided
    layers = lasagne.layers
    _extend_parameters(lasagne)
    added = {
        lasagne.utils: {"collect_shared_vars": collect_shared_vars,
                        "inspect_kwargs": inspect_kwargs,
                        "int_types": int_types},
        lasagne.nonlinearities: {"elu": elu, "SELU": SELU, "selu": selu,
                                 "ScaledTanH": ScaledTanH,
                                 "ScaledTanh": ScaledTanh,
                                 "softplus": softplus},
        lasagne.objectives: {
            "align_targets": align_targets,
            "categorical_accuracy": categorical_accuracy,
            "binary_accuracy": binary_accuracy,
            "binary_hinge_loss": binary_hinge_loss,
            "multiclass_hinge_loss": multiclass_hinge_loss,
            "huber_loss": huber_loss},
        lasagne.updates: {"adamax": adamax, "amsgrad": amsgrad},
    }
    special = _special_layers(lasagne)
    per_module = [
        (_special_module(lasagne), special),
        (layers.normalization, _normalization_layers(lasagne, special)),
        (layers.conv, _conv_layers(lasagne)),
        (layers.pool, _pool_layers(lasagne)),
        (layers.noise, _extend_dropout(lasagne)),
        (layers.merge, _extend_merge(lasagne)),
    ]
    _extend_conv1d(lasagne)
    _extend_dense(lasagne)
    _extend_recurrent(lasagne)
    for module, names in added.items():
        _publish(module, names)
    for module, names in per_module:
        _publish(module, names)
        # and in lasagne.layers, where 0.2 code mostly takes them from
        # (conv_input_length stays in conv, as conv_output_length does)
        _publish(layers, {k: v for k, v in names.items()
                          if k != "conv_input_length"})
    for module, names in added.items():
        provided[module.__name__] = sorted(names)
    for module, names in per_module:
        provided.setdefault(module.__name__, []).extend(sorted(names))
    return provided
