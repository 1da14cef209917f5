"""``lasagne-style batch`` on Dask: a local cluster, a scheduler and workers
started apart (one of them killed mid-job), interrupts, and the options."""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from PIL import Image

from conftest import (ROOT, alive, descendants, sample, wait_until,
                      write_csv)
from lasagne_style import batch, cli
from lasagne_style.batch import dask_client as dist
from lasagne_style.batch import local

pytest.importorskip("distributed")

#: Small and fast: one conv layer, 48 px, 5 evaluations.
TINY = dict(size=48, iters=5, style_layers="conv1_1")
#: Generous limits: Theano compiles on a loaded 2-core machine, cold caches.
TIMEOUT = 900


def batch_command(*args):
    return [sys.executable, "-m", "lasagne_style.cli", "batch"] + list(args)


def headers(log):
    """(pid, ...) of each attempt recorded in a job's log."""
    with open(log) as f:
        return [int(m) for m in re.findall(r"^=== .* pid (\d+) ", f.read(),
                                           re.M)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- options and helpers (no cluster) -------------------------------------

def test_job_paths_become_absolute_relative_to_the_manifest():
    argv = ["transfer", "c.jpg", "s1.png", "/abs/s2.png", "-o", "out/x.png",
            "--quiet", "--init", "noise", "--log", "l.json", "--plot",
            "p.png", "--weights", "w.npz", "--resume", "x.ckpt.npz",
            "--size", "48", "--style-blend", "1", "2"]
    got = batch.absolute_argv(argv, "/m")
    assert got == ["transfer", "/m/c.jpg", "/m/s1.png", "/abs/s2.png", "-o",
                   "/m/out/x.png", "--quiet", "--init", "noise", "--log",
                   "/m/l.json", "--plot", "/m/p.png", "--weights",
                   "/m/w.npz", "--resume", "/m/x.ckpt.npz", "--size", "48",
                   "--style-blend", "1", "2"]
    assert batch.absolute_argv(["texture", "s.png", "-o", "o.png",
                                "--init", "start.png"], "/m")[-1] == \
        "/m/start.png"
    assert batch.absolute_argv(
        ["transfer", "c.jpg", "s.png", "t.png", "-o", "o.png", "--masks",
         "m1.png", "/abs/m2.png", "--style-masks", "n1.png", "n2.png",
         "--seed", "3"], "/m") == [
        "transfer", "/m/c.jpg", "/m/s.png", "/m/t.png", "-o", "/m/o.png",
        "--masks", "/m/m1.png", "/abs/m2.png", "--style-masks",
        "/m/n1.png", "/m/n2.png", "--seed", "3"]


def test_log_paths():
    assert dist.log_path("/d/out/a.png") == "/d/out/a.png.log"
    assert dist.log_path("/d/out/a.jpg") == "/d/out/a.jpg.log"
    assert dist.log_path("/d/out/a.png", "/logs") == "/logs/d_out_a.png.log"
    # no two outputs share a log in --logs
    outputs = ["/d/out/a.png", "/d/out_a.png", "/d/out%5Fa.png",
               "/d_out/a.png", "/d/out/a.jpg"]
    assert len({dist.log_path(o, "/logs") for o in outputs}) == len(outputs)


def test_without_dask_batch_runs_locally_and_says_how_to_get_dask(
        tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(dist, "available", lambda: False)
    monkeypatch.setattr(local, "run", lambda manifest, jobs, stream: (
        calls.append((manifest, jobs))
        or {"done": [], "skipped": [], "failed": []}))
    manifest = str(tmp_path / "jobs.csv")
    assert cli.main(["batch", manifest]) == 0
    assert calls == [(manifest, 1)]
    err = capsys.readouterr().err
    assert dist.INSTALL_HINT in err
    code = cli.main(["batch", manifest, "--scheduler", "tcp://h:1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--scheduler needs Dask (%s)" % dist.INSTALL_HINT in err
    assert len(calls) == 1


def test_option_errors_are_one_line(tmp_path, capsys, monkeypatch):
    manifest = tmp_path / "jobs.csv"
    write_csv(manifest, [dict(command="texture", style="cork.png",
                              output="o.png")])
    for argv, message in [
            (["--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"],
             "--jobs sizes a local cluster"),
            (["--local", "--logs", str(tmp_path)], "--logs needs Dask (not "
             "with --local)"),
            (["--logs", str(manifest / "x")], "cannot create the log folder"),
            (["--jobs", "0"], "argument --jobs: expected a positive integer, "
             "got '0'"),
    ]:
        assert cli.main(["batch", str(manifest)] + argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    monkeypatch.setattr(dist, "CONNECT_TIMEOUT", "1s")
    port = free_port()  # nothing listens there
    assert cli.main(["batch", str(manifest), "--scheduler",
                     "tcp://127.0.0.1:%d" % port]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:%d" % port \
        in err and err.count("\n") == 1, err


# --- a local cluster ------------------------------------------------

def test_local_cluster_jobs_equal_single_runs_rerun_skips_bad_job_alone(
        tmp_path):
    folder = tmp_path / "manifest"
    (folder / "out").mkdir(parents=True)
    shutil.copy(sample("cork.png"), folder / "cork.png")
    good = [
        dict(command="texture", style="cork.png", output="out/t1.png",
             seed=1, **TINY),
        dict(command="texture", style="cork.png", output="out/t2.png",
             seed=2, **TINY),
        dict(command="texture", style="cork.png", output="out/t3.png",
             seed=3, **TINY),
        dict(command="transfer", content=sample("grace_hopper.jpg"),
             style=sample("night_cafe.jpg"), output="out/tr.png", seed=4,
             content_layers="conv1_1", **TINY),
    ]
    bad = dict(command="texture", style="cork.png", output="out/bad.png",
               seed=5, **dict(TINY, iters="ten"))
    write_csv(folder / "jobs.csv", good + [bad])
    # from another directory: the paths are the manifest's
    proc = subprocess.run(batch_command(str(folder / "jobs.csv"), "--jobs",
                                        "2"),
                          capture_output=True, text=True, cwd=ROOT,
                          timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == \
        "4 done, 0 skipped, 1 failed"
    assert "failed  out/bad.png: lasagne-style: error: argument --iters: " \
        "expected a positive integer, got 'ten'" in proc.stderr
    assert "batch: 5/5 finished (4 done, 0 skipped, 1 failed)" in proc.stderr
    assert not (folder / "out" / "bad.png").exists()
    assert "expected a positive integer" in \
        (folder / "out" / "bad.png.log").read_text()

    # each output is the one a single run with the same seed writes
    (tmp_path / "alone").mkdir()
    runs = []
    for job in good:
        argv = batch.absolute_argv(batch.job_argv(job), str(folder))
        argv[argv.index("-o") + 1] = str(tmp_path / "alone" / os.path.basename(
            job["output"]))
        runs.append(argv)
    for pair in (runs[:2], runs[2:]):  # two at a time: 2 cores
        alone = [subprocess.Popen([sys.executable, "-m", "lasagne_style.cli"]
                                  + argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for argv in pair]
        for p in alone:
            out, err = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 0, err[-2000:]
    pids = set()
    for job in good:
        name = os.path.basename(job["output"])
        made = (folder / job["output"]).read_bytes()
        assert made == (tmp_path / "alone" / name).read_bytes(), name
        log = str(folder / job["output"]) + ".log"
        with open(log) as f:
            text = f.read()
        assert "eval 5/5" in text and "saved " in text  # progress and result
        assert "=== exit code 0" in text
        pids.update(headers(log))
    assert len(pids) == 2  # both workers ran jobs

    # running it again does nothing (and starts no cluster)
    write_csv(folder / "again.csv", good)
    stamps = [os.stat(folder / job["output"]).st_mtime_ns for job in good]
    proc = subprocess.run(batch_command(str(folder / "again.csv")),
                          capture_output=True, text=True, cwd=ROOT,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == \
        "0 done, 4 skipped, 0 failed"
    assert "running" not in proc.stderr
    assert stamps == [os.stat(folder / job["output"]).st_mtime_ns
                      for job in good]


def test_ctrl_c_stops_the_running_job_which_keeps_its_checkpoint(tmp_path):
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps([dict(
        command="texture", style=sample("cork.png"), output="slow.png",
        seed=0, save_every=1, **dict(TINY, iters=100000))]))
    ckpt = tmp_path / "slow.png.ckpt.npz"
    # own session: the Ctrl-C below reaches the batch and its workers, as
    # a terminal's does
    proc = subprocess.Popen(batch_command(str(manifest), "--jobs", "1"),
                            cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    below = []
    try:
        # the job is optimising
        wait_until(ckpt.exists, proc, TIMEOUT, "the job never started")
        below = descendants(proc.pid)
        pid = headers(str(tmp_path / "slow.png.log"))[-1]
        assert pid in below
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for p in below:  # a failing test leaves no 100000-evaluation job
            if alive(p):
                os.kill(p, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "stopped slow.png: interrupted: the best image so far is in" \
        in stderr
    assert "checkpoint for --resume" in stderr
    time.sleep(1)
    assert not any(alive(p) for p in below)
    with Image.open(tmp_path / "slow.png") as im:
        assert im.size == (48, 48)
    argv = batch.job_argv(json.loads(manifest.read_text())[0])
    assert batch.plan(argv, str(tmp_path))[0] == "resume"


# --- a scheduler and workers started apart --------------------------

@contextlib.contextmanager
def cluster_apart(folder, workers):
    """A scheduler and ``workers`` one-thread workers, each its own process
    group (killed, with the worker processes their nannies spawn, at the
    end); yields (address, [scheduler, worker, ...] Popen objects)."""
    from distributed import Client

    port = free_port()
    address = "tcp://127.0.0.1:%d" % port
    started = []

    def start(*args):
        started.append(subprocess.Popen(
            [sys.executable, "-m"] + list(args), cwd=str(folder),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))

    try:
        start("distributed.cli.dask_scheduler", "--host", "127.0.0.1",
              "--port", str(port), "--no-dashboard")
        for _ in range(workers):
            start("distributed.cli.dask_worker", address, "--nworkers", "1",
                  "--nthreads", "1", "--no-dashboard")
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address, started
    finally:
        for p in started:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


@contextlib.contextmanager
def batch_on(folder, address):
    """``batch folder/jobs.csv --scheduler address`` running; killed at the
    end if it is still running."""
    proc = subprocess.Popen(batch_command(str(folder / "jobs.csv"),
                                          "--scheduler", address),
                            cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def wait_for_progress(proc, log):
    """Until the job writing ``log`` is 10 evaluations in."""
    # progress lines are padded: "eval  10/1000"
    wait_until(lambda: log.exists() and re.search(r"eval +10/",
                                                  log.read_text()),
               proc, TIMEOUT, "the long job never started", interval=0.1)


LONG_JOB = dict(command="texture", style=sample("cork.png"), output="long.png",
                seed=7, size=64, iters=1000, style_layers="conv1_1")


def test_a_killed_worker_s_job_is_retried_and_the_batch_completes(tmp_path):
    short_job = dict(command="texture", style=sample("cork.png"),
                     output="short.png", seed=8, **TINY)
    write_csv(tmp_path / "jobs.csv", [LONG_JOB, short_job])
    log = tmp_path / "long.png.log"
    with cluster_apart(tmp_path, 2) as (address, started), \
            batch_on(tmp_path, address) as proc:
        wait_for_progress(proc, log)
        victim = headers(str(log))[-1]
        assert os.getpgid(victim) in [p.pid for p in started[1:]]
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.strip().splitlines()[-1] == "2 done, 0 skipped, 0 failed"
    attempts = headers(str(log))
    assert len(attempts) == 2 and attempts[0] == victim != attempts[1]
    assert log.read_text().rstrip().splitlines()[-1].startswith(
        "=== exit code 0")
    for name, size in (("long.png", 64), ("short.png", 48)):
        with Image.open(tmp_path / name) as im:
            assert im.size == (size, size)


def test_a_lost_scheduler_ends_the_batch_in_one_line_and_stops_its_job(
        tmp_path):
    job = dict(LONG_JOB, iters=100000)
    write_csv(tmp_path / "jobs.csv", [job])
    log = tmp_path / "long.png.log"
    with cluster_apart(tmp_path, 1) as (address, started), \
            batch_on(tmp_path, address) as proc:
        wait_for_progress(proc, log)
        worker = headers(str(log))[-1]
        os.killpg(started[0].pid, signal.SIGKILL)  # the scheduler
        stdout, stderr = proc.communicate(timeout=60)
        deadline = time.time() + 60  # the worker stops its job, exits
        while alive(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not alive(worker), "the job runs on, orphaned"
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.rstrip().splitlines()[-1] == (
        "lasagne-style: error: lost the Dask scheduler: 1 job(s) did not "
        "finish (a running one stops, keeping its checkpoint); run the batch "
        "again to resume them")
    assert log.read_text().rstrip().splitlines()[-1].startswith(
        "=== exit code 130")
    with Image.open(tmp_path / "long.png") as im:
        assert im.size == (64, 64)
    argv = batch.absolute_argv(batch.job_argv(
        {k: str(v) for k, v in job.items()}), str(tmp_path))
    assert batch.plan(argv, str(tmp_path))[0] == "resume"
