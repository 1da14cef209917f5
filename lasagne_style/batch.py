"""Many runs from one manifest: ``lasagne-style batch MANIFEST --jobs N``.

A manifest is a CSV file with a header, or a JSON list of objects, one job
each. Keys: ``command`` (``transfer`` or ``texture``), ``content`` (transfer
only), ``style`` (several separated by ``;``), ``output``, and any option of
that command without its leading dashes (``size``, ``iters``, ``seed``,
``stat``, ``preset``, ...); empty values are left out.

Every job runs as its own ``lasagne-style`` process, so a failing or crashing
job cannot stop the others. A job whose output exists and has no checkpoint
(``OUTPUT.ckpt.npz``) is done and skipped; one with a checkpoint was
interrupted and continues from it (``--resume``), so running an interrupted
batch again picks up where it stopped. Ctrl-C or SIGTERM stops the batch:
each running job gets SIGTERM, keeps its best image and checkpoint, and the
batch waits for it before exiting (a second interrupt kills the jobs).

With ``N`` jobs at once each process gets ``cpus / N`` BLAS threads: more
threads than cores makes OpenBLAS threads spin against each other (we
measured runs several times slower).

That is the local mode (:func:`run`, ``--local``). When Dask is installed,
:func:`run_batch` runs the same jobs on a Dask cluster instead
(:mod:`lasagne_style.distributed`), with the same manifest and outcomes.
"""
import concurrent.futures
import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading

from . import checkpoint
from .errors import UserError

COMMANDS = ("transfer", "texture")
#: Options that take one comma-separated argument: a JSON list becomes it.
COMMA_LIST_OPTIONS = ("--iters", "--style-layers", "--content-layers")


def read_manifest(path):
    """The jobs of a CSV or JSON manifest, as a list of dicts."""
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte order mark,
        # which would otherwise become part of the first column's name
        with open(path, newline="", encoding="utf-8-sig") as f:
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
        values = ([str(v) for v in value] if isinstance(value, list)
                  else [str(value)])
        if flag in COMMA_LIST_OPTIONS:
            values = [",".join(values)]
        argv += [flag] + values
    return argv


def plan(argv, base):
    """What to do with the job of arguments ``argv`` (from :func:`job_argv`).

    Parameters
    ----------
    argv : list of str
        The job's ``lasagne-style`` arguments; ``-o OUTPUT`` is relative to
        ``base``.
    base : str
        The directory the job runs in (the manifest's).

    Returns
    -------
    (str, list of str)
        ``('skip', argv)`` if the output exists and no checkpoint does (the
        job is done); ``('resume', argv + ['--resume', CHECKPOINT])`` if an
        interrupted run left its checkpoint (its output is then only the
        best image so far); ``('run', argv)`` otherwise.
    """
    output = argv[argv.index("-o") + 1]
    saved = checkpoint.path_for(output)
    if os.path.exists(os.path.join(base, saved)):
        if "--resume" in argv:  # the manifest names one itself
            return "run", argv
        return "resume", argv + ["--resume", saved]
    if os.path.exists(os.path.join(base, output)):
        return "skip", argv
    return "run", argv


#: Options whose value is a path; ``--init`` takes keywords too.
PATH_OPTIONS = ("-o", "--output", "--log", "--plot", "--weights", "--resume",
                "--init")
#: Options followed by one path or more (up to the next option).
PATHS_OPTIONS = ("--masks", "--style-masks")
INIT_KEYWORDS = ("noise", "content")


