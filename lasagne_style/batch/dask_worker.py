"""The Dask worker's side of ``lasagne-style batch``: :func:`run_job` runs
one job in the worker process itself, by calling the command-line entry
point it is given (the client passes :func:`lasagne_style.cli.main`, so
this package never imports the CLI). See :mod:`lasagne_style.batch.dask_client`
for the whole design.
"""
import contextlib
import ctypes
import datetime
import errno
import fcntl
import itertools
import os
import shlex
import signal
import stat
import sys
import tempfile
import threading
import time
import traceback

from ..errors import EXIT_INTERRUPTED
from . import manifest


def cpu_count():
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_job_lock = threading.Lock()     # one job at a time in a worker process
_state_lock = threading.Lock()   # guards _running and _stopped
_running = {}                    # thread ident -> batch id, inside cli.main
_stopped = set()                 # batch ids whose client asked to stop
_process = {}                    # what _prepare_process set up, once
#: How often a running job checks that its worker is not shutting down.
WATCH_SECONDS = 0.5


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


def stop_batch(batch_id, only=None):
    """Run on every worker (``Client.run``) when the batch is interrupted:
    its jobs not started yet will not start, and the running ones (or only
    the one in thread ``only``) get a KeyboardInterrupt, which makes a run
    save its best image and checkpoint and return, as SIGTERM does to a
    single ``lasagne-style`` process."""
    with _state_lock:
        _stopped.add(batch_id)
        for ident, owner in _running.items():
            if owner == batch_id and only in (None, ident):
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


def _call_main(entry, argv, batch_id):
    """``entry(argv)`` (the CLI's main) as :func:`stop_batch` may interrupt
    it: its exit code, or None if the batch was stopped before it started."""
    ident = threading.get_ident()
    with _state_lock:
        if batch_id in _stopped:
            return None
        _running[ident] = batch_id
    try:
        try:
            return entry(argv)
        except SystemExit as e:  # --help or --version in a manifest
            return e.code if isinstance(e.code, int) else 1
        finally:
            _leave(ident)
    except KeyboardInterrupt:  # arrived just outside cli.main's handler
        return EXIT_INTERRUPTED


def _closing(worker):
    """Whether ``worker`` (a Dask worker) is shutting down: it does when it
    loses its scheduler, and would then wait for the running job."""
    status = getattr(getattr(worker, "status", None), "name", "running")
    return status in ("closing", "closed", "failed")


@contextlib.contextmanager
def _stopped_if_orphaned(batch_id):
    """Within the block, if this thread's worker starts to shut down (its
    scheduler died or it is being closed), the job running in this thread
    is stopped as :func:`stop_batch` would: best image and checkpoint
    kept, instead of running on in a worker nobody listens to."""
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):  # not in a Dask worker
        yield
        return
    ident, finished = threading.get_ident(), threading.Event()

    def watch():
        while not finished.wait(WATCH_SECONDS):
            if _closing(worker):
                stop_batch(batch_id, only=ident)
                return

    watcher = threading.Thread(target=watch, daemon=True,
                               name="lasagne-style-orphan-watch")
    watcher.start()
    try:
        yield
    finally:
        finished.set()


def _worker_host():
    try:
        from distributed import get_worker
        address = get_worker().address
    except (ImportError, ValueError):
        return None, "?"
    return address.rsplit(":", 1)[0].split("://")[-1], address


def open_log(path):
    """``path`` opened for appending, if it is a regular file (or can be
    created as one); OSError otherwise. Opened without blocking: a FIFO
    there (no reader) or a device must not hang the worker."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                 | os.O_NONBLOCK, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding="utf-8")


def run_job(entry, argv, log, workers_per_host, batch_id):
    """Run one job in this worker process (Dask calls this).

    Parameters
    ----------
    entry : callable
        The command line's entry point, ``entry(argv) -> exit code``
        (:func:`lasagne_style.cli.main`).
    argv : list of str
        The job's ``lasagne-style`` arguments, paths absolute
        (:func:`lasagne_style.batch.manifest.absolute_argv`).
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
        action, argv = manifest.plan(argv, os.sep)
        if action == "skip":
            return "skipped", "output exists", 0.0
        if batch_id in _stopped:  # (checked again, atomically, below)
            return "unstarted", "", 0.0
        try:
            sink = open_log(log)
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
                        _process["stderr"].to(err), \
                        _stopped_if_orphaned(batch_id):
                    code = _call_main(entry, argv, batch_id)
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


