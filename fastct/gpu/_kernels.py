"""The CUDA kernel files and every template instantiation fastct asks NVRTC for.

Kernels are templated C++ in ``fastct/gpu/kernels/*.cu``, compiled on first use
by NVRTC with one name expression (``"chain_tile<short, float, false>"``) per
instantiation. Each file also lists the same instantiations for ``nvcc -c``
(ci/test.sh) between ``FASTCT-INSTANTIATIONS-BEGIN`` and ``-END``; a test checks
that the two lists agree, so what CI compiles is what runs.

Pure Python (no CuPy): importable and testable without a GPU.
"""

from __future__ import annotations

import re
from importlib import resources

import numpy as np

#: Kernel source files (``_common.cu`` is their shared prelude, not a kernel file).
KERNEL_FILES = ("stencil.cu", "histogram.cu", "intensity.cu", "features.cu")
COMMON_FILE = "_common.cu"
_INCLUDE = '#include "_common.cu"'

_CTYPES = {
    np.dtype(np.uint8): "unsigned char",
    np.dtype(np.uint16): "unsigned short",
    np.dtype(np.int16): "short",
    np.dtype(np.int32): "int",
    np.dtype(np.uint32): "unsigned int",
    np.dtype(np.int64): "long long",
    np.dtype(np.uint64): "unsigned long long",
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
}

#: Pixel dtypes of the stencil and histogram kernels.
INT_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.int16))
IMAGE_DTYPES = INT_DTYPES + (np.dtype(np.float32),)
MORPH_DTYPES = IMAGE_DTYPES + (np.dtype(np.float64),)
OUT_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.uint8, np.uint16))


def ctype(dtype) -> str:
    """The C++ type of a NumPy dtype.

    Examples
    --------
    >>> ctype(np.int16), ctype("float32")
    ('short', 'float')
    """
    return _CTYPES[np.dtype(dtype)]


def name_expr(kernel: str, *targs) -> str:
    """A name expression: dtypes become C++ types, bools ``true``/``false``.

    Examples
    --------
    >>> name_expr("chain_tile", np.int16, np.float32, False)
    'chain_tile<short, float, false>'
    >>> name_expr("gray_float")
    'gray_float'
    """
    if not targs:
        return kernel
    parts = []
    for a in targs:
        if isinstance(a, (bool, np.bool_)):
            parts.append("true" if a else "false")
        else:
            parts.append(ctype(a))
    return f"{kernel}<{', '.join(parts)}>"


def _chain_pairs():
    """(pixel, accumulator) dtype pairs of chains: integers sum in float32 or float64, floats in float32."""
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    return [(t, a) for t in INT_DTYPES for a in (f32, f64)] + [(f32, f32), (f64, f32)]


def _stencil():
    names = []
    for t, a in _chain_pairs():
        for stats in (False, True):
            if stats and t.kind == "f":
                continue  # equalisation fuses only for integer images
            names.append(name_expr("chain_tile", t, a, stats))
    linear = [(t, a) for t, a in _chain_pairs() if t != np.float64]
    names += [name_expr("stage_rows_linear", t, a) for t, a in linear]
    names += [name_expr("stage_cols_linear", t, a) for t, a in linear]
    names += [name_expr("stage_rows_extreme", t) for t in MORPH_DTYPES]
    names += [name_expr("stage_cols_extreme", t) for t in MORPH_DTYPES]
    names += [name_expr("morph_offsets", t) for t in MORPH_DTYPES]
    names += [name_expr("sharpen", t) for t in IMAGE_DTYPES]
    names += [name_expr("unsharp_combine", t) for t in IMAGE_DTYPES]
    return names


def _histogram():
    names = []
    for kernel in ("slice_stats", "hist_clear", "histogram", "equalize_lut"):
        names += [name_expr(kernel, t) for t in IMAGE_DTYPES]
    names += [name_expr("equalize_apply", t, o) for t in IMAGE_DTYPES for o in OUT_DTYPES]
    names += [name_expr("keys_to_ranges", t) for t in IMAGE_DTYPES]
    names += [name_expr("clahe_luts", t) for t in IMAGE_DTYPES]
    names += [name_expr("clahe_apply", t, o) for t in IMAGE_DTYPES for o in OUT_DTYPES]
    return names


def _intensity():
    names = [name_expr("window", t, o) for t in IMAGE_DTYPES for o in OUT_DTYPES]
    names += [name_expr("gray_fixed", t) for t in INT_DTYPES]
    names.append("gray_float")
    return names


def _features():
    # raw HU (feat_prepare, feat_row_sums) and preprocessed slices (the others) of any pixel dtype
    names = [name_expr(k, t) for k in ("feat_prepare", "feat_row_sums", "feat_histograms", "feat_grid_means")
             for t in MORPH_DTYPES]
    names += ["ccl_merge", "ccl_flatten", "feat_mark_seeds", "feat_body", "feat_count", "feat_big", "feat_filled",
              "feat_box_rows", "feat_box_cols", "feat_row_runs", "feat_finalize"]
    return names


def instantiations(file: str) -> tuple[str, ...]:
    """Every name expression fastct may request from ``file``."""
    table = {"stencil.cu": _stencil, "histogram.cu": _histogram, "intensity.cu": _intensity,
             "features.cu": _features}
    return tuple(table[file]())


def for_dtype(file: str, dtype) -> tuple[str, ...]:
    """The instantiations of ``file`` whose first template argument is ``dtype``.

    The GPU twins compile one module per (file, pixel dtype) holding all of
    them, so an op compiles once per dtype whatever its other parameters.

    >>> for_dtype("intensity.cu", np.float32)
    ('window<float, float>', 'window<float, unsigned char>', 'window<float, unsigned short>', 'gray_float')
    """
    c = ctype(dtype)
    group = []
    for name in instantiations(file):
        _, _, rest = name.partition("<")
        first = rest.split(",")[0].rstrip(">").strip() if rest else None
        if first == c or (first is None and c == "float"):
            group.append(name)
    return tuple(group)


def read_text(file: str) -> str:
    """The raw text of a kernel file shipped in ``fastct/gpu/kernels``."""
    return resources.files("fastct.gpu").joinpath("kernels", file).read_text(encoding="utf-8")


def kernel_source(file: str) -> str:
    """The self-contained source NVRTC compiles: ``_common.cu`` inlined at its include."""
    text = read_text(file)
    if _INCLUDE not in text:
        raise RuntimeError(f"{file}: expected the line {_INCLUDE!r}")
    return text.replace(_INCLUDE, read_text(COMMON_FILE), 1)


_LISTED = re.compile(r"^\s*\(void\s*\*\)\s*&\s*(.+?)\s*,\s*$", re.MULTILINE)


def listed_instantiations(text: str) -> tuple[str, ...]:
    """The instantiations a kernel file lists for ``nvcc -c``, normalised like :func:`name_expr`."""
    begin = text.index("FASTCT-INSTANTIATIONS-BEGIN")
    end = text.index("FASTCT-INSTANTIATIONS-END")
    found = _LISTED.findall(text[begin:end])
    return tuple(re.sub(r"\s*,\s*", ", ", re.sub(r"\s+", " ", f)).replace("< ", "<").replace(" >", ">") for f in found)
