"""Deprecated: the Winograd convolution moved to
:mod:`lasagne_style.ops.winograd` (the Theano ops and the layer) and
:mod:`lasagne_style.ops.winograd_reference` (the numpy side). This module
re-exports their public names and will be removed. Its ``FUSED``,
``BLOCK_BYTES`` and ``MIN_TILES`` are copies: set them on
:mod:`lasagne_style.ops.winograd`. Since 2026-12-06 :class:`FusedCorrelation`
takes its filters as :func:`kernel_filters` gives them (same shape as
:func:`transform_filters_m`, another order)."""
import warnings

from .ops.winograd import (A_T, A_T4, B_T, B_T4, BLOCK_BYTES,  # noqa: F401
                           FUSED, G, G4, MIN_TILES, TRANSFORMS,
                           FusedCorrelation, FusedCorrelationGrad,
                           InputTransform, InputTransformAdjoint,
                           OutputTransform, OutputTransformAdjoint,
                           WinogradConv3x3Layer, adjoint_filters,
                           correlate3x3, correlate3x3_same, input_transform,
                           input_transform_adjoint, kernel_filters,
                           natural_filters, output_transform,
                           output_transform_adjoint, transform_filters,
                           transform_filters_m, winograd_correlate)

warnings.warn("lasagne_style.winograd moved to lasagne_style.ops.winograd",
              DeprecationWarning, stacklevel=2)
