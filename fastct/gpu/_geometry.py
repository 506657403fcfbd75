"""Launch geometry and memory plans of the GPU backend, as pure functions.

Everything here is plain Python/NumPy (no CuPy), so CI tests it without a GPU.
The module-level constants are the launch sizes; tests patch them (e.g. a
4x4 tile and 32-thread blocks) so that small images cross tile and block
boundaries. Functions read them at call time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Threads per block of every kernel (a multiple of 32, at most 1024).
BLOCK_THREADS = 256
#: Output tile (rows, cols) of a fused chain block.
TILE_H = 32
TILE_W = 32
#: Threads along the columns of a chain block (a warp reads and writes along a row).
TILE_BLOCK_X = 32
#: Smallest tile side the chain plan shrinks to before giving up on a tile.
MIN_TILE = 8
#: Dynamic shared memory a block may use without an opt-in (48 KiB on every arch).
SHARED_LIMIT = 48 * 1024
#: A tile is used while its input region is at most this many times the tile
#: (wider stencils run as two global passes per stage instead).
MAX_TILE_REDUNDANCY = 4.0
#: Histogram bins a block keeps in shared memory (uint32 each: 48 KiB).
HIST_SHARED_BINS = 12288
#: Pixels each histogram / per-slice block covers (merging its shared
#: histogram into global memory is amortised over at least this many).
PIXELS_PER_BLOCK = 16384
#: Largest grid y / z extent (slices per launch).
MAX_GRID_SLICES = 65535
#: Most blocks of an elementwise launch (grid-stride loops cover the rest).
MAX_ELEMENTWISE_BLOCKS = 65535


def div_up(a: int, b: int) -> int:
    """Ceiling division of non-negative integers.

    >>> div_up(17, 4), div_up(16, 4), div_up(0, 4)
    (5, 4, 0)
    """
    return -(-a // b)


def align(n: int, to: int = 8) -> int:
    """``n`` rounded up to a multiple of ``to``.

    >>> align(13), align(16)
    (16, 16)
    """
    return div_up(n, to) * to


def slice_parts(n: int, limit: int | None = None) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of at most ``limit`` slices (the grid's slice axis limit).

    >>> slice_parts(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    >>> slice_parts(0, 2)
    []
    """
    limit = MAX_GRID_SLICES if limit is None else limit
    return [(s, min(n, s + limit)) for s in range(0, n, limit)]


def elementwise_grid(count: int, threads: int | None = None) -> tuple[tuple[int], tuple[int]]:
    """(grid, block) of a 1-D grid-stride loop over ``count`` elements.

    >>> elementwise_grid(1000, 256)
    ((4,), (256,))
    >>> elementwise_grid(0, 256)
    ((1,), (256,))
    """
    threads = BLOCK_THREADS if threads is None else threads
    blocks = max(1, min(div_up(count, threads), MAX_ELEMENTWISE_BLOCKS))
    return (blocks,), (threads,)


def plane_grid(plane: int, slices: int, threads: int | None = None) -> tuple[tuple[int, int], tuple[int]]:
    """(grid, block) of a per-slice kernel: x blocks stride over a slice, y = slice.

    Each block covers about :data:`PIXELS_PER_BLOCK` pixels (at least one
    block per slice).

    >>> plane_grid(512 * 512, 3, 256)
    ((16, 3), (256,))
    >>> plane_grid(1, 2, 256)
    ((1, 2), (256,))
    """
    threads = BLOCK_THREADS if threads is None else threads
    per_block = max(PIXELS_PER_BLOCK, threads)
    return (max(1, div_up(plane, per_block)), slices), (threads,)


