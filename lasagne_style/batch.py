"""Many runs from one manifest: ``lasagne-style batch MANIFEST --jobs N``.

A manifest is a CSV file with a header, or a JSON list of objects, one job
each. Keys: ``command`` (``transfer`` or ``texture``), ``content`` (transfer
only), ``style`` (several separated by ``;``), ``output``, and any option of
that command without its leading dashes (``size``, ``iters``, ``seed``,
``stat``, ``preset``, ...); empty values are left out.

Every job runs as its own ``lasagne-style`` process, so a failing or crashing
job cannot stop the others; jobs whose output already exists are skipped,
which makes an interrupted batch resumable by running it again. With ``N``
jobs at once each process gets ``cpus / N`` BLAS threads: more threads than
cores makes OpenBLAS threads spin against each other (we measured runs
several times slower).
"""
import concurrent.futures
import csv
import json
import os
import subprocess
import sys

from .errors import UserError

COMMANDS = ("transfer", "texture")


def read_manifest(path):
    """The jobs of a CSV or JSON manifest, as a list of dicts."""
    try:
        with open(path, newline="") as f:
            if path.lower().endswith(".json"):
                jobs = json.load(f)
            else:
                jobs = list(csv.DictReader(f))
    except OSError as e:
        raise UserError("cannot read manifest %s (%s)" % (path, e.strerror))
    except (ValueError, csv.Error) as e:
        raise UserError("cannot parse manifest %s (%s)" % (path, e))
    if not isinstance(jobs, list) or not all(isinstance(j, dict)
                                             for j in jobs):
        raise UserError("manifest %s must list one object per job" % path)
    return jobs


def job_argv(job):
    """The ``lasagne-style`` arguments of one job (UserError if malformed)."""
    job = {k.strip(): v for k, v in job.items() if k and v not in (None, "")}
    command = job.pop("command", None)
    if command not in COMMANDS:
        raise UserError("command must be transfer or texture, not %r"
                        % (command,))
    if "output" not in job or "style" not in job:
        raise UserError("a job needs style and output")
    argv = [command]
    if command == "transfer":
        if "content" not in job:
            raise UserError("a transfer job needs content")
        argv.append(str(job.pop("content")))
    style = job.pop("style")
    argv += style if isinstance(style, list) else str(style).split(";")
    argv += ["-o", str(job.pop("output")), "--quiet"]
    for key, value in job.items():
        flag = "--" + key.replace("_", "-")
        argv += [flag] + (value if isinstance(value, list) else [str(value)])
    return argv


def run(manifest, jobs=1, stream=sys.stderr):
    """Run every job of ``manifest``; returns {'done', 'skipped', 'failed'}
    lists of (output, message)."""
    entries = read_manifest(manifest)
    base = os.path.dirname(os.path.abspath(manifest))
    summary = {"done": [], "skipped": [], "failed": []}
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(max(
        1, (os.cpu_count() or 1) // jobs)))

    def one(index, job):
        name = "job %d" % (index + 1)
        try:
            argv = job_argv(job)
        except UserError as e:
            return "failed", name, str(e)
        output = argv[argv.index("-o") + 1]
        name = output
        if os.path.exists(os.path.join(base, output)):
            return "skipped", name, "output exists"
        proc = subprocess.run([sys.executable, "-m", "lasagne_style.cli"]
                              + argv, cwd=base, env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["exit code %d"
                                                        % proc.returncode]
            return "failed", name, lines[-1]
        return "done", name, proc.stdout.strip().splitlines()[-1]

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for status, name, message in pool.map(lambda a: one(*a),
                                              enumerate(entries)):
            summary[status].append((name, message))
            print("%-7s %s: %s" % (status, name, message), file=stream,
                  flush=True)
    return summary
