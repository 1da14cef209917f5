"""Names and behaviours of Theano 0.7-0.9 that Theano 1.0 removed or changed.

* **``theano.tensor.signal.downsample``** (removed in 0.9; Lasagne 0.1 and
  old scripts import it): ``max_pool_2d`` forwards to ``pool.pool_2d``;
  ``DownsampleFactorMax(ds, ignore_border, st, padding, mode)`` is an op
  applied to a tensor as before (with its static ``out_shape``);
  ``max_pool_2d_same_size`` and the gradient classes are Theano 1.0's.
* **scipy.signal's private names.** Theano's Python convolutions
  (``compute_test_value``, ``mode=FAST_COMPILE``, ``conv.conv2d``'s
  ``perform``) import ``scipy.signal.signaltools._valfrommode`` and
  ``sigtools._convolve2d``, which scipy 1.8 made private modules and 1.11 no
  longer forwards; Theano then refuses ("requires the python package for
  scipy.signal"). We give Theano's modules the names from scipy's new
  locations, imported when first called (fix 16 keeps scipy.signal from
  loading with Theano).
* **``OpFromGraph`` gradient overrides.** Code of Theano 0.7/0.8 (the 2015
  saliency-map recipe's guided backpropagation among it) overrides an
  ``OpFromGraph``'s gradient by assigning ``op.grad = f`` or by subclassing
  with a ``grad`` method; Theano 1.0 asks ``L_op`` instead and never calls
  it, so the override was silently ignored. An op that has a ``grad`` now
  gets its gradient from it, as in Theano 0.8.
"""
import sys
import types


def install_downsample_module():
    import theano.tensor.signal
    from theano.tensor.signal import pool

    def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0),
                    mode="max"):
        """Theano 0.8's ``max_pool_2d``: ``pool.pool_2d`` with its old
        argument names."""
        return pool.pool_2d(input, ws=ds, ignore_border=ignore_border,
                            stride=st, pad=padding, mode=mode)

    class DownsampleFactorMax:
        """Theano 0.8's pooling op, built from its old arguments; applied to
        a tensor it pools its two last axes (Theano 1.0's ``Pool``)."""

        def __init__(self, ds, ignore_border=False, st=None, padding=(0, 0),
                     mode="max"):
            self.ds, self.ignore_border = tuple(ds), ignore_border
            self.st = tuple(ds) if st is None else tuple(st)
            self.padding, self.mode = tuple(padding), mode

        def __call__(self, input):
            return max_pool_2d(input, self.ds, self.ignore_border, self.st,
                               self.padding, self.mode)

        @staticmethod
        def out_shape(imgshape, ds, ignore_border=False, st=None,
                      padding=(0, 0)):
            return pool.Pool.out_shape(imgshape, ws=ds,
                                       ignore_border=ignore_border,
                                       stride=st, pad=padding)

    module = types.ModuleType("theano.tensor.signal.downsample")
    module.__dict__.update(
        max_pool_2d=max_pool_2d, DownsampleFactorMax=DownsampleFactorMax,
        max_pool_2d_same_size=pool.max_pool_2d_same_size,
        PoolGrad=pool.PoolGrad, MaxPoolGrad=pool.MaxPoolGrad,
        AveragePoolGrad=pool.AveragePoolGrad,
        DownsampleFactorMaxGradGrad=pool.DownsampleFactorMaxGradGrad)
    module.__doc__ = ("Theano 0.8's downsample module, forwarding to "
                      "theano.tensor.signal.pool (lasagne_style.compat).")
    sys.modules[module.__name__] = module
    theano.tensor.signal.downsample = module


def restore_scipy_signal_names():
    """Give Theano's convolution modules the scipy names they failed to
    import, as functions that import scipy.signal when first called (fix
    16); True when they now have them."""
    import importlib.util

    from theano.tensor.nnet import abstract_conv, conv

    from .deferred import on_first_call
    try:
        if importlib.util.find_spec("scipy.signal") is None:
            return False
    except ImportError:
        return False
    tools = "scipy.signal._signaltools"
    names = dict(_valfrommode=on_first_call(tools, "_valfrommode"),
                 _bvalfromboundary=on_first_call(tools, "_bvalfromboundary"),
                 _convolve2d=on_first_call("scipy.signal._sigtools",
                                           "_convolve2d"))
    for module in (abstract_conv, conv):
        if not module.imported_scipy_signal:
            module.__dict__.update(names)
            module.imported_scipy_signal = True
    abstract_conv.__dict__.setdefault(
        "convolve", on_first_call("scipy.signal", "convolve"))
    return True


def honour_opfromgraph_grad():
    from theano.compile.builders import OpFromGraph
    original = OpFromGraph.L_op

    def L_op(self, inputs, outputs, output_grads):
        grad = getattr(self, "grad", None)  # Theano 1.0's class has none
        if grad is not None:
            return list(grad(list(inputs), list(output_grads)))
        return original(self, inputs, outputs, output_grads)

    L_op.__doc__ = original.__doc__
    OpFromGraph.L_op = L_op


def install():
    install_downsample_module()
    restore_scipy_signal_names()
    honour_opfromgraph_grad()
