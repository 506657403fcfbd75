"""Other libraries doing fastct's operations: builders of timed callables.

Every builder takes the op name, the input batch and a :class:`Libs` (the
peer libraries of one backend, imported on first use) and returns a
zero-argument callable that computes a fresh result. A library that is not
installed raises :class:`Unavailable` with status ``"absent"``; nothing here
imports a peer at module import time.

Peers are configured to do the same work as fastct's benchmarked call
(same footprint, taps, cut-off, output dtype where the library allows), so
a time ratio compares like with like; each op's parameters are listed in
:data:`fastct.bench.registry.OP_PARAMS`.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np

# Library key -> (module names to import, display name) per backend.
_LIBRARIES = {
    "cpu": {
        "opencv": (("cv2",), "OpenCV"),
        "ndimage": (("scipy.ndimage",), "scipy.ndimage"),
        "skimage": (("skimage.morphology", "skimage.filters", "skimage.exposure"), "scikit-image"),
        "fft": (("scipy.fft",), "scipy.fft"),
        "array": (("numpy",), "NumPy"),
    },
    "gpu": {
        "ndimage": (("cupyx.scipy.ndimage",), "cupyx.scipy.ndimage"),
        "skimage": (("cucim.skimage.morphology", "cucim.skimage.filters", "cucim.skimage.exposure"), "cuCIM"),
        "fft": (("cupyx.scipy.fft",), "cupyx.scipy.fft"),
        "array": (("cupy",), "CuPy"),
    },
}

# Distribution to look up for a version string, per library key.
VERSION_MODULES = {
    "cpu": {"opencv": "cv2", "ndimage": "scipy", "skimage": "skimage", "fft": "scipy", "array": "numpy"},
    "gpu": {"ndimage": "cupy", "skimage": "cucim", "fft": "cupy", "array": "cupy"},
}


class Unavailable(Exception):
    """A candidate that cannot run here.

    Parameters
    ----------
    status : {"absent", "unsupported"}
        ``absent``: the library is not installed; ``unsupported``: it does
        not take this dtype or op.
    reason : str
        One line for the report.

    Examples
    --------
    >>> str(Unavailable("absent", "cv2 is not installed"))
    'absent: cv2 is not installed'
    """

    def __init__(self, status: str, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def library_names(backend: str) -> dict:
    """Library key -> display name of the peers of ``backend``.

    Examples
    --------
    >>> library_names("cpu")["ndimage"]
    'scipy.ndimage'
    >>> "opencv" in library_names("gpu")
    False
    """
    return {key: display for key, (_, display) in _LIBRARIES[backend].items()}


class Libs:
    """The peer libraries of one backend, imported when first asked for.

    Examples
    --------
    >>> libs = Libs("cpu")
    >>> libs.xp.__name__, libs.module("ndimage").__name__
    ('numpy', 'scipy.ndimage')
    """

    def __init__(self, backend: str):
        if backend not in _LIBRARIES:
            raise ValueError(f"backend: expected one of {', '.join(_LIBRARIES)}, got {backend!r}")
        self.backend = backend
        self._loaded: dict = {}

    @property
    def xp(self):
        """The array namespace: NumPy on the CPU, CuPy on the GPU."""
        return self.module("array") if self.backend == "gpu" else np

    def has(self, library: str) -> bool:
        """Whether ``library`` exists for this backend (not whether it is installed)."""
        return library in _LIBRARIES[self.backend]

    def module(self, library: str, index: int = 0):
        """The ``index``-th module of ``library``; :class:`Unavailable` when it is not installed."""
        if not self.has(library):
            raise Unavailable("unsupported", f"no {library} peer on the {self.backend} backend")
        names, display = _LIBRARIES[self.backend][library]
        if library not in self._loaded:
            try:
                self._loaded[library] = [importlib.import_module(name) for name in names]
            except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install: either way absent
                self._loaded[library] = f"{display} is not installed ({type(exc).__name__}: {exc})"
        found = self._loaded[library]
        if isinstance(found, str):
            raise Unavailable("absent", found)
        return found[index]

    def sync(self) -> None:
        """Wait for queued device work (GPU); nothing on the CPU."""
        if self.backend == "gpu":
            self.xp.cuda.Device().synchronize()


# ---------------------------------------------------------------------------
# small helpers


def per_slice(fn, x, out_dtype=None, xp=np):
    """A callable looping ``fn`` over the slices of ``x`` into a fresh batch.

    Examples
    --------
    >>> run = per_slice(lambda s: s * 2, np.ones((2, 3, 3), np.int16))
    >>> run().sum()
    np.int64(36)
    """

    def run():
        out = xp.empty(x.shape, out_dtype or x.dtype)
        for i in range(len(x)):
            out[i] = fn(x[i])
        return out

    return run


def window_kw(fn, ndim: int, size2d) -> dict:
    """Keyword arguments giving ``fn`` a 2-D window over the last two axes.

    scipy >= 1.15 takes ``axes=(-2, -1)``; elsewhere (older scipy, CuPy) the
    window gets a leading 1 per batch axis, which is the same filter.

    Examples
    --------
    >>> from scipy import ndimage
    >>> window_kw(ndimage.grey_erosion, 3, (3, 3))["size"]
    (3, 3)
    """
    if "axes" in inspect.signature(fn).parameters:
        return {"size": tuple(size2d), "axes": (-2, -1)}
    return {"size": (1,) * (ndim - 2) + tuple(size2d)}


def _axes_kw(fn) -> dict:
    return {"axes": (-2, -1)} if "axes" in inspect.signature(fn).parameters else {}


def cast_like(xp, y, dtype):
    """``y`` in ``dtype``: integers rounded half to even and saturated, as fastct returns them.

    Examples
    --------
    >>> cast_like(np, np.array([-3.5, 2.5, 300.0]), np.dtype(np.uint8))
    array([  0,   2, 255], dtype=uint8)
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return xp.clip(xp.rint(y), info.min, info.max).astype(dtype)
    return y.astype(dtype, copy=False)


