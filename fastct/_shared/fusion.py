"""Fusion plans: consecutive stencil steps (plus a final equalisation) as one pass.

A :class:`ChainProgram` describes a run of separable stencil stages (running
min, running max, separable linear filter) as plain arrays, so any backend
can execute the whole run per band of rows with the intermediate rows kept in
cache instead of making one full memory pass per step. Fused and unfused
execution give identical bits: every stage rounds and saturates exactly as the
stand-alone op does, and borders are applied to each stage's own input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .borders import border_index_map
from .footprints import footprint_offsets, is_rectangle
from .gaussian import TAP_BITS, fixed_point_taps

#: Stage kinds understood by the chain kernels.
STAGE_MIN, STAGE_MAX, STAGE_LINEAR = 0, 1, 2

#: Border modes whose extension rows lie next to the edge they extend, so a
#: band of rows has everything it needs. ``wrap`` reads the far edge: unfused.
FUSABLE_MODES = ("nearest", "reflect", "mirror", "constant")


@dataclass(frozen=True)
class ChainStage:
    kind: int
    ky: int
    kx: int
    taps_y: np.ndarray | None
    taps_x: np.ndarray | None
    mode: str
    cval: float


@dataclass(frozen=True)
class ChainProgram:
    """Arrays describing a stage chain for an image of ``shape`` and ``dtype``."""

    kinds: np.ndarray  # (S,) int64
    ky: np.ndarray  # (S,) int64
    kx: np.ndarray  # (S,) int64
    taps_y: np.ndarray  # (S, K) accumulator dtype, zero padded
    taps_x: np.ndarray  # (S, K)
    rows_maps: np.ndarray  # (S, H + 2 * row_pad) int64: source row of each extended row
    cols_maps: np.ndarray  # (S, W + 2 * col_pad)
    cvals: np.ndarray  # (S,) accumulator dtype
    row_pad: int
    col_pad: int
    scales: np.ndarray  # (S,) multiplier turning a linear sum into output units (2**-bits for integers)

    @property
    def halo(self) -> int:
        """Rows of context the whole chain reads above and below a band."""
        return int(sum(k // 2 for k in self.ky))


def stages_for_step(step, dtype) -> list[ChainStage] | None:
    """The chain stages of one planned step, or None if it is no separable stencil.

    Any border mode is returned; only a chain's first stage may read outside
    the band with a mode not in :data:`FUSABLE_MODES` (see :func:`chain_ok`).
    """
    params = step.params
    mode = params.get("mode")
    if step.name in _MORPHOLOGY_KINDS:
        fp = params["footprint"]
        if not is_rectangle(fp):
            return None
        kh, kw = fp.shape
        return morphology_stages(_MORPHOLOGY_KINDS[step.name], kh, kw, mode, params["cval"])
    if step.name == "gaussian_blur" and params.get("boxes") is None and step.output_dtype(dtype) == np.dtype(dtype):
        return [ChainStage(STAGE_LINEAR, len(params["taps_y"]), len(params["taps_x"]), params["taps_y"],
                           params["taps_x"], mode, params["cval"])]
    return None


#: The running min/max stages of each morphology op, in order.
_MORPHOLOGY_KINDS = {
    "erode": (STAGE_MIN,),
    "dilate": (STAGE_MAX,),
    "opening": (STAGE_MIN, STAGE_MAX),
    "closing": (STAGE_MAX, STAGE_MIN),
}


def morphology_stages(kinds, kh: int, kw: int, mode: str, cval) -> list[ChainStage]:
    """Chain stages of a rectangular ``kh`` x ``kw`` morphology: one per running min/max in ``kinds``."""
    return [ChainStage(kind, kh, kw, None, None, mode, cval) for kind in kinds]


def compose_morphology(src, dst, footprint, mode, cval, kinds, *, chain, single, empty_like):
    """Opening or closing on one backend: two running min/max passes by one footprint.

    A rectangle runs as one fused two-stage ``chain(src, dst, stages)``;
    other footprints as two ``single(src, dst, take_max)`` passes through a
    temporary from ``empty_like``.
    """
    kh, kw = footprint.shape
    stages = morphology_stages(kinds, kh, kw, mode, cval)
    if is_rectangle(footprint) and chain_ok(stages):
        return chain(src, dst, stages)
    tmp = empty_like(src)
    single(src, tmp, kinds[0] == STAGE_MAX)
    return single(tmp, dst, kinds[1] == STAGE_MAX)


def morph_slices(src, dst, footprint, mode, cval, take_max, *, chain, offsets):
    """Erosion (``take_max=False``) or dilation of slices by a 2-D footprint on one backend.

    A rectangle runs as one running min/max stage, ``chain(src, dst, stages)``.
    Any other footprint runs as ``offsets(src, dst, offsets, ry, rx,
    rows_map, cols_map)``: the min or max over the footprint's ``(K, 2)``
    offsets (reflected for dilation), with ``rows_map`` and ``cols_map``
    extending the axes by the footprint's radii ``ry`` and ``rx`` on both
    sides (:func:`~fastct._shared.borders.border_index_map`).
    """
    kh, kw = footprint.shape
    if is_rectangle(footprint):
        return chain(src, dst, morphology_stages((STAGE_MAX if take_max else STAGE_MIN,), kh, kw, mode, cval))
    h, w = src.shape[1], src.shape[2]
    ry, rx = kh // 2, kw // 2
    return offsets(src, dst, footprint_offsets(footprint, reflect=take_max), ry, rx,
                   border_index_map(h, ry, ry, mode), border_index_map(w, rx, rx, mode))


def chain_ok(stages: list[ChainStage]) -> bool:
    """True when every stage after the first has a mode that stays near its edge."""
    return all(s.mode in FUSABLE_MODES for s in stages[1:])


def equalize_fusable(step, dtype) -> bool:
    """True when an equalisation step can be accumulated inside a fused pass."""
    p = step.params
    return (
        step.name == "equalize_hist"
        and np.dtype(dtype).kind in "iu"
        and p.get("nbins") is None
        and step.request.get("mask") is None
    )


def reduced_fixed_point(taps: np.ndarray) -> tuple[np.ndarray, int]:
    """Fixed-point taps with as few fractional bits as represent them exactly.

    OpenCV's small kernels (1-4-6-4-1 / 16 ...) are dyadic: dividing the
    ``TAP_BITS`` integer taps by their largest common power of two changes
    nothing in the result (the same fraction is rounded) but keeps sums small.

    Examples
    --------
    >>> q, bits = reduced_fixed_point(np.array([1, 4, 6, 4, 1]) / 16)
    >>> q.tolist(), bits
    ([1, 4, 6, 4, 1], 4)
    """
    q = fixed_point_taps(np.asarray(taps, np.float64))
    common = int(np.bitwise_or.reduce(q))  # its trailing zeros are those all taps share
    shift = min(TAP_BITS, (common & -common).bit_length() - 1) if common else 0
    return q >> shift, TAP_BITS - shift


def accumulator_dtype(dtype, frac_bits: int = TAP_BITS) -> np.dtype:
    """Where a chain's linear sums are exact: float32 if they stay below 2**24, else float64.

    Float images accumulate in float32. Integer images hold integer sums of
    at most ``max|x| * 2**frac_bits`` (plus the rounding half), exact in float32
    below 2**24 and in float64 below 2**53 (guaranteed by ``TAP_BITS``).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.dtype(np.float32)
    info = np.iinfo(dtype)
    peak = max(abs(int(info.min)), int(info.max))
    if peak * (1 << frac_bits) + (1 << max(frac_bits - 1, 0)) < (1 << 24):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


