"""The z passes of volumetric ops on the GPU (twin of ``fastct/cpu/volume.py``).

The z passes combine whole slices elementwise, so they are CuPy array
expressions over slices (:mod:`fastct._shared.volume`: the same index tables
and the same arithmetic as the CPU kernels, integers exact, hence the CPU's
bits); the in-plane passes are the 2-D kernels. A volume is never split into
chunks of slices (its slices depend on each other): a NumPy volume is
uploaded whole and the result downloaded once; a CuPy volume stays on the
device.
"""

from __future__ import annotations

from .._shared import volume as _vol
from . import _runtime


def run_volume(batch, out, compute):
    """``compute(src, dst)`` on device arrays of the whole volume; NumPy in, NumPy out."""
    rt = _runtime.get()
    if rt.is_device(batch):
        compute(batch, out)
        return out
    src = rt.upload(batch)
    dst = rt.empty(out.shape, out.dtype)
    compute(src, dst)
    rt.download(dst, out)
    return out


def z_extreme(src, dst, table, cval, take_max, accumulate=False):
    """``dst[i] = min/max_j src[table[i, j]]`` (and of ``dst[i]`` with ``accumulate``)."""
    return _vol.z_extreme_xp(_runtime.get().xp, src, dst, table, cval, take_max, accumulate)


def z_linear(src, dst, table, taps, cval, lo, hi, tap_bits):
    """``dst[i] = sum_j taps[j] src[table[i, j]]``: integers exact and rounded half up, floats in float32."""
    return _vol.z_linear_xp(_runtime.get().xp, src, dst, table, taps, cval, lo, hi, tap_bits)


def empty(shape, dtype):
    """A device array."""
    return _runtime.get().xp.empty(shape, dtype)
