"""``cupyx.scipy.ndimage`` stand-in: scipy.ndimage on the stand-in arrays."""

from __future__ import annotations

import functools

import scipy.ndimage as _nd


def __getattr__(name):
    func = getattr(_nd, name)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        from cupy import _unwrap, _wrap

        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    return wrapped
