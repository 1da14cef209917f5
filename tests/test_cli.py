"""Command line behaviour: outputs, and one-line errors with exit code 2."""
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT, sample
from lasagne_style import cli


def run_main(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv,message", [
    (["texture", "missing.png", "-o", "{out}"], "image not found"),
    (["texture", "{tmp}", "-o", "{out}"], "is a directory"),
    (["texture", "{text}", "-o", "{out}"], "cannot read image"),
    (["texture", "{empty}", "-o", "{out}"], "cannot read image"),
    (["texture", "{cork}", "-o", "{out}", "--size", "0"], "positive integer"),
    (["texture", "{cork}", "-o", "{out}", "--iters", "ten"],
     "positive integer"),
    (["texture", "{cork}", "-o", "{out}", "--style-weight", "nan"],
     "finite number"),
    (["texture", "{cork}", "-o", "{out}", "--tv-weight", "-1"],
     "finite number"),
    (["texture", "{cork}", "-o", "{out}", "--preset", "fancy"],
     "unknown preset"),
    (["texture", "{cork}", "-o", "{tmp}/no/such/dir/x.png"],
     "output directory does not exist"),
    (["texture", "{cork}", "-o", "{out}", "--size", "8"], "too small"),
    (["texture", "{cork}", "-o", "{out}", "--style-layers", "conv9_1"],
     "unknown layer"),
    (["transfer", "{cork}", "{cork}", "-o", "{out}", "--weights",
      "{text}"], "cannot read weights"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, argv,
                                             message):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out = tmp_path / "out.png"
    argv = [a.format(out=out, tmp=tmp_path, text=text, empty=empty,
                     cork=sample("cork.png")) for a in argv]
    code, stdout, stderr = run_main(argv, capsys)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr
    assert not out.exists()


def test_cli_subprocess_texture_and_score(tmp_path):
    out = tmp_path / "t.png"
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "lasagne_style.cli"]
    proc = subprocess.run(cmd + ["texture", sample("cork.png"), "-o",
                                 str(out), "--size", "40", "--iters", "6",
                                 "--seed", "1", "--width", "48",
                                 "--height", "32"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "saved" in proc.stdout and "seed 1" in proc.stdout
    with Image.open(out) as im:
        assert im.size == (48, 32)
    proc = subprocess.run(cmd + ["score", str(out), "--style",
                                 sample("cork.png")],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == ["content", "style", "tv", "total"]
    # a bad file through the real entry point: no traceback either
    proc = subprocess.run(cmd + ["score", str(tmp_path / "nope.png"),
                                 "--style", sample("cork.png")],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("lasagne-style: error: image not found: %s"
                                   % (tmp_path / "nope.png"))