#: Recently built programs: building one (border maps, fixed-point taps) costs
#: tens of microseconds, as much as running a chain over a small image.
_PROGRAMS: dict = {}
_PROGRAMS_MAX = 64


def build_program(stages: list[ChainStage], shape: tuple[int, int], dtype) -> ChainProgram:
    """Turn stages into the arrays a chain kernel runs, for slices of ``shape``.

    Programs are cached by value (stage parameters, shape, dtype); callers
    must treat the arrays of the returned program as read-only.
    """
    key = (tuple(_stage_key(s) for s in stages), tuple(int(n) for n in shape), np.dtype(dtype).str)
    prog = _PROGRAMS.get(key)
    if prog is None:
        if len(_PROGRAMS) >= _PROGRAMS_MAX:
            _PROGRAMS.clear()
        prog = _PROGRAMS[key] = _build_program(stages, shape, dtype)
    return prog


def _stage_key(s: ChainStage):
    taps = tuple(None if t is None else np.asarray(t, np.float64).tobytes() for t in (s.taps_y, s.taps_x))
    return (int(s.kind), int(s.ky), int(s.kx), taps, s.mode, float(s.cval))


def _build_program(stages: list[ChainStage], shape: tuple[int, int], dtype) -> ChainProgram:
    h, w = shape
    dtype = np.dtype(dtype)
    n = len(stages)
    integer = dtype.kind in "iu"
    fixed = {}  # stage index -> (taps_y, taps_x, fractional bits of the two-axis sum)
    for i, s in enumerate(stages):
        if s.kind == STAGE_LINEAR and not all(np.array_equal(t, np.asarray(t)[::-1]) for t in (s.taps_y, s.taps_x)):
            # Kernels add mirrored rows/columns before multiplying (half the products).
            raise ValueError("chain linear stages need symmetric taps")
        if s.kind == STAGE_LINEAR and integer:
            qy, by = reduced_fixed_point(s.taps_y)
            qx, bx = reduced_fixed_point(s.taps_x)
            fixed[i] = (qy, qx, by + bx)
    acc = accumulator_dtype(dtype, max((f[2] for f in fixed.values()), default=0))
    kmax = max(max(s.ky, s.kx) for s in stages)
    row_pad = max(s.ky // 2 for s in stages)
    col_pad = max(s.kx // 2 for s in stages)
    kinds = np.array([s.kind for s in stages], np.int64)
    ky = np.array([s.ky for s in stages], np.int64)
    kx = np.array([s.kx for s in stages], np.int64)
    taps_y = np.zeros((n, kmax), acc)
    taps_x = np.zeros((n, kmax), acc)
    scales = np.ones(n, np.float64)
    rows_maps = np.empty((n, h + 2 * row_pad), np.int64)
    cols_maps = np.empty((n, w + 2 * col_pad), np.int64)
    for i, s in enumerate(stages):
        if i in fixed:
            qy, qx, bits = fixed[i]
            taps_y[i, : s.ky] = qy
            taps_x[i, : s.kx] = qx
            scales[i] = 2.0**-bits
        elif s.kind == STAGE_LINEAR:
            taps_y[i, : s.ky] = s.taps_y
            taps_x[i, : s.kx] = s.taps_x
        rows_maps[i] = border_index_map(h, row_pad, row_pad, s.mode)
        cols_maps[i] = border_index_map(w, col_pad, col_pad, s.mode)
    cvals = np.array([s.cval if s.mode == "constant" else 0 for s in stages], acc)
    return ChainProgram(kinds, ky, kx, taps_y, taps_x, rows_maps, cols_maps, cvals, row_pad, col_pad,
                        scales.astype(acc))
