"""``lasagne-style batch`` on Dask: a local cluster, or ``--scheduler``.

The client (the ``batch`` process) reads the manifest, skips the jobs whose
output is done (:func:`lasagne_style.batch.plan`) and submits the others to
Dask; each worker runs :func:`run_job`, which calls
:func:`lasagne_style.cli.main` in the worker process itself. A worker thus
keeps the compiled objectives of its earlier jobs (api's caches are
process-wide): the jobs of one layer set compile once per worker, not once
per job.

- **Paths.** A job's paths are relative to the manifest's directory; they
  are made absolute before submission (a worker is shared by many jobs, so
  it must not ``chdir``). Workers of a remote cluster must see the images
  and outputs at the same paths (shared storage).
- **Same result everywhere.** A job runs the same code as a single
  ``lasagne-style`` call, so the same seed gives the same image whichever
  worker ran it.
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
  always written atomically, so a killed job leaves none half-written.
- **Logs.** Everything a job prints goes to ``OUTPUT.log`` beside its
  output (or into ``--logs DIR``), one header per attempt.
- **Interrupts.** Ctrl-C or SIGTERM asks every running job to stop the way
  a single run stops (best image and checkpoint saved, see
  :mod:`lasagne_style.batch`), waits for them, and exits; a second
  interrupt gives up waiting.
"""
import asyncio
import concurrent.futures
import contextlib
import ctypes
import datetime
import fcntl
import importlib.util
import itertools
import logging
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid

from . import batch
from .errors import UserError

#: How to get this mode, said when ``batch`` falls back to local processes.
INSTALL_HINT = "pip install lasagne_style[dask]"
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


