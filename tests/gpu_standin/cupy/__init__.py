"""A stand-in for CuPy on machines without a GPU (fastct's tests only).

Put ``tests/gpu_standin`` first on ``sys.path`` (and ``tests`` after it, for
the emulator; :func:`gpu_env.standin_env` does both) and ``import cupy``
finds this module: :class:`cupy.ndarray` wraps a NumPy array (and, like
CuPy's, is no ``numpy.ndarray`` and refuses implicit conversion),
``RawModule`` compiles nothing and runs fastct's kernels with the CPU
emulator (``tests/gpu_emulator``), and only the parts of CuPy's
documented API that fastct, its tests and ``benchmarks/gpu_bench.py`` use
exist. It lets the CuPy-facing code (``fastct.gpu._runtime.CupyRuntime``,
CuPy-in/CuPy-out through ``fastct.ops``, the tests' CUDA branches, the
benchmark) run in CI; it says nothing about real CuPy's behaviour.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy

from . import cuda, fft  # noqa: F401

__version__ = "0.0+fastct-standin"


class ndarray:
    """Device memory, standing in: wraps a NumPy array, which it never lets go of implicitly.

    Like CuPy's arrays it is not a ``numpy.ndarray``, NumPy functions and
    ufuncs dispatch to it (NEP 13/18) and return stand-in arrays, and
    ``numpy.asarray`` on it raises TypeError; ``.get()`` copies to the host.
    """

    __slots__ = ("_a",)

    def __init__(self, array):
        object.__setattr__(self, "_a", array)

    # -- host transfers -----------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        host = numpy.array(self._a, order=order)
        if out is None:
            return host
        if type(out) is not numpy.ndarray:
            raise TypeError("out must be a numpy.ndarray")
        out[...] = host
        return out

    def set(self, arr, stream=None):
        self._a[...] = arr

    @property
    def data(self):
        return _MemoryPointer(self._a)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    # -- NumPy dispatch -----------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(o) for o in kwargs["out"])
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs)))

    def __array_function__(self, func, types, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # -- attributes and methods -----------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ / buffer: NumPy must not see through it
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):

            def method(*args, **kwargs):
                return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

            return method
        return attr

    @property
    def ctypes(self):  # for the emulator's launches only
        return self._a.ctypes

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return "cupy-standin." + repr(self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()


def _binary(name):
    def op(self, other):
        return _wrap(getattr(self._a, name)(_unwrap(other)))

    op.__name__ = name
    return op


_BINARY = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__",
    "__and__", "__or__", "__xor__", "__lshift__", "__rshift__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__",
    "__ne__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__iand__", "__ior__",
)
for _name in _BINARY:
    setattr(ndarray, _name, _binary(_name))
def _unary(name):
    def op(self):
        return _wrap(getattr(self._a, name)())

    op.__name__ = name
    return op


for _name in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ndarray, _name, _unary(_name))


def _unwrap(x):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, tuple):
        return tuple(_unwrap(v) for v in x)
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, numpy.ndarray):
        return ndarray(x)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


class _MemoryPointer:
    def __init__(self, array):
        self.ptr = array.ctypes.data

    def copy_from_host_async(self, mem, size, stream=None):
        ctypes.memmove(self.ptr, _address(mem), size)

    def copy_to_host_async(self, mem, size, stream=None):
        ctypes.memmove(_address(mem), self.ptr, size)


def _address(mem):
    return mem.value if isinstance(mem, ctypes.c_void_p) else int(mem)


def _host(a, dtype=None, copy=True, order="K"):
    if isinstance(a, ndarray):
        a = a._a
    return numpy.array(a, dtype=dtype, copy=copy, order=order)


def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray) and (dtype is None or a.dtype == dtype):
        return a
    return ndarray(_host(a, dtype=dtype, order=order or "K"))


def array(a, dtype=None, copy=True, order="K"):
    return ndarray(_host(a, dtype=dtype, order=order))


def asnumpy(a, stream=None, order="C", out=None):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return numpy.asarray(a)


def empty(shape, dtype=float, order="C"):
    return ndarray(numpy.empty(shape, dtype, order))


def zeros(shape, dtype=float, order="C"):
    return ndarray(numpy.zeros(shape, dtype, order))


def full(shape, fill_value, dtype=None, order="C"):
    return ndarray(numpy.full(shape, fill_value, dtype, order))


def ascontiguousarray(a, dtype=None):
    return ndarray(numpy.ascontiguousarray(_unwrap(a), dtype=dtype))


def __getattr__(name):
    attr = getattr(numpy, name)
    if callable(attr) and not isinstance(attr, type) and not isinstance(attr, numpy.ufunc):

        @functools.wraps(attr)
        def wrapped(*args, **kwargs):
            return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

        return wrapped
    return attr


def memoize(for_each_device=False):
    def decorator(func):
        cache = {}

        @functools.wraps(func)
        def wrapped(*args):
            if args not in cache:
                cache[args] = func(*args)
            return cache[args]

        return wrapped

    return decorator


class _Pool:
    def free_bytes(self):
        return 0

    def used_bytes(self):
        return 0

    def get_limit(self):
        return 0


_POOL = _Pool()


def get_default_memory_pool():
    return _POOL


class _EmulatorHost:
    """What gpu_emulator.EmulatedKernel needs from a runtime."""

    max_shared = 48 * 1024
    schedule = int(os.environ.get("FASTCT_STANDIN_SCHEDULE", "0"))

    def __init__(self):
        self.launches = []


_HOST = _EmulatorHost()


class RawModule:
    """Checks what fastct compiles, then runs its kernels in the CPU emulator."""

    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc", name_expressions=None, **kwargs):
        from fastct.gpu import _kernels

        matches = [f for f in _kernels.KERNEL_FILES if _kernels.kernel_source(f) == code]
        if len(matches) != 1:
            raise RuntimeError("RawModule stand-in: the code is not one of fastct's kernel sources")
        self.file = matches[0]
        known = set(_kernels.instantiations(self.file))
        unknown = [n for n in (name_expressions or ()) if n not in known]
        if unknown:
            raise RuntimeError(f"RawModule stand-in: unknown name expressions {unknown}")
        if "-fmad=false" not in options:
            raise RuntimeError("RawModule stand-in: fastct compiles with -fmad=false")
        self.names = tuple(name_expressions or ())
        self._functions = {}

    def get_function(self, name):
        import gpu_emulator  # tests/, on sys.path beside the stand-in

        if name not in self.names:
            raise RuntimeError(f"RawModule stand-in: {name!r} is not among the module's name expressions")
        if name not in self._functions:
            kernel = gpu_emulator.EmulatedKernel(_HOST, self.file, name, device_type=ndarray)

            def call(grid, block, args, shared_mem=0, _kernel=kernel):
                _kernel(grid, block, args, shared_mem=shared_mem)

            self._functions[name] = call
        return self._functions[name]