def tile_block(threads: int | None = None) -> tuple[int, int]:
    """2-D block (x along the columns, y along the rows) of a chain launch.

    >>> tile_block(256), tile_block(32)
    ((32, 8), (32, 1))
    """
    threads = BLOCK_THREADS if threads is None else threads
    bx = max(1, min(TILE_BLOCK_X, threads))
    return bx, max(1, threads // bx)


@dataclass(frozen=True)
class TilePlan:
    """Shared-memory layout of one ``chain_tile`` block (see kernels/stencil.cu)."""

    tile_h: int
    tile_w: int
    buf_elems: int  # elements of each of the two pixel buffers
    h_offset: int  # byte offset of the row-pass buffer
    stats_offset: int  # byte offset of the reduction scratch (STATS)
    shared_bytes: int  # dynamic shared memory per block

    def grid(self, h: int, w: int, slices: int) -> tuple[int, int, int]:
        """Grid of a launch over ``slices`` slices of ``h`` x ``w``."""
        return div_up(w, self.tile_w), div_up(h, self.tile_h), slices


def _tile_layout(th, tw, halo_y, halo_x, t_size, h_size, stats, threads) -> TilePlan:
    buf = (th + 2 * halo_y) * (tw + 2 * halo_x)
    h_offset = align(2 * buf * t_size)
    stats_offset = align(h_offset + buf * h_size)
    bx, by = tile_block(threads)
    total = stats_offset + (bx * by * 4 if stats else 0)
    return TilePlan(th, tw, buf, h_offset, stats_offset, total)


def chain_tile_plan(kys, kxs, linear, t_itemsize: int, acc_itemsize: int, stats: bool = False,
                    threads: int | None = None) -> TilePlan | None:
    """The tile a fused chain runs with, or None when the stencils are too wide.

    ``kys``/``kxs`` are the stages' window sizes, ``linear`` whether any stage
    is linear (its row pass then holds accumulator values). The plan starts
    from ``TILE_H x TILE_W`` and halves the longer side while the block needs
    more than :data:`SHARED_LIMIT`; it gives up below :data:`MIN_TILE` or
    when the input region exceeds :data:`MAX_TILE_REDUNDANCY` times the tile.

    >>> p = chain_tile_plan([3, 3, 5], [3, 3, 5], True, 2, 4)
    >>> (p.tile_h, p.tile_w, p.buf_elems, p.shared_bytes)
    (32, 32, 1600, 12800)
    >>> chain_tile_plan([81], [81], True, 2, 8) is None
    True
    """
    threads = BLOCK_THREADS if threads is None else threads
    halo_y = sum(int(k) // 2 for k in kys)
    halo_x = sum(int(k) // 2 for k in kxs)
    h_size = max(t_itemsize, acc_itemsize if linear else 0)
    th, tw = TILE_H, TILE_W
    floor = min(MIN_TILE, TILE_H, TILE_W)
    while True:
        plan = _tile_layout(th, tw, halo_y, halo_x, t_itemsize, h_size, stats, threads)
        redundancy = plan.buf_elems / (th * tw)
        if redundancy > MAX_TILE_REDUNDANCY and (th, tw) != (TILE_H, TILE_W):
            return None  # shrinking only makes the overlap worse
        if plan.shared_bytes <= SHARED_LIMIT:
            return plan if redundancy <= MAX_TILE_REDUNDANCY else None
        if th >= tw and th // 2 >= floor:
            th //= 2
        elif tw // 2 >= floor:
            tw //= 2
        elif th // 2 >= floor:
            th //= 2
        else:
            return None


def chunk_slices(n: int, slice_bytes: int, budget_bytes: int, fixed_bytes: int = 0, in_flight: int = 2) -> int:
    """Slices per chunk for a host batch of ``n`` slices.

    ``slice_bytes`` is the device memory one slice needs (input, output and
    scratch), ``fixed_bytes`` what a call needs whatever its size. Everything
    fits: ``n`` (one upload, one download). Otherwise chunks small enough
    that ``in_flight`` of them (one per stream) fit together; at least 1.

    >>> chunk_slices(10, 100, 10_000)
    10
    >>> chunk_slices(10, 100, 900)
    4
    >>> chunk_slices(10, 100, 50)
    1
    """
    if n * slice_bytes + fixed_bytes <= budget_bytes:
        return max(n, 1)
    room = budget_bytes - fixed_bytes
    return int(max(1, min(n, room // max(in_flight * slice_bytes, 1))))


def dtype_bins(dtype) -> int:
    """Bins of a histogram with one bin per value of an 8/16-bit integer dtype.

    >>> dtype_bins(np.uint8), dtype_bins(np.int16)
    (256, 65536)
    """
    info = np.iinfo(dtype)
    return int(info.max) - int(info.min) + 1


def equalize_stride(dtype, nbins: int) -> int:
    """Histogram row length of an equalisation: ``nbins``, or every value of the dtype.

    >>> equalize_stride(np.int16, 0), equalize_stride(np.float32, 256), equalize_stride(np.uint8, 16)
    (65536, 256, 16)
    """
    return int(nbins) if nbins else dtype_bins(dtype)


def histogram_shared_bins(stride: int, reserve: int = 0) -> int:
    """Shared-memory bins of a histogram block for rows of ``stride`` bins.

    ``reserve`` bytes of the block's shared memory are kept for other use.

    >>> histogram_shared_bins(256), histogram_shared_bins(65536) == HIST_SHARED_BINS
    (256, True)
    >>> histogram_shared_bins(65536, reserve=2048) == (SHARED_LIMIT - 2048) // 4
    True
    """
    return int(min(stride, HIST_SHARED_BINS, (SHARED_LIMIT - align(reserve)) // 4))


def clahe_shared_layout(stride: int, threads: int | None = None) -> tuple[int, int, int]:
    """``(shared_bins, part_offset, shared_bytes)`` of a ``clahe_luts`` block.

    >>> clahe_shared_layout(256, 256)
    (256, 1024, 3072)
    """
    threads = BLOCK_THREADS if threads is None else threads
    bins = histogram_shared_bins(stride, reserve=8 * threads)
    part_offset = align(4 * bins)
    return bins, part_offset, part_offset + 8 * threads
