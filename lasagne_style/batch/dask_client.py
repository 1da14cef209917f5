"""``lasagne-style batch`` on Dask: a local cluster, or ``--scheduler``.

The client (the ``batch`` process) reads the manifest, skips the jobs whose
output is done (:func:`lasagne_style.batch.manifest.plan`) and submits the
others to Dask; each worker runs
:func:`lasagne_style.batch.dask_worker.run_job`, which calls the CLI's entry
point (passed in by the CLI) in the worker process itself. A worker thus
keeps the compiled objectives of its earlier jobs (api's caches are
process-wide): the jobs of one layer set compile once per worker, not once
per job.

- **Paths.** A job's paths are relative to the manifest's directory; they
  are made absolute before submission (a worker is shared by many jobs, so
  it must not ``chdir``). Workers of a remote cluster must see the images
  and outputs at the same paths (shared storage).
- **Same code everywhere.** A job runs the same code as a single
  ``lasagne-style`` call: the same seed gives the same image as a single
  run with the same number of threads (sums inside BLAS and the C ops are
  split by thread, so another thread count may change the last digits).
- **Threads.** Each worker process gets ``cpus / workers on its host`` BLAS
  and OpenMP threads, set in its environment before Theano loads its BLAS.
  A worker runs one job at a time (Theano functions are not thread-safe):
  start workers with ``--nthreads 1``.
- **Compile cache.** Each worker process gets its own Theano cache in the
  local temporary directory (``worker-K`` under
  ``$TMPDIR/lasagne-style-workers-UID``, K the first slot no live process
  holds), so workers neither wait on each other's cache lock nor share a
  network home; the slots are stable, so the next batch finds the cache
  warm. A ``compiledir`` in the worker's ``THEANO_FLAGS`` is left alone.
- **Failures.** A job that fails (exit code != 0) is reported and the
  others go on. A job whose worker dies is run again once on another
  worker (a local cluster allows one such failure; a remote scheduler
  applies its own ``distributed.scheduler.allowed-failures``); an output is
  always written atomically, so a killed job leaves none half-written. A
  scheduler that goes away ends the batch with one line (exit 2); each
  worker, which shuts down when it loses its scheduler, first stops its
  running job as an interrupt would (best image and checkpoint kept), so
  the next batch resumes it.
- **Logs.** Everything a job prints goes to ``OUTPUT.log`` beside its
  output (``out/r.png.log``; or into ``--logs DIR``, named after the
  output's whole path), one header per attempt.
- **Interrupts.** Ctrl-C or SIGTERM asks every running job to stop the way
  a single run stops (best image and checkpoint saved, see
  :mod:`lasagne_style.batch`), waits for them, and exits; a second
  interrupt gives up waiting.
"""
import asyncio
import concurrent.futures
import contextlib
import importlib.util
import logging
import os
import socket
import sys
import time
import uuid

from ..errors import UserError
from ..optimize import duration
from ..signals import interrupt_signals
from . import manifest
from .dask_worker import (_terminal_signals_plugin, cpu_count, run_job,
                          stop_batch)

#: How to get this mode, said when ``batch`` falls back to local processes.
INSTALL_HINT = "pip install 'dask[distributed]' in this environment"
#: Memory one worker may need for the usual sizes (a 512 px run peaks near
#: 1.4 GB): a machine with little memory gets fewer workers than cores.
MEMORY_PER_WORKER = 2 << 30
#: A scheduler that does not answer in this time is an error.
CONNECT_TIMEOUT = "10s"
#: Seconds to wait for a first worker on a scheduler that has none.
WORKER_TIMEOUT = 120


def available():
    """Whether ``dask.distributed`` can be imported here."""
    return importlib.util.find_spec("distributed") is not None


