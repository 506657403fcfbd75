"""The memory budget: parameters that would allocate more than it are refused before allocating.

A step string is typed by people (``erode:99999``, ``lowpass:0.1:pad=1000000000``):
fastct sizes what a parameter makes it allocate (footprints, taps, padded
spectra) before allocating it, and refuses with an error naming the
parameter, instead of exhausting the machine's memory.

The budget is ``FASTCT_MAX_MEMORY`` (bytes, or with a ``K``/``M``/``G``/``T``
suffix) when set, else half the memory available when asked.
"""

from __future__ import annotations

import os

from ..errors import InvalidArgumentError

#: Share of the available memory one call may plan for.
AVAILABLE_FRACTION = 0.5
#: Used when the available memory cannot be read (non-Linux without sysconf).
FALLBACK_BYTES = 8 << 30

_SUFFIXES = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int:
    """``"512M"`` -> 536870912; plain integers are bytes.

    Examples
    --------
    >>> parse_bytes("2G"), parse_bytes("4096"), parse_bytes("1.5k")
    (2147483648, 4096, 1536)
    """
    raw = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = raw, ""
    if raw and raw[-1] in _SUFFIXES:
        number, unit = raw[:-1], raw[-1]
    try:
        value = float(number) * _SUFFIXES[unit]
    except ValueError:
        raise InvalidArgumentError(
            f"FASTCT_MAX_MEMORY: expected bytes such as 8G, 512M or 1000000, got {text!r}"
        ) from None
    if not value > 0:
        raise InvalidArgumentError(f"FASTCT_MAX_MEMORY: expected a positive size, got {text!r}")
    return int(value)


def available_bytes() -> int:
    """Memory available to new allocations now (Linux ``MemAvailable``, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_BYTES


def memory_budget() -> int:
    """Bytes one call may allocate for what its parameters imply."""
    forced = os.environ.get("FASTCT_MAX_MEMORY")
    if forced:
        return parse_bytes(forced)
    return int(available_bytes() * AVAILABLE_FRACTION)


def format_bytes(n: int) -> str:
    """Human-readable size (``1.5 GiB``)."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_memory(nbytes: int, parameter: str, what: str) -> None:
    """Refuse (naming ``parameter``) when ``what`` would need more than the budget.

    Examples
    --------
    >>> check_memory(1 << 20, "size", "a footprint")  # 1 MiB: fine
    >>> check_memory(1 << 60, "size", "a footprint")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fastct.errors.InvalidArgumentError: size: a footprint would need 1024.0 PiB...
    """
    budget = memory_budget()
    if nbytes > budget:
        size = format_bytes(nbytes) if nbytes < (1 << 50) else f"{nbytes / (1 << 50):.1f} PiB"
        source = "FASTCT_MAX_MEMORY" if os.environ.get("FASTCT_MAX_MEMORY") else (
            "half the available memory; FASTCT_MAX_MEMORY sets it")
        raise InvalidArgumentError(
            f"{parameter}: {what} would need {size}, more than the memory budget of {format_bytes(budget)} ({source})"
        )