def opencv5_taps(xp):
    """OpenCV's 5-tap Gaussian for sigma 0 (binomial 1-4-6-4-1 / 16), as float32.

    Examples
    --------
    >>> opencv5_taps(np).sum()
    np.float32(1.0)
    """
    return xp.asarray(np.array([1, 4, 6, 4, 1], np.float32) / 16)


def peer_gaussian5(xp, ndimage, x):
    """OpenCV's 5x5 rule as two 1-D correlations in float32, rounded back to the input dtype.

    Examples
    --------
    >>> from scipy import ndimage
    >>> peer_gaussian5(np, ndimage, np.full((1, 8, 8), 100, np.int16))[0, 4, 4]
    np.int16(100)
    """
    taps = opencv5_taps(xp)
    f = x.astype(xp.float32)
    f = ndimage.correlate1d(f, taps, axis=-1, mode="nearest")
    f = ndimage.correlate1d(f, taps, axis=-2, mode="nearest")
    if np.dtype(x.dtype).kind not in "iu":
        return f.astype(x.dtype, copy=False)
    info = np.iinfo(x.dtype)
    return xp.clip(xp.floor(f + 0.5), info.min, info.max).astype(x.dtype)


def peer_equalize(xp, x):
    """Per-slice equalisation, one bin per integer value, with bincount + cumsum + gather.

    Examples
    --------
    >>> peer_equalize(np, np.array([[[-1000, -1000], [0, 1000]]], np.int16))
    array([[[0. , 0. ],
            [0.5, 1. ]]], dtype=float32)
    """
    n = x.shape[0]
    v = x.reshape(n, -1).astype(xp.int64)
    lo = v.min(axis=1, keepdims=True)
    hi = v.max(axis=1, keepdims=True)
    span = int((hi - lo).max()) + 1
    idx = (v - lo) + xp.arange(n, dtype=xp.int64)[:, None] * span
    hist = xp.bincount(idx.ravel(), minlength=n * span).reshape(n, span)
    cdf = xp.cumsum(hist, axis=1)
    h0 = hist[:, :1]
    den = xp.maximum(v.shape[1] - h0, 1).astype(xp.float32)
    lut = ((cdf - h0).astype(xp.float32) / den).astype(xp.float32)
    out = xp.take_along_axis(lut, v - lo, axis=1)
    return out.reshape(x.shape)


def peer_default_pipeline(xp, ndimage, x):
    """The default pipeline (erode 3, dilate 3, Gaussian 5x5, equalise) from ndimage and array code.

    Examples
    --------
    >>> from scipy import ndimage
    >>> peer_default_pipeline(np, ndimage, np.zeros((1, 8, 8), np.int16)).dtype
    dtype('float32')
    """
    e = ndimage.grey_erosion(x, size=(1, 3, 3), mode="nearest")
    d = ndimage.grey_dilation(e, size=(1, 3, 3), mode="nearest")
    g = peer_gaussian5(xp, ndimage, d)
    return peer_equalize(xp, g)