def cpu_count():
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
        path (separators become ``_``) so that two outputs of the same name
        in different folders keep apart.

    Returns
    -------
    str
        ``OUTPUT`` without its extension, plus ``.log``.
    """
    stem = os.path.splitext(output)[0]
    if logs is None:
        return stem + ".log"
    name = stem.strip(os.sep).replace(os.sep, "_")
    return os.path.join(logs, name + ".log")


# --- in the worker process ------------------------------------------------

_job_lock = threading.Lock()     # one job at a time in a worker process
_state_lock = threading.Lock()   # guards _running and _stopped
_running = {}                    # thread ident -> batch id, inside cli.main
_stopped = set()                 # batch ids whose client asked to stop
_process = {}                    # what _prepare_process set up, once


class _ThreadStreams:
    """``sys.stdout`` / ``sys.stderr`` of a worker process: what a job's
    thread writes goes to that job's log, anything else to the original
    stream. Installed once and kept, because loggers (Theano's) keep the
    stream object they saw when they were created."""

    def __init__(self, original):
        self._original = original
        self._local = threading.local()

    def _target(self):
        return getattr(self._local, "stream", None) or self._original

    @contextlib.contextmanager
    def to(self, stream):
        """Within the block, this thread writes to ``stream``."""
        self._local.stream = stream
        try:
            yield
        finally:
            self._local.stream = None

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        self._target().flush()

    def isatty(self):
        return self._target().isatty()

    def __getattr__(self, name):  # encoding, fileno, ...
        return getattr(self._target(), name)


class _LastLine:
    """A stream that writes to ``log`` and remembers its last non-empty
    line: a job's result (stdout) or its error (stderr)."""

    def __init__(self, log):
        self.log = log
        self.last = ""
        self._partial = ""

    def write(self, text):
        self.log.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in reversed(lines):
            if line.strip():
                self.last = line.strip()
                break
        return len(text)

    def flush(self):
        self.log.flush()

    def isatty(self):
        return False

    def line(self):
        return self._partial.strip() or self.last


def _own_cache_dir():
    """This process's Theano cache: the first ``worker-K`` slot no other
    live process holds. The slot's lock file stays locked (the descriptor
    stays open) until the process exits."""
    root = os.path.join(tempfile.gettempdir(),
                        "lasagne-style-workers-%d" % os.getuid())
    os.makedirs(root, mode=0o700, exist_ok=True)
    if os.stat(root).st_uid != os.getuid():
        # someone else's folder in a shared /tmp: not ours to trust
        return tempfile.mkdtemp(prefix="lasagne-style-worker-")
    for slot in itertools.count():
        path = os.path.join(root, "worker-%d" % slot)
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _process["slot_lock"] = fd
        return path


def _prepare_process(threads):
    """Once per worker process, before Theano is imported: BLAS threads,
    the Theano cache and the per-thread streams."""
    if _process.get("ready"):
        return
    if "theano" not in sys.modules:  # else its BLAS and flags are fixed
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                     "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)
        flags = os.environ.get("THEANO_FLAGS", "")
        if "compiledir" not in flags:
            # lasagne_style.compat puts its own flags before these
            os.environ["THEANO_FLAGS"] = ",".join(filter(None, [
                'base_compiledir="%s"' % _own_cache_dir(), flags]))
    sys.stdout = _process["stdout"] = _ThreadStreams(sys.stdout)
    sys.stderr = _process["stderr"] = _ThreadStreams(sys.stderr)
    _process["ready"] = True


def _raise_in(ident, exception):
    """Raise ``exception`` in thread ``ident`` at its next Python bytecode
    (None: withdraw one not raised yet)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident),
        ctypes.py_object(exception) if exception is not None else None)


def stop_batch(batch_id):
    """Run on every worker (``Client.run``) when the batch is interrupted:
    its jobs not started yet will not start, and the running ones get a
    KeyboardInterrupt, which makes a run save its best image and checkpoint
    and return, as SIGTERM does to a single ``lasagne-style`` process."""
    with _state_lock:
        _stopped.add(batch_id)
        for ident, owner in _running.items():
            if owner == batch_id:
                _raise_in(ident, KeyboardInterrupt)


def _leave(ident):
    """Mark thread ``ident`` out of :func:`lasagne_style.cli.main` and
    withdraw an interrupt not raised yet; retried if that interrupt arrives
    meanwhile (none can be sent once ``ident`` has left ``_running``)."""
    while True:
        try:
            with _state_lock:
                _running.pop(ident, None)
                _raise_in(ident, None)
            return
        except KeyboardInterrupt:
            continue


def _call_main(argv, batch_id):
    """``cli.main(argv)`` as :func:`stop_batch` may interrupt it: its exit
    code, or None if the batch was stopped before it started."""
    from . import cli

    ident = threading.get_ident()
    with _state_lock:
        if batch_id in _stopped:
            return None
        _running[ident] = batch_id
    try:
        try:
            return cli.main(argv)
        except SystemExit as e:  # --help or --version in a manifest
            return e.code if isinstance(e.code, int) else 1
        finally:
            _leave(ident)
    except KeyboardInterrupt:  # arrived just outside cli.main's handler
        return cli.EXIT_INTERRUPTED


def _worker_host():
    try:
        from distributed import get_worker
        address = get_worker().address
    except (ImportError, ValueError):
        return None, "?"
    return address.rsplit(":", 1)[0].split("://")[-1], address


def run_job(argv, log, workers_per_host, batch_id):
    """Run one job in this worker process (Dask calls this).

    Parameters
    ----------
    argv : list of str
        The job's ``lasagne-style`` arguments, paths absolute
        (:func:`lasagne_style.batch.absolute_argv`).
    log : str
        The job's log file; appended to, one header per attempt.
    workers_per_host : dict
        Host -> number of worker processes there, for the thread budget.
    batch_id : str
        Identifies the batch for :func:`stop_batch`.

    Returns
    -------
    (str, str, float)
        Status (``done``, ``failed``, ``stopped``, ``skipped``, or
        ``unstarted`` when the batch was stopped before the job began), the
        job's last line of output (its error for a failure), and the
        seconds it took.
    """
    start = time.perf_counter()
    host, address = _worker_host()
    threads = max(1, cpu_count() // workers_per_host.get(host, 1))
    with _job_lock:
        _prepare_process(threads)
        # planned again here: a retried job may now have a checkpoint
        # (resume) or, if its first worker died after writing, be done
        action, argv = batch.plan(argv, os.sep)
        if action == "skip":
            return "skipped", "output exists", 0.0
        if batch_id in _stopped:  # (checked again, atomically, below)
            return "unstarted", "", 0.0
        try:
            sink = open(log, "a", encoding="utf-8")
        except OSError:
            # e.g. the output's folder is missing: the job reports that
            sink = open(os.devnull, "w")
        with sink:
            stamp = datetime.datetime.now().isoformat(" ", "seconds")
            sink.write("=== %s  worker %s  pid %d  batch %s\n$ lasagne-style "
                       "%s\n" % (stamp, address, os.getpid(), batch_id,
                                 " ".join(map(shlex.quote, argv))))
            sink.flush()
            out, err = _LastLine(sink), _LastLine(sink)
            bug = None
            try:
                with _process["stdout"].to(out), \
                        _process["stderr"].to(err):
                    code = _call_main(argv, batch_id)
            except Exception as e:
                # a bug, not a lost worker: reported, not retried
                traceback.print_exc(file=sink)
                code, bug = 1, "%s: %s" % (type(e).__name__, e)
            sink.write("=== exit code %s after %.1f s\n"
                       % (code, time.perf_counter() - start))
    seconds = time.perf_counter() - start
    if bug is not None:
        return "failed", bug.splitlines()[0], seconds
    if code is None:
        return "unstarted", "", 0.0
    if code == 0:
        resumed = " (resumed)" if action == "resume" else ""
        return "done", out.line() + resumed, seconds
    from .cli import EXIT_INTERRUPTED
    stopped = code == EXIT_INTERRUPTED and batch_id in _stopped
    return ("stopped" if stopped else "failed",
            err.line() or "exit code %s" % code, seconds)


def _ignore_terminal_signals():
    """In a worker's main thread: ignore SIGINT and SIGHUP. The worker
    processes of a local cluster share the batch's process group, so a
    terminal's Ctrl-C (or hang-up) would reach them too and kill the running
    jobs; the batch process alone handles it, through :func:`stop_batch`."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _terminal_signals_plugin():
    """A worker plugin calling :func:`_ignore_terminal_signals` on every
    worker, including those a nanny restarts (the class is made here so
    that importing this module does not import Dask)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreTerminalSignals(WorkerPlugin):
        idempotent = True
        name = "lasagne-style-ignore-terminal-signals"

        def setup(self, worker):
            _ignore_terminal_signals()

    return IgnoreTerminalSignals()


# --- in the batch process ---------------------------------------------------

def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)


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
            eta = _duration(mean * left / self.slots)
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


@contextlib.contextmanager
def _client(jobs, scheduler):
    """A Dask client: of ``scheduler``, or of a local cluster of ``jobs``
    worker processes (default :func:`default_workers`)."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            raise UserError("cannot reach the Dask scheduler at %s (%s)"
                            % (scheduler, str(e).splitlines()[0] if str(e)
                               else type(e).__name__))
        with client:
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


def run(manifest, jobs=None, scheduler=None, logs=None, stream=None):
    """Run every job of ``manifest`` on Dask.

    Parameters
    ----------
    manifest : str
        CSV or JSON manifest (:func:`lasagne_style.batch.read_manifest`).
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
    entries = batch.read_manifest(manifest)
    base = os.path.dirname(os.path.abspath(manifest))
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
    for index, job in enumerate(entries):
        try:
            argv = batch.job_argv(job)
        except UserError as e:
            report("failed", "job %d" % (index + 1), str(e))
            continue
        name = argv[argv.index("-o") + 1]
        argv = batch.absolute_argv(argv, base)
        if batch.plan(argv, base)[0] == "skip":
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
    with batch.interrupt_signals(), \
            _client(jobs, scheduler) as client:
        _submit_and_wait(client, todo, progress, report, stream)
    return summary


def _submit_and_wait(client, todo, progress, report, stream):
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
            run_job, argv, log, hosts, batch_id, retries=1, pure=False,
            key="lasagne-style-%s-%d" % (batch_id[:8], index))
        names[future] = name
    finished = as_completed(list(names))
    left = set(names)
    progress.show()

    def wait_for_all():
        while left:
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
