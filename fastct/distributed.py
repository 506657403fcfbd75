"""Former home of fastct's Dask support, kept so existing imports work.

Dask arrays: :mod:`fastct.dask_arrays` (``process_dask``,
``RechunkWarning``, ``limit_numba_threads``). Files on a Dask cluster: the
job engine's Dask executor, :func:`fastct.jobs.process_files` with
``client=`` (and :func:`fastct.jobs.connect`,
:func:`fastct.jobs.local_cluster`). New code imports from those modules.
"""

from .dask_arrays import WHOLE_SLICE_WARN_BYTES, RechunkWarning, limit_numba_threads, process_dask
from .jobs.executors import connect, local_cluster

__all__ = ["WHOLE_SLICE_WARN_BYTES", "RechunkWarning", "connect", "limit_numba_threads", "local_cluster",
           "process_dask"]