def gaussian_response(xp, shape, cutoff: float, high: bool = False):
    """Gaussian low-pass (or ``1 -`` it) on the ``rfft2`` grid of ``shape``, float32.

    Examples
    --------
    >>> r = gaussian_response(np, (4, 6), 0.1)
    >>> r.shape, float(r[0, 0])
    ((4, 4), 1.0)
    """
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    resp = np.exp(-(fy * fy + fx * fx) / (2.0 * cutoff * cutoff)).astype(np.float32)
    return xp.asarray(1.0 - resp if high else resp)


# ---------------------------------------------------------------------------
# builders: (op, x, libs) -> callable

_CV_MORPH = {"erode": "MORPH_ERODE", "dilate": "MORPH_DILATE", "opening": "MORPH_OPEN", "closing": "MORPH_CLOSE"}
_ND_MORPH = {"erode": "grey_erosion", "dilate": "grey_dilation", "opening": "grey_opening", "closing": "grey_closing"}
_SK_MORPH = {"erode": "erosion", "dilate": "dilation", "opening": "opening", "closing": "closing"}
CUTOFF = 0.1
#: Size-variant groups of the morphology ops: group -> (op, square side).
MORPH_SIZES = {"erode_15x15": ("erode", 15), "dilate_15x15": ("dilate", 15)}
#: Size-variant groups of the Gaussian: group -> sigma (radius ``int(4 sigma + 0.5)``, scipy's rule).
GAUSSIAN_SIGMAS = {"gaussian_sigma1.1": 1.1, "gaussian_sigma8": 8.0}
SHARPEN_KERNEL = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)


def morph_op(group: str) -> tuple:
    """The morphology op and square side of a benchmark group (3 unless a size variant).

    Examples
    --------
    >>> morph_op("erode"), morph_op("dilate_15x15")
    (('erode', 3), ('dilate', 15))
    """
    return MORPH_SIZES.get(group, (group, 3))


def opencv_morphology(op, x, libs):
    cv2 = libs.module("opencv")
    op, size = morph_op(op)
    k = np.ones((size, size), np.uint8)
    code = getattr(cv2, _CV_MORPH[op])
    return per_slice(lambda s: cv2.morphologyEx(s, code, k, borderType=cv2.BORDER_REPLICATE), x)


def ndimage_morphology(op, x, libs):
    op, size = morph_op(op)
    fn = getattr(libs.module("ndimage"), _ND_MORPH[op])
    kw = window_kw(fn, x.ndim, (size, size))
    return lambda: fn(x, mode="nearest", **kw)


def skimage_morphology(op, x, libs):
    op, size = morph_op(op)
    fn = getattr(libs.module("skimage", 0), _SK_MORPH[op])
    footprint = libs.xp.ones((1, size, size), bool)
    return lambda: fn(x, footprint)


def opencv_gaussian(op, x, libs):
    cv2 = libs.module("opencv")
    return per_slice(lambda s: cv2.GaussianBlur(s, (5, 5), 0, borderType=cv2.BORDER_REPLICATE), x)


def ndimage_gaussian(op, x, libs):
    # sigma 1 truncated at 2 sigma: 5 taps, the same work as the 5x5 rule
    fn = libs.module("ndimage").gaussian_filter
    kw = _axes_kw(fn)
    sigma = 1.0 if kw else (0.0,) * (x.ndim - 2) + (1.0, 1.0)
    return lambda: fn(x, sigma, mode="nearest", truncate=2.0, **kw)


def skimage_gaussian(op, x, libs):
    fn = libs.module("skimage", 1).gaussian
    return lambda: fn(x, sigma=1.0, truncate=2.0, mode="nearest", preserve_range=True, channel_axis=0)


def opencv_gaussian_sigma(op, x, libs):
    cv2 = libs.module("opencv")
    sigma = GAUSSIAN_SIGMAS[op]
    k = 2 * int(4.0 * sigma + 0.5) + 1  # fastct's (and scipy's) radius, not OpenCV's own ksize rule
    return per_slice(lambda s: cv2.GaussianBlur(s, (k, k), sigma, borderType=cv2.BORDER_REPLICATE), x)


def ndimage_gaussian_sigma(op, x, libs):
    fn = libs.module("ndimage").gaussian_filter
    kw = _axes_kw(fn)
    sigma = GAUSSIAN_SIGMAS[op]
    sigma = sigma if kw else (0.0,) * (x.ndim - 2) + (sigma, sigma)
    return lambda: fn(x, sigma, mode="nearest", truncate=4.0, **kw)


def fft_filter(op, x, libs):
    fft = libs.module("fft")
    xp = libs.xp
    resp = gaussian_response(xp, x.shape[-2:], CUTOFF, high=(op == "highpass"))
    kw = {"workers": -1} if libs.backend == "cpu" else {}

    def run():
        spec = fft.rfft2(x.astype(xp.float32), axes=(-2, -1), **kw)
        spec *= resp
        y = fft.irfft2(spec, s=x.shape[-2:], axes=(-2, -1), **kw)
        return cast_like(xp, y, x.dtype)

    return run