def default_workers():
    """Worker processes of a local cluster: one per CPU, fewer when memory
    is short (see :data:`MEMORY_PER_WORKER`)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 0
    if memory <= 0:
        return cpu_count()
    return max(1, min(cpu_count(), memory // MEMORY_PER_WORKER))


def log_path(output, logs=None):
    """Where the log of the job writing ``output`` (absolute) goes.

    Parameters
    ----------
    output : str
        The job's output path, absolute.
    logs : str, optional
        A directory for all logs; the log is then named after the output's
        whole path: separators become ``_``, and a ``%`` or ``_`` of the
        path is written ``%25`` or ``%5F``, so that no two outputs share a
        log (``/d/out/a.png`` and ``/d/out_a.png`` give ``d_out_a.png.log``
        and ``d_out%5Fa.png.log``).

    Returns
    -------
    str
        ``OUTPUT.log``: the output's whole name, extension included (as for
        checkpoints, ``r.png`` and ``r.jpg`` keep apart), plus ``.log``.
    """
    if logs is None:
        return output + ".log"
    name = output.strip(os.sep).replace("%", "%25").replace("_", "%5F")
    return os.path.join(logs, name.replace(os.sep, "_") + ".log")


class _Progress:
    """The batch's progress line on ``stream``: rewritten in place on a
    terminal, printed again after each finished job otherwise."""

    def __init__(self, total, slots, stream):
        self.total, self.slots, self.stream = total, max(1, slots), stream
        self.counts = {"done": 0, "skipped": 0, "failed": 0, "stopped": 0}
        self.seconds = []  # of the jobs that ran to the end
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.shown = False

    def line(self):
        finished = sum(self.counts.values())
        left = self.total - finished
        running = min(left, self.slots)
        if self.seconds and left:
            mean = sum(self.seconds) / len(self.seconds)
            eta = duration(mean * left / self.slots)
        else:
            eta = "--" if left else "0m00s"
        return ("batch: %d/%d finished (%d done, %d skipped, %d failed), "
                "%d running, ETA %s" % (
                    finished, self.total, self.counts["done"],
                    self.counts["skipped"], self.counts["failed"], running,
                    eta))

    def clear(self):
        if self.tty and self.shown:
            self.stream.write("\r\033[K")
            self.shown = False

    def show(self):
        self.clear()
        if self.tty:
            self.stream.write(self.line())
            self.shown = True
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def job(self, status, name, message, seconds=None):
        """Print one job's outcome above the progress line."""
        self.counts[status] = self.counts.get(status, 0) + 1
        if status == "done" and seconds:
            self.seconds.append(seconds)
        self.clear()
        self.stream.write("%-7s %s: %s\n" % (status, name, message))
        self.stream.flush()

    def close(self):
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


