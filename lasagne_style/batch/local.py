"""``lasagne-style batch --local``: every job as its own ``lasagne-style``
process, so a failing or crashing job cannot stop the others.

A job whose output exists and has no checkpoint is done and skipped; one
with a checkpoint was interrupted and continues from it (``--resume``), so
running an interrupted batch again picks up where it stopped. Ctrl-C,
SIGTERM or SIGHUP stops the batch: each running job gets SIGTERM, keeps its
best image and checkpoint, and the batch waits for it before exiting (a
second interrupt kills the jobs).

With ``N`` jobs at once each process gets ``cpus / N`` BLAS threads: more
threads than cores makes OpenBLAS threads spin against each other (we
measured runs several times slower).
"""
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading

from ..signals import interrupt_signals
from . import manifest


class _Children:
    """The running job processes, so that an interrupt reaches them all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = set()
        self.stopping = False

    def start(self, command, **kwargs):
        """``Popen(command)``, or None once the batch is stopping."""
        with self.lock:  # no job may start after signal_all has run
            if self.stopping:
                return None
            # own session: a terminal's Ctrl-C reaches the batch only, which
            # sends each job a single SIGTERM
            proc = subprocess.Popen(command, start_new_session=True,
                                    **kwargs)
            self.running.add(proc)
            return proc

    def finished(self, proc):
        with self.lock:
            self.running.discard(proc)

    def signal_all(self, signum):
        """Stop starting jobs and send ``signum`` to the running ones."""
        with self.lock:
            self.stopping = True
            for proc in self.running:
                try:
                    proc.send_signal(signum)
                except ProcessLookupError:
                    pass  # exited in the meantime


def _stop(children, futures):
    """Cancel the jobs not started, SIGTERM the running ones and wait for
    them (SIGKILL if a second interrupt comes while waiting)."""
    for future in futures:
        future.cancel()
    children.signal_all(signal.SIGTERM)
    try:
        concurrent.futures.wait(futures)
    except KeyboardInterrupt:
        children.signal_all(signal.SIGKILL)
        concurrent.futures.wait(futures)


def run(path, jobs=1, stream=sys.stderr):
    """Run every job of ``manifest``.

    Returns
    -------
    dict
        {'done', 'skipped', 'failed'}: lists of (output, message).

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C or SIGTERM (see :func:`interrupt_signals`), once every
        running job has saved its best image and checkpoint and exited.
    """
    base, entries = manifest.read_jobs(path)
    summary = {"done": [], "skipped": [], "failed": []}
    env = dict(os.environ, PYTHONSAFEPATH="1", OPENBLAS_NUM_THREADS=str(
        max(1, (os.cpu_count() or 1) // jobs)))
    children = _Children()

    def one(index, job):
        name, argv, error = job
        if error:
            return "failed", name, error
        action, argv = manifest.plan(argv, base)
        if action == "skip":
            return "skipped", name, "output exists"
        # absolute paths, as on Dask (the same fingerprints, so either
        # mode resumes the other's checkpoints), and not the manifest's
        # folder on the job's sys.path: files there must not run as code
        proc = children.start([sys.executable, "-m", "lasagne_style.cli"]
                              + manifest.absolute_argv(argv, base), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        if proc is None:
            return None  # the batch was interrupted before this job
        try:
            stdout, stderr = proc.communicate()
        finally:
            children.finished(proc)
        if proc.returncode != 0:
            lines = stderr.strip().splitlines() or ["exit code %d"
                                                   % proc.returncode]
            # the job saw absolute paths: say them as the manifest does
            return ("stopped" if children.stopping else "failed", name,
                    lines[-1].replace(base + os.sep, ""))
        resumed = " (resumed)" if action == "resume" else ""
        return "done", name, stdout.strip().splitlines()[-1].replace(
            base + os.sep, "") + resumed

    def report(outcome):
        if outcome is not None:
            status, name, message = outcome
            summary.setdefault(status, []).append((name, message))
            print("%-7s %s: %s" % (status, name, message), file=stream,
                  flush=True)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    with interrupt_signals():
        futures = [pool.submit(one, i, job) for i, job in enumerate(entries)]
        shown = 0
        try:
            for future in futures:
                report(future.result())
                shown += 1
        except KeyboardInterrupt:
            _stop(children, futures)
            for future in futures[shown:]:
                if not future.cancelled() and future.exception() is None:
                    report(future.result())
            raise
        finally:
            pool.shutdown(wait=False)
    return summary
