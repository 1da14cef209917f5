"""Batch manifests: a CSV file with a header, or a JSON list of objects, one
job each, turned into ``lasagne-style`` arguments.

Keys: ``command`` (``transfer`` or ``texture``), ``content`` (transfer
only), ``style`` (several separated by ``;``), ``output``, and any option of
that command without its leading dashes (``size``, ``iters``, ``seed``,
``stat``, ``preset``, ``masks``, ...); empty values are left out. Two jobs
may not write the same output, and the output folders are created before
any job runs (``samples/batch_example.csv`` is an example). Which
options take paths and which take one comma-separated value comes from
:mod:`lasagne_style.options`.
"""
import csv
import json
import os

from .. import checkpoint, config, images
from ..errors import UserError
from ..options import flags_of_kind

COMMANDS = ("transfer", "texture")
#: Options that take one comma-separated argument: a JSON list becomes it.
COMMA_LIST_OPTIONS = flags_of_kind("list")
#: Options whose value is a path (``--init`` takes keywords too).
PATH_OPTIONS = flags_of_kind("path")
#: Options followed by one path or more (up to the next option).
PATHS_OPTIONS = flags_of_kind("paths")
#: Options followed by one value or more: ``;``-separated in a CSV cell.
MANY_OPTIONS = PATHS_OPTIONS + flags_of_kind("many")
#: Flags without a value (``tileable``): a manifest gives true or false.
SWITCHES = flags_of_kind("switch")
#: Options of the command line that a job may not set: they print
#: something else than a run.
REFUSED = ("help", "h", "version")


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


def read_jobs(path):
    """The jobs of manifest ``path``, checked as a whole before any runs.

    Returns
    -------
    (str, list)
        The manifest's folder (the jobs' paths are relative to it), and one
        ``(name, argv, error)`` per job: the output path as the manifest
        gives it (or ``job N``), the job's arguments (:func:`job_argv`), or
        the one-line reason it cannot run (argv None).

    Raises
    ------
    UserError
        Two jobs write the same output (one result would be lost), or an
        output folder cannot be created.
    """
    base = os.path.dirname(os.path.abspath(path))
    jobs, outputs = [], {}
    for index, job in enumerate(read_manifest(path)):
        try:
            argv = job_argv(job)
        except UserError as e:
            jobs.append(("job %d" % (index + 1), None, str(e)))
            continue
        name = argv[argv.index("-o") + 1]
        output = os.path.realpath(os.path.join(base, name))
        if output in outputs:
            raise UserError("jobs %d and %d both write %s: give each job its "
                            "own output" % (outputs[output], index + 1,
                                            name))
        outputs[output] = index + 1
        jobs.append((name, argv, None))
    for output in outputs:  # the folders the manifest names, made now
        try:
            os.makedirs(os.path.dirname(output), exist_ok=True)
        except OSError as e:
            raise UserError("cannot create the output folder %s (%s)"
                            % (os.path.dirname(output), e.strerror))
    return base, jobs


def _switch(key, value):
    """A manifest's value for a switch (``tileable``): true or false."""
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UserError("%s takes true or false, not %r" % (key, value))


def _relative(path):
    """A relative path that argparse cannot take for an option."""
    return "./" + path if path.startswith("-") else path


def job_argv(job):
    """The ``lasagne-style`` arguments of one job (UserError if malformed).

    Values of options that take several paths or numbers may be given as a
    JSON list or, in a CSV cell, separated by ``;`` (as ``style`` is); a
    switch (``tileable``) takes true or false."""
    job = {k.strip(): v for k, v in job.items() if k and v not in (None, "")}
    refused = [key for key in job if key.lstrip("-") in REFUSED]
    if refused:
        raise UserError("a job cannot set %r: it prints something else "
                        "than a run" % refused[0])
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
        argv.append(_relative(str(job.pop("content"))))
    style = job.pop("style")
    argv += [_relative(str(s)) for s in (
        style if isinstance(style, list) else str(style).split(";"))]
    argv += ["-o", _relative(str(job.pop("output"))), "--quiet"]
    for key, value in job.items():
        flag = "--" + key.replace("_", "-")
        if flag in SWITCHES:
            if _switch(key, value):
                argv.append(flag)
            continue
        if isinstance(value, list):
            values = [str(v) for v in value]
        elif flag in MANY_OPTIONS + COMMA_LIST_OPTIONS:
            values = str(value).split(";")
        else:
            values = [str(value)]
        if flag in COMMA_LIST_OPTIONS:
            values = [",".join(values)]
        if flag in PATH_OPTIONS + PATHS_OPTIONS:
            values = [_relative(v) for v in values]
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
        ``('skip', argv)`` if the output exists, no checkpoint does and the
        output does not say it is an interrupted run's image (the job is
        done), nor an older version's checkpoint (``OUT.ckpt.npz``, which
        cannot be resumed); ``('resume', argv + ['--resume', CHECKPOINT])``
        if an
        interrupted run left its checkpoint (its output is then only the
        best image so far); ``('run', argv)`` otherwise.
    """
    output = argv[argv.index("-o") + 1]
    saved = checkpoint.path_for(output)
    if os.path.exists(os.path.join(base, saved)):
        if "--resume" in argv:  # the manifest names one itself
            return "run", argv
        return "resume", argv + ["--resume", saved]
    if os.path.exists(os.path.join(base, output)) and \
            not images.unfinished_output(os.path.join(base, output)) and \
            not os.path.exists(os.path.join(
                base, checkpoint.legacy_path_for(output))):
        return "skip", argv
    # (an output beside an older version's checkpoint, OUT.ckpt.npz, was
    # interrupted: that checkpoint cannot be resumed, the job runs again)
    return "run", argv


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
                and not (option == "--init" and token in config.INITS):
            argv[i] = os.path.join(base, token)
    return argv


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


