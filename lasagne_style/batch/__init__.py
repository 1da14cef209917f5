"""Many runs from one manifest: ``lasagne-style batch MANIFEST --jobs N``.

- :mod:`.manifest`: reading a manifest and turning each job into
  ``lasagne-style`` arguments, deciding what is done, to resume or to run;
- :mod:`.local`: one process per job (``--local``, or without Dask);
- :mod:`.dask_client` and :mod:`.dask_worker`: the same jobs on a Dask
  cluster, local or ``--scheduler``, with the same outcomes.

The command line's entry point is passed in (:func:`run_batch`'s
``entry``), so nothing here imports the CLI.
"""
import sys

from ..errors import UserError
from .manifest import absolute_argv, job_argv, plan, read_manifest

__all__ = ["read_manifest", "job_argv", "plan", "absolute_argv", "run_batch"]


def run_batch(manifest, entry, jobs=None, scheduler=None, local=False,
              logs=None, stream=None):
    """Run ``manifest`` on Dask when it is installed, else locally.

    Parameters
    ----------
    manifest : str
        CSV or JSON manifest.
    entry : callable
        The command line's entry point (:func:`lasagne_style.cli.main`),
        which Dask workers call for each job.
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
    from . import dask_client, local as local_mode

    stream = stream or sys.stderr  # the current one (tests swap it)
    if local or not dask_client.available():
        wanted = [flag for flag, value in (("--scheduler", scheduler),
                                           ("--logs", logs)) if value]
        if wanted:
            raise UserError("%s needs Dask (%s)" % (
                " and ".join(wanted), "not with --local" if local else
                dask_client.INSTALL_HINT))
        if not local:
            print("batch: running locally; for Dask workers or a cluster: "
                  "%s" % dask_client.INSTALL_HINT, file=stream, flush=True)
        return local_mode.run(manifest, jobs or 1, stream=stream)
    return dask_client.run(manifest, entry, jobs=jobs, scheduler=scheduler,
                           logs=logs, stream=stream)


