"""Input checks that read a whole batch, as one pass on all threads."""

from __future__ import annotations

import numpy as np

from ._jit import jobjit
from ._threads import run_jobs

#: Elements per job: 256 KiB of float32, enough to hide a job's overhead and
#: small enough that the threads share a batch evenly.
FINITE_BLOCK = 1 << 16

#: Exponent field of each float type, as the unsigned integer of the same width.
_EXPONENT = {
    np.dtype(np.float32): (np.uint32, np.uint32(0x7F800000)),
    np.dtype(np.float64): (np.uint64, np.uint64(0x7FF0000000000000)),
}


def all_finite(batch: np.ndarray) -> bool:
    """True when a C-contiguous float32/float64 array holds no NaN or infinity.

    A float is NaN or infinite exactly when its exponent bits are all ones, so
    one pass counts such values in integers (an integer sum vectorises; a
    float reduction would need fast-math). Other dtypes are finite.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 3, 4), np.float32)
    >>> all_finite(x)
    True
    >>> x[1, 2, 3] = np.inf
    >>> all_finite(x)
    False
    """
    spec = _EXPONENT.get(batch.dtype)
    if spec is None or batch.size == 0:
        return True
    uint, exponent = spec
    bits = batch.reshape(-1).view(uint)
    jobs = -(-bits.size // FINITE_BLOCK)
    found = np.zeros(jobs, np.bool_)
    run_jobs(_nonfinite_jobs, (bits, exponent, FINITE_BLOCK, found), jobs)
    return not found.any()


@jobjit
def _nonfinite_jobs(bits, exponent, block, found, first_job, end_job):
    """Jobs ``first_job:end_job``; job ``j`` flags a non-finite value among elements ``j * block`` on."""
    for job in range(first_job, end_job):
        part = bits[job * block : (job + 1) * block]  # a view indexed from 0: the loop vectorises
        count = 0
        for i in range(part.shape[0]):
            count += (part[i] & exponent) == exponent
        found[job] = count > 0
