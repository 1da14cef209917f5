"""Batch manifests: read (a byte order mark, JSON lists as the CLI's
arguments), checked as a whole before any job runs (duplicate outputs
refused, output folders created, options that are not runs refused, masks
and blends in CSV cells, paths that begin with a dash; the example manifest
in samples/ is valid), and planned (done jobs skipped, interrupted ones
resumed)."""
import os

import pytest

from conftest import ROOT, SAMPLES, sample, write_csv
from lasagne_style import batch, cli, options
from lasagne_style.batch import local, manifest
from lasagne_style.errors import UserError


def _no_process(monkeypatch):
    started = []

    def refuse(*args, **kwargs):
        started.append(args)
        raise AssertionError("a job was started")
    monkeypatch.setattr(local.subprocess, "Popen", refuse)
    return started


def test_two_jobs_with_one_output_are_refused_before_any_work(
        tmp_path, monkeypatch):
    started = _no_process(monkeypatch)
    path = tmp_path / "jobs.csv"
    write_csv(path, [
        dict(command="texture", style="a.png", output="out/r.png"),
        dict(command="texture", style="b.png", output="x/../out/r.png")])
    with pytest.raises(UserError, match="jobs 1 and 2 both write"):
        local.run(str(path), stream=open(os.devnull, "w"))
    assert started == [] and not (tmp_path / "out").exists()
    assert cli.main(["batch", str(path), "--local"]) == 2


def test_missing_output_folders_are_created_before_the_jobs(tmp_path):
    path = tmp_path / "jobs.csv"
    write_csv(path, [dict(command="texture", style="a.png",
                          output="new/deeper/r.png")])
    base, jobs = manifest.read_jobs(str(path))
    assert base == str(tmp_path)
    assert jobs == [("new/deeper/r.png", ["texture", "a.png", "-o",
                                          "new/deeper/r.png", "--quiet"],
                     None)]
    assert (tmp_path / "new" / "deeper").is_dir()


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "jobs.csv"
    write_csv(path, [dict(command="texture", style="a.png",
                          output="file/r.png")])
    with pytest.raises(UserError, match="cannot create the output folder"):
        manifest.read_jobs(str(path))


@pytest.mark.parametrize("key", ["help", "version", "h"])
def test_a_job_cannot_ask_for_help_instead_of_a_run(key):
    with pytest.raises(UserError, match="a job cannot set %r" % key):
        manifest.job_argv(dict(command="texture", style="a.png",
                               output="o.png", **{key: "1"}))


def test_masks_and_blend_weights_in_csv_cells(tmp_path):
    row = dict(command="transfer", content="c.png", style="a.png;b.png",
               output="o.png", masks="m1.png;m2.png",
               style_masks="n1.png;n2.png", stat="mean")
    args = cli.build_parser().parse_args(manifest.job_argv(row))
    assert args.masks == ["m1.png", "m2.png"]
    assert args.style_masks == ["n1.png", "n2.png"]
    row = dict(command="texture", style="a.png;b.png", output="o.png",
               style_blend="0.25;0.75")
    args = cli.build_parser().parse_args(manifest.job_argv(row))
    assert options.from_namespace(args, "texture").style_blend == (0.25,
                                                                    0.75)


def test_paths_that_begin_with_a_dash_stay_paths():
    argv = manifest.job_argv(dict(command="transfer", content="-c.png",
                                  style="-s.png", output="-o.png",
                                  init="-i.png"))
    args = cli.build_parser().parse_args(argv)
    assert (args.content, args.style, args.output, args.init) == (
        "./-c.png", ["./-s.png"], "./-o.png", "./-i.png")
    # the same files once made absolute for a Dask worker
    absolute = manifest.absolute_argv(argv, "/m")
    args = cli.build_parser().parse_args(absolute)
    assert os.path.normpath(args.content) == "/m/-c.png"


