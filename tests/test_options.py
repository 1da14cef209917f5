"""One source for every option: the API's keywords, the CLI's arguments and
help, the batch manifest's columns and the PNG metadata all agree with
:class:`lasagne_style.options.RunOptions`; the cross-option rules and the
hints for other tools' habits."""
import argparse
import dataclasses
import json

import pytest

from conftest import sample
from lasagne_style import api, cli, config, options
from lasagne_style.batch import manifest
from lasagne_style.errors import UserError
from lasagne_style.images import load_image_and_text

RUNS = options.RUNS


def _parser_of(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions
               if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _positionals(command):
    return {"transfer": ["c.png", "s.png"], "texture": ["s.png"],
            "score": ["i.png", "--style", "s.png"]}[command]


@pytest.mark.parametrize("command", options.COMMANDS)
def test_cli_defaults_are_the_options_defaults(command):
    argv = [command] + _positionals(command)
    if command in RUNS:
        argv += ["-o", "out.png"]
    args = cli.build_parser().parse_args(argv)
    from_cli = options.from_namespace(args, command)
    from_api = options.RunOptions.of(
        command, **({"output": "out.png"} if command in RUNS else {}))
    assert from_cli == from_api


@pytest.mark.parametrize("command", options.COMMANDS)
def test_every_offered_option_is_on_the_command_line(command):
    parser = _parser_of(command)
    dests = {a.dest: a for a in parser._actions}
    for field in options.offered(command):
        flag = options.flag_of(field)
        if flag is None:
            continue
        action = dests[field.name]
        assert flag in action.option_strings
        offer = field.metadata["offer"]
        default = (offer.defaults or {}).get(command, field.default)
        if offer.kind == "quiet":
            assert action.default is True
        else:
            assert action.default == default, field.name
    # and nothing on the command line that the options do not declare,
    # besides the positionals, help and the discriminator's own options
    names = {f.name for f in options.offered(command)}
    disc = {"disc_" + f.name
            for f in dataclasses.fields(config.AdversarialOptions)}
    for action in parser._actions:
        assert (action.dest in names | disc | {"help", "content", "style",
                                              "image"}), action.dest


@pytest.mark.parametrize("command", RUNS)
def test_help_shows_every_default_and_choice(command):
    text = _parser_of(command).format_help()
    for field in options.offered(command):
        flag = options.flag_of(field)
        offer = field.metadata["offer"]
        if flag is None:
            continue
        assert flag in text
        if offer.choices:
            assert "{%s}" % ",".join(offer.choices) in text
        default = (offer.defaults or {}).get(command, field.default)
        if default is not None and not isinstance(default, bool):
            assert "default: %s)" % (default,) in " ".join(text.split()), \
                field.name
    for field in dataclasses.fields(config.AdversarialOptions):
        assert field.metadata["cli"][0] in text
        assert "default: %s)" % (field.default,) in " ".join(text.split())
    for group in ("input and output", "loss", "optimisation", "control",
                  "performance"):
        assert group + ":" in text
    assert "examples:" in text


def test_api_takes_exactly_the_offered_keywords():
    for command in RUNS:
        defaults = options.RunOptions(command)
        for field in options.offered(command):
            # each offered field is a keyword the API takes as it is
            value = getattr(defaults, field.name)
            got = options.RunOptions.of(command, **{field.name: value})
            assert getattr(got, field.name) == value and got == defaults
    with pytest.raises(UserError, match="unknown option 'sise'; did you "
                       "mean 'size'"):
        api.synthesize(sample("cork.png"), sise=32)
    with pytest.raises(UserError, match="content_weight is an option of "
                       "transfer and score, not of texture"):
        api.synthesize(sample("cork.png"), content_weight=1.0)


def test_options_object_and_keywords_combine():
    base = options.RunOptions.of("texture", size=40, iters=7)
    again = api._run_options("texture", base, {"iters": 9})
    assert (again.size, again.iters) == (40, 9)
    with pytest.raises(UserError, match="RunOptions of command 'transfer'"):
        api._run_options("transfer", base, {})


def test_batch_columns_and_path_options_come_from_the_options():
    assert set(manifest.PATH_OPTIONS) == {
        "-o", "--output", "--log", "--plot", "--resume", "--weights",
        "--init"}
    assert set(manifest.PATHS_OPTIONS) == {"--masks", "--style-masks"}
    assert set(manifest.COMMA_LIST_OPTIONS) == {
        "--iters", "--content-layers", "--style-layers",
        "--style-layer-weights"}
    # a manifest row with a column per option gives the options the API
    # gets from the same values
    row = dict(command="transfer", content="c.png", style="a.png;b.png",
               output="o.png", size="64", iters=[30, 20], multiscale="2",
               stat="meancov", style_layers=["conv1_1", "conv2_1"],
               style_blend=[0.25, 0.75], tol="0.01", seed="4",
               preserve_colors="luminance", init="noise")
    args = cli.build_parser().parse_args(manifest.job_argv(row))
    from_batch = options.from_namespace(args, "transfer")
    from_api = options.RunOptions.of(
        "transfer", output="o.png", size=64, iters=(30, 20), multiscale=2,
        statistic="meancov", style_layers=["conv1_1", "conv2_1"],
        style_blend=[0.25, 0.75], tol=0.01, seed=4,
        preserve_colors="luminance", init="noise", progress=False)
    assert from_batch == from_api
    assert args.style == ["a.png", "b.png"]


def test_metadata_is_the_recorded_options(tmp_path):
    out = str(tmp_path / "t.png")
    result = api.synthesize(sample("cork.png"), size=32, iters=2, seed=5,
                            output=out, progress=False, statistic="mean",
                            style_layers=["conv1_1", "conv2_1"])
    _, text = load_image_and_text(out)
    stored = json.loads(text["lasagne_style:options"])
    # a texture records the style scale it ran with (its default is
    # resolved from the style's size: 1 here, docs/textures.md)
    expected = options.RunOptions.of(
        "texture", size=32, iters=2, seed=5, output=out, statistic="mean",
        style_layers=["conv1_1", "conv2_1"], style_scale=1.0).recorded()
    assert stored == dict(json.loads(json.dumps(expected)), seed=5)
    assert result.seed == 5
    recorded = {f.name for f in options.offered("texture")
                if f.metadata["offer"].recorded}
    assert set(stored) == recorded | {"command", "seed"}


@pytest.mark.parametrize("keywords, message", [
    (dict(multiscale=2000), "2000 levels halve a 256 px output"),
    (dict(style_scale=1e200), "too large"),
    (dict(size=10 ** 200), "size 1000"),
    (dict(init="random"), "here it is called 'noise'"),
    (dict(style_layers="relu2_1"), "use 'conv2_1'"),
    (dict(statistic="gramm"), "did you mean 'gram'"),
    (dict(width=30), "give both width and height"),
    (dict(init="content"), "needs a content image"),
    (dict(statistic="disc", multiscale=2), "not with --stat disc"),
    (dict(statistic="disc", tileable=True), "not with statistic 'disc'"),
    (dict(adversarial=config.AdversarialOptions()), "need statistic "
     "'disc'"),
    (dict(iters=(3, 4)), "2 numbers for 1 level"),
])
def test_cross_option_rules_in_one_place(keywords, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        options.RunOptions.of("texture", **keywords)


def test_transfer_rules():
    with pytest.raises(UserError, match="style masks need masks"):
        options.RunOptions.of("transfer", style_masks=["m.png"])
    with pytest.raises(UserError, match="use one or the other"):
        options.RunOptions.of("transfer", masks=["a.png", "b.png"],
                              style_blend=[1, 1])
    with pytest.raises(UserError, match="masks work with statistic"):
        options.RunOptions.of("transfer", masks=["a.png"],
                              statistic="sliced")


def test_cli_hints_for_other_tools_habits(tmp_path, capsys):
    a, b = sample("cork.png"), sample("brick_wall.png")
    out = str(tmp_path / "o.png")
    for argv, message in [
            (["texture", a, "-o", out, "--sise", "32"],
             "unrecognized arguments: --sise 32; did you mean '--size'?"),
            (["texture", "%s,%s" % (a, b), "-o", out],
             "to mix several styles give them as separate arguments"),
            (["texture", a, "-o", out, "--init", "random"],
             "here it is called 'noise'"),
            (["texture", a, "-o", out, "--style-layers", "relu1_1"],
             "use 'conv1_1'"),
            (["texture", a, "-o", out, "--disc", "quadratc",
              "--stat", "disc"], "did you mean 'quadratic'"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_the_start_image_follows_the_preset_when_options_are_reused():
    recipe = options.RunOptions.of("transfer", preset="recipe")
    assert recipe.start == "noise"
    assert api._run_options("transfer", recipe,
                            {"preset": "default"}).start == "content"
    assert options.RunOptions.of("transfer", init="noise").start == "noise"
    with pytest.raises(UserError, match="halve a 256 px output"):
        options.RunOptions.of("texture", multiscale=10 ** 10)
