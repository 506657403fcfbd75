"""What is benchmarked: one fastct call per op, its peers, and the copy floor.

A :class:`Candidate` names one timed thing (op group, backend, CT dtype,
batch shape, implementation); :func:`candidates` lists them for a selection
and :func:`prepare` turns one into a zero-argument callable on a batch. The
same list feeds ``fastct bench`` and ``benchmarks/test_bench_ops.py``.

Within a comparison (same group, backend, dtype and shape) every candidate
starts from the same CT data: fastct and most peers on the CT dtype itself,
OpenCV also on its fastest dtype for the op (``best``), since that is how a
classic workflow would run it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from . import peers as P
from .data import DTYPES, Batches
from .peers import Unavailable

OPS = ("erode", "dilate", "opening", "closing", "gaussian_blur", "lowpass", "highpass", "unsharp_mask", "sharpen",
       "equalize_hist", "clahe", "window")
#: Size variants: an op of :data:`OPS` again with another footprint or sigma, for the
#: "cost independent of size" targets (15x15 against the 3x3 of ``erode``/``dilate``,
#: sigma 8 against sigma 1.1). Listed in the table; left out of the headline's geometric mean.
SIZE_GROUPS = ("erode_15x15", "dilate_15x15", "gaussian_sigma1.1", "gaussian_sigma8")
GROUPS = OPS + ("pipeline",) + SIZE_GROUPS
BACKENDS = ("cpu", "gpu")
DEFAULT_BATCHES = ((1, 512, 512), (64, 512, 512))
QUICK_BATCHES = ((1, 64, 64), (4, 64, 64))

#: What each group runs (fastct's call; peers are configured to match).
OP_PARAMS = {
    "erode": "3x3 square",
    "dilate": "3x3 square",
    "opening": "3x3 square",
    "closing": "3x3 square",
    "gaussian_blur": "5x5, OpenCV's sigma-0 rule (scipy/skimage: sigma 1, truncate 2)",
    "lowpass": f"Gaussian, cutoff {P.CUTOFF} cycles/px, no padding",
    "highpass": f"Gaussian, cutoff {P.CUTOFF} cycles/px, no padding",
    "unsharp_mask": "sigma 1, amount 1",
    "sharpen": "4-neighbour Laplacian, amount 1",
    "equalize_hist": "global per slice; fastct: one bin per value, float32 out",
    "clahe": "8x8 tiles, clip 2; fastct: one bin per value, float32 out",
    "window": "lung preset (-600/1500), float32 out",
    "pipeline": "default steps: erode:3, dilate:3, gaussian:0:ksize=5, equalize",
    "erode_15x15": "15x15 square",
    "dilate_15x15": "15x15 square",
    "gaussian_sigma1.1": "sigma 1.1, radius int(4 sigma + 0.5) = 4 (9 taps); peers the same taps",
    "gaussian_sigma8": "sigma 8, radius int(4 sigma + 0.5) = 32 (65 taps); peers the same taps",
}


def fastct_call(group: str, x, backend: str = "cpu") -> Callable[[], object]:
    """fastct's benchmarked call of ``group`` on ``x``, as a zero-argument callable.

    The parameters are those of :data:`OP_PARAMS`; ``fastct bench``'s timing
    and its peak-memory measurement both use this.

    Examples
    --------
    >>> import numpy as np
    >>> fastct_call("erode_15x15", np.zeros((1, 32, 32), np.int16))().shape
    (1, 32, 32)
    """
    import fastct

    if group in ("erode", "dilate", "opening", "closing") or group in P.MORPH_SIZES:
        op, size = P.MORPH_SIZES.get(group, (group, 3))
        fn = getattr(fastct, op)
        return lambda: fn(x, size, backend=backend)
    if group == "gaussian_blur":
        return lambda: fastct.gaussian_blur(x, 0, ksize=5, backend=backend)
    if group in P.GAUSSIAN_SIGMAS:
        sigma = P.GAUSSIAN_SIGMAS[group]
        return lambda: fastct.gaussian_blur(x, sigma, backend=backend)
    if group in ("lowpass", "highpass"):
        fn = getattr(fastct, group)
        return lambda: fn(x, P.CUTOFF, backend=backend)
    if group == "unsharp_mask":
        return lambda: fastct.unsharp_mask(x, 1.0, 1.0, backend=backend)
    if group == "sharpen":
        return lambda: fastct.sharpen(x, backend=backend)
    if group == "equalize_hist":
        return lambda: fastct.equalize_hist(x, backend=backend)
    if group == "clahe":
        return lambda: fastct.clahe(x, backend=backend)
    if group == "window":
        return lambda: fastct.window(x, preset="lung", backend=backend)
    if group == "pipeline":
        pipe = fastct.Pipeline(fastct.DEFAULT_STEPS)
        return lambda: pipe.run(x, backend)
    raise ValueError(f"group: unknown benchmark group {group!r}")


@dataclass(frozen=True)
class PeerSpec:
    """One peer of an op: its library, builder and the dtypes it takes.

    ``dtypes`` None means any benchmarked dtype; ``best`` adds a second
    candidate on that dtype (the peer's fastest) besides the CT dtype;
    ``instead`` maps a benchmarked dtype the peer does not take to the one
    that holds the same data for it (int16 HU -> uint16 stored values).
    """

    library: str
    build: Callable
    dtypes: tuple | None = None
    best: str | None = None
    label: str | None = None
    instead: dict | None = None


_CV_ANY = ("uint8", "int16", "float32")
_MORPH_PEERS = (
    PeerSpec("opencv", P.opencv_morphology, _CV_ANY, best="uint8"),
    PeerSpec("ndimage", P.ndimage_morphology),
    PeerSpec("skimage", P.skimage_morphology),
)
_GAUSSIAN_SIGMA_PEERS = (  # scikit-image's gaussian is scipy.ndimage's
    PeerSpec("opencv", P.opencv_gaussian_sigma, _CV_ANY, best="uint8"),
    PeerSpec("ndimage", P.ndimage_gaussian_sigma),
)
_FFT_PEERS = (
    PeerSpec("fft", P.fft_filter),
    PeerSpec("opencv", P.opencv_fft_filter, ("float32",), best="float32", label="dft"),
)
PEERS: dict[str, tuple[PeerSpec, ...]] = {
    "erode": _MORPH_PEERS,
    "dilate": _MORPH_PEERS,
    "opening": _MORPH_PEERS,
    "closing": _MORPH_PEERS,
    "gaussian_blur": (
        PeerSpec("opencv", P.opencv_gaussian, _CV_ANY, best="uint8"),
        PeerSpec("ndimage", P.ndimage_gaussian),
        PeerSpec("skimage", P.skimage_gaussian),
    ),
    "lowpass": _FFT_PEERS,
    "highpass": _FFT_PEERS,
    "unsharp_mask": (
        PeerSpec("opencv", P.opencv_unsharp, _CV_ANY, best="uint8"),
        PeerSpec("ndimage", P.ndimage_unsharp),
        PeerSpec("skimage", P.skimage_unsharp),
    ),
    "sharpen": (
        PeerSpec("opencv", P.opencv_sharpen, _CV_ANY, best="uint8"),
        PeerSpec("ndimage", P.ndimage_sharpen),
    ),
    "equalize_hist": (
        PeerSpec("opencv", P.opencv_equalize, ("uint8",), best="uint8"),
        PeerSpec("skimage", P.skimage_equalize),
        PeerSpec("array", P.array_equalize, label="bincount"),
    ),
    "clahe": (
        # OpenCV's CLAHE takes uint8 and uint16: int16 HU runs as uint16 (HU + 1024), full bit depth.
        PeerSpec("opencv", P.opencv_clahe, ("uint8", "uint16"), best="uint8", instead={"int16": "uint16"}),
        PeerSpec("skimage", P.skimage_clahe, ("uint8", "int16")),  # floats must lie in [-1, 1]
    ),
    "window": (
        PeerSpec("array", P.array_window, label="expression"),
        PeerSpec("skimage", P.skimage_window, label="rescale_intensity"),
    ),
    "pipeline": (
        PeerSpec("opencv", P.opencv_pipeline, ("uint8",), best="uint8", label="classic chain"),
        PeerSpec("ndimage", P.ndimage_pipeline, label="+ bincount"),
    ),
    "erode_15x15": _MORPH_PEERS,
    "dilate_15x15": _MORPH_PEERS,
    "gaussian_sigma1.1": _GAUSSIAN_SIGMA_PEERS,
    "gaussian_sigma8": _GAUSSIAN_SIGMA_PEERS,
}


@dataclass(frozen=True)
class Candidate:
    """One timed implementation in one comparison.

    Attributes
    ----------
    group : str
        Op name, or ``"pipeline"``.
    backend : {"cpu", "gpu"}
    dtype : str
        The CT dtype of the comparison.
    shape : (int, int, int)
        Batch shape.
    name : str
        ``"fastct"``, ``"copy"`` or the peer's display name.
    kind : {"fastct", "peer", "floor"}
    data_dtype : str
        The dtype this candidate processes (a peer's ``best`` may differ from ``dtype``).
    library : str or None
        Peer library key (``"opencv"``, ``"ndimage"`` ...).
    unsupported : str or None
        Why the peer cannot take this dtype (never timed), else None.
    """

    group: str
    backend: str
    dtype: str
    shape: tuple
    name: str
    kind: str
    data_dtype: str
    library: str | None = None
    unsupported: str | None = None
    spec: PeerSpec | None = None

    @property
    def batch(self) -> str:
        """The shape as ``NxHxW``."""
        return "x".join(str(v) for v in self.shape)

    @property
    def id(self) -> str:
        """A unique, readable id: ``group-backend-dtype-batch-name``."""
        return f"{self.group}-{self.backend}-{self.dtype}-{self.batch}-{self.name.replace(' ', '_')}"

    @property
    def comparison(self) -> tuple:
        """The key shared by every candidate compared with this one."""
        return (self.group, self.backend, self.dtype, self.shape)

    def at(self, shape) -> "Candidate":
        """The same candidate on another batch shape."""
        return replace(self, shape=tuple(int(v) for v in shape))


def parse_batch(text: str) -> tuple:
    """``"NxHxW"`` (or ``"HxW"`` for one slice) as a shape tuple.

    Examples
    --------
    >>> parse_batch("64x512x512"), parse_batch("256x256")
    ((64, 512, 512), (1, 256, 256))
    """
    parts = text.lower().strip().split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"expected NxHxW (e.g. 64x512x512), got {text!r}") from None
    if len(dims) == 2:
        dims = [1] + dims
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"expected NxHxW with positive sizes (e.g. 64x512x512), got {text!r}")
    if min(dims[1:]) < 16:
        raise ValueError(f"slices must be at least 16x16 (the phantom's minimum), got {text!r}")
    return tuple(dims)


def candidates(groups=GROUPS, backends=("cpu",), dtypes=DTYPES, shapes=DEFAULT_BATCHES) -> list[Candidate]:
    """Every candidate of a selection, comparison by comparison.

    Each comparison holds fastct, the copy floor (a copy of the same bytes
    into a new array, as fastct returns one; int16 -> float32 etc. for the
    pipeline, whose output is float32) and each peer on the CT dtype and, where it has one,
    on its best dtype.

    Parameters
    ----------
    groups : sequence of str
        Op names and/or ``"pipeline"``.
    backends : sequence of {"cpu", "gpu"}
    dtypes : sequence of {"int16", "uint8", "float32"}
    shapes : sequence of (int, int, int)

    Returns
    -------
    list of Candidate

    Examples
    --------
    >>> cands = candidates(["erode"], ["cpu"], ["int16"], [(1, 64, 64)])
    >>> [c.name for c in cands]
    ['fastct', 'copy', 'OpenCV int16', 'OpenCV uint8', 'scipy.ndimage', 'scikit-image']
    """
    out = []
    for backend in backends:
        names = P.library_names(backend)
        for shape in shapes:
            shape = tuple(int(v) for v in shape)
            for group in groups:
                if group not in PEERS:
                    raise ValueError(f"groups: unknown group {group!r}; expected one of {', '.join(GROUPS)}")
                for dtype in dtypes:
                    base = Candidate(group, backend, dtype, shape, "fastct", "fastct", dtype)
                    floor_name = f"copy {dtype}->float32" if group == "pipeline" else "copy"
                    out += [base, replace(base, name=floor_name, kind="floor")]
                    for spec in PEERS[group]:
                        if spec.library not in names:
                            continue  # no such library on this backend (OpenCV on the GPU)
                        own = (spec.instead or {}).get(dtype, dtype)
                        variants = [own] + ([spec.best] if spec.best and spec.best != own else [])
                        for data_dtype in variants:
                            name = names[spec.library]
                            if spec.label:
                                name += f" {spec.label}"
                            if spec.best:  # peers with a preferred dtype say which one ran
                                name += f" {data_dtype}"
                            why = None
                            if spec.dtypes is not None and data_dtype not in spec.dtypes:
                                why = f"{names[spec.library]} does not take {data_dtype} for {group}"
                            out.append(replace(base, name=name, kind="peer", data_dtype=data_dtype,
                                               library=spec.library, unsupported=why, spec=spec))
    return out


def prepare(cand: Candidate, batches: Batches, libs: dict | None = None) -> Callable[[], object]:
    """The timed callable of ``cand``: one fresh result per call, device synchronised inside.

    Parameters
    ----------
    cand : Candidate
    batches : Batches
        Input cache (so every candidate of a comparison reads the same data).
    libs : dict, optional
        ``backend -> peers.Libs``, reused across calls (imports happen once).

    Raises
    ------
    Unavailable
        The peer is not installed (``absent``) or does not take the dtype
        (``unsupported``).

    Examples
    --------
    >>> c = candidates(["window"], ["cpu"], ["int16"], [(1, 32, 32)])[0]
    >>> prepare(c, Batches())().dtype
    dtype('float32')
    """
    if cand.unsupported:
        raise Unavailable("unsupported", cand.unsupported)
    libs = {} if libs is None else libs
    lib = libs.setdefault(cand.backend, P.Libs(cand.backend))
    x = batches.get(cand.shape, cand.data_dtype, cand.backend)
    if cand.kind == "fastct":
        fn = fastct_call(cand.group, x, cand.backend)
    elif cand.kind == "floor":
        # A new array per call, like fastct's calls: writing fresh memory
        # (page faults on the host) is part of what both sides pay.
        dtype = np.float32 if cand.group == "pipeline" else x.dtype
        fn = lambda: x.astype(dtype, copy=True)  # noqa: E731
    else:
        fn = cand.spec.build(cand.group, x, lib)
    if cand.backend == "gpu":
        def synced():
            result = fn()
            lib.sync()
            return result

        return synced
    return fn
