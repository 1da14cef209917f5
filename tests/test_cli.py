"""Command line behaviour: outputs, ``info`` (also on a pipe), and one-line
errors with exit code 2, bad paths and options refused before any work."""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT, TINY_ARGS, run_main, sample
from lasagne_style import cli, optimize


def png_header_only(width, height):
    """A PNG that claims width x height 1-bit pixels: Pillow's decompression
    bomb guard must refuse it from the header alone (400 M pixels here)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


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
    (["texture", "{cork}", "-o", "{out}", "--stat", "median"],
     "unknown statistic"),
    (["compare", "--styles", "{cork}", "--stats", "median", "-o", "{out}"],
     "unknown statistic"),
    (["frobnicate"], "invalid choice"),
    (["texture", "{truncated_jpeg}", "-o", "{out}"], "cannot read image"),
    (["texture", "{bomb}", "-o", "{out}"], "decompression-bomb guard"),
    (["texture", "{cork}", "-o", "{out}", "--size", "48", "--multiscale",
      "3"], "at least 64 pixels"),
    (["texture", "{cork}", "-o", "{out}", "--resume", "{text}"],
     "cannot read checkpoint"),
    (["texture", "{cork}", "-o", "{out}", "--convolution", "fft"],
     "unknown convolution"),
])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, argv,
                                             message):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated_jpeg = tmp_path / "cut.jpg"
    Image.open(sample("grace_hopper.jpg")).save(str(truncated_jpeg))
    truncated_jpeg.write_bytes(truncated_jpeg.read_bytes()[:5000])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(20000, 20000))
    out = tmp_path / "out.png"
    argv = [a.format(out=out, tmp=tmp_path, text=text, empty=empty,
                     cork=sample("cork.png"), truncated_jpeg=truncated_jpeg,
                     bomb=bomb) for a in argv]
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


def cli_command(*args):
    return [sys.executable, "-m", "lasagne_style.cli"] + list(args)


def test_same_seed_gives_byte_identical_files_and_info_reads_it(tmp_path,
                                                                capsys):
    outs = [tmp_path / "a.png", tmp_path / "b.png"]
    for out in outs:
        assert cli.main(["texture", sample("cork.png"), "-o", str(out),
                         "--size", "32", "--iters", "4", "--seed", "11",
                         "-q"]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    capsys.readouterr()
    assert cli.main(["info", str(outs[0])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "seed: 11" in lines
    assert any(line.startswith("version: ") for line in lines)
    assert cli.main(["info", sample("cork.png")]) == 2


def test_sigint_keeps_the_best_image(tmp_path):
    import signal
    out = tmp_path / "long.png"
    proc = subprocess.Popen(cli_command("texture", sample("cork.png"), "-o",
                                        str(out), "--size", "48", "--iters",
                                        "100000", "--seed", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    for line in proc.stderr:  # progress lines; wait until optimising
        if line.startswith("eval") and not line.startswith("eval      1/"):
            break
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=600)  # a loaded machine
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail("no exit after SIGINT; stderr:\n" + stderr[-2000:])
    assert proc.returncode == 130, stderr
    assert "best image so far" in stderr
    with Image.open(out) as im:
        im.load()
        assert im.size == (48, 48)


def test_compare_writes_figure_and_table(tmp_path):
    out = tmp_path / "grid.png"
    proc = subprocess.run(cli_command(
        "compare", "--styles", sample("cork.png"), "--contents",
        sample("grace_hopper.jpg"), "--stats", "gram", "mean", "--size", "32",
        "--iters", "3", "-o", str(out)), capture_output=True, text=True,
        cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as im:
        assert im.size[0] > 300
    rows = (tmp_path / "grid.csv").read_text().splitlines()
    assert rows[0].split(",") == ["kind", "content", "style", "optimised",
                                  "dist_gram", "dist_mean", "evaluations",
                                  "seconds", "stopped"]
    assert len(rows) == 1 + 2 * 2
    assert all(r.split(",")[6] == "3" and r.endswith(",budget")
               for r in rows[1:])


def test_tol_ends_the_run_once_the_loss_has_flattened(tmp_path, capsys):
    # the CLI passes --tol down to the optimiser, which stops at the first
    # evaluation from the 100th on where the rule holds (at 32 px the best
    # loss still falls by half its final value over the last quarter of 300
    # evaluations: hence 0.95)
    log = tmp_path / "run.json"
    code, _, err = run_main(["texture", sample("cork.png"), "-o",
                             str(tmp_path / "t.png"), "--size", "32",
                             "--iters", "400", "--tol", "0.95", "--seed", "0",
                             "--log", str(log), "-q"], capsys)
    assert code == 0, err
    record = json.loads(log.read_text())
    losses = [h["loss"] for h in record["history"]]
    assert record["stopped"] == "converged"
    assert optimize.MIN_EVALUATIONS_FOR_TOL <= len(losses) < 400
    assert optimize.last_quarter_fall(losses) < 0.95
    assert (len(losses) == optimize.MIN_EVALUATIONS_FOR_TOL
            or optimize.last_quarter_fall(losses[:-1]) >= 0.95)


def test_a_size_that_does_not_fit_in_memory_is_refused(tmp_path, capsys,
                                                       monkeypatch):
    from lasagne_style import memory
    monkeypatch.setattr(memory, "available", lambda: 2e9)
    out = tmp_path / "big.png"
    code, _, err = run_main(["texture", sample("cork.png"), "-o", str(out),
                             "--size", "2000"], capsys)
    assert code == 2
    assert "needs about %.1f GB of memory but only 2.0 GB" % (
        memory.estimated((2000, 2000)) / 1e9) in err
    assert not out.exists()
    # the model against make bench's measured peaks (2026-11-25), which had
    # 10 L-BFGS-B pairs
    for side, peak in ((512, 1.34e9), (1024, 4.12e9)):
        extra = memory.extra_history_bytes(3 * side ** 2)
        assert memory.estimated((side, side)) - extra == pytest.approx(
            peak, rel=0.05)


def test_a_huge_size_is_refused_before_anything_is_allocated(tmp_path):
    # the content would be resized to 30000 px (2.7 GB) before the check;
    # a run of that size needs about 3 TB (larger sizes are refused as
    # mistakes, see test_options)
    proc = subprocess.run(
        [sys.executable, "-m", "lasagne_style.cli", "transfer",
         sample("grace_hopper.jpg"), sample("cork.png"), "-o",
         str(tmp_path / "x.png"), "--size", "30000"],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, LASAGNE_STYLE_STARTUP="1"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "GB of memory" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_batch_runs_good_jobs_skips_done_ones_and_reports_broken(tmp_path):
    import shutil
    shutil.copy(sample("cork.png"), tmp_path / "cork.png")
    (tmp_path / "exists.png").write_bytes(b"already here")
    (tmp_path / "jobs.csv").write_text(
        "command,content,style,output,size,iters,seed\n"
        "texture,,cork.png,a.png,32,3,1\n"
        "texture,,missing.png,b.png,32,3,1\n"
        "texture,,cork.png,exists.png,32,3,1\n"
        "transfer,cork.png,cork.png,c.png,32,2,1\n")
    proc = subprocess.run(cli_command("batch", str(tmp_path / "jobs.csv"),
                                      "--jobs", "2", "--local"),
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == \
        "2 done, 1 skipped, 1 failed", proc.stdout + proc.stderr[-3000:]
    assert "image not found: missing.png" in proc.stderr
    for name in ("a.png", "c.png"):
        with Image.open(tmp_path / name) as im:
            assert im.size == (32, 32)
    assert not (tmp_path / "b.png").exists()
    assert (tmp_path / "exists.png").read_bytes() == b"already here"


def test_batch_manifest_errors(tmp_path, capsys):
    bad = tmp_path / "jobs.json"
    bad.write_text("{not json")
    code, _, err = run_main(["batch", str(bad)], capsys)
    assert code == 2 and "cannot parse manifest" in err
    code, _, err = run_main(["batch", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and "cannot read manifest" in err


@pytest.mark.parametrize("extra,message", [
    (["-o", ""], "output path is empty"),
    (["-o", "{tmp}"], "is a directory"),
    (["-o", "{tmp}/x.xbm"], "cannot write .xbm images"),
    (["-o", "/proc/x.png"], "under /proc"),
    (["-o", "{tmp}/x"], "no extension"),
    (["-o", "{tmp}/x.png", "--log", "{tmp}/x.png"], "same file"),
    (["-o", "{tmp}/x.png", "--plot", "{tmp}/x.png"], "same file"),
    (["-o", "{tmp}/x.png", "--plot", "{tmp}/p.doc"], "cannot write .doc"),
    (["-o", "{tmp}/x.png", "--style-layers", ""], "no style layers"),
    (["-o", "{tmp}/x.png", "--style-blend", "1", "2"], "blend weight"),
    (["-o", "{tmp}/x.png", "--init", "{tmp}/missing.png"],
     "image not found"),
    (["-o", "{tmp}/x.png", "--stat", "disc", "--multiscale", "2"],
     "--multiscale, --resume and --tol work with"),
    (["-o", "{tmp}/x.png", "--iters", "5,3"],
     "iters: 2 numbers for 1 level; give one, or one per --multiscale "
     "level"),
    (["-o", "{tmp}/x.png", "--iters", "5,0", "--multiscale", "2"],
     "argument --iters: expected a positive integer, got '0'"),
])
def test_bad_paths_and_options_fail_before_any_work(extra, message, tmp_path,
                                                    capsys, no_compiling):
    # the options after TINY_ARGS win
    argv = ["texture", sample("cork.png")] + TINY_ARGS + [
        a.format(tmp=tmp_path) for a in extra]
    code, _, err = run_main(argv, capsys)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_elongated_style_is_named_in_the_message(tmp_path, capsys,
                                                 no_compiling):
    thin = tmp_path / "thin.png"
    Image.new("RGB", (400, 3)).save(str(thin))
    code, _, err = run_main(["transfer", sample("cork.png"), str(thin), "-o",
                             str(tmp_path / "x.png"), "--size", "64",
                             "--iters", "2", "-q"], capsys)
    assert code == 2
    assert "style image (400x3) resized to the output's scale" in err
    assert "conv5_1" in err


def test_info_reads_a_pipe_once(tmp_path):
    out = tmp_path / "t.png"
    assert cli.main(["texture", sample("cork.png"), "-o", str(out)]
                    + TINY_ARGS) == 0
    proc = subprocess.run(
        ["bash", "-c", "%s -m lasagne_style.cli info <(cat %s)"
         % (sys.executable, out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "seed: 0" in proc.stdout


CONSOLE = """
import atexit, sys
from lasagne_style import cli
atexit.register(lambda: print("exit handler ran"))
cli.console(sys.argv[1:])
print("not reached")
"""


@pytest.mark.parametrize("argv, code", [(["info", "cork.png"], 2),
                                        (["info", "missing.png"], 2)])
def test_the_command_runs_exit_handlers_and_keeps_output_and_code(argv,
                                                                  code):
    argv = [sample(a) if a == "cork.png" else a for a in argv]
    done = subprocess.run([sys.executable, "-c", CONSOLE] + argv,
                          capture_output=True, text=True)
    assert done.returncode == code
    assert done.stdout == "exit handler ran\n"
    assert done.stderr.startswith("lasagne-style: error: ")
    assert done.stderr.count("\n") == 1


def test_the_command_flushes_its_output_on_success():
    image = os.path.join(ROOT, "docs", "demo_texture.png")
    done = subprocess.run([sys.executable, "-c", CONSOLE, "info", image],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "finished: yes" and lines[-1] == "exit handler ran"
    assert json.loads(lines[1].split(": ", 1)[1])["command"] == "texture"
