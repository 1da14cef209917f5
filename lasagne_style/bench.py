"""Benchmark: seconds per loss-and-gradient evaluation, compile time, memory.

``python -m lasagne_style.bench [--sizes 256 512 1024] [--evals 5]`` (``make
bench``). Each measurement runs in a fresh subprocess so that peak memory
(``ru_maxrss``) belongs to that size and convolution alone and a "cold" compile
really starts from an empty Theano cache. Both CPU convolutions are timed
(Theano's CorrMM and our Winograd layers). If PyTorch is importable, the same
network and loss in PyTorch (CPU) is timed in the same run as a reference; it
is never a dependency of the package. ``--multiscale`` compares a
coarse-to-fine run with a single-scale run given the same time. Timings are
printed, never asserted.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time


def _worker(size, evals, compiledir, torch_reference, convolution):
    if compiledir:
        os.environ["THEANO_FLAGS"] = ",".join(
            filter(None, [os.environ.get("THEANO_FLAGS"),
                          "compiledir=" + compiledir]))
    import resource

    import numpy as np

    from . import api, images
    from .objective import preset

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    photo = images.load_image(os.path.join(root, "samples", "grace_hopper.jpg"))
    painting = images.load_image(os.path.join(root, "samples",
                                              "night_cafe.jpg"))
    shape = (size, size)
    content = images.preprocess(images.resize(photo, shape))
    style = images.preprocess(images.resize(painting, shape))
    config = preset("default")
    params = api.load_weights()
    t0 = time.perf_counter()
    keep_buffers = api.keep_buffers_for(shape, convolution)
    objective = api.objective_for(config, convolution=convolution,
                                  keep_buffers=keep_buffers)
    compile_s = time.perf_counter() - t0
    objective.set_targets(content.shape, content,
                          objective.style_target([style]))
    x = np.random.RandomState(0).uniform(-100, 100, content.shape).astype(
        np.float32)
    objective(x)  # first call allocates buffers
    t0 = time.perf_counter()
    for _ in range(evals):
        loss = objective(x)[0]
    out = dict(size=size, compile_s=compile_s, loss=loss,
               keep_buffers=keep_buffers,
               s_per_eval=(time.perf_counter() - t0) / evals,
               peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
               / 1024.0)
    if torch_reference:
        try:
            out.update(_torch_reference(params, config, content, style, x,
                                        evals))
        except ImportError:
            pass
    print(json.dumps(out))


def _torch_reference(params, config, content, style, x, evals):
    """The same objective in PyTorch, for a same-run speed comparison."""
    import torch
    import torch.nn.functional as F

    from .vgg import LAYERS
    torch.set_num_threads(os.cpu_count() or 1)
    weights = [(torch.from_numpy(W), torch.from_numpy(b)) for W, b in params]
    wanted = set(config.style_layers + config.content_layers)
    deepest = max(wanted, key=LAYERS.index)

    def features(img):
        out, k, h = {}, 0, img
        for name in LAYERS[:LAYERS.index(deepest) + 1]:
            if name.startswith("conv"):
                h = F.relu(F.conv2d(h, *weights[k], padding=1))
                k += 1
                if name in wanted:
                    out[name] = h
            else:
                h = F.avg_pool2d(h, 2)
        return out

    def grams(feats):
        return {n: (lambda f: f @ f.T)(feats[n].reshape(feats[n].shape[1], -1))
                for n in config.style_layers}

    with torch.no_grad():
        targets_c = features(torch.from_numpy(content))
        targets_s = grams(features(torch.from_numpy(style)))

    def loss_and_grad(xa):
        xt = torch.from_numpy(xa).requires_grad_(True)
        feats = features(xt)
        c = sum(0.5 * ((feats[n] - targets_c[n]) ** 2).sum() / feats[n].numel()
                for n in config.content_layers)
        s = 0
        for n in config.style_layers:
            f = feats[n]
            N, M = f.shape[1], f.shape[2] * f.shape[3]
            g = (lambda m: m @ m.T)(f.reshape(N, M))
            s = s + 0.25 * (((g - targets_s[n]) / (N * M)) ** 2).sum()
        dy = xt[:, :, 1:, :-1] - xt[:, :, :-1, :-1]
        dx = xt[:, :, :-1, 1:] - xt[:, :, :-1, :-1]
        tv = ((dx ** 2 + dy ** 2) ** 1.25).sum() / (xt.shape[2] * xt.shape[3])
        total = (config.content_weight * c + config.style_weight * s
                 + config.tv_weight * tv)
        total.backward()
        return float(total), xt.grad.numpy()

    loss_and_grad(x)
    t0 = time.perf_counter()
    for _ in range(evals):
        loss = loss_and_grad(x)[0]
    return dict(torch_s_per_eval=(time.perf_counter() - t0) / evals,
                torch_loss=loss, torch_version=torch.__version__)


def _measure(size, evals, cold, torch_reference, convolution):
    args = [sys.executable, "-m", "lasagne_style.bench", "--worker",
            "--sizes", str(size), "--evals", str(evals), "--convolution",
            convolution]
    with tempfile.TemporaryDirectory() as tmp:
        if cold:
            args += ["--compiledir", tmp]
        if torch_reference:
            args += ["--torch"]
        proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("benchmark worker failed:\n" + proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _multiscale(size, levels, iters):
    """Coarse-to-fine (``levels`` levels, ``iters`` evaluations each) against
    a single-scale run stopped after the same time; both from the same noise
    start, losses of the saved 8-bit images at the final size."""
    from . import api
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    content = os.path.join(root, "samples", "grace_hopper.jpg")
    style = os.path.join(root, "samples", "night_cafe.jpg")
    common = dict(size=size, seed=0, init="noise", convolution="winograd")
    api.stylize(content, style, iters=1, progress=False, **common)  # compile
    coarse = api.stylize(content, style, iters=iters, multiscale=levels,
                         progress=False, **common)

    def stop_at(seconds):
        def progress(n, total, loss, terms, seconds_per_eval):
            if n * seconds_per_eval >= seconds:
                raise KeyboardInterrupt  # minimize keeps the best image
        return progress
    single = api.stylize(content, style, iters=100000, progress=stop_at(
        coarse.seconds), **common)
    sizes = sorted({h["size"] for h in coarse.history})
    print("%d px transfer from noise, default preset:" % size)
    print("  coarse to fine, levels %s, %d evaluations each: %.0f s, "
          "loss %.5g" % ("/".join(map(str, sizes)), iters, coarse.seconds,
                         coarse.saved_loss))
    print("  single scale, %d evaluations in %.0f s: loss %.5g  (ratio "
          "coarse-to-fine / single %.2f)" % (
              single.evaluations, single.seconds, single.saved_loss,
              coarse.saved_loss / single.saved_loss))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[256, 512, 1024])
    parser.add_argument("--evals", type=int, default=5,
                        help="evaluations timed per size up to 512 (2 above)")
    parser.add_argument("--convolutions", nargs="+",
                        default=["corrmm", "winograd"])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--convolution", help=argparse.SUPPRESS)
    parser.add_argument("--compiledir", help=argparse.SUPPRESS)
    parser.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-cold", action="store_true",
                        help="skip the cold-compile measurement")
    parser.add_argument("--multiscale", nargs=3, type=int,
                        metavar=("SIZE", "LEVELS", "ITERS"),
                        help="only the coarse-to-fine comparison")
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.sizes[0], args.evals, args.compiledir, args.torch,
                       args.convolution)
    if args.multiscale:
        return _multiscale(*args.multiscale)

    print("lasagne_style benchmark: %s, %d CPUs, Python %s; "
          "OPENBLAS_CORETYPE=%s" % (platform.processor() or platform.machine(),
                                    os.cpu_count(), platform.python_version(),
                                    os.environ.get("OPENBLAS_CORETYPE", "-")))
    print("full style-transfer objective (content conv4_2, style conv1_1.."
          "conv5_1, tv), square images, forward + gradient w.r.t. pixels")
    if not args.no_cold:
        for convolution in args.convolutions:
            cold = _measure(min(args.sizes), 1, True, False, convolution)
            print("compile, cold cache, %s: %.1f s"
                  % (convolution, cold["compile_s"]), flush=True)
    for size in args.sizes:
        evals = args.evals if size <= 512 else 2
        results = {}
        for convolution in args.convolutions:
            r = results[convolution] = _measure(
                size, evals, False, convolution == args.convolutions[-1],
                convolution)
            print("%4d x %-4d  %-8s  %.3f s/eval  compile (warm cache) %.1f s"
                  "  peak RSS %.0f MB%s" % (
                      size, size, convolution, r["s_per_eval"],
                      r["compile_s"], r["peak_mb"],
                      "  (buffers kept)" if r["keep_buffers"] else ""),
                  flush=True)
        if "torch_s_per_eval" in r:
            print("%4d x %-4d  PyTorch %s %.3f s/eval; ratio ours/torch %s" % (
                size, size, r["torch_version"], r["torch_s_per_eval"],
                ", ".join("%s %.2f" % (c, results[c]["s_per_eval"]
                                       / r["torch_s_per_eval"])
                          for c in results)), flush=True)
            print("%11s loss rel. diff to PyTorch: %s" % ("", ", ".join(
                "%s %.1e" % (c, abs(v["loss"] - r["torch_loss"])
                             / abs(r["torch_loss"]))
                for c, v in results.items())), flush=True)


if __name__ == "__main__":
    main()
