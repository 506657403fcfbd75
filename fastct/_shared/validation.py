"""Argument checks and the dtype policy, shared by every op.

Every check raises a :mod:`fastct.errors` class whose message names the
argument and says what was expected, so a caller can fix the call without
reading fastct's source.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from ..errors import InvalidArgumentError, InvalidDTypeError, NonFiniteError
from .arrays import array_namespace, is_array, is_cupy_array

#: Border modes of every stencil op (scipy.ndimage names).
BORDER_MODES = ("nearest", "reflect", "mirror", "constant", "wrap")

#: dtypes computed natively. float64 is accepted and computed as float32
#: unless an op says otherwise (morphology keeps it: min/max are exact).
NATIVE_DTYPES = tuple(np.dtype(t) for t in ("uint8", "uint16", "int16", "float32"))

# Lossless conversions applied on entry: (from, to).
_ALWAYS_LOSSLESS = {np.dtype("int8"): np.dtype("int16"), np.dtype("float16"): np.dtype("float32")}
# Wide integers are narrowed when their values fit (checked), else rejected.
_NARROW_IF_FITS = {
    np.dtype("int32"): np.dtype("int16"),
    np.dtype("int64"): np.dtype("int16"),
    np.dtype("uint32"): np.dtype("uint16"),
    np.dtype("uint64"): np.dtype("uint16"),
}

_ACCEPTED = "uint8, uint16, int16, float32 or float64"


def check_dtype(dtype, name: str = "image") -> np.dtype:
    """Return the dtype fastct will compute in for input ``dtype``.

    Raises :class:`InvalidDTypeError` for bool, complex, object, string and
    other dtypes that have no meaning as CT intensities.
    """
    dtype = np.dtype(dtype)
    if dtype.byteorder not in "=|":  # big-endian data (DICOM, FITS...): same values, native order
        dtype = dtype.newbyteorder("=")
    if dtype in NATIVE_DTYPES or dtype == np.float64:
        return dtype
    if dtype in _ALWAYS_LOSSLESS:
        return _ALWAYS_LOSSLESS[dtype]
    if dtype in _NARROW_IF_FITS:
        return _NARROW_IF_FITS[dtype]
    hint = ""
    if dtype == np.bool_:
        hint = " (convert masks with .astype(np.uint8) first)"
    raise InvalidDTypeError(f"{name}: dtype {dtype} is not supported; expected {_ACCEPTED}{hint}")


def compute_dtype(dtype: np.dtype, keep_float64: bool = False) -> np.dtype:
    """The dtype kernels run in: float64 becomes float32 unless kept."""
    dtype = np.dtype(dtype)
    if dtype == np.float64 and not keep_float64:
        return np.dtype(np.float32)
    return dtype


def as_batch(image, name: str = "image", *, keep_float64: bool = False, check_finite: bool = True):
    """Validate an image or batch and view it as a C-contiguous ``(N, H, W)`` array.

    Returns ``(batch, squeeze)`` where ``squeeze`` is True when the input was a
    single ``(H, W)`` slice. The input is never modified; a copy is made only
    when the dtype must change or the input is not C-contiguous.
    """
    if not is_array(image):
        if isinstance(image, (list, tuple)):
            try:
                image = np.asarray(image)
            except (ValueError, TypeError) as exc:  # ragged nesting
                raise InvalidArgumentError(
                    f"{name}: a nested list must be rectangular, of shape (H, W) or (N, H, W) ({exc})"
                ) from None
        else:
            raise InvalidArgumentError(
                f"{name}: expected a NumPy or CuPy array of shape (H, W) or (N, H, W), "
                f"got {type(image).__name__}"
            )
    if image.ndim not in (2, 3):
        raise InvalidArgumentError(
            f"{name}: expected a 2-D slice (H, W) or a 3-D batch (N, H, W), got shape {tuple(image.shape)}"
        )
    if image.shape[-1] == 0 or image.shape[-2] == 0:
        raise InvalidArgumentError(
            f"{name}: slices must have at least one row and one column, got shape {tuple(image.shape)}"
        )
    target = compute_dtype(check_dtype(image.dtype, name), keep_float64)
    if image.dtype.newbyteorder("=") in _NARROW_IF_FITS and image.size:
        info = np.iinfo(target)
        lo, hi = int(image.min()), int(image.max())
        if lo < info.min or hi > info.max:
            raise InvalidDTypeError(
                f"{name}: dtype {image.dtype} with values in [{lo}, {hi}] does not fit {target}; "
                f"convert to float32 explicitly (image.astype(np.float32))"
            )
    xp = array_namespace(image)
    squeeze = image.ndim == 2
    batch = image[None] if squeeze else image
    source = batch
    with np.errstate(over="ignore"):  # float64 beyond float32's range: reported below
        batch = xp.ascontiguousarray(batch, dtype=target)
    if check_finite and batch.dtype.kind == "f" and batch.size and not _all_finite(xp, batch):
        if source.dtype.itemsize > batch.dtype.itemsize and _all_finite(xp, xp.ascontiguousarray(source)):
            raise InvalidDTypeError(
                f"{name}: {source.dtype} values beyond {batch.dtype}'s range (|x| > {np.finfo(batch.dtype).max:.3g}) "
                f"cannot be computed in {batch.dtype}; scale them first"
            )
        raise NonFiniteError(f"{name}: contains NaN or infinite values; replace them first (e.g. np.nan_to_num)")
    return batch, squeeze


def _all_finite(xp, batch) -> bool:
    if xp is np:
        try:
            from ..cpu._checks import all_finite  # one multithreaded pass over the bits
        except ImportError:  # numba unusable here: NumPy's reductions below
            pass
        else:
            return all_finite(batch)
    # min and max are NaN/inf exactly when some element is; two reductions,
    # no full-size boolean temporary.
    return bool(xp.isfinite(batch.min())) and bool(xp.isfinite(batch.max()))


def check_out(out, shape: tuple, dtype: np.dtype, like, name: str = "out"):
    """Check a caller-supplied output array; return it (or None)."""
    if out is None:
        return None
    if not is_array(out) or is_cupy_array(out) != is_cupy_array(like):
        kind = "CuPy" if is_cupy_array(like) else "NumPy"
        raise InvalidArgumentError(f"{name}: expected a {kind} array like the input, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        raise InvalidArgumentError(f"{name}: expected shape {tuple(shape)}, got {tuple(out.shape)}")
    if out.dtype != dtype:
        raise InvalidArgumentError(f"{name}: expected dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise InvalidArgumentError(f"{name}: must be C-contiguous")
    if not getattr(out.flags, "writeable", True):
        raise InvalidArgumentError(f"{name}: is read-only")
    return out


def check_mode(mode, name: str = "mode") -> str:
    """Validate a border mode name."""
    if mode not in BORDER_MODES:
        raise InvalidArgumentError(f"{name}: expected one of {', '.join(BORDER_MODES)}, got {mode!r}")
    return mode


def check_real(value, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number, optionally inside [low, high] (open ends on request)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise InvalidArgumentError(f"{name}: expected a finite number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise InvalidArgumentError(f"{name}: expected a value in {lb}{lo}, {hi}{hb}, got {value!r}")
    return value


def check_int(value, name: str, *, low=None, high=None, odd=False) -> int:
    """An integer (numpy integers accepted), optionally bounded and odd."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise InvalidArgumentError(f"{name}: expected an integer >= {low}, got {value}")
    if high is not None and value > high:
        raise InvalidArgumentError(f"{name}: expected an integer <= {high}, got {value}")
    if odd and value % 2 == 0:
        raise InvalidArgumentError(f"{name}: expected an odd integer (the window needs a centre pixel), got {value}")
    return value


