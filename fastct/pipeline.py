"""Pipelines: parse steps, validate them all up front, run them on a backend.

Step grammar (one grammar for Python and the command line)::

    steps := step ("," step)*
    step  := name (":" arg)*
    arg   := value | key "=" value
    value := int | float | true | false | none | AxB (a pair) | word

``"erode:3,dilate:3,gaussian:1.1,equalize"`` is erode with size 3, dilate
with size 3, a Gaussian with sigma 1.1 and histogram equalisation. Positional
values fill the op's positional parameters in order (``gaussian:0:ksize=5`` is
sigma 0 with a 5x5 kernel); ``key=value`` sets keyword parameters
(``clahe:clip_limit=3:tiles=4x4``). Names are the function names of
:mod:`fastct.ops`, plus the short forms ``gaussian``, ``equalize``, ``unsharp``.

A value ending in ``mm`` (``gaussian:2mm``, ``erode:3mm``, ``erode:3x5x5mm``)
is in millimetres: the step then takes the pipeline's voxel ``spacing`` and
reads all its sizes and sigmas in mm (see :mod:`fastct._shared.volume` for
the rounding of sizes to odd voxel counts).
"""

from __future__ import annotations

import difflib
import time

import numpy as np

from . import backends
from ._shared.arrays import is_dask_array, shares_memory
from ._shared.fusion import chain_ok, equalize_fusable, stages_for_step
from ._shared.histogram import output_maxval
from ._shared.validation import as_batch, check_out, compute_dtype
from .errors import FastCTError, InvalidArgumentError, StepError
from .ops import RUN_ARGUMENTS, Step, check_run_memory, lookup, step_names

__all__ = ["DEFAULT_STEPS", "Pipeline", "parse_steps", "process"]

#: The classic CT preprocessing chain: erode 3x3, dilate 3x3, Gaussian 5x5
#: (sigma 0 -> OpenCV's rule), histogram equalisation (full HU resolution).
DEFAULT_STEPS = "erode:3,dilate:3,gaussian:0:ksize=5,equalize"


class Millimetres:
    """A step value written in mm (``2mm``): converted with the pipeline's spacing when planned."""

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:
        return f"{_format(self.value)}mm"

    def __eq__(self, other) -> bool:
        return isinstance(other, Millimetres) and other.value == self.value

    __hash__ = None


def _parse_value(text: str):
    low = text.strip().lower()
    if low.endswith("mm") and len(low) > 2:
        value = _parse_value(low[:-2])
        if isinstance(value, (int, float)) or (isinstance(value, tuple) and value):
            return Millimetres(value)
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for convert in (int, float):
        try:
            return convert(low)
        except ValueError:
            pass
    if "x" in low:
        parts = low.split("x")
        try:
            return tuple(int(p) if p.lstrip("+-").isdigit() else float(p) for p in parts)
        except ValueError:
            pass
    return text.strip()


def _parse_token(token: str, index: int):
    parts = token.strip().split(":")
    name = parts[0].strip()
    if not name:
        raise StepError(f"steps: step {index} {token!r} has no operation name")
    args, kwargs = [], {}
    for part in parts[1:]:
        if not part.strip():
            raise StepError(f"steps: step {index} {token!r} has an empty parameter")
        if "=" in part:
            key, _, value = part.partition("=")
            key = key.strip()
            if not key.isidentifier():
                raise StepError(f"steps: step {index} {token!r}: bad parameter name {key!r}")
            if key in kwargs:
                raise StepError(f"steps: step {index} {token!r}: parameter {key!r} given twice")
            kwargs[key] = _parse_value(value)
        else:
            if kwargs:
                raise StepError(
                    f"steps: step {index} {token!r}: positional value {part.strip()!r} after key=value"
                )
            args.append(_parse_value(part))
    return name, args, kwargs