def test_the_example_manifest_is_valid():
    path = os.path.join(SAMPLES, "batch_example.csv")
    base, jobs = manifest.read_jobs(path)
    assert len(jobs) == 4 and all(error is None for _, _, error in jobs)
    for _, argv, _ in jobs:
        args = cli.build_parser().parse_args(argv)
        opts = options.from_namespace(args, args.command)
        for image in ([args.content] if args.command == "transfer" else []) \
                + args.style:
            assert os.path.exists(os.path.join(base, image)), image
        assert os.path.realpath(os.path.join(base, opts.output)).startswith(
            os.path.join(ROOT, "out") + os.sep)


def test_an_interrupted_runs_image_without_checkpoint_is_not_done(tmp_path):
    from lasagne_style import api

    out = str(tmp_path / "o.png")

    def stop(n, *_):
        if n == 2:
            raise KeyboardInterrupt
    result = api.synthesize(sample("cork.png"), size=32, iters=5, seed=0,
                            output=out, progress=stop)
    assert result.stopped == "interrupted"
    argv = ["texture", sample("cork.png"), "-o", "o.png"]
    assert manifest.plan(argv, str(tmp_path))[0] == "resume"
    # the checkpoint could not be written (a full disk): the image alone
    # must not pass for a finished job
    os.remove(result.checkpoint)
    assert manifest.plan(argv, str(tmp_path))[0] == "run"
    api.synthesize(sample("cork.png"), size=32, iters=5, seed=0, output=out,
                   progress=False)
    assert manifest.plan(argv, str(tmp_path))[0] == "skip"


def test_a_fifo_at_a_log_path_does_not_hang_the_worker(tmp_path):
    from lasagne_style.batch import dask_worker

    fifo = str(tmp_path / "job.log")
    os.mkfifo(fifo)
    with pytest.raises(OSError):  # at once: no reader, not a regular file
        dask_worker.open_log(fifo)
    regular = str(tmp_path / "ok.log")
    with dask_worker.open_log(regular) as f:
        f.write("line\n")
    with dask_worker.open_log(regular) as f:
        f.write("more\n")
    assert open(regular).read() == "line\nmore\n"


def test_a_scheduler_port_that_never_answers_is_one_line(tmp_path, capsys,
                                                         monkeypatch):
    import socket
    import threading
    import time

    pytest.importorskip("distributed")
    from lasagne_style.batch import dask_client

    monkeypatch.setattr(dask_client, "CONNECT_TIMEOUT", "2s")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()),
                     daemon=True).start()
    path = tmp_path / "jobs.csv"
    write_csv(path, [dict(command="texture", style=sample("cork.png"),
                          output="o.png")])
    start = time.monotonic()
    code = cli.main(["batch", str(path), "--scheduler",
                     "tcp://127.0.0.1:%d" % server.getsockname()[1]])
    err = capsys.readouterr().err
    server.close()
    assert code == 2 and time.monotonic() - start < 30
    assert "no answer within 2s" in err and err.count("\n") == 1, err


def test_columns_are_exact_flags_switches_and_lists(tmp_path):
    row = dict(command="texture", style="a.png", output="o.png")
    # an abbreviation is not a flag: "hel" is not --help, "out" not --output
    for key in ("hel", "out"):
        argv = manifest.job_argv(dict(row, **{key: "x.png"}))
        with pytest.raises(UserError, match="unrecognized arguments"):
            cli.build_parser().parse_args(argv)
    for value, expected in (("true", True), ("0", False), (True, True)):
        args = cli.build_parser().parse_args(
            manifest.job_argv(dict(row, tileable=value)))
        assert args.tileable is expected
    with pytest.raises(UserError, match="tileable takes true or false"):
        manifest.job_argv(dict(row, tileable="maybe"))
    args = cli.build_parser().parse_args(manifest.job_argv(dict(
        row, iters="100;50", multiscale="2",
        style_layers="conv1_1;conv2_1")))
    opts = options.from_namespace(args, "texture")
    assert opts.iters == (100, 50)
    assert opts.style_layers == ("conv1_1", "conv2_1")


