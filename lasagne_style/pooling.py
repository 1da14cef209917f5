"""Deprecated: the 2x2 average pooling ops moved to
:mod:`lasagne_style.ops.pooling`. This module re-exports their public names
and will be removed."""
import warnings

from .ops.pooling import (AveragePool2x2, AveragePool2x2Grad,  # noqa: F401
                          AveragePool2x2Layer, average_pool_2x2)

warnings.warn("lasagne_style.pooling moved to lasagne_style.ops.pooling",
              DeprecationWarning, stacklevel=2)
