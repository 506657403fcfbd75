"""The operation registry: every operation declared once, and the public functions it gives.

An operation is one decorated declaration at the bottom of this file::

    @operation(_plan_erode, kernel=lambda backend: backend.morphology.erode)
    def erode(image, size=3, *, footprint=None, shape="square", mode="nearest", cval=0.0,
              backend="auto", out=None):
        \"\"\"Grey-scale erosion ... (the docstring users read)\"\"\"

From that one declaration come:

- the public function ``fastct.erode`` (the decorator supplies its body:
  bind the arguments, plan, run on a backend) and its entry in ``__all__``;
- its **parameters**: the declared signature minus ``image``, ``backend``
  and ``out`` is what step strings (``"erode:3:mode=reflect"``), ``(name,
  params)`` pairs and the CLI accept, defaults included;
- its **plan**: the planner turns the bound parameters into a :class:`Step`
  (validated and resolved into what the kernels take: footprints, taps,
  codes), with its output dtype rule and its halo (the context a tile needs,
  used for Dask's ``map_overlap`` and band fusion);
- its **dispatch**: ``kernel`` maps a backend package (:mod:`fastct.cpu` or
  :mod:`fastct.gpu`, imported on first use by :mod:`fastct.backends`) to the
  twin function, ``cpu/morphology.py: erode`` <-> ``gpu/morphology.py: erode``;
- its row in the operations table of the README (:func:`operations_table`).

Adding an operation is that declaration, a planner, and the two twins.

Every op accepts a single ``(H, W)`` slice or an ``(N, H, W)`` batch and
returns the same layout; slices never mix. NumPy in gives NumPy out, CuPy in
gives CuPy out. Inputs are never modified.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import backends
from ._shared import box_gaussian
from ._shared import footprints as _fp
from ._shared import volume as _vol
from ._shared.arrays import array_namespace, is_array, is_cupy_array, shares_memory
from ._shared.budget import check_memory
from ._shared.frequency import check_padding_memory, resolve_frequency
from ._shared.gaussian import resolve_gaussian
from ._shared.histogram import EQUALIZE_OUTPUT_DTYPES, integral_as_integers, resolve_clahe, resolve_nbins
from ._shared.intensity import resolve_window
from ._shared.validation import (
    as_batch,
    as_pair,
    check_dtype,
    check_int,
    check_mode,
    check_out,
    check_output_dtype,
    check_real,
    compute_dtype,
)
from .errors import FastCTError, InvalidArgumentError, StepError

#: Parameters every public function takes that are not the operation's own.
RUN_ARGUMENTS = ("image", "backend", "out")


# ---------------------------------------------------------------------------
# Step: a validated, resolved operation


def _same_dtype(dtype):
    return dtype


@dataclass(frozen=True)
class Step:
    """One planned operation: validated parameters, ready to run on any batch.

    Attributes
    ----------
    name : str
        Canonical op name (``"erode"``, ``"gaussian_blur"`` ...).
    kernel : callable
        Maps a backend package to the twin function that computes the step
        (``lambda backend: backend.morphology.erode``).
    params : dict
        Resolved keyword arguments of the twin function.
    halo : tuple of int or None
        Rows and columns of context each output pixel reads on either side;
        None when the op needs the whole slice (histograms, FFT).
    request : dict
        The parameters as the caller gave them (for ``repr`` and the CLI).
    """

    name: str
    kernel: Callable
    params: dict
    halo: tuple | None
    request: dict = field(default_factory=dict)
    out_dtype: Callable = _same_dtype
    keep_float64: bool = False
    float_compute: bool = False  # integers are converted to float32 first when the output is float
    bind: Callable | None = None  # per-batch parameters (e.g. a mask checked against the image)
    halo_z: int = 0  # slices of context along z (volumetric steps)
    volumetric: bool = False  # True when the step reads the batch as one volume (axes include z)
    prepare: Callable | None = None  # batch -> the batch the kernel computes on (e.g. integral floats as integers)

    @property
    def whole_slice(self) -> bool:
        """True when each output pixel depends on the whole slice."""
        return self.halo is None

    def output_dtype(self, input_dtype) -> np.dtype:
        """dtype this step returns for an input of ``input_dtype``."""
        return np.dtype(self.out_dtype(compute_dtype(check_dtype(input_dtype), self.keep_float64)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.request.items())
        return f"Step({self.name}: {args})"

    def __call__(self, image, backend="auto", out=None):
        """Run the step on ``image`` (validated) and return the result."""
        backend_name = backends.resolve(backend, image)
        check_run_memory([self], image, out is not None)
        batch, squeeze = as_batch(image, keep_float64=self.keep_float64)
        out_dtype = np.dtype(self.out_dtype(batch.dtype))
        user_shape = batch.shape[1:] if squeeze else batch.shape
        out = check_out(out, user_shape, out_dtype, like=image)
        module = backends.get(backend_name, image)
        aliased = out is not None and shares_memory(out, image)
        target = None if out is None or aliased else (out[None] if squeeze else out)
        result = self.run_batch(module, batch, out_dtype, out=target)
        if aliased:  # in place: computed aside, then written over the input
            out[...] = result[0] if squeeze else result
        if out is not None:
            return out
        return result[0] if squeeze else result

    def run_batch(self, module, batch, out_dtype=None, out=None):
        """Run on a validated ``(N, H, W)`` batch with a backend package (no checks)."""
        out_dtype = np.dtype(self.out_dtype(batch.dtype)) if out_dtype is None else out_dtype
        target = out if out is not None else module.empty(batch.shape, out_dtype, like=batch)
        if batch.shape[0] == 0:
            return target
        if self.prepare is not None:
            batch = self.prepare(batch)
        params = self.bind(batch, self.params, module) if self.bind is not None else self.params
        if self.float_compute and out_dtype.kind == "f" and batch.dtype != out_dtype:
            batch = batch.astype(out_dtype)
        self.kernel(module)(batch, target, **params)
        return target


def check_run_memory(steps, image, out_given: bool) -> None:
    """Refuse, before anything is allocated, a run whose results would exceed the memory budget.

    Counts what a run allocates besides the caller's arrays: a converted copy
    of the input (when its dtype or layout changes) and, at the worst point,
    one step's input and result side by side (the last result is the
    caller's when ``out`` is given). Padded spectra are checked by the
    frequency steps themselves.
    """
    shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
    if shape is None or dtype is None or not steps:
        return
    try:
        current = compute_dtype(check_dtype(dtype), all(s.keep_float64 for s in steps))
    except FastCTError:
        return  # as_batch reports the dtype itself
    pixels = math.prod(int(n) for n in shape)
    converted = pixels * current.itemsize if current != np.dtype(dtype) else 0
    sizes = []
    for step in steps:
        current = step.output_dtype(current)
        sizes.append(pixels * current.itemsize)
    if out_given:
        sizes[-1] = 0
    peak = max(size + (sizes[i - 1] if i else 0) for i, size in enumerate(sizes))
    check_memory(converted + peak, "image", f"{len(steps)} step(s) on a {tuple(shape)} {np.dtype(dtype).name} batch")


# ---------------------------------------------------------------------------
# Operation: the declaration, and the registry of all of them


@dataclass(frozen=True)
class Operation:
    """One operation as declared: its public function, planner and twins.

    Attributes
    ----------
    name : str
        The function name, also the canonical step name.
    function : callable
        The public function (signature and docstring as declared).
    planner : callable
        Bound parameters (keywords, defaults applied) -> the fields of a
        :class:`Step` (``params``, ``halo``, ``request`` ...).
    kernel : callable
        Backend package -> twin function.
    aliases : tuple of str
        Short step names (``"gaussian"`` for ``gaussian_blur``).
    output : str
        The output dtype rule, as the operations table states it.
    """

    name: str
    function: Callable
    planner: Callable
    kernel: Callable
    aliases: tuple = ()
    output: str = "same as input"

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """The declared signature of the public function."""
        return inspect.signature(self.function)

    @property
    def parameters(self) -> list[str]:
        """Parameter names a step of this op takes (the signature minus image, backend, out)."""
        return [p for p in self.signature.parameters if p not in RUN_ARGUMENTS]

    @property
    def summary(self) -> str:
        """The first line of the docstring."""
        return (self.function.__doc__ or "").strip().splitlines()[0]

    def plan(self, *args, **kwargs) -> Step:
        """Validate the op's parameters (as a step takes them) and plan a :class:`Step`.

        Raises :class:`~fastct.errors.StepError` for parameters the op does
        not have; the planner's own checks raise their
        :class:`~fastct.errors.InvalidArgumentError`.
        """
        for reserved in RUN_ARGUMENTS:
            if reserved in kwargs:
                raise StepError(f"{self.name}: {reserved!r} is given to the pipeline run, not to a step")
        try:
            bound = self.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise StepError(f"{self.name}: {exc}") from None
        return self._plan_bound(bound)

    def _plan_bound(self, bound: inspect.BoundArguments) -> Step:
        bound.apply_defaults()
        params = {k: v for k, v in bound.arguments.items() if k not in RUN_ARGUMENTS}
        fields = self.planner(**params)
        kernel = fields.pop("kernel", self.kernel)  # a volumetric plan may run the twin another way
        return Step(self.name, kernel, **fields)


#: Canonical name -> :class:`Operation`, in declaration order.
OPERATIONS: dict[str, Operation] = {}
#: Short step name -> canonical name (``"gaussian"`` -> ``"gaussian_blur"``).
ALIASES: dict[str, str] = {}


def operation(planner: Callable, kernel: Callable, *, aliases=(), output: str = "same as input"):
    """Declare the decorated function as an operation and give it its body.

    The decorated function contributes its name, signature and docstring;
    the returned public function binds the call's arguments to that
    signature, plans a :class:`Step` with ``planner`` and runs it on the
    backend chosen by ``backend``.
    """

    def declare(function: Callable) -> Callable:
        op = Operation(function.__name__, function, planner, kernel, tuple(aliases), output)
        if op.name in OPERATIONS or any(a in ALIASES for a in op.aliases):
            raise ValueError(f"operation {op.name!r} (or one of its aliases) is declared twice")
        OPERATIONS[op.name] = op
        ALIASES.update((alias, op.name) for alias in op.aliases)

        @functools.wraps(function)
        def public(*args, **kwargs):
            bound = op.signature.bind(*args, **kwargs)  # a TypeError names the bad argument
            image = bound.arguments["image"]
            axes = bound.arguments.get("axes")
            if axes is not None and getattr(image, "ndim", None) == 2:
                # a single slice's axes (0 = rows, 1 = cols) are the batch's axes 1 and 2
                bound.arguments["axes"] = _vol.resolve_axes(axes, ndim=2)
            backend = bound.arguments.get("backend", "auto")
            out = bound.arguments.get("out")
            return op._plan_bound(bound)(image, backend, out)

        public.operation = op
        return public

    return declare


def lookup(name: str) -> Operation:
    """The :class:`Operation` called ``name`` (a canonical name or an alias).

    Examples
    --------
    >>> lookup("gaussian").name, lookup("gaussian").parameters[:2]
    ('gaussian_blur', ['sigma', 'ksize'])
    """
    op = OPERATIONS.get(ALIASES.get(name, name))
    if op is None:
        raise StepError(f"unknown operation {name!r}; known: {', '.join(step_names())}")
    return op


def step_names() -> list[str]:
    """Every name a step may use: the canonical names, then the aliases."""
    return list(OPERATIONS) + list(ALIASES)


def plan(name: str, *args, **kwargs) -> Step:
    """Plan the step ``name`` (an op name or alias) with the op's parameters.

    Examples
    --------
    >>> plan("erode", 5).halo
    (2, 2)
    """
    return lookup(name).plan(*args, **kwargs)


def operations_table() -> str:
    """The operations as a Markdown table (the README's table is this text).

    Examples
    --------
    >>> operations_table().splitlines()[0]
    '| operation | step names | what it does | output dtype |'
    """
    rows = ["| operation | step names | what it does | output dtype |", "|---|---|---|---|"]
    for op in OPERATIONS.values():
        names = ", ".join(f"`{n}`" for n in (op.name,) + op.aliases)
        rows.append(f"| `fastct.{op.name}` | {names} | {op.summary} | {op.output} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------
# planners: bound parameters -> Step fields (no data touched)


def _float_output(dtype, name="dtype"):
    """Output rule for ops that keep the input dtype unless promoted to float32."""
    dtype = check_output_dtype(dtype, (np.float32,), name)
    if dtype is None:
        return _same_dtype
    return lambda _in: np.dtype(np.float32)


def _fixed_output(dtype, name="dtype"):
    """Output rule of the equalisation and windowing ops: float32, uint8 or uint16, never None."""
    out = check_output_dtype(dtype, EQUALIZE_OUTPUT_DTYPES, name)
    if out is None:
        raise InvalidArgumentError(f"{name}: expected float32, uint8 or uint16, got None")
    return out


def _check_cval(cval, mode):
    """Validate ``cval``; return it as the kernels take it and a per-batch dtype check.

    Only mode ``constant`` reads ``cval``: in every other mode it becomes 0, so
    no backend ever casts an unused value (a uint8 cast of -1 would raise).
    """
    cval = check_real(cval, "cval")
    if mode != "constant":
        return 0.0, None

    def bind(batch, params, module):
        if batch.dtype.kind == "f" and abs(cval) > float(np.finfo(batch.dtype).max):
            raise InvalidArgumentError(f"cval: {cval!r} does not fit the image dtype {batch.dtype}")
        if batch.dtype.kind in "iu":
            info = np.iinfo(batch.dtype)
            if cval != int(cval) or not info.min <= cval <= info.max:
                raise InvalidArgumentError(
                    f"cval: {cval!r} is not a value of the image dtype {batch.dtype} "
                    f"(expected an integer in [{info.min}, {info.max}])"
                )
        return params

    return cval, bind


def _plan_morphology(size, footprint, shape, mode, cval, axes=None, spacing=None, *, passes=1) -> dict:
    """erode/dilate (one pass) and opening/closing (two passes: twice the halo)."""
    batch_axes = _vol.resolve_axes(axes)
    if batch_axes is None and spacing is None and shape != "ball":
        fp = _fp.resolve_footprint(size, footprint, shape)  # each slice: the 2-D footprint, as always
    else:
        fp = _vol.morphology_footprint(size, footprint, shape, batch_axes or _vol.PLANE_AXES, spacing)
        if fp.shape[0] == 1:  # nothing along z: the 2-D kernels, slice by slice
            fp = np.ascontiguousarray(fp[0])
    mode = check_mode(mode)
    cval, bind = _check_cval(cval, mode)
    ry, rx = fp.shape[-2] // 2, fp.shape[-1] // 2
    rz = fp.shape[0] // 2 if fp.ndim == 3 else 0
    return dict(
        params={"footprint": fp, "mode": mode, "cval": cval},
        halo=(passes * ry, passes * rx),
        request=_volume_request({"size": size, "shape": shape, "footprint": footprint, "mode": mode}, axes, spacing),
        keep_float64=True,
        bind=bind,
        halo_z=passes * rz,
        volumetric=fp.ndim == 3,
    )


def _volume_request(request, axes, spacing):
    """``request`` with ``axes`` and ``spacing`` when given (kept out of per-slice requests)."""
    if axes is not None:
        request["axes"] = tuple(axes) if not isinstance(axes, int) else axes
    if spacing is not None:
        request["spacing"] = tuple(spacing)
    return request


def _volume_axes(axes, op):
    """None for in-plane work (the default, or the two in-plane axes), True for (z, y, x); else an error."""
    batch_axes = _vol.resolve_axes(axes)
    if batch_axes is None or set(batch_axes) == {1, 2}:
        return False
    if set(batch_axes) == {0, 1, 2}:
        return True
    raise InvalidArgumentError(f"axes: {op} works on the two in-plane axes or on all three (0, 1, 2), got {axes!r}")


_plan_one_pass = functools.partial(_plan_morphology, passes=1)
_plan_two_passes = functools.partial(_plan_morphology, passes=2)


def _resolve_blur(sigma, ksize, truncate, method, axes=None, spacing=None):
    """Gaussian taps per axis, the box cascade's widths (or None), the halo they need and the z taps (or None)."""
    batch_axes = _vol.resolve_axes(axes)
    if batch_axes is None and spacing is None:
        return _resolve_blur_plane(sigma, ksize, truncate, method) + (None,)
    (taps_z, taps_y, taps_x), px, ks = _vol.gaussian_axis_taps(
        sigma, ksize, truncate, batch_axes or _vol.PLANE_AXES, spacing)
    pair_ksize = None if ksize is None else (ks[1] or 1, ks[2] or 1)
    boxes = box_gaussian.resolve_method(method, (px[1], px[2]), pair_ksize, truncate, taps_y, taps_x)
    return taps_y, taps_x, boxes, _blur_halo(taps_y, taps_x, boxes), (taps_z if len(taps_z) > 1 else None)


def _resolve_blur_plane(sigma, ksize, truncate, method):
    """:func:`_resolve_blur` for each slice (no ``axes``, no ``spacing``)."""
    taps_y, taps_x = resolve_gaussian(sigma, ksize, truncate)
    boxes = box_gaussian.resolve_method(method, as_pair(sigma, "sigma"), ksize, truncate, taps_y, taps_x)
    return taps_y, taps_x, boxes, _blur_halo(taps_y, taps_x, boxes)


def _blur_halo(taps_y, taps_x, boxes):
    """Rows and columns a blur reads beyond each side of the slice: the taps' radii, or the box cascade's."""
    if boxes is None:
        return len(taps_y) // 2, len(taps_x) // 2
    return box_gaussian.radius(boxes[0]), box_gaussian.radius(boxes[1])


def _plan_gaussian_blur(sigma, ksize, truncate, method, mode, cval, dtype, axes=None, spacing=None) -> dict:
    return _plan_blur(sigma, ksize, truncate, method, mode, cval, dtype, axes, spacing)


def _plan_blur(sigma, ksize, truncate, method, mode, cval, dtype, axes, spacing, **reals) -> dict:
    """The plan of a Gaussian blur, or of an op built on one whose other parameters are the real numbers ``reals``.

    ``reals`` (``amount`` for the unsharp mask) are checked after the blur and
    stand after ``sigma`` in the request and after the taps in the kernel's
    parameters.
    """
    taps_y, taps_x, boxes, halo, taps_z = _resolve_blur(sigma, ksize, truncate, method, axes, spacing)
    reals = {name: check_real(value, name) for name, value in reals.items()}
    mode = check_mode(mode)
    cval, bind = _check_cval(cval, mode)
    request = {"sigma": sigma, **reals, "ksize": ksize, "truncate": truncate, "mode": mode}
    if method != "exact":
        request["method"] = method
    params = {"taps_y": taps_y, "taps_x": taps_x, **reals, "mode": mode, "cval": cval, "boxes": boxes}
    if taps_z is not None:
        params["taps_z"] = taps_z
    return dict(
        params=params,
        halo=halo,
        request=_volume_request(request, axes, spacing),
        out_dtype=_float_output(dtype),
        float_compute=True,
        bind=bind,
        halo_z=0 if taps_z is None else len(taps_z) // 2,
        volumetric=taps_z is not None,
    )


def _plan_frequency(cutoff, kind, order, pad, mode, cval, dtype, axes=None) -> dict:
    if _volume_axes(axes, "a frequency filter"):
        return _plan_frequency_volume(cutoff, kind, order, pad, mode, cval, dtype, axes)
    cutoff, kind, order = resolve_frequency(cutoff, kind, order)
    check_padding_memory(pad, None)  # validates pad; refuses what no image could afford
    mode = check_mode(mode)
    cval = check_real(cval, "cval")

    def bind(batch, params, module):
        # one spectrum per thread (CPU) or per chunk of slices (GPU): a bound for both
        check_padding_memory(pad, batch.shape[1:], spectra=max(os.cpu_count() or 1, min(batch.shape[0], 32)))
        return params

    return dict(
        params={"cutoff": cutoff, "kind": kind, "order": order, "pad": pad, "mode": mode, "cval": cval},
        halo=None,
        bind=bind,
        request={"cutoff": cutoff, "kind": kind, "order": order, "pad": pad, "mode": mode},
        out_dtype=_float_output(dtype),
    )


def _plan_frequency_volume(cutoff, kind, order, pad, mode, cval, dtype, axes) -> dict:
    """A frequency filter over (z, y, x): one 3-D real FFT of the volume (radial frequency in 3-D)."""
    cutoff, kind, order = resolve_frequency(cutoff, kind, order)
    _vol.resolve_volume_padding(pad, (1, 1, 1))  # validates pad
    mode = check_mode(mode)
    cval = check_real(cval, "cval")

    def bind(batch, params, module):
        # the padded float32 volume, its complex64 half spectrum, the response and the float32 result
        padding = _vol.resolve_volume_padding(pad, batch.shape)
        d, h, w = (n + p0 + p1 for n, (p0, p1) in zip(batch.shape, padding, strict=True))
        check_memory(d * h * (4 * w + 16 * (w // 2 + 1)), "pad" if pad else "image",
                     f"a 3-D FFT of a {d}x{h}x{w} volume")
        return params

    return dict(
        params={"cutoff": cutoff, "kind": kind, "order": order, "pad": pad, "mode": mode, "cval": cval,
                "volume": True},
        bind=bind,
        halo=None,
        request=_volume_request({"cutoff": cutoff, "kind": kind, "order": order, "pad": pad, "mode": mode}, axes,
                                None),
        out_dtype=_float_output(dtype),
        volumetric=True,
    )


def _plan_unsharp_mask(sigma, amount, ksize, truncate, method, mode, cval, dtype, axes=None, spacing=None) -> dict:
    return _plan_blur(sigma, ksize, truncate, method, mode, cval, dtype, axes, spacing, amount=amount)


def _plan_sharpen(amount, neighbours, mode, cval, dtype, axes=None) -> dict:
    amount = check_real(amount, "amount")
    volume = _volume_axes(axes, "sharpen")
    if volume:  # the 3-D Laplacian: face neighbours (6) or the whole 3x3x3 cube (26)
        if neighbours not in (4, 8, 6, 26):
            raise InvalidArgumentError(
                f"neighbours: expected 6 or 26 over three axes (4 or 8 name them), got {neighbours!r}")
        neighbours = {4: 6, 8: 26}.get(neighbours, neighbours)
    elif neighbours not in (4, 8):
        raise InvalidArgumentError(f"neighbours: expected 4 or 8, got {neighbours!r}")
    mode = check_mode(mode)
    cval, bind = _check_cval(cval, mode)
    return dict(
        params={"amount": amount, "neighbours": neighbours, "mode": mode, "cval": cval},
        halo=(1, 1),
        request=_volume_request({"amount": amount, "neighbours": neighbours, "mode": mode}, axes, None),
        out_dtype=_float_output(dtype),
        float_compute=True,
        bind=bind,
        halo_z=1 if volume else 0,
        volumetric=volume,
    )


def _bind_mask(mask):
    """Check a mask against each batch: bool, (H, W) or (N, H, W), a True pixel per slice."""
    if mask is None:
        return None
    if not is_array(mask):
        raise InvalidArgumentError(f"mask: expected a boolean array, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise InvalidArgumentError(f"mask: expected dtype bool, got {mask.dtype}")

    def bind(batch, params, module):
        n, h, w = batch.shape
        if mask.shape not in ((h, w), (n, h, w)):
            raise InvalidArgumentError(
                f"mask: expected shape {(h, w)} or {(n, h, w)} to match the image, got {tuple(mask.shape)}"
            )
        if is_cupy_array(mask) and isinstance(batch, np.ndarray):
            raise InvalidArgumentError(
                "mask: a CuPy mask needs a CuPy image or backend='gpu' (or pass cupy.asnumpy(mask))")
        m = mask.reshape((-1, h, w))
        if not bool(m.reshape(m.shape[0], -1).any(axis=1).all()):
            raise InvalidArgumentError("mask: selects no pixel in at least one slice")
        # A pipeline chained on the device hands its steps device batches: the mask follows.
        m = module.move_like(array_namespace(m).ascontiguousarray(m.view(np.uint8)), batch)
        return dict(params, mask=m)

    return bind


def _plan_equalize_hist(nbins, mask, dtype, axes=None) -> dict:
    if nbins is not None:
        check_int(nbins, "nbins", low=2, high=1 << 16)
    out = _fixed_output(dtype)
    volume = _volume_axes(axes, "equalize_hist")
    bind_mask = _bind_mask(mask)

    def bind(batch, params, module):
        params = dict(params, nbins=resolve_nbins(nbins, batch.dtype))
        if bind_mask is None:
            return params
        if volume:  # one histogram per volume: the mask is checked as one tall slice, like the kernel sees it
            return _bind_volume_mask(mask, batch, params, module)
        return bind_mask(batch, params, module)

    fields = dict(
        params={"nbins": nbins, "mask": None},
        prepare=integral_as_integers if nbins is None else None,
        halo=None,
        request=_volume_request({"nbins": nbins, "mask": None if mask is None else "<mask>", "dtype": out.name},
                                axes, None),
        out_dtype=lambda _in: out,
        bind=bind,
        volumetric=volume,
    )
    if volume:
        fields["kernel"] = lambda backend: functools.partial(_as_one_slice, backend.histogram.equalize_hist)
    return fields


def _as_one_slice(twin, batch, out, **params):
    """Run a per-slice twin on the whole ``(N, H, W)`` volume as one ``(1, N*H, W)`` slice (views, no copy)."""
    n, h, w = batch.shape
    twin(batch.reshape(1, n * h, w), out.reshape(1, n * h, w), **params)
    return out


def _bind_volume_mask(mask, batch, params, module):
    """A volume's mask, ``(H, W)`` (every slice) or ``(N, H, W)``, as the ``(1, N*H, W)`` mask of
    :func:`_as_one_slice`."""
    n, h, w = batch.shape
    if tuple(mask.shape) not in ((h, w), (n, h, w)):
        raise InvalidArgumentError(
            f"mask: expected shape {(h, w)} or {(n, h, w)} to match the image, got {tuple(mask.shape)}"
        )
    xp = array_namespace(mask)
    whole = xp.ascontiguousarray(xp.broadcast_to(mask, (n, h, w))).reshape(1, n * h, w)
    return _bind_mask(whole)(batch.reshape(1, n * h, w), params, module)


def _plan_clahe(clip_limit, tiles, nbins, value_range, dtype, axes=None) -> dict:
    volume = _volume_axes(axes, "clahe")
    if volume:  # (z, y, x) tiles; the other parameters are checked as for slices
        clip_limit, _, value_range = resolve_clahe(clip_limit, 1, value_range)
        tiles = _vol.resolve_volume_tiles(tiles)
    else:
        clip_limit, tiles, value_range = resolve_clahe(clip_limit, tiles, value_range)
    if nbins is not None:
        check_int(nbins, "nbins", low=2, high=1 << 16)
    out = _fixed_output(dtype)

    def bind(batch, params, module):
        bins = resolve_nbins(nbins, batch.dtype)
        if bins == 0 and value_range is not None and math.floor(value_range[1]) < math.ceil(value_range[0]):
            raise InvalidArgumentError(
                f"value_range: {value_range!r} holds no integer value of the {np.dtype(batch.dtype).name} "
                f"image (one bin per integer value); widen it or pass nbins"
            )
        return dict(params, nbins=bins)

    params = {"clip_limit": clip_limit, "tiles": tiles, "nbins": nbins, "value_range": value_range}
    if volume:
        params["volume"] = True
    return dict(
        params=params,
        prepare=integral_as_integers if nbins is None else None,
        halo=None,
        request=_volume_request({"clip_limit": clip_limit, "tiles": tiles, "nbins": nbins,
                                 "value_range": value_range}, axes, None),
        out_dtype=lambda _in: out,
        bind=bind,
        volumetric=volume,
    )


def _plan_window(center, width, preset, dtype) -> dict:
    center, width = resolve_window(center, width, preset)
    out = _fixed_output(dtype)
    return dict(
        params={"center": center, "width": width},
        halo=(0, 0),
        request={"center": center, "width": width, "dtype": out.name},
        out_dtype=lambda _in: out,
    )


# ---------------------------------------------------------------------------
# the operations

_SAME = "same as input"
_SAME_OR_FLOAT = "same as input (integers rounded); `dtype=np.float32` to promote"
_UNIT = "float32 in [0, 1]; `dtype=np.uint8` / `np.uint16` for the full integer scale"


@operation(_plan_one_pass, kernel=lambda backend: backend.morphology.erode)
def erode(image, size=3, *, footprint=None, shape="square", mode="nearest", cval=0.0, axes=None, spacing=None,
          backend="auto", out=None):
    """Grey-scale erosion: the minimum over a flat footprint around each pixel.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
        uint8, uint16, int16, float32 or float64 (NumPy or CuPy). The dtype
        is preserved (float64 included: min/max are exact).
    size : int or (int, int), default 3
        Odd side of a square footprint, or odd ``(rows, cols)`` of a rectangle.
        With ``shape="disk"`` the odd diameter of a disk.
    footprint : array_like of bool, optional
        Any flat footprint with odd sides (overrides ``size`` and ``shape``).
    shape : {"square", "disk"}
        Footprint shape built from ``size``.
    mode : {"nearest", "reflect", "mirror", "constant", "wrap"}
        Border extension (scipy.ndimage names). With the default ``nearest``
        and a square, rectangle or disk footprint, pixels outside the slice
        are simply ignored.
    cval : float
        Value outside the slice for ``mode="constant"``.
    axes : tuple of int, optional
        Axes the footprint spans, scipy.ndimage's meaning. The default is the
        last two (each slice on its own); ``(0, 1, 2)`` reads an ``(N, H, W)``
        batch as one volume ``(z, y, x)``. ``size`` (and ``footprint``'s
        dims) follow the order of ``axes``; ``shape`` may then be
        ``"square"`` (a box) or ``"ball"`` (see :func:`fastct.ball`).
    spacing : tuple of float, optional
        Voxel size per axis of ``axes`` in mm (or ``(dz, dy, dx)``): ``size``
        is then in mm, rounded per axis to the nearest odd voxel count
        ``2 * floor(size / (2 * spacing)) + 1``.
    backend : {"auto", "cpu", "gpu"}
    out : ndarray, optional
        Destination of the result's shape and dtype.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Notes
    -----
    Over three axes, a box is a running min/max along z plus the 2-D
    rectangle; any other 3-D footprint is split into its z planes (and a
    plane into centred rectangles where it can be), so a ball costs a few
    separable 2-D passes. Results equal ``scipy.ndimage.grey_erosion`` with
    the same footprint and mode, bit for bit.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.zeros((5, 5), np.int16); img[2, 2] = -1000
    >>> int((fastct.erode(img, 3, backend="cpu") == -1000).sum())
    9
    >>> vol = np.zeros((5, 5, 5), np.int16); vol[2, 2, 2] = -1000
    >>> int((fastct.erode(vol, footprint=fastct.ball(1), axes=(0, 1, 2), backend="cpu") == -1000).sum())
    7
    """


@operation(_plan_one_pass, kernel=lambda backend: backend.morphology.dilate)
def dilate(image, size=3, *, footprint=None, shape="square", mode="nearest", cval=0.0, axes=None, spacing=None,
           backend="auto", out=None):
    """Grey-scale dilation: the maximum over the (reflected) flat footprint.

    Parameters are those of :func:`erode`. The footprint is reflected through
    its centre, the textbook definition used by scipy.ndimage and
    scikit-image (it only matters for asymmetric footprints).

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.zeros((5, 5), np.uint8); img[2, 2] = 200
    >>> int(fastct.dilate(img, (1, 3), backend="cpu").sum())
    600
    """


@operation(_plan_two_passes, kernel=lambda backend: backend.morphology.opening)
def opening(image, size=3, *, footprint=None, shape="square", mode="nearest", cval=0.0, axes=None, spacing=None,
            backend="auto", out=None):
    """Opening: erosion then dilation; removes bright details smaller than the footprint.

    Parameters are those of :func:`erode`.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.zeros((7, 7), np.int16); img[3, 3] = 500  # one bright pixel
    >>> int(fastct.opening(img, 3, backend="cpu").max())
    0
    """


@operation(_plan_two_passes, kernel=lambda backend: backend.morphology.closing)
def closing(image, size=3, *, footprint=None, shape="square", mode="nearest", cval=0.0, axes=None, spacing=None,
            backend="auto", out=None):
    """Closing: dilation then erosion; fills dark details smaller than the footprint.

    Parameters are those of :func:`erode`.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.full((7, 7), 40, np.int16); img[3, 3] = -1000  # one dark pixel
    >>> int(fastct.closing(img, 3, backend="cpu").min())
    40
    """


@operation(_plan_gaussian_blur, kernel=lambda backend: backend.filters.gaussian_blur, aliases=("gaussian",),
           output=_SAME_OR_FLOAT)
def gaussian_blur(
    image, sigma=1.0, *, ksize=None, truncate=4.0, method="exact", mode="nearest", cval=0.0, dtype=None,
    axes=None, spacing=None, backend="auto", out=None,
):
    """Separable Gaussian smoothing of each slice.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
    sigma : float or (float, float)
        Standard deviation in pixels, per axis ``(rows, cols)`` if a pair.
        0 leaves an axis unchanged, unless ``ksize`` is given: then sigma 0
        follows OpenCV's rule (``cv2.GaussianBlur(img, (5, 5), 0)`` uses the
        binomial taps 1-4-6-4-1 / 16 and is reproduced exactly).
    ksize : int or (int, int), optional
        Odd kernel size; by default the radius is ``int(truncate * sigma + 0.5)``.
    truncate : float
        Radius in standard deviations when ``ksize`` is not given (scipy's rule).
    method : {"exact", "box"}
        ``"exact"`` (default) convolves with the sampled Gaussian taps (cost
        grows with sigma). ``"box"``, an approximation used only when asked
        for, convolves with a cascade of four box filters per axis fitted to
        those taps (cost independent of sigma; its error is in the Notes).
    mode, cval
        Border extension, as in :func:`erode`.
    dtype : None or numpy.float32
        None keeps the input dtype (integers rounded half up, saturated);
        float32 returns the unrounded result.
    axes : tuple of int, optional
        As in :func:`erode`: ``(0, 1, 2)`` smooths the batch as one volume;
        ``sigma`` and ``ksize`` then take one value per axis (or one for all).
    spacing : tuple of float, optional
        Voxel size per axis in mm: ``sigma`` is then in mm (``sigma / spacing``
        pixels per axis) and ``ksize`` too (rounded as sizes are in :func:`erode`).
    backend, out
        As in :func:`erode`.

    Notes
    -----
    Over three axes the filter is separable: a pass along z over whole
    slices, then the 2-D Gaussian. Float results agree with
    ``scipy.ndimage.gaussian_filter`` (same truncate) to float32 rounding;
    integers are rounded to the dtype after the z pass (exact fixed point),
    so they are within one grey level of the float result.

    Integer images are filtered in exact fixed-point arithmetic (taps with 18
    fractional bits per axis, exact sums), so every backend gives identical
    bits. The result can differ by one grey level from a float64 reference
    where that reference lands within about 2**-17 of a rounding boundary.

    Accuracy of ``method="box"``: the cascade's taps differ from the exact
    taps by a total-variation distance ``e`` of 0.012-0.016 per axis for
    sigma >= 3 (:func:`fastct._shared.box_gaussian.box_error`), so no output
    differs from the exact Gaussian by more than ``(e_y + e_x)`` times the
    image's value range. Measured on chest CT phantoms (256 and 512 pixels,
    about 1770 HU of range), the largest difference is 0.6% of the range at
    sigma 8 and 16 and 1.5% at sigma 4; the mean difference is 1.3-2.5 HU.
    Integer results are the cascade's exact sums rounded half up (sigma
    above about 14 also rounds the row sums to at least 8 fractional bits),
    identical on every backend. :func:`unsharp_mask` blurs the same way.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.zeros((5, 5), np.uint8); img[2, 2] = 160
    >>> fastct.gaussian_blur(img, 0, ksize=5, backend="cpu")[2]  # OpenCV's 5x5 rule
    array([ 4, 15, 23, 15,  4], dtype=uint8)
    >>> vol = np.zeros((9, 16, 16), np.float32)  # sigma 2 mm on 2.5 x 0.7 x 0.7 mm voxels
    >>> fastct.gaussian_blur(vol, 2.0, spacing=(2.5, 0.7, 0.7), axes=(0, 1, 2), backend="cpu").shape
    (9, 16, 16)
    """


@operation(_plan_frequency, kernel=lambda backend: backend.frequency.lowpass, output=_SAME_OR_FLOAT)
def lowpass(
    image, cutoff, *, kind="gaussian", order=2, pad=False, mode="nearest", cval=0.0, dtype=None, axes=None,
    backend="auto", out=None,
):
    """Frequency-domain low-pass filter of each slice (real FFT, float32).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
    cutoff : float
        Cut-off frequency in cycles/pixel, ``0 < cutoff <= 0.5`` (0.5 is Nyquist).
    kind : {"gaussian", "ideal", "butterworth"}
        Response with radial frequency ``r``: ideal ``r <= cutoff``; gaussian
        ``exp(-r**2 / (2 cutoff**2))``; butterworth ``1 / (1 + (r/cutoff)**(2 order))``.
    order : int
        Butterworth order.
    pad : bool, int or (int, int)
        The FFT treats the slice as periodic, so content wraps around the
        edges. ``True`` pads half the slice on every side with ``mode``
        first (then crops), an int pads that many pixels.
    mode, cval
        Border extension used for padding.
    dtype : None or numpy.float32
        None keeps the input dtype (integers rounded half to even and
        saturated); float32 returns the unrounded result.
    axes : tuple of int, optional
        ``(0, 1, 2)``: one 3-D real FFT of the volume, the radial frequency
        taken over (z, y, x) (``pad`` then pads every axis).
    backend, out
        As in :func:`erode`.

    Notes
    -----
    The transforms run in float32 (complex64): float results agree with a
    float64 computation to about 4e-7 of the data's peak magnitude. Integer
    results are the float32 result rounded half to even and saturated, so
    they can differ by one grey level from a float64 reference lying within
    that error of a ``.5`` boundary.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.full((16, 16), 100.0, np.float32)
    >>> bool(np.allclose(fastct.lowpass(img, 0.1, backend="cpu"), 100.0))  # DC passes
    True
    """


@operation(_plan_frequency, kernel=lambda backend: backend.frequency.highpass, output=_SAME_OR_FLOAT)
def highpass(
    image, cutoff, *, kind="gaussian", order=2, pad=False, mode="nearest", cval=0.0, dtype=None, axes=None,
    backend="auto", out=None,
):
    """Frequency-domain high-pass filter of each slice: ``1 - lowpass`` response.

    Parameters are those of :func:`lowpass`. A high-pass result is centred on
    zero, so unsigned inputs lose their negative half unless
    ``dtype=np.float32`` is asked for.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.full((16, 16), 100.0, np.float32)
    >>> float(np.abs(fastct.highpass(img, 0.1, backend="cpu")).max()) < 1e-3  # DC removed
    True
    """


@operation(_plan_unsharp_mask, kernel=lambda backend: backend.filters.unsharp_mask, aliases=("unsharp",),
           output=_SAME_OR_FLOAT)
def unsharp_mask(
    image, sigma=1.0, amount=1.0, *, ksize=None, truncate=4.0, method="exact", mode="nearest", cval=0.0,
    dtype=None, axes=None, spacing=None, backend="auto", out=None,
):
    """Unsharp masking: ``image + amount * (image - gaussian_blur(image, sigma))``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
    sigma, ksize, truncate, method
        Of the Gaussian, as in :func:`gaussian_blur` (exact unless
        ``method="box"``).
    amount : float
        Strength; 0 returns the image.
    mode, cval, dtype, backend, out
        As in :func:`gaussian_blur`. Integers: the blur is rounded to the
        dtype first, then ``rint(amount * difference)`` is added, saturated.
    axes, spacing
        As in :func:`gaussian_blur` (``(0, 1, 2)``: the blur of the volume).

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.zeros((5, 5), np.int16); img[:, 2:] = 100
    >>> fastct.unsharp_mask(img, 1.0, 1.0, backend="cpu")[2]
    array([ -6, -30, 130, 106, 100], dtype=int16)
    """


@operation(_plan_sharpen, kernel=lambda backend: backend.filters.sharpen, output=_SAME_OR_FLOAT)
def sharpen(image, amount=1.0, *, neighbours=4, mode="nearest", cval=0.0, dtype=None, axes=None, backend="auto",
            out=None):
    """Laplacian sharpening: ``image + amount * (k * image - sum of k neighbours)``.

    With the defaults this is the classic 3x3 kernel
    ``[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]``; ``neighbours=8`` gives
    ``[[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]]``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
    amount : float
        Strength of the Laplacian term.
    neighbours : {4, 8}
        With ``axes=(0, 1, 2)``: 6 (face neighbours, also named 4) or 26 (the
        3x3x3 cube, also named 8).
    mode, cval, dtype, backend, out
        As in :func:`gaussian_blur`.
    axes : tuple of int, optional
        The two in-plane axes (default) or ``(0, 1, 2)``: the 3-D Laplacian.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.zeros((3, 5), np.int16); img[:, 2:] = 10
    >>> fastct.sharpen(img, backend="cpu")[1]
    array([  0, -10,  20,  10,  10], dtype=int16)
    """


@operation(_plan_equalize_hist, kernel=lambda backend: backend.histogram.equalize_hist, aliases=("equalize",),
           output=_UNIT)
def equalize_hist(image, *, nbins=None, mask=None, dtype=np.float32, axes=None, backend="auto", out=None):
    """Global histogram equalisation of each slice.

    Integers use one bin per integer value in the slice's range (full
    12/16-bit HU resolution); floats use ``nbins`` equal bins (default 256),
    except float batches holding only integers of the int16/uint16 range
    (int16 HU cast to float64, say): they are binned as the integers they
    hold, so the cast does not change the result (pass ``nbins`` for equal bins).
    The lowest occupied bin maps to 0 and the top to 1 (OpenCV's rule), so
    ``dtype=np.uint8`` on uint8 input reproduces ``cv2.equalizeHist``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
    nbins : int, optional
        Number of bins (integers: coarser than one per value on request).
    mask : ndarray of bool, shape (H, W) or (N, H, W), optional
        Only these pixels are counted (e.g. the body, excluding air); every
        pixel is mapped. Each slice needs at least one True pixel.
    dtype : numpy.float32, numpy.uint8 or numpy.uint16
        float32 in [0, 1], or the full integer scale.
    axes : tuple of int, optional
        ``(0, 1, 2)``: one histogram for the whole volume (a mask may then
        leave whole slices empty, and may be ``(H, W)`` for every slice).
    backend, out
        As in :func:`erode`.

    Notes
    -----
    A constant slice (or constant masked region) maps to 0; pixels outside
    the mask below/above the masked range map to 0/1.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = np.array([[-1000, -1000], [0, 1000]], np.int16)
    >>> fastct.equalize_hist(img, backend="cpu")
    array([[0. , 0. ],
           [0.5, 1. ]], dtype=float32)
    """


@operation(_plan_clahe, kernel=lambda backend: backend.histogram.clahe, output=_UNIT)
def clahe(image, *, clip_limit=2.0, tiles=(8, 8), nbins=None, value_range=None, dtype=np.float32, axes=None,
          backend="auto", out=None):
    """Contrast-limited adaptive histogram equalisation (CLAHE) of each slice.

    OpenCV's algorithm (tile grid, clip limit relative to the mean bin count,
    excess redistributed, bilinear interpolation between tile look-up tables)
    at full bit depth: integer slices get one bin per value in their range.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
    clip_limit : float
        Clip level in multiples of a tile's mean bin count, OpenCV's
        ``clipLimit`` (0 disables clipping, 2 is OpenCV's default). Values
        in (0, 1) are refused: they are usually scikit-image's clip_limit, a
        fraction of the tile's pixels per bin, which is ``fraction * bins``
        here. At full bit depth the mean bin count is the tile's pixels over
        the slice's number of integer values, so the same clip_limit clips a
        16-bit slice harder than an 8-bit one, as in OpenCV.
    tiles : int or (int, int)
        Tile grid (rows, cols), as OpenCV's ``tileGridSize`` (which is (cols, rows)).
    nbins : int, optional
        Bins per tile histogram (default: one per integer value; 256 for
        floats, unless they all hold integers: see :func:`equalize_hist`).
    value_range : (float, float), optional
        Fixed histogram range instead of each slice's min..max; ``(0, 255)``
        with ``nbins=256`` and ``dtype=np.uint8`` reproduces ``cv2.createCLAHE``.
    dtype : numpy.float32, numpy.uint8 or numpy.uint16
    axes : tuple of int, optional
        ``(0, 1, 2)``: CLAHE of the volume over (z, y, x) tiles, as
        scikit-image's ``equalize_adapthist`` does for volumes, with this op's
        rules (OpenCV's clip limit and padding, full bit depth): one histogram
        per 3-D tile, trilinear interpolation between tile look-up tables.
        ``tiles`` is then an int, ``(tz, ty, tx)``, or an in-plane pair whose
        row count also serves z (the default gives 8 x 8 x 8 tiles); z gets at
        most one tile per slice.
    backend, out
        As in :func:`erode`.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> img = (np.arange(64 * 64) % 4096).reshape(64, 64).astype(np.int16) - 1024
    >>> res = fastct.clahe(img, clip_limit=2.0, tiles=(4, 4), backend="cpu")
    >>> res.dtype, bool(0.0 <= res.min() and res.max() <= 1.0)
    (dtype('float32'), True)
    """


@operation(_plan_window, kernel=lambda backend: backend.intensity.window, output=_UNIT)
def window(image, center=None, width=None, *, preset=None, dtype=np.float32, backend="auto", out=None):
    """CT windowing: map a Hounsfield-unit window to [0, 1] (or the uint8/uint16 scale).

    Uses DICOM's linear VOI function: ``clip((x - (center - 0.5)) / (width - 1) + 0.5, 0, 1)``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (N, H, W)
        Hounsfield units (int16 or float).
    center, width : float
        Window level and width (width > 1).
    preset : {"lung", "mediastinum", "soft_tissue", "bone", "brain"}, optional
        Named window instead of center/width (also accepted as ``center``).
    dtype : numpy.float32, numpy.uint8 or numpy.uint16
    backend, out
        As in :func:`erode`.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> hu = np.array([[-1000, 40, 1000]], np.int16)
    >>> fastct.window(hu, preset="brain", dtype=np.uint8, backend="cpu")
    array([[  0, 129, 255]], dtype=uint8)
    """


# ---------------------------------------------------------------------------
# not a step: (N, H, W, C) in, (N, H, W) out


def to_gray(image, *, channel_order="rgb", backend="auto", out=None):
    """Convert RGB(A) images to grey with ITU-R BT.601 weights (as OpenCV).

    Parameters
    ----------
    image : ndarray, shape (H, W, C) or (N, H, W, C), C = 3 or 4
        uint8, uint16, int16, float32 or float64; alpha is ignored.
    channel_order : {"rgb", "bgr"}
        "bgr" for arrays from ``cv2.imread``.
    backend, out
        As in :func:`erode`.

    Returns
    -------
    ndarray, shape (H, W) or (N, H, W)
        Same dtype (float64 computed as float32). Integers use OpenCV's
        15-bit fixed-point weights, so uint8 and uint16 results equal ``cv2.cvtColor``.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    >>> fastct.to_gray(rgb, backend="cpu")
    array([[ 76, 150,  29]], dtype=uint8)
    """
    if channel_order not in ("rgb", "bgr"):
        raise InvalidArgumentError(f"channel_order: expected 'rgb' or 'bgr', got {channel_order!r}")
    backend_name = backends.resolve(backend, image)
    if not is_array(image) or image.ndim not in (3, 4) or image.shape[-1] not in (3, 4):
        shape = getattr(image, "shape", None)
        raise InvalidArgumentError(
            f"image: expected (H, W, C) or (N, H, W, C) with C = 3 or 4 channels, got shape {shape}"
        )
    squeeze = image.ndim == 3
    flat = image.shape[-2] * image.shape[-1]  # explicit, not -1: an empty batch (0, H, W, C) must reshape too
    planes, _ = as_batch(image.reshape(image.shape[:-2] + (flat,)), "image")  # validates dtype and values
    batch = planes.reshape(planes.shape[:2] + image.shape[-2:])
    user_shape = image.shape[:-1]
    out = check_out(out, user_shape, batch.dtype, like=image)
    module = backends.get(backend_name, image)
    xp = array_namespace(batch)
    target = out[None] if out is not None and squeeze else out
    if target is None:
        target = xp.empty(batch.shape[:-1], batch.dtype)
    if batch.shape[0]:
        module.intensity.to_gray(batch, target, channel_order=channel_order)
    if out is not None:
        return out
    return target[0] if squeeze else target


__all__ = [
    "ALIASES",
    "OPERATIONS",
    "Operation",
    "Step",
    "lookup",
    "operation",
    "operations_table",
    "plan",
    "step_names",
    "to_gray",
    *OPERATIONS,
]