def test_an_older_versions_checkpoint_is_not_a_finished_job(tmp_path):
    (tmp_path / "o.png").write_bytes(b"")
    argv = ["texture", "s.png", "-o", "o.png"]
    assert manifest.plan(argv, str(tmp_path))[0] == "skip"
    (tmp_path / "o.ckpt.npz").write_bytes(b"")  # written before 2026-12-05
    assert manifest.plan(argv, str(tmp_path))[0] == "run"


@pytest.mark.parametrize("name", ["jobs.csv", "jobs.json"])
def test_manifest_with_a_byte_order_mark(tmp_path, name):
    path = tmp_path / name
    text = ('[{"command": "texture", "style": "s.png", "output": "o.png"}]'
            if name.endswith(".json")
            else "command,style,output\ntexture,s.png,o.png\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    jobs = batch.read_manifest(str(path))
    assert [dict(j) for j in jobs] == [dict(command="texture", style="s.png",
                                            output="o.png")]
    assert batch.job_argv(jobs[0])[:4] == ["texture", "s.png", "-o", "o.png"]


def test_json_lists_become_the_cli_arguments():
    argv = batch.job_argv({"command": "texture", "style": ["a.png", "b.png"],
                           "output": "o.png", "iters": [2400, 800],
                           "style_layers": ["conv1_1", "conv2_1"],
                           "style_blend": [0.7, 0.3], "multiscale": 2})
    assert argv == ["texture", "a.png", "b.png", "-o", "o.png", "--quiet",
                    "--iters", "2400,800", "--style-layers",
                    "conv1_1,conv2_1", "--style-blend", "0.7", "0.3",
                    "--multiscale", "2"]
    # what the CLI makes of them
    args = cli.build_parser().parse_args(argv)
    assert args.iters == (2400, 800) and args.style_blend == [0.7, 0.3]


def test_plan_resumes_interrupted_jobs_and_skips_done_ones(tmp_path):
    argv = ["texture", "s.png", "-o", "sub/o.png", "--quiet"]
    base = str(tmp_path)
    (tmp_path / "sub").mkdir()
    assert batch.plan(argv, base) == ("run", argv)
    (tmp_path / "sub" / "o.png").write_bytes(b"best so far")
    assert batch.plan(argv, base) == ("skip", argv)
    (tmp_path / "sub" / "o.png.ckpt.npz").write_bytes(b"checkpoint")
    assert batch.plan(argv, base) == (
        "resume", argv + ["--resume", os.path.join("sub", "o.png.ckpt.npz")])
    (tmp_path / "sub" / "o.png").unlink()  # the checkpoint is enough
    assert batch.plan(argv, base)[0] == "resume"
    given = argv + ["--resume", "mine.ckpt.npz"]
    assert batch.plan(given, base) == ("run", given)


def test_batch_run_passes_resume_to_interrupted_jobs(tmp_path, monkeypatch):
    started = []

    class FakeProcess:
        returncode = 0

        def __init__(self, command, **kwargs):
            started.append(command[3:])

        def communicate(self):
            return "saved\n", ""

    monkeypatch.setattr(local.subprocess, "Popen", FakeProcess)
    for name in ("done.png", "cut.png", "cut.png.ckpt.npz"):
        (tmp_path / name).write_bytes(b"x")
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("command,style,output\ntexture,s.png,done.png\n"
                        "texture,s.png,cut.png\ntexture,s.png,new.png\n")
    summary = local.run(str(manifest), stream=open(os.devnull, "w"))
    assert summary["skipped"] == [("done.png", "output exists")]
    assert summary["done"] == [("cut.png", "saved (resumed)"),
                               ("new.png", "saved")]
    # absolute paths, as on Dask (see batch.local)
    base = str(tmp_path) + os.sep
    assert started == [[a if a.startswith("-") or a == "texture" else base + a
                        for a in argv] for argv in (
        ["texture", "s.png", "-o", "cut.png", "--quiet", "--resume",
         "cut.png.ckpt.npz"],
        ["texture", "s.png", "-o", "new.png", "--quiet"])]
