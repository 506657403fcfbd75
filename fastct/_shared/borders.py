"""Border index maps: where a stencil reads when it leaves the slice.

A map for an axis of length ``n`` extended by ``before`` and ``after`` cells
holds, for every extended position, the index of the source cell it copies, or
-1 where mode ``constant`` supplies ``cval``. Both backends receive these maps
as small arrays, so border semantics are defined in exactly one place and
match scipy.ndimage for any extension, even one wider than the axis.
"""

from __future__ import annotations

import numpy as np


def border_index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source indices for positions ``-before .. n + after - 1`` of an axis.

    Examples
    --------
    >>> border_index_map(4, 2, 2, "reflect").tolist()
    [1, 0, 0, 1, 2, 3, 3, 2]
    >>> border_index_map(4, 2, 2, "mirror").tolist()
    [2, 1, 0, 1, 2, 3, 2, 1]
    >>> border_index_map(3, 1, 1, "constant").tolist()
    [-1, 0, 1, 2, -1]
    """
    idx = np.arange(-before, n + after, dtype=np.int64)
    if mode == "nearest":
        out = np.clip(idx, 0, n - 1)
    elif mode == "wrap":
        out = idx % n
    elif mode == "reflect":  # d c b a | a b c d | d c b a
        m = idx % (2 * n)
        out = np.where(m >= n, 2 * n - 1 - m, m)
    elif mode == "mirror":  # d c b | a b c d | c b a
        if n == 1:
            out = np.zeros_like(idx)
        else:
            m = idx % (2 * n - 2)
            out = np.where(m >= n, 2 * n - 2 - m, m)
    elif mode == "constant":
        out = np.where((idx < 0) | (idx >= n), -1, idx)
    else:  # validated earlier; kept as a guard for internal callers
        raise ValueError(f"unknown border mode {mode!r}")
    return np.ascontiguousarray(out, dtype=np.int64)


NUMPY_PAD_MODES = {
    "nearest": "edge",
    "reflect": "symmetric",
    "mirror": "reflect",
    "wrap": "wrap",
    "constant": "constant",
}
"""scipy.ndimage border names -> ``numpy.pad`` modes (same extension rule)."""
