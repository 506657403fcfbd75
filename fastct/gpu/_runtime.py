"""Everything the GPU twins need from CuPy, behind one small interface.

The twins never import cupy themselves: they ask :func:`get` for the runtime
and use its array namespace (``rt.xp``), its kernels (``rt.kernel(file,
names, name)``) and its transfer primitives. The default runtime is
:class:`CupyRuntime`, created on first use (importing cupy then, never at
import time). Tests install the CPU emulator's runtime (``tests/gpu_emulator``)
with :func:`use`, which runs the same ``.cu`` kernels on the CPU.

Kernel modules are built by a ``cupy.memoize(for_each_device=True)`` factory
keyed on the kernel file and the tuple of name expressions compiled into it
(every instantiation it holds); the compile options are fixed here. CuPy also
caches the compiled binaries on disk, keyed on the source text, so a kernel
compiles once per machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading

from . import _kernels

#: NVRTC options: C++17 and no contraction of a*b+c into an FMA (the kernels
#: also use explicitly rounded intrinsics where the CPU's bits must be matched).
COMPILE_OPTIONS = ("--std=c++17", "-fmad=false")

_lock = threading.Lock()
_current = None


def get():
    """The active runtime (a :class:`CupyRuntime` unless a test installed another)."""
    global _current
    rt = _current
    if rt is None:
        with _lock:
            if _current is None:
                _current = CupyRuntime()
            rt = _current
    return rt


def use(runtime):
    """Install ``runtime`` (None: back to CuPy on next use); returns the previous one."""
    global _current
    with _lock:
        previous, _current = _current, runtime
    return previous


@contextlib.contextmanager
def using(runtime):
    """Context manager form of :func:`use`."""
    previous = use(runtime)
    try:
        yield runtime
    finally:
        use(previous)


class CupyRuntime:
    """The real thing: CuPy arrays, NVRTC-compiled RawModules, CUDA streams."""

    name = "cupy"

    def __init__(self):
        import cupy

        self.cupy = cupy
        self.xp = cupy
        self._factory = cupy.memoize(for_each_device=True)(_build_module)
        self._streams = cupy.memoize(for_each_device=True)(_make_streams)
        self._functions: dict = {}

    # -- arrays -------------------------------------------------------------
    def is_device(self, array) -> bool:
        return isinstance(array, self.cupy.ndarray)

    def empty(self, shape, dtype):
        return self.cupy.empty(shape, dtype)

    def upload(self, host):
        """A device copy of a host array (synchronous, pageable memory is fine)."""
        return self.cupy.asarray(host)

    def download(self, device, out) -> None:
        """Copy a device array into the host array ``out`` (waits for it)."""
        device.get(out=out)

    # -- kernels ------------------------------------------------------------
    def kernel(self, file: str, names: tuple, name: str):
        """Kernel ``name`` of the module compiled from ``file`` with name expressions ``names``."""
        key = (self.cupy.cuda.Device().id, file, tuple(names), name)
        function = self._functions.get(key)
        if function is None:
            function = self._functions[key] = self._factory(file, tuple(names)).get_function(name)
        return function

    def launch(self, kernel, grid, block, args, shared_mem: int = 0) -> None:
        kernel(tuple(grid), tuple(block), tuple(args), shared_mem=int(shared_mem))

    # -- streams and transfers ----------------------------------------------
    def streams(self):
        """Two non-blocking streams of the current device (created once)."""
        return self._streams()

    def on(self, stream):
        """Make ``stream`` current inside a ``with`` block."""
        return stream

    def pinned(self, shape, dtype):
        """A page-locked host array (from CuPy's pinned memory pool)."""
        import cupyx

        return cupyx.empty_pinned(shape, dtype)

    def h2d_async(self, device, host, stream) -> None:
        device.data.copy_from_host_async(ctypes.c_void_p(host.ctypes.data), host.nbytes, stream)

    def d2h_async(self, host, device, stream) -> None:
        device.data.copy_to_host_async(ctypes.c_void_p(host.ctypes.data), device.nbytes, stream)

    def wait(self, stream) -> None:
        stream.synchronize()

    def synchronize(self) -> None:
        self.cupy.cuda.get_current_stream().synchronize()

    def free_bytes(self) -> int:
        """Device memory a call may use: free memory plus what CuPy's pool holds unused."""
        free, _total = self.cupy.cuda.runtime.memGetInfo()
        pool = self.cupy.get_default_memory_pool()
        available = int(free) + int(pool.free_bytes())
        limit = int(pool.get_limit())
        if limit:
            available = min(available, limit - int(pool.used_bytes()))
        return max(available, 0)

    # -- FFT ------------------------------------------------------------------
    def rfft2(self, x):
        # cupy.fft reuses cuFFT plans through its plan cache (keyed on shape,
        # dtype and axes), so equal-sized chunks plan once.
        return self.cupy.fft.rfft2(x, axes=(-2, -1))

    def irfft2(self, spec, s):
        return self.cupy.fft.irfft2(spec, s=s, axes=(-2, -1))


def _build_module(file: str, names: tuple):
    import cupy

    return cupy.RawModule(code=_kernels.kernel_source(file), options=COMPILE_OPTIONS, name_expressions=list(names))


def _make_streams():
    import cupy

    return (cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True))