def _workers_per_host(client):
    """Host -> worker processes there, and the scheduler's worker info."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    hosts = {}
    for address, info in workers.items():
        host = info.get("host") or address.rsplit(":", 1)[0].split("://")[-1]
        hosts[host] = hosts.get(host, 0) + 1
    return hosts, workers


def _check_answers(scheduler):
    """UserError unless a ``tcp://`` scheduler speaks first within
    :data:`CONNECT_TIMEOUT`, as a Dask scheduler does (its handshake):
    Dask's client bounds the connection but not the wait for the
    scheduler's reply, so a port that accepts and never answers (another
    service, a firewall) would hang the batch. Other protocols are left to
    Dask."""
    address = scheduler.split("://", 1)[1] if "://" in scheduler \
        else scheduler
    if "://" in scheduler and not scheduler.startswith("tcp://"):
        return
    host, _, port = address.rpartition(":")
    seconds = float(CONNECT_TIMEOUT.rstrip("s"))
    try:
        with socket.create_connection((host.strip("[]"), int(port)),
                                      timeout=seconds) as sock:
            sock.settimeout(seconds)
            if sock.recv(1):
                return
            reason = "it closed the connection"
    except socket.timeout:
        reason = "no answer within %s" % CONNECT_TIMEOUT
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
    raise UserError("cannot reach the Dask scheduler at %s (%s)"
                    % (scheduler, reason))


@contextlib.contextmanager
def _quiet_dask_logs():
    """Dask's own log messages off in this (the client's) process: when the
    scheduler goes away they are tracebacks, and the batch says in one line
    what happened (its jobs' logs keep what the workers print)."""
    names = ["distributed"] + [n for n in logging.root.manager.loggerDict
                               if n.startswith("distributed.")]
    levels = {n: logging.getLogger(n).level for n in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _client(jobs, scheduler):
    """A Dask client: of ``scheduler``, or of a local cluster of ``jobs``
    worker processes (default :func:`default_workers`)."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        _check_answers(scheduler)
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            raise UserError("cannot reach the Dask scheduler at %s (%s)"
                            % (scheduler, str(e).splitlines()[0] if str(e)
                               else type(e).__name__))
        with _quiet_dask_logs(), client:
            try:
                client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
            except (asyncio.TimeoutError, OSError):
                raise UserError("no Dask worker joined the scheduler at %s "
                                "within %d s" % (scheduler, WORKER_TIMEOUT))
            yield client
        return
    workers = jobs or default_workers()
    threads = str(max(1, cpu_count() // workers))
    config = {
        # a worker lost mid-job: its job runs once more, then fails
        "distributed.scheduler.allowed-failures": 1,
        # numpy's BLAS reads these when the worker process imports it
        "distributed.nanny.pre-spawn-environ.OPENBLAS_NUM_THREADS": threads,
        "distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS": threads,
        "distributed.nanny.pre-spawn-environ.MKL_NUM_THREADS": threads,
    }
    with dask.config.set(config):
        # memory_limit=0: our jobs' memory is Theano's, not Dask's data, and
        # a per-worker share of the machine would kill large renders that
        # fit in it; no dashboard: a batch is watched through its progress
        # line, and a fixed port could be taken
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                               processes=True, host="127.0.0.1",
                               memory_limit=0, dashboard_address=None,
                               silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        client.register_plugin(_terminal_signals_plugin())
        yield client


def _outcome(future):
    """A finished future's (status, message, seconds)."""
    from distributed.scheduler import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        return "failed", "its worker died on every try", 0.0
    except (Exception, concurrent.futures.CancelledError,
            asyncio.CancelledError) as e:
        message = str(e).strip().splitlines()
        return ("failed", "%s: %s" % (type(e).__name__, message[-1])
                if message else type(e).__name__, 0.0)


def run(path, entry, jobs=None, scheduler=None, logs=None, stream=None):
    """Run every job of ``manifest`` on Dask.

    Parameters
    ----------
    path : str
        CSV or JSON manifest (:func:`lasagne_style.batch.manifest.read`).
    entry : callable
        The command line's entry point, run by the workers
        (:func:`lasagne_style.cli.main`).
    jobs : int, optional
        Worker processes of the local cluster (default
        :func:`default_workers`); not with ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to use
        instead of a local cluster.
    logs : str, optional
        Directory for the jobs' logs (default: beside each output).
    stream : file, optional
        Where job outcomes and the progress line go (default:
        ``sys.stderr``).

    Returns
    -------
    dict
        {'done', 'skipped', 'failed'} (and 'stopped' after an interrupt):
        lists of (output, message), as :func:`lasagne_style.batch.run`.

    Raises
    ------
    UserError
        Unreadable manifest, unusable ``logs``, unreachable scheduler.
    KeyboardInterrupt
        On Ctrl-C or SIGTERM, once the running jobs have stopped.
    """
    stream = stream or sys.stderr  # the current one (tests swap it)
    if jobs and scheduler:
        raise UserError("--jobs sizes a local cluster; with --scheduler the "
                        "cluster's workers run the jobs")
    base, entries = manifest.read_jobs(path)
    if logs is not None:
        logs = os.path.abspath(logs)
        try:
            os.makedirs(logs, exist_ok=True)
        except OSError as e:
            raise UserError("cannot create the log folder %s (%s)"
                            % (logs, e.strerror))
    summary = {"done": [], "skipped": [], "failed": []}
    progress = _Progress(len(entries), 1, stream)

    def report(status, name, message, seconds=None):
        # the workers saw absolute paths: say them as the manifest does
        message = message.replace(base + os.sep, "")
        summary.setdefault(status, []).append((name, message))
        progress.job(status, name, message, seconds)

    todo = []
    for name, argv, error in entries:
        if error:
            report("failed", name, error)
            continue
        argv = manifest.absolute_argv(argv, base)
        if manifest.plan(argv, base)[0] == "skip":
            report("skipped", name, "output exists")
            continue
        # progress lines go to the job's log: drop the manifest's --quiet
        argv = [a for a in argv if a not in ("--quiet", "-q")]
        output = argv[argv.index("-o") + 1]
        todo.append((name, argv, log_path(output, logs)))
    if not todo:  # nothing to run: no cluster to start
        return summary
    # handlers from here on: a SIGTERM while the local cluster starts must
    # close it too (its workers are this process's children)
    with interrupt_signals(), \
            _client(jobs, scheduler) as client:
        _submit_and_wait(client, entry, todo, progress, report, stream)
    return summary


def _submit_and_wait(client, entry, todo, progress, report, stream):
    """Submit the jobs of ``todo`` ((name, argv, log) each), ``report``
    their outcomes as they finish, stop them on KeyboardInterrupt."""
    from distributed import as_completed

    hosts, workers = _workers_per_host(client)
    if any(w.get("nthreads", 1) > 1 for w in workers.values()):
        stream.write("batch: a worker with several threads still runs one "
                     "job at a time (start workers with --nthreads 1)\n")
    progress.slots = max(1, len(workers))
    batch_id = uuid.uuid4().hex
    names = {}
    for index, (name, argv, log) in enumerate(todo):
        # a job whose worker dies runs again (allowed-failures); retries=1
        # gives a job that errs outside run_job (a worker that cannot import
        # lasagne_style, say) a second try too
        future = client.submit(
            run_job, entry, argv, log, hosts, batch_id, retries=1, pure=False,
            key="lasagne-style-%s-%d" % (batch_id[:8], index))
        names[future] = name
    finished = as_completed(list(names))
    left = set(names)
    progress.show()

    def wait_for_all():
        while left:
            if client.status != "running":  # its futures are cancelled
                raise UserError(
                    "lost the Dask scheduler: %d job(s) did not finish (a "
                    "running one stops, keeping its checkpoint); run the "
                    "batch again to resume them" % len(left))
            done = finished.next_batch(block=False)
            if not done:
                time.sleep(0.25)  # interruptible, unlike a blocking wait
                continue
            for future in done:
                left.discard(future)
                status, message, seconds = _outcome(future)
                if status != "unstarted":
                    report(status, names[future], message, seconds)
            progress.show()

    try:
        wait_for_all()
    except KeyboardInterrupt:
        progress.clear()
        stream.write("batch: stopping; the running jobs keep their best "
                     "image and checkpoint\n")
        try:
            client.run(stop_batch, batch_id)
            wait_for_all()
        except KeyboardInterrupt:  # a second one: do not wait
            client.cancel(list(left), force=True)
        raise
    finally:
        progress.close()