def absolute_argv(argv, base):
    """``argv`` (from :func:`job_argv`) with its paths joined to ``base``.

    A job whose process is shared with other jobs (a Dask worker) cannot
    ``chdir`` to the manifest's directory, so its paths must not depend on
    the current directory. Positional arguments (content and style images)
    and the values of :data:`PATH_OPTIONS` and :data:`PATHS_OPTIONS` are
    paths, except ``--init``'s keywords; absolute paths stay as they are.
    """
    argv = list(argv)
    end = argv.index("-o")
    for i in range(1, end):
        argv[i] = os.path.join(base, argv[i])
    option, values = None, 0  # the option read last, values seen since
    for i in range(end, len(argv)):
        token = argv[i]
        if token.startswith("-") and not _is_number(token):
            option, values = token, 0
            continue
        values += 1
        if option in PATHS_OPTIONS or option in PATH_OPTIONS and values == 1 \
                and not (option == "--init" and token in INIT_KEYWORDS):
            argv[i] = os.path.join(base, token)
    return argv


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def run_batch(manifest, jobs=None, scheduler=None, local=False, logs=None,
              stream=None):
    """Run ``manifest`` on Dask when it is installed, else locally.

    Parameters
    ----------
    manifest : str
        CSV or JSON manifest.
    jobs : int, optional
        Jobs at once: local Dask workers, or processes in the local mode
        (default: sized to the machine with Dask, 1 locally).
    scheduler : str, optional
        A running Dask scheduler's address (Dask mode only).
    local : bool
        One ``lasagne-style`` process per job (:func:`run`), no Dask.
    logs : str, optional
        Folder for the per-job logs (Dask mode only).
    stream : file, optional
        Where outcomes and progress go (default: ``sys.stderr``).

    Returns
    -------
    dict
        {'done', 'skipped', 'failed'}: lists of (output, message).
    """
    from . import distributed

    stream = stream or sys.stderr  # the current one (tests swap it)
    if local or not distributed.available():
        wanted = [flag for flag, value in (("--scheduler", scheduler),
                                           ("--logs", logs)) if value]
        if wanted:
            raise UserError("%s needs Dask (%s)" % (
                " and ".join(wanted), "not with --local" if local else
                distributed.INSTALL_HINT))
        if not local:
            print("batch: running locally; for Dask workers or a cluster: "
                  "%s" % distributed.INSTALL_HINT, file=stream, flush=True)
        return run(manifest, jobs or 1, stream=stream)
    return distributed.run(manifest, jobs=jobs, scheduler=scheduler,
                           logs=logs, stream=stream)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_signals():
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt and
    SIGINT does too even if the process started with it ignored (a shell
    script's background job), so that :func:`run` can stop its jobs instead
    of leaving them orphaned. Handlers set by the caller are left alone, and
    the previous ones come back afterwards. No-op outside the main thread
    (where Python cannot set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = {signal.SIGTERM: _raise_interrupt,
              signal.SIGHUP: _raise_interrupt,
              signal.SIGINT: signal.default_int_handler}
    previous = {}
    try:
        for signum, handler in wanted.items():
            current = signal.getsignal(signum)
            # nohup's ignored SIGHUP stays ignored
            if current == signal.SIG_DFL or (current == signal.SIG_IGN
                                             and signum == signal.SIGINT):
                previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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


def run(manifest, jobs=1, stream=sys.stderr):
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
    entries = read_manifest(manifest)
    base = os.path.dirname(os.path.abspath(manifest))
    summary = {"done": [], "skipped": [], "failed": []}
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(max(
        1, (os.cpu_count() or 1) // jobs)))
    children = _Children()

    def one(index, job):
        name = "job %d" % (index + 1)
        try:
            argv = job_argv(job)
        except UserError as e:
            return "failed", name, str(e)
        name = argv[argv.index("-o") + 1]
        action, argv = plan(argv, base)
        if action == "skip":
            return "skipped", name, "output exists"
        proc = children.start([sys.executable, "-m", "lasagne_style.cli"]
                              + argv, cwd=base, env=env,
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
            return ("stopped" if children.stopping else "failed", name,
                    lines[-1])
        resumed = " (resumed)" if action == "resume" else ""
        return "done", name, stdout.strip().splitlines()[-1] + resumed

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
