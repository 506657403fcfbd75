"""Machine, thread and version information for benchmark results (lives in :mod:`fastct.bench.machine`)."""

from fastct.bench.machine import cpu_count, machine_info, machine_name

__all__ = ["cpu_count", "machine_info", "machine_name"]