def _parse_entries(steps) -> list[tuple[object, str]]:
    """Parse ``steps`` into ``[(entry, label), ...]``; ``label`` is the step as
    the caller wrote it (a token, or the repr of a pair), for error messages."""
    if steps is None:
        steps = DEFAULT_STEPS
    if isinstance(steps, str):
        if not steps.strip():
            raise StepError("steps: empty step string")
        tokens = steps.split(",")
        return [(_parse_token(tok, i), tok.strip()) for i, tok in enumerate(tokens, 1)]
    if isinstance(steps, Step):
        steps = [steps]
    try:
        items = list(steps)
    except TypeError:
        raise StepError(f"steps: expected a string or a list of steps, got {type(steps).__name__}") from None
    parsed = []
    for item in items:
        index = len(parsed) + 1
        if isinstance(item, str):
            # a list item may itself hold several comma-separated steps
            if not item.strip():
                raise StepError(f"steps: step {index} {item!r} has no operation name")
            for tok in item.split(","):
                parsed.append((_parse_token(tok, len(parsed) + 1), tok.strip()))
        elif isinstance(item, Step):
            parsed.append((item, repr(item)))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
            name, params = item
            name = name.strip()
            if params is None:
                entry = (name, [], {})
            elif isinstance(params, dict):
                bad = [k for k in params if not isinstance(k, str)]
                if bad:
                    raise StepError(f"steps: step {index} {item!r}: parameter names must be strings, got {bad[0]!r}")
                entry = (name, [], dict(params))
            elif isinstance(params, (list, tuple)):
                entry = (name, list(params), {})
            else:
                entry = (name, [params], {})
            parsed.append((entry, repr(tuple(item))))
        else:
            raise StepError(f"steps: step {index} {item!r} is not a step string or a (name, params) pair")
    if not parsed:
        raise StepError("steps: no steps given")
    return parsed


def parse_steps(steps) -> list[tuple[str, list, dict]]:
    """Normalise a step specification to ``[(name, args, kwargs), ...]``.

    Accepts None (the default pipeline), a step string, or a list whose items
    are step strings (each may hold several comma-separated steps) or
    ``(name, params)`` pairs, where ``params`` is a dict of keyword
    parameters, a list/tuple of positional ones, a single value, or None
    (so a pair-valued parameter is given as ``("erode", {"size": (3, 5)})``).
    Planned :class:`~fastct.ops.Step` objects pass through unchanged.

    Only the syntax is checked here; :class:`Pipeline` checks the operations
    and their parameters.

    Examples
    --------
    >>> parse_steps("erode:3,gaussian:0:ksize=5")
    [('erode', [3], {}), ('gaussian', [0], {'ksize': 5})]
    >>> parse_steps([("erode", 3), ("clahe", {"tiles": (4, 4)})])
    [('erode', [3], {}), ('clahe', [], {'tiles': (4, 4)})]
    """
    return [entry for entry, _ in _parse_entries(steps)]


