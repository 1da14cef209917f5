"""Custom Theano ops: the network's 3x3 convolutions and 2x2 pooling in C.

Theano 1.0's CPU convolution (CorrMM: im2col + gemm) and its generic
pooling ops were most of an evaluation's time; these ops compute the same
layers faster and with less memory, as plain Theano ops with C code and a
numpy ``perform`` where C is not available (other dtypes, no compiler):

- :mod:`.winograd`: Winograd's F(m x m, 3x3) convolution, fused per block
  of tiles (the default layer of :mod:`lasagne_style.vgg`) or as separate
  transform ops around one batched product;
- :mod:`.winograd_reference`: the numpy side of it, Theano-free: the
  transform matrices, the filter transform, the unfused transforms and a
  float64 reference of the fused op;
- :mod:`.pooling`: VGG's 2x2 average pooling and its gradient;
- :mod:`.gram`: the style statistics' Gram matrices and their gradient;
- :mod:`.c_sources`: reads the C code, which lives in ``c/*.c`` beside
  these modules, and the output-buffer snippet the ops share.

Every op splits its work the same way on any thread count, so results are
the same bytes on 1 or 2 threads (``tests/test_reproducibility.py``).
"""
