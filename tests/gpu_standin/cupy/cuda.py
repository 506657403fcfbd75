"""``cupy.cuda`` stand-in: one device, streams that run everything at once."""

from __future__ import annotations

import os


class Stream:
    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.non_blocking = non_blocking
        self.ptr = 0

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NULL = Stream(null=True)


def get_current_stream():
    return _NULL


class Device:
    def __init__(self, device=None):
        self.id = 0
        self.compute_capability = "90"

    def synchronize(self):
        pass


class runtime:
    @staticmethod
    def getDeviceCount():
        return 1

    @staticmethod
    def memGetInfo():
        free = int(os.environ.get("FASTCT_STANDIN_FREE_BYTES", str(1 << 34)))
        return free, 1 << 34

    @staticmethod
    def getDeviceProperties(device):
        return {"name": b"CuPy stand-in (CPU emulator)"}

    @staticmethod
    def runtimeGetVersion():
        return 13000

    @staticmethod
    def driverGetVersion():
        return 13000