def opencv_fft_filter(op, x, libs):
    cv2 = libs.module("opencv")
    h, w = x.shape[-2:]
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    resp = np.exp(-(fy * fy + fx * fx) / (2.0 * CUTOFF * CUTOFF)).astype(np.float32)
    if op == "highpass":
        resp = 1.0 - resp
    resp2 = np.repeat(resp[:, :, None], 2, axis=2)  # (re, im) planes of cv2.dft's complex output

    def one(s):
        spec = cv2.dft(s, flags=cv2.DFT_COMPLEX_OUTPUT)
        spec *= resp2
        return cv2.idft(spec, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)

    return per_slice(one, x)


def opencv_unsharp(op, x, libs):
    cv2 = libs.module("opencv")

    def one(s):
        blur = cv2.GaussianBlur(s, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
        return cv2.addWeighted(s, 2.0, blur, -1.0, 0.0)

    return per_slice(one, x)


def ndimage_unsharp(op, x, libs):
    fn = libs.module("ndimage").gaussian_filter
    xp = libs.xp
    kw = _axes_kw(fn)
    sigma = 1.0 if kw else (0.0,) * (x.ndim - 2) + (1.0, 1.0)

    def run():
        f = x.astype(xp.float32)
        return cast_like(xp, f + (f - fn(f, sigma, mode="nearest", **kw)), x.dtype)

    return run


def skimage_unsharp(op, x, libs):
    fn = libs.module("skimage", 1).unsharp_mask
    return lambda: fn(x, radius=1.0, amount=1.0, preserve_range=True, channel_axis=0)


def opencv_sharpen(op, x, libs):
    cv2 = libs.module("opencv")
    return per_slice(lambda s: cv2.filter2D(s, -1, SHARPEN_KERNEL, borderType=cv2.BORDER_REPLICATE), x)


def ndimage_sharpen(op, x, libs):
    fn = libs.module("ndimage").convolve
    kw = _axes_kw(fn)
    k = libs.xp.asarray(SHARPEN_KERNEL if kw else SHARPEN_KERNEL.reshape((1,) * (x.ndim - 2) + (3, 3)))
    return lambda: fn(x, k, mode="nearest", **kw)


def opencv_equalize(op, x, libs):
    return per_slice(libs.module("opencv").equalizeHist, x)


def skimage_equalize(op, x, libs):
    fn = libs.module("skimage", 2).equalize_hist
    return per_slice(fn, x, libs.xp.float64, libs.xp)


def array_equalize(op, x, libs):
    xp = libs.xp
    return lambda: peer_equalize(xp, x)


def opencv_clahe(op, x, libs):
    clahe = libs.module("opencv").createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return per_slice(clahe.apply, x)


def skimage_clahe(op, x, libs):
    fn = libs.module("skimage", 2).equalize_adapthist
    tile = (max(1, x.shape[-2] // 8), max(1, x.shape[-1] // 8))
    return per_slice(lambda s: fn(s, kernel_size=tile, clip_limit=0.01), x, libs.xp.float64, libs.xp)


def _lung_window():
    from .._shared.intensity import WINDOW_PRESETS

    center, width = WINDOW_PRESETS["lung"]
    return float(center), float(width)


def array_window(op, x, libs):
    xp = libs.xp
    center, width = _lung_window()
    return lambda: xp.clip((x.astype(xp.float32) - (center - 0.5)) / (width - 1) + 0.5, 0, 1)


def skimage_window(op, x, libs):
    fn = libs.module("skimage", 2).rescale_intensity
    center, width = _lung_window()
    lo, hi = center - width / 2, center + width / 2
    return lambda: fn(x, in_range=(lo, hi), out_range=(0.0, 1.0))


def opencv_pipeline(op, x, libs):
    """The classic per-slice chain: erode 3, dilate 3, GaussianBlur 5x5, equalizeHist."""
    cv2 = libs.module("opencv")
    k = np.ones((3, 3), np.uint8)
    rep = cv2.BORDER_REPLICATE

    def one(s):
        s = cv2.erode(s, k, borderType=rep)
        s = cv2.dilate(s, k, borderType=rep)
        s = cv2.GaussianBlur(s, (5, 5), 0, borderType=rep)
        return cv2.equalizeHist(s)

    return per_slice(one, x)


def ndimage_pipeline(op, x, libs):
    xp, ndimage = libs.xp, libs.module("ndimage")
    return lambda: peer_default_pipeline(xp, ndimage, x)
