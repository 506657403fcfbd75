"""Run the GPU backend on the CPU: the real ``.cu`` kernels under a CUDA emulator.

A test tool, not part of the installed package: for tests on machines
without a GPU (CI). :class:`EmulatedRuntime` is a
drop-in for :class:`fastct.gpu._runtime.CupyRuntime`: the kernel files are
compiled as plain C++ with g++ (``emu.h`` supplies threadIdx, __syncthreads,
shared memory, atomics...), each launch runs on the CPU through ctypes, and
device arrays are NumPy arrays of the subclass :class:`DeviceArray`. So the
twins' Python code (launch geometry, argument lists, chunking, streams) and
the kernels' C++ both run, and results can be compared with the CPU backend
bit for bit.

What it checks beyond results: every kernel argument's C type (a NumPy scalar
or device array of exactly the parameter's type, never a Python number or a
host array), shared-memory barriers reached by every thread, FCT_ASSERT
index checks, and (with ``schedule``) that results do not depend on the order
threads run between barriers. What it cannot check: warp-level timing, the
CUDA memory model across blocks, NVRTC specifics (compile-checked separately),
and CuPy itself.

Usage (``tests/`` on ``sys.path``, as under pytest)::

    import gpu_emulator
    from fastct.gpu import _runtime
    with _runtime.using(gpu_emulator.EmulatedRuntime()):
        fastct.gpu.morphology.erode(batch, out, ...)
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from fastct.gpu import _kernels

_HERE = Path(__file__).resolve().parent
_KERNEL_DIR = Path(_kernels.__file__).resolve().parent / "kernels"
_lock = threading.Lock()
_LIBS: dict = {}


class EmulatorUnavailable(RuntimeError):
    """No C++ compiler (or ucontext) to build the emulator here."""


def compiler() -> str | None:
    """The C++ compiler the emulator uses (``$CXX`` or g++), or None."""
    cxx = os.environ.get("CXX") or "g++"
    return shutil.which(cxx)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastct" / "gpu-emulator"


class DeviceArray(np.ndarray):
    """A NumPy array standing for device memory (views and slices stay device arrays)."""


def _device(a) -> DeviceArray:
    return np.asarray(a).view(DeviceArray)


class _DeviceNumPy:
    """The array namespace of the emulated device: NumPy, with constructors returning DeviceArray."""

    fft = np.fft

    def __getattr__(self, name):
        return getattr(np, name)

    def empty(self, shape, dtype=float):
        return _device(np.empty(shape, dtype))

    def zeros(self, shape, dtype=float):
        return _device(np.zeros(shape, dtype))

    def full(self, shape, fill_value, dtype=None):
        return _device(np.full(shape, fill_value, dtype))

    def empty_like(self, a, dtype=None):
        return _device(np.empty_like(np.asarray(a), dtype=dtype))

    def asarray(self, a, dtype=None):
        if isinstance(a, DeviceArray) and (dtype is None or a.dtype == dtype):
            return a
        return _device(np.array(a, dtype=dtype, copy=True))

    def ascontiguousarray(self, a, dtype=None):
        return _device(np.ascontiguousarray(a, dtype=dtype))

    def pad(self, a, *args, **kwargs):
        return _device(np.pad(np.asarray(a), *args, **kwargs))


def _wrapper_source(file: str, names: tuple) -> str:
    lines = [f'#include "{file}"', "", 'extern "C" {']
    for i, name in enumerate(names):
        lines += [
            f"int fastct_launch_{i}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,",
            "                      size_t smem, void** args, int schedule, char* err, int errlen) {",
            f"    return fastct_emu::launch(&{name}, gx, gy, gz, bx, by, bz, smem, args, schedule, err, errlen);",
            "}",
            f"const char* fastct_signature_{i}() {{",
            f"    static const std::string sig = fastct_emu::signature(&{name});",
            "    return sig.c_str();",
            "}",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _build(file: str):
    """Compile every instantiation of ``file`` into a shared library (cached on disk)."""
    cxx = compiler()
    if cxx is None:
        raise EmulatorUnavailable("no C++ compiler (g++ or $CXX) to build the CUDA emulator")
    names = _kernels.instantiations(file)
    source = _wrapper_source(file, names)
    digest = hashlib.sha256()
    for part in (source, (_HERE / "emu.h").read_text(), (_KERNEL_DIR / file).read_text(),
                 (_KERNEL_DIR / _kernels.COMMON_FILE).read_text(), cxx):
        digest.update(part.encode())
    target = cache_dir() / f"{Path(file).stem}-{digest.hexdigest()[:16]}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            wrapper = Path(tmp) / "wrapper.cpp"
            wrapper.write_text(source)
            built = Path(tmp) / target.name
            cmd = [cxx, "-std=c++17", "-O1", "-g0", "-shared", "-fPIC", "-ffp-contract=off", "-fno-strict-aliasing",
                   "-fno-fast-math", "-DFASTCT_EMULATE", "-include", str(_HERE / "emu.h"), "-I", str(_KERNEL_DIR),
                   "-o", str(built), str(wrapper)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"emulator build of {file} failed:\n{proc.stderr[-6000:]}")
            os.replace(built, target)  # atomic: concurrent builders race harmlessly
    lib = ctypes.CDLL(str(target))
    return lib, {name: i for i, name in enumerate(names)}


def library(file: str):
    """``(ctypes library, {name expression: index})`` of ``file`` (built once per process)."""
    with _lock:
        if file not in _LIBS:
            _LIBS[file] = _build(file)
        return _LIBS[file]


_CTYPES = {"i1": ctypes.c_int8, "u1": ctypes.c_uint8, "i2": ctypes.c_int16, "u2": ctypes.c_uint16,
           "i4": ctypes.c_int32, "u4": ctypes.c_uint32, "i8": ctypes.c_int64, "u8": ctypes.c_uint64,
           "f4": ctypes.c_float, "f8": ctypes.c_double, "b1": ctypes.c_bool}


def _code(dtype) -> str:
    dtype = np.dtype(dtype)
    return f"{dtype.kind}{dtype.itemsize}"


class EmulatedKernel:
    """One kernel instantiation; called like ``cupy.RawKernel``."""

    def __init__(self, runtime, file: str, name: str, device_type=None):
        self.device_type = DeviceArray if device_type is None else device_type
        lib, index = library(file)
        if name not in index:
            raise RuntimeError(f"{file}: {name!r} is not a listed instantiation")
        i = index[name]
        self.runtime, self.name = runtime, name
        self._launch = getattr(lib, f"fastct_launch_{i}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.c_uint] * 6 + [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int,
                                                       ctypes.c_char_p, ctypes.c_int]
        sig = getattr(lib, f"fastct_signature_{i}")
        sig.restype = ctypes.c_char_p
        self.signature = sig().decode().split(",") if sig().decode() else []

    def __call__(self, grid, block, args, shared_mem=0):
        grid = tuple(grid) + (1,) * (3 - len(grid))
        block = tuple(block) + (1,) * (3 - len(block))
        if len(args) != len(self.signature):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(self.signature)} parameters")
        keep, pointers = [], []
        for pos, (arg, want) in enumerate(zip(args, self.signature, strict=True)):
            if want.startswith("P"):
                if not isinstance(arg, self.device_type):
                    raise TypeError(f"{self.name}: argument {pos} must be a device array, got {type(arg).__name__}")
                if _code(arg.dtype) != want[1:]:
                    raise TypeError(f"{self.name}: argument {pos} is a {arg.dtype} array, the kernel takes {want}")
                if not arg.flags.c_contiguous:
                    raise TypeError(f"{self.name}: argument {pos} is not C-contiguous")
                value = ctypes.c_void_p(arg.ctypes.data)
            else:
                if not isinstance(arg, np.generic):
                    raise TypeError(f"{self.name}: argument {pos} must be a NumPy scalar ({want}), "
                                    f"got {type(arg).__name__} {arg!r}")
                if _code(arg.dtype) != want:
                    raise TypeError(f"{self.name}: argument {pos} is {arg.dtype}, the kernel takes {want}")
                value = _CTYPES[want](arg.item())
            keep.append(value)
            pointers.append(ctypes.cast(ctypes.pointer(value), ctypes.c_void_p))
        array = (ctypes.c_void_p * max(len(pointers), 1))(*pointers)
        err = ctypes.create_string_buffer(1024)
        if int(shared_mem) > self.runtime.max_shared:
            raise RuntimeError(f"{self.name}: {shared_mem} bytes of dynamic shared memory "
                               f"(limit {self.runtime.max_shared})")
        rc = self._launch(*(int(g) for g in grid), *(int(b) for b in block), int(shared_mem), array,
                          self.runtime.schedule, err, len(err))
        self.runtime.launches.append((self.name, grid, block, int(shared_mem)))
        if rc:
            raise RuntimeError(f"{self.name}: {err.value.decode()}")


class _Stream:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class EmulatedRuntime:
    """The runtime interface of :class:`fastct.gpu._runtime.CupyRuntime`, on the CPU.

    Parameters
    ----------
    free_bytes : int
        Device memory the emulated device reports free (small values force
        the chunked, two-stream path).
    schedule : {0, 1, 2}
        Order fibers run between barriers: forward, reversed, shuffled.
    """

    name = "emulator"

    def __init__(self, free_bytes: int = 1 << 34, schedule: int = 0):
        self.xp = _DeviceNumPy()
        self._free = int(free_bytes)
        self.schedule = int(schedule)
        self.max_shared = 48 * 1024
        self.launches: list = []
        self.transfers: list = []
        self._streams = (_Stream(), _Stream())
        self._kernels: dict = {}

    def is_device(self, array) -> bool:
        return isinstance(array, DeviceArray)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype)

    def upload(self, host):
        self._check_host(host)
        self.transfers.append(("upload", host.nbytes))
        return _device(np.array(host, copy=True))

    def download(self, device, out) -> None:
        self._check_host(out)
        self.transfers.append(("download", device.nbytes))
        np.copyto(out, np.asarray(device))

    def kernel(self, file: str, names: tuple, name: str):
        if name not in names:
            raise RuntimeError(f"{name!r} requested from a module compiled without it")
        key = (file, name)
        if key not in self._kernels:
            self._kernels[key] = EmulatedKernel(self, file, name)
        return self._kernels[key]

    def launch(self, kernel, grid, block, args, shared_mem: int = 0) -> None:
        kernel(grid, block, args, shared_mem=shared_mem)

    def streams(self):
        return self._streams

    def on(self, stream):
        return stream

    def pinned(self, shape, dtype):
        return np.empty(shape, dtype)

    def h2d_async(self, device, host, stream) -> None:
        self.transfers.append(("h2d_async", host.nbytes))
        np.copyto(np.asarray(device), host)

    def d2h_async(self, host, device, stream) -> None:
        self.transfers.append(("d2h_async", device.nbytes))
        np.copyto(host, np.asarray(device))

    def wait(self, stream) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def free_bytes(self) -> int:
        return self._free

    def rfft2(self, x):
        return np.fft.rfft2(np.asarray(x), axes=(-2, -1))

    def irfft2(self, spec, s):
        return np.fft.irfft2(np.asarray(spec), s=s, axes=(-2, -1))

    @staticmethod
    def _check_host(array):
        if isinstance(array, DeviceArray):
            raise TypeError("a host transfer was given a device array")
