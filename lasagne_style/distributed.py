"""Deprecated: the Dask batch runner moved to
:mod:`lasagne_style.batch.dask_client` (the client) and
:mod:`lasagne_style.batch.dask_worker` (the workers). This module re-exports
their public names and will be removed."""
import warnings

from .batch.dask_client import (INSTALL_HINT, available, default_workers,  # noqa: F401
                                log_path, run)
from .batch.dask_worker import cpu_count, run_job, stop_batch  # noqa: F401

warnings.warn("lasagne_style.distributed moved to lasagne_style.batch."
              "dask_client and lasagne_style.batch.dask_worker",
              DeprecationWarning, stacklevel=2)