def as_pair(value, name: str) -> tuple:
    """A scalar becomes ``(value, value)``; a pair stays as ``(rows, cols)``."""
    if isinstance(value, (str, bytes)):
        raise InvalidArgumentError(f"{name}: expected a number or a pair (rows, cols), got {value!r}")
    if isinstance(value, Sequence) or isinstance(value, np.ndarray):
        items = list(value)
        if len(items) != 2:
            raise InvalidArgumentError(f"{name}: expected a number or a pair (rows, cols), got {value!r}")
        return items[0], items[1]
    return value, value


def check_output_dtype(dtype, allowed: Sequence, name: str = "dtype"):
    """Validate an output dtype request against an op's allowed list (None allowed)."""
    if dtype is None:
        return None
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise InvalidArgumentError(f"{name}: not a dtype: {dtype!r}") from None
    allowed = [np.dtype(a) for a in allowed]
    if dtype not in allowed:
        raise InvalidArgumentError(f"{name}: expected one of {', '.join(map(str, allowed))}, got {dtype}")
    return dtype


def integer_limits(dtype) -> tuple[int, int]:
    """(min, max) of an integer dtype, used to saturate integer results."""
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def saturation_limits(dtype) -> tuple[int, int]:
    """The bounds kernels saturate results of ``dtype`` to: the integer range, or
    ``(0, 0)`` for floats, whose results are never saturated (kernels ignore them).

    Examples
    --------
    >>> saturation_limits(np.uint8), saturation_limits(np.float32)
    ((0, 255), (0, 0))
    """
    if np.dtype(dtype).kind == "f":
        return 0, 0
    return integer_limits(dtype)