def _plan_one(entry, index: int, label: str, spacing=None) -> Step:
    if isinstance(entry, Step):
        return entry
    name, args, kwargs = entry
    where = f"steps: step {index} {label!r}"
    in_mm = any(isinstance(v, Millimetres) for v in list(args) + list(kwargs.values()))
    if in_mm:
        if spacing is None:
            raise StepError(f"{where}: a value in mm needs the voxel spacing: Pipeline(..., spacing=(dz, dy, dx)), "
                            f"or a volume whose header gives it")
        args = [v.value if isinstance(v, Millimetres) else v for v in args]
        kwargs = {k: (v.value if isinstance(v, Millimetres) else v) for k, v in kwargs.items()}
        kwargs.setdefault("spacing", spacing)
    try:
        op = lookup(name)
    except StepError:
        close = difflib.get_close_matches(name, step_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StepError(f"{where}: unknown operation {name!r}{hint}; known: {', '.join(step_names())}") from None
    accepted = op.parameters
    for key in kwargs:
        if key not in accepted and key not in RUN_ARGUMENTS:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise StepError(f"{where}: {op.name} has no parameter {key!r}{hint}; it takes {', '.join(accepted)}")
    if in_mm and "spacing" not in accepted:
        raise StepError(f"{where}: {op.name} takes no sizes in mm")
    try:
        return op.plan(*args, **kwargs)
    except FastCTError as exc:
        raise StepError(f"{where}: {exc}") from None


class Pipeline:
    """A validated sequence of operations, reusable on any number of batches.

    Parameters
    ----------
    steps : str or list, optional
        Step string or list (see :func:`parse_steps`); default
        :data:`DEFAULT_STEPS`. Every step is validated here, before any data
        is touched; a bad step raises :class:`~fastct.errors.StepError` naming it.
    fuse : bool, default True
        Run consecutive rectangular morphology and Gaussian steps, and a final
        full-resolution equalisation, as one pass per band of rows where the
        backend supports it. The results are identical either way; ``False``
        runs (and times) each step on its own.
    volume : bool, default False
        Read the batch as one volume ``(z, y, x)``: every step that has
        ``axes`` gets ``axes=(0, 1, 2)`` unless the step sets its own.
    spacing : (float, float, float), optional
        Voxel size ``(dz, dy, dx)`` in mm, used by steps written in mm
        (``gaussian:2mm``, ``erode:3mm``); steps in voxels are unchanged.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> pipe = fastct.Pipeline("erode:3,dilate:3,gaussian:1.1,equalize")
    >>> pipe.halo, pipe.needs_whole_slice, pipe.output_dtype(np.int16)
    ((6, 6), True, dtype('float32'))
    >>> out = pipe(np.zeros((2, 32, 32), np.int16) - 1000, backend="cpu")
    >>> out.shape, out.dtype
    ((2, 32, 32), dtype('float32'))
    """

    def __init__(self, steps=None, *, fuse: bool = True, volume: bool = False, spacing=None):
        self.fuse = bool(fuse)
        if isinstance(steps, Pipeline):
            if volume or spacing is not None:
                raise InvalidArgumentError("volume/spacing: give them when the pipeline is first built from its steps")
            self.steps = list(steps.steps)
            self._sources = list(steps._sources)
            self.volume, self.spacing = steps.volume, steps.spacing
            return
        self.volume = bool(volume)
        self.spacing = None if spacing is None else _check_spacing(spacing)
        entries = _parse_entries(steps)
        if self.volume:
            entries = [(_volumetric_entry(entry), label) for entry, label in entries]
        self.steps = [_plan_one(entry, i, label, self.spacing) for i, (entry, label) in enumerate(entries, 1)]
        # (canonical name, args, kwargs) as given, for describe(); None for planned Steps
        self._sources = [
            None if isinstance(entry, Step) else (step.name, list(entry[1]), dict(entry[2]))
            for (entry, _), step in zip(entries, self.steps)
        ]

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def __repr__(self) -> str:
        return "Pipeline([" + ", ".join(repr(s) for s in self.steps) + "])"

    @property
    def names(self) -> list[str]:
        """Canonical op names, in order."""
        return [s.name for s in self.steps]

    @property
    def halo(self) -> tuple[int, int]:
        """Total (rows, cols) of context the stencil steps read around a pixel.

        The sum of the steps' radii: a tile processed with this much overlap
        gives exact results for the stencil steps. Whole-slice steps
        (histograms, FFT) contribute nothing here; see :attr:`needs_whole_slice`.
        """
        hy = sum(s.halo[0] for s in self.steps if s.halo is not None)
        hx = sum(s.halo[1] for s in self.steps if s.halo is not None)
        return hy, hx

    @property
    def halo_z(self) -> int:
        """Slices of context the volumetric steps read above and below a slice (0 when none mixes slices)."""
        return sum(s.halo_z for s in self.steps)

    @property
    def volumetric(self) -> bool:
        """True when some step reads the batch as one volume (``axes`` including z)."""
        return any(s.volumetric for s in self.steps)

    @property
    def needs_whole_slice(self) -> bool:
        """True when some step (equalisation, CLAHE, FFT) needs each slice whole."""
        return any(s.whole_slice for s in self.steps)

    def output_dtype(self, input_dtype) -> np.dtype:
        """dtype of the result for an input of ``input_dtype``."""
        dtype = np.dtype(input_dtype)
        for step in self.steps:
            dtype = step.output_dtype(dtype)
        return dtype

    def __call__(self, batch, backend="auto", out=None):
        """Run every step on ``batch``; same as :meth:`run`."""
        return self.run(batch, backend, out=out)

    def run(self, batch, backend="auto", out=None):
        """Run the pipeline on an ``(H, W)`` slice or ``(N, H, W)`` batch.

        The input is validated once; intermediate results stay on the
        backend's device. Returns the result in the input's layout. A Dask
        array gives a lazy Dask array (see :mod:`fastct.distributed`).

        ``out`` (NumPy or CuPy like ``batch``, C-contiguous, the input's
        shape and :meth:`output_dtype`) receives the result, which is then
        returned. Reusing one ``out`` across calls saves allocating (and, on
        the CPU, page-faulting in) a fresh result each time. It may be the
        input itself when the dtypes agree.
        """
        if is_dask_array(batch):
            if out is not None:
                raise InvalidArgumentError("out: not supported for a Dask array (the result is lazy)")
            from .dask_arrays import process_dask

            backends.check_name(backend)
            return process_dask(batch, self, backend)
        return self._run(batch, backend, None, out)

    def run_timed(self, batch, backend="auto"):
        """Like :meth:`run`, also returning ``[(label, seconds), ...]``.

        The label is the step's name, or the names of fused steps joined by
        ``+`` (``"erode+dilate+gaussian_blur+equalize_hist"``); build the
        pipeline with ``fuse=False`` to time every step on its own.
        """
        timings: list = []
        return self._run(batch, backend, timings), timings

    def _run(self, batch, backend, timings, out=None):
        if is_dask_array(batch):
            raise InvalidArgumentError("batch: run_timed needs a NumPy or CuPy batch, not a lazy Dask array")
        name = backends.resolve(backend, batch)
        # float64 stays float64 only through pipelines of steps that keep it
        # (morphology: exact min/max). Any other pipeline computes in float32
        # from the start, which checks the range up front; min and max commute
        # with the monotone float64 -> float32 rounding, so the results are
        # those of converting at the first float32 step.
        keep64 = all(s.keep_float64 for s in self.steps)
        check_run_memory(self.steps, batch, out is not None)
        data, squeeze = as_batch(batch, keep_float64=keep64)
        user_shape = data.shape[1:] if squeeze else data.shape
        out = check_out(out, user_shape, self.output_dtype(data.dtype), like=batch)
        # The last segment writes straight into `out`, unless `out` is the
        # input (or overlaps it): then the result is computed aside and copied.
        target = None if out is None or shares_memory(out, batch) else (out[None] if squeeze else out)
        module = backends.get(name, batch)
        totals: dict = {}  # label -> seconds (a chunked device run calls each segment once per chunk)
        runners = [_Prepared(label, run, module, totals if timings is not None else None)
                   for label, run in self._segments(data.dtype, module)]
        chain_on_device = getattr(module, "run_segments", None)
        uploaded = module.to_device(data) if chain_on_device is not None and self.volumetric else data
        if uploaded is not data:
            # A volume is never split into chunks of slices: it goes up whole, once, and
            # stays on the device through every step; the result comes down once.
            host = module.to_host(chain_on_device(uploaded, runners, self.output_dtype(data.dtype)))
            if target is not None:
                target[...] = host
                host = target
            result = host
        elif chain_on_device is not None:
            # A device backend chains every segment on the device: a NumPy batch is
            # uploaded once and the result downloaded once, whatever the segments.
            result = chain_on_device(data, runners, self.output_dtype(data.dtype), out=target)
        else:
            result = data
            for k, run in enumerate(runners):
                result = run(result, target if k == len(runners) - 1 else None)
        if timings is not None:
            timings.extend(totals.items())
        if squeeze:
            result = result[0]
        if out is None:
            return result
        if target is None:  # the result was computed aside (out overlaps the input)
            out[...] = result
        return out

    def _segments(self, dtype, module):
        """``(label, runner)`` pairs: single steps, or fused runs of steps.

        A fused run is a maximal sequence of steps that
        :func:`~fastct._shared.fusion.stages_for_step` can express as chain
        stages (at least two stages, or one followed by a full-resolution
        equalisation, which is accumulated in the same pass).
        """
        steps = self.steps
        # float64 keeps its dtype through morphology unfused; fusion works in the compute dtypes.
        fused = getattr(module, "fused", None) if self.fuse and np.dtype(dtype) != np.float64 else None
        segments = []
        i = 0
        dtype = np.dtype(dtype)
        while i < len(steps):
            step_dtype = compute_dtype(dtype, steps[i].keep_float64)
            chain, j = [], i
            while fused is not None and j < len(steps):
                # a volumetric step mixes slices: it never joins a per-slice fused pass
                stages = None if steps[j].volumetric else stages_for_step(steps[j], step_dtype)
                if stages is None or not chain_ok(chain + stages):
                    break
                chain += stages
                j += 1
            equalize = (fused is not None and chain and j < len(steps) and not steps[j].volumetric
                        and equalize_fusable(steps[j], step_dtype))
            if chain and (len(chain) > 1 or equalize):
                names = [s.name for s in steps[i : j + (1 if equalize else 0)]]
                if equalize:
                    eq = steps[j]
                    out_dtype = eq.output_dtype(step_dtype)
                    j += 1
                    runner = _FusedRun(module, fused.run_chain_equalize, chain, out_dtype, eq)
                else:
                    runner = _FusedRun(module, fused.run_chain, chain, step_dtype, None)
                segments.append(("+".join(names), runner))
                dtype = runner.out_dtype
                i = j
                continue
            step = steps[i]
            segments.append((step.name, _StepRun(step, module)))
            dtype = step.output_dtype(dtype)
            i += 1
        return segments

    def describe(self) -> str:
        """The pipeline as a step string with canonical names.

        Steps given in the step grammar are written back with the parameters
        as given, so ``Pipeline(pipe.describe())`` plans the same steps.
        Steps given as planned :class:`~fastct.ops.Step` objects are written
        from their resolved parameters (arrays such as footprints cannot be
        written in the grammar).

        Examples
        --------
        >>> Pipeline("erode:3,gaussian:0:ksize=5,equalize:dtype=uint8").describe()
        'erode:3,gaussian_blur:0:ksize=5,equalize_hist:dtype=uint8'
        """
        parts = []
        for step, source in zip(self.steps, self._sources):
            if source is None:
                args = [f"{k}={_format(v)}" for k, v in step.request.items() if v is not None]
            else:
                _, pos, kw = source
                args = [_format(v) for v in pos] + [f"{k}={_format(v)}" for k, v in kw.items()]
            parts.append(":".join([step.name] + args))
        return ",".join(parts)


def _format(value) -> str:
    """A parameter value written in the step grammar."""
    if isinstance(value, Millimetres):
        return repr(value)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return "x".join(_format(v) for v in value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _check_spacing(spacing) -> tuple:
    """``(dz, dy, dx)``: three positive numbers (mm)."""
    from ._shared.volume import VOLUME_AXES, resolve_spacing

    return resolve_spacing(spacing, VOLUME_AXES)


def _volumetric_entry(entry):
    """A parsed step with ``axes=(0, 1, 2)`` added when its op takes ``axes`` and it sets none."""
    if isinstance(entry, Step):
        return entry
    name, args, kwargs = entry
    try:
        op = lookup(name)
    except StepError:
        return entry  # reported with its hint when planned
    if "axes" in op.parameters and "axes" not in kwargs:
        kwargs = dict(kwargs, axes=(0, 1, 2))
    return name, args, kwargs


class _Prepared:
    """A segment as the run calls it: float64 converted where the segment computes in
    float32, and its time added to ``totals`` (synchronised on the device) when timed."""

    def __init__(self, label, run, module, totals):
        self.label, self.run, self.totals = label, run, totals
        self.sync = getattr(module, "synchronize", None)

    def __call__(self, data, out=None):
        start = time.perf_counter()
        if data.dtype == np.float64 and not self.run.keep_float64:
            data = data.astype(compute_dtype(data.dtype))
        data = self.run(data, out)
        if self.totals is not None:
            if self.sync is not None:
                self.sync()
            self.totals[self.label] = self.totals.get(self.label, 0.0) + time.perf_counter() - start
        return data


class _StepRun:
    """Runs one planned step on a validated batch."""

    def __init__(self, step, module):
        self.step, self.module = step, module
        self.keep_float64 = step.keep_float64

    def __call__(self, data, out=None):
        return self.step.run_batch(self.module, data, out=out)


class _FusedRun:
    """Runs a fused chain (and optionally the equalisation it ends with)."""

    keep_float64 = False

    def __init__(self, module, kernel, stages, out_dtype, equalize_step):
        self.module, self.kernel, self.stages, self.equalize = module, kernel, stages, equalize_step
        self.out_dtype = np.dtype(out_dtype)

    def __call__(self, data, out=None):
        if out is None:
            out = self.module.empty(data.shape, self.out_dtype, like=data)
        if data.shape[0] == 0:
            return out
        if self.equalize is None:
            return self.kernel(data, out, self.stages)
        return self.kernel(data, out, self.stages, output_maxval(self.out_dtype))


def process(batch, steps=None, backend="auto", out=None, *, volume=False, spacing=None):
    """Run a preprocessing pipeline on a CT batch (or on a volume with ``volume=True``).

    Parameters
    ----------
    batch : ndarray, shape (H, W) or (N, H, W)
        NumPy or CuPy; int16 Hounsfield units, uint8, uint16, float32 or
        float64. A Dask array returns a lazy Dask array computed chunk by
        chunk with identical results (see :mod:`fastct.distributed`).
    steps : str or list, optional
        Steps (see :func:`parse_steps`); default :data:`DEFAULT_STEPS`, the
        classic erode 3x3, dilate 3x3, Gaussian 5x5, equalise chain.
    backend : {"auto", "cpu", "gpu"}
        ``auto`` uses the GPU when it is usable, else the CPU.
    out : ndarray, optional
        Where to write the result (see :meth:`Pipeline.run`): reuse one
        array across batches to skip allocating a fresh result every call.
    volume : bool, default False
        Read ``batch`` as one volume ``(z, y, x)``: every step works in 3-D
        (see :class:`Pipeline`).
    spacing : (float, float, float), optional
        Voxel size ``(dz, dy, dx)`` in mm for steps written in mm (``"gaussian:2mm"``).

    Returns
    -------
    ndarray
        Same layout and array type as ``batch``; dtype per the last step
        (float32 in [0, 1] for the default pipeline); ``out`` when given.

    Examples
    --------
    >>> import numpy as np, fastct
    >>> out = fastct.process(np.zeros((2, 64, 64), np.int16) - 1000, backend="cpu")
    >>> out.shape, out.dtype
    ((2, 64, 64), dtype('float32'))
    >>> vol = np.zeros((8, 32, 32), np.int16) - 1000
    >>> fastct.process(vol, "erode:3mm,gaussian:2mm", backend="cpu", volume=True, spacing=(2.5, 0.7, 0.7)).shape
    (8, 32, 32)
    """
    if isinstance(steps, Pipeline) and (volume or spacing is not None):
        steps = Pipeline(steps.describe(), fuse=steps.fuse, volume=volume or steps.volume,
                         spacing=spacing if spacing is not None else steps.spacing)
    pipe = steps if isinstance(steps, Pipeline) else Pipeline(steps, volume=volume, spacing=spacing)
    return pipe.run(batch, backend, out=out)

