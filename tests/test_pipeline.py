"""Pipelines and the step grammar: parsing, planning, running, errors."""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest
from conftest import on_backend, random_image, to_numpy

import fastct
from fastct import FastCTError, backends
from fastct.datasets import chest_phantom
from fastct.ops import ALIASES, plan

# ---------------------------------------------------------------------------
# parse_steps: the grammar


@pytest.mark.parametrize(
    "steps,expected",
    [
        ("erode", [("erode", [], {})]),
        ("erode:3,dilate:5", [("erode", [3], {}), ("dilate", [5], {})]),
        (" erode : 3 , dilate:mode = wrap ", [("erode", [3], {}), ("dilate", [], {"mode": "wrap"})]),
        ("gaussian:0:ksize=5", [("gaussian", [0], {"ksize": 5})]),
        ("gaussian:1.5x2", [("gaussian", [(1.5, 2)], {})]),
        ("clahe:clip_limit=3:tiles=4x4", [("clahe", [], {"clip_limit": 3, "tiles": (4, 4)})]),
        ("lowpass:1e-1:kind=ideal:pad=true", [("lowpass", [0.1], {"kind": "ideal", "pad": True})]),
        ("lowpass:0.2:pad=FALSE:dtype=float32", [("lowpass", [0.2], {"pad": False, "dtype": "float32"})]),
        ("equalize:nbins=none:dtype=uint8", [("equalize", [], {"nbins": None, "dtype": "uint8"})]),
        ("window:-600:1500", [("window", [-600, 1500], {})]),
        ("window:lung", [("window", ["lung"], {})]),
        ("lowpass:0.1:kind=box", [("lowpass", [0.1], {"kind": "box"})]),  # syntax only; planning rejects it
    ],
)
def test_parse_steps_strings(steps, expected):
    got = fastct.parse_steps(steps)
    assert got == expected
    # exact types: 3 is an int, 1e-1 a float, true a bool, 4x4 a tuple of ints
    for (_, args, kwargs), (_, eargs, ekwargs) in zip(got, expected):
        assert [type(a) for a in args] == [type(a) for a in eargs]
        assert {k: type(v) for k, v in kwargs.items()} == {k: type(v) for k, v in ekwargs.items()}


def test_parse_steps_default_and_lists():
    assert fastct.parse_steps(None) == fastct.parse_steps(fastct.DEFAULT_STEPS)
    assert fastct.parse_steps(None) == [
        ("erode", [3], {}),
        ("dilate", [3], {}),
        ("gaussian", [0], {"ksize": 5}),
        ("equalize", [], {}),
    ]
    assert fastct.parse_steps(["erode:3", "dilate"]) == [("erode", [3], {}), ("dilate", [], {})]
    # a list item may carry several comma-separated steps
    assert fastct.parse_steps(["erode:3,dilate:3", "equalize"]) == [
        ("erode", [3], {}),
        ("dilate", [3], {}),
        ("equalize", [], {}),
    ]


def test_parse_steps_pairs():
    got = fastct.parse_steps(
        [
            ("erode", {"size": 5, "mode": "wrap"}),
            ("gaussian", (1.0,)),
            ("gaussian", [0, 5]),
            ("window", "lung"),
            ("dilate", 3),
            ["equalize", None],
            "sharpen:2",
        ]
    )
    assert got == [
        ("erode", [], {"size": 5, "mode": "wrap"}),
        ("gaussian", [1.0], {}),
        ("gaussian", [0, 5], {}),
        ("window", ["lung"], {}),
        ("dilate", [3], {}),
        ("equalize", [], {}),
        ("sharpen", [2], {}),
    ]


def test_parse_steps_passes_planned_steps_through():
    step = plan("erode", 5)
    assert fastct.parse_steps([step, "dilate"]) == [step, ("dilate", [], {})]
    assert fastct.parse_steps(step) == [step]
    pipe = fastct.Pipeline([step, ("dilate", 5)])
    assert pipe.names == ["erode", "dilate"] and pipe.halo == (4, 4)


def test_parse_steps_pair_dict_is_copied():
    params = {"size": 3}
    parsed = fastct.parse_steps([("erode", params)])
    parsed[0][2]["size"] = 5
    assert params == {"size": 3}


# ---------------------------------------------------------------------------
# running


def test_default_pipeline_equals_the_individual_calls(backend, rng):
    batch = random_image(rng, (3, 33, 29), np.int16)
    keep = batch.copy()
    got = to_numpy(fastct.process(on_backend(batch, backend), backend=backend))
    x = on_backend(batch, backend)
    x = fastct.erode(x, 3, backend=backend)
    x = fastct.dilate(x, 3, backend=backend)
    x = fastct.gaussian_blur(x, 0, ksize=5, backend=backend)
    x = fastct.equalize_hist(x, backend=backend)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, to_numpy(x))
    np.testing.assert_array_equal(batch, keep)  # input untouched


@pytest.mark.parametrize(
    "steps,dtype",
    [
        ("opening:3,closing:3x5:mode=reflect,unsharp:1:0.5", np.uint16),
        ("erode:3,gaussian:1.2", np.float64),  # erode keeps float64, gaussian computes float32
        ("window:preset=brain,clahe:tiles=2x2:dtype=uint16,sharpen:neighbours=8", np.int16),
        ("lowpass:0.15:kind=butterworth:pad=true,highpass:0.02:dtype=float32", np.int16),
        ("gaussian:1:dtype=float32,equalize:nbins=64", np.uint8),
    ],
)
def test_pipeline_equals_chain_of_calls(backend, rng, steps, dtype):
    batch = random_image(rng, (2, 24, 21), dtype)
    pipe = fastct.Pipeline(steps)
    got = to_numpy(pipe(on_backend(batch, backend), backend=backend))
    x = on_backend(batch, backend)
    for name, args, kwargs in fastct.parse_steps(steps):
        func = getattr(fastct, ALIASES.get(name, name))
        if isinstance(kwargs.get("dtype"), str):
            kwargs = dict(kwargs, dtype=np.dtype(kwargs["dtype"]))
        x = func(x, *args, backend=backend, **kwargs)
    expected = to_numpy(x)
    assert got.dtype == expected.dtype == pipe.output_dtype(dtype)
    np.testing.assert_array_equal(got, expected)


def _opencv_classic(slice_u8):
    k = np.ones((3, 3), np.uint8)
    a = cv2.erode(slice_u8, k, borderType=cv2.BORDER_REPLICATE)
    a = cv2.dilate(a, k, borderType=cv2.BORDER_REPLICATE)
    a = cv2.GaussianBlur(a, (5, 5), 0, borderType=cv2.BORDER_REPLICATE)
    return cv2.equalizeHist(a)


OPENCV_STEPS = "erode:3:mode=nearest,dilate:3,gaussian:0:ksize=5,equalize:dtype=uint8"


def test_pipeline_reproduces_opencv_classic_chain(backend, rng, ct_slice):
    noise = random_image(rng, (3, 37, 41), np.uint8)
    ramp = (np.add.outer(np.arange(40), np.arange(52)) * 2 % 256).astype(np.uint8)[None]  # structured
    ct_u8 = fastct.window(ct_slice, preset="soft_tissue", dtype=np.uint8, backend="cpu")[None]  # real anatomy
    for batch in (noise, ramp, ct_u8):
        got = to_numpy(fastct.process(on_backend(batch, backend), OPENCV_STEPS, backend=backend))
        expected = np.stack([_opencv_classic(s) for s in batch])
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------------
# planning: halo, whole-slice, output dtype


@pytest.mark.parametrize(
    "steps,halo,whole",
    [
        ("erode:3", (1, 1), False),
        ("erode:3,dilate:5", (3, 3), False),
        ("opening:3", (2, 2), False),  # erosion then dilation: twice the radius
        ("closing:3x5", (2, 4), False),
        ("opening:5,closing:3", (6, 6), False),
        ("gaussian:1.1", (4, 4), False),  # radius int(4 * 1.1 + 0.5)
        ("gaussian:0:ksize=5", (2, 2), False),
        ("gaussian:1x2", (4, 8), False),
        ("gaussian:1:truncate=2", (2, 2), False),
        ("erode:3:shape=disk", (1, 1), False),
        ("sharpen", (1, 1), False),
        ("unsharp:2", (8, 8), False),
        ("window:preset=lung", (0, 0), False),
        ("equalize", (0, 0), True),
        ("clahe", (0, 0), True),
        ("lowpass:0.1", (0, 0), True),
        ("highpass:0.1", (0, 0), True),
        (fastct.DEFAULT_STEPS, (4, 4), True),  # 1 + 1 + 2; the histogram adds no halo
        ("erode:3,equalize,dilate:7x3", (4, 2), True),
    ],
)
def test_pipeline_halo_and_whole_slice(steps, halo, whole):
    pipe = fastct.Pipeline(steps)
    assert pipe.halo == halo
    assert pipe.needs_whole_slice is whole
    assert len(pipe) == len(fastct.parse_steps(steps))


def test_pipeline_halo_is_enough_for_stencil_chains(rng):
    # the promise behind halo: a tile with that much overlap gives exact results
    image = random_image(rng, (40, 44), np.float32)  # floats: every change of context shows
    pipe = fastct.Pipeline("opening:3,gaussian:1:mode=reflect,closing:3x5")
    hy, hx = pipe.halo
    full = pipe(image, backend="cpu")
    y0, y1, x0, x1 = 15, 27, 14, 30
    tile = image[y0 - hy : y1 + hy, x0 - hx : x1 + hx]
    part = pipe(tile, backend="cpu")[hy:-hy, hx:-hx]
    np.testing.assert_array_equal(part, full[y0:y1, x0:x1])
    # one pixel less and the result changes somewhere (the halo is not larger than needed)
    tile_small = image[y0 - hy + 1 : y1 + hy - 1, x0 - hx + 1 : x1 + hx - 1]
    part_small = pipe(tile_small, backend="cpu")[hy - 1 : -(hy - 1), hx - 1 : -(hx - 1)]
    assert not np.array_equal(part_small, full[y0:y1, x0:x1])


@pytest.mark.parametrize(
    "steps,dtype,expected",
    [
        ("erode:3,dilate:3", np.int16, np.int16),
        ("erode:3,dilate:3", np.float64, np.float64),  # min/max are exact: float64 kept
        ("erode:3,gaussian:1", np.float64, np.float32),
        ("gaussian:1,sharpen", np.uint8, np.uint8),
        ("gaussian:1:dtype=float32", np.uint16, np.float32),
        ("lowpass:0.1", np.int16, np.int16),
        ("highpass:0.1:dtype=float32", np.int16, np.float32),
        (fastct.DEFAULT_STEPS, np.int16, np.float32),
        ("equalize:dtype=uint8", np.int16, np.uint8),
        ("window:preset=bone:dtype=uint16,erode:3", np.int16, np.uint16),
        ("clahe:dtype=uint8,gaussian:1", np.float32, np.uint8),
        ("erode:3", np.int32, np.int16),  # int32 is narrowed (values checked at run time)
        ("erode:3", np.int8, np.int16),
        ("erode:3", np.float16, np.float32),
    ],
)
def test_pipeline_output_dtype(rng, steps, dtype, expected):
    pipe = fastct.Pipeline(steps)
    assert pipe.output_dtype(dtype) == np.dtype(expected)
    # and running it really gives that dtype
    if np.dtype(dtype) in (np.dtype(np.int8), np.dtype(np.int32)):
        batch = rng.integers(-100, 100, (1, 12, 13)).astype(dtype)
    elif dtype == np.float16:
        batch = rng.standard_normal((1, 12, 13)).astype(dtype)
    else:
        batch = random_image(rng, (1, 12, 13), dtype)
    got = pipe(batch, backend="cpu")
    assert got.dtype == np.dtype(expected)


def test_pipeline_output_dtype_rejects_bad_dtype():
    with pytest.raises(fastct.InvalidDTypeError, match="bool"):
        fastct.Pipeline("erode:3").output_dtype(np.bool_)


def test_pipeline_reuse_on_several_batches(backend, rng):
    pipe = fastct.Pipeline("erode:3,gaussian:1,equalize")
    batches = [
        random_image(rng, (2, 20, 18), np.int16),
        random_image(rng, (1, 7, 31), np.uint8),
        random_image(rng, (3, 16, 16), np.float32),
        random_image(rng, (20, 18), np.int16),  # a single slice
        random_image(rng, (2, 20, 18), np.int16),
    ]
    first = [to_numpy(pipe(on_backend(b, backend), backend=backend)) for b in batches]
    again = [to_numpy(pipe.run(on_backend(b, backend), backend=backend)) for b in reversed(batches)][::-1]
    pipe = fastct.Pipeline("erode:3,gaussian:1,equalize")
    fresh = [to_numpy(pipe(on_backend(b, backend), backend=backend)) for b in batches]
    for b, f, a, n in zip(batches, first, again, fresh):
        assert f.shape == b.shape
        np.testing.assert_array_equal(f, a)
        np.testing.assert_array_equal(f, n)
    assert not np.array_equal(first[0], first[4])  # different data, different results


def test_pipeline_copy_and_process_accepts_pipeline(rng):
    pipe = fastct.Pipeline("erode:3,dilate:5")
    copy = fastct.Pipeline(pipe)
    assert copy.names == pipe.names and copy.halo == pipe.halo and copy.describe() == pipe.describe()
    batch = random_image(rng, (2, 14, 15), np.uint16)
    np.testing.assert_array_equal(fastct.process(batch, pipe, backend="cpu"), pipe(batch, backend="cpu"))


def test_pipeline_run_timed(backend, rng):
    pipe = fastct.Pipeline("erode:3,dilate:3,gaussian:0:ksize=5,equalize", fuse=False)
    batch = random_image(rng, (2, 30, 30), np.int16)
    result, timings = pipe.run_timed(on_backend(batch, backend), backend=backend)
    np.testing.assert_array_equal(to_numpy(result), to_numpy(pipe.run(on_backend(batch, backend), backend=backend)))
    assert [name for name, _ in timings] == ["erode", "dilate", "gaussian_blur", "equalize_hist"]
    assert all(isinstance(t, float) and 0.0 <= t < 60.0 for _, t in timings)
    if backend == "cpu":  # the CPU backend fuses the whole chain into one timed pass
        fused, fused_timings = fastct.Pipeline(pipe).run_timed(batch, backend="cpu")
        assert [name for name, _ in fused_timings] == ["erode+dilate+gaussian_blur+equalize_hist"]
        np.testing.assert_array_equal(fused, to_numpy(result))


def test_pipeline_slice_and_empty_batch(backend, rng):
    pipe = fastct.Pipeline("erode:3,equalize:dtype=uint16")
    image = random_image(rng, (15, 17), np.int16)
    got = to_numpy(pipe(on_backend(image, backend), backend=backend))
    assert got.shape == (15, 17) and got.dtype == np.uint16
    np.testing.assert_array_equal(got, to_numpy(pipe(on_backend(image[None], backend), backend=backend))[0])
    empty = to_numpy(pipe(on_backend(np.zeros((0, 15, 17), np.int16), backend), backend=backend))
    assert empty.shape == (0, 15, 17) and empty.dtype == np.uint16


def test_pipeline_describe_round_trips(rng):
    for steps in (
        fastct.DEFAULT_STEPS,
        "erode:3:mode=constant:cval=5,gaussian:1:dtype=float32",
        "lowpass:0.1:kind=ideal:pad=2x3:mode=wrap,window:preset=lung:dtype=uint8",
        "unsharp:1.5:2:ksize=7,clahe:tiles=4x4:clip_limit=3.5",
        [("gaussian", {"sigma": (1.0, 2.0), "dtype": np.float32}), ("equalize", {"dtype": np.uint16})],
    ):
        pipe = fastct.Pipeline(steps)
        again = fastct.Pipeline(pipe.describe())
        assert again.describe() == pipe.describe()
        batch = random_image(rng, (1, 16, 18), np.int16)
        np.testing.assert_array_equal(again(batch, backend="cpu"), pipe(batch, backend="cpu"))
    assert fastct.Pipeline("erode:3:mode=constant:cval=5").describe() == "erode:3:mode=constant:cval=5"
    assert fastct.Pipeline(None).describe() == "erode:3,dilate:3,gaussian_blur:0:ksize=5,equalize_hist"


# ---------------------------------------------------------------------------
# bad steps


@pytest.mark.parametrize(
    "steps,fragments",
    [
        ("erode:3,dialte:3", ["step 2", "'dialte:3'", "unknown operation", "did you mean 'dilate'"]),
        ("erode:3,gausian:1", ["step 2", "did you mean 'gaussian'"]),
        ("frobnicate", ["step 1", "'frobnicate'", "unknown operation"]),
        ("erode:3:sise=5", ["step 1", "'erode:3:sise=5'", "'sise'", "did you mean 'size'"]),
        ("erode:3,,dilate", ["step 2", "no operation name"]),
        ("erode:3,", ["step 2", "no operation name"]),
        (":3", ["step 1", "':3'", "no operation name"]),
        ("erode:", ["step 1", "'erode:'", "empty parameter"]),
        ("erode:mode=nearest:3", ["step 1", "'erode:mode=nearest:3'", "positional", "after key=value"]),
        ("erode:3:mode=nearest:mode=wrap", ["'mode'", "twice"]),
        ("erode:3:2bad=1", ["bad parameter name", "'2bad'"]),
        ("erode:4", ["step 1", "'erode:4'", "size", "odd"]),
        ("dilate:3,erode:-3", ["step 2", "'erode:-3'", "size"]),
        ("gaussian:abc", ["'gaussian:abc'", "sigma"]),
        ("gaussian:1:mode=edge", ["'gaussian:1:mode=edge'", "mode"]),
        ("lowpass:0", ["'lowpass:0'", "cutoff"]),
        ("lowpass:0.7", ["cutoff"]),
        ("lowpass:0.1:kind=box", ["kind"]),
        ("lowpass:0.1:kind=butterworth:order=0", ["order"]),
        ("equalize:dtype=int8", ["'equalize:dtype=int8'", "dtype"]),
        ("window", ["'window'"]),
        ("window:preset=kidney", ["preset"]),
        ("erode:3:1x2", ["'erode:3:1x2'", "positional"]),
        ("erode:3:backend=cpu", ["'backend'", "pipeline run"]),
        ("", ["empty"]),
        ("   ", ["empty"]),
        ([], ["no steps"]),
        (42, ["expected a string or a list"]),
        ([42], ["step 1", "42"]),
        ([("erode", {"bad": 1})], ["step 1", "'bad'", "it takes size"]),
        ([("erode", {3: 1})], ["parameter names must be strings"]),
        ([("lowpass", 0.7)], ["step 1", "('lowpass', 0.7)", "cutoff"]),
        ([("nope", None)], ["'nope'", "unknown operation"]),
        (["erode:3", ("dilate", 4)], ["step 2", "('dilate', 4)", "size"]),
        ([("erode", 3, 5)], ["step 1", "not a step string"]),
    ],
)
def test_bad_steps_raise_step_error(steps, fragments):
    with pytest.raises(fastct.StepError) as info:
        fastct.Pipeline(steps)
    message = str(info.value)
    assert message.startswith("steps:")
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert isinstance(info.value, fastct.FastCTError) and isinstance(info.value, ValueError)


def test_bad_steps_raise_through_process_before_touching_data(monkeypatch):
    def no_backend(*args, **kwargs):
        raise AssertionError("a backend was asked for before the steps were validated")

    monkeypatch.setattr(backends, "get", no_backend)
    batch = np.zeros((2, 8, 8), np.int16)
    # the bad step is the last one: nothing before it may run
    with pytest.raises(fastct.StepError, match="step 3 'equalize:dtype=int8'"):
        fastct.process(batch, "erode:3,dilate:3,equalize:dtype=int8", backend="cpu")
    # steps are checked before the data: bad steps on bad data report the steps
    with pytest.raises(fastct.StepError, match="dialte"):
        fastct.process("not an image", "erode:3,dialte:3", backend="cpu")
    with pytest.raises(fastct.StepError):
        fastct.process(np.zeros((4, 4), bool), "erode:4", backend="cpu")


def test_pipeline_data_errors_name_the_image():
    pipe = fastct.Pipeline("erode:3,equalize")
    with pytest.raises(fastct.InvalidArgumentError, match="^image"):
        pipe(np.zeros((2, 3, 4, 5), np.int16), backend="cpu")
    with pytest.raises(fastct.InvalidDTypeError, match="^image"):
        pipe(np.zeros((4, 4), np.complex64), backend="cpu")
    with pytest.raises(fastct.NonFiniteError, match="^image"):
        pipe(np.full((4, 4), np.nan, np.float32), backend="cpu")
    with pytest.raises(fastct.InvalidArgumentError, match="^backend"):
        pipe(np.zeros((4, 4), np.int16), backend="tpu")


# ---------------------------------------------------------------------------
# out=


@pytest.mark.parametrize("steps, fuse", [
    ("erode:3,dilate:3,gaussian:0:ksize=5,equalize", True),  # one fused pass
    ("erode:3,dilate:3,gaussian:0:ksize=5,equalize", False),  # step by step
    ("erode:3,gaussian:8,clahe,window:preset=lung", True),  # several segments, float output
    ("erode:3,dilate:5", True),  # int16 output
])
def test_out_receives_the_result(steps, fuse):
    batch = chest_phantom(3, 64, seed=2)
    pipe = fastct.Pipeline(steps, fuse=fuse)
    want = pipe.run(batch, backend="cpu")
    out = np.full(batch.shape, 7, pipe.output_dtype(batch.dtype))
    got = pipe.run(batch, backend="cpu", out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    # a single slice takes a 2-D out
    out2 = np.empty(batch.shape[1:], pipe.output_dtype(batch.dtype))
    assert pipe(batch[1], backend="cpu", out=out2) is out2
    np.testing.assert_array_equal(out2, want[1])
    assert fastct.process(batch, pipe, backend="cpu", out=out) is out


def test_out_may_be_the_input():
    batch = chest_phantom(2, 48, seed=4)
    want = fastct.process(batch, "erode:3,dilate:3,gaussian:1.1", backend="cpu")
    work = batch.copy()
    assert fastct.process(work, "erode:3,dilate:3,gaussian:1.1", backend="cpu", out=work) is work
    np.testing.assert_array_equal(work, want)


def test_bad_out_is_refused_before_any_work():
    batch = chest_phantom(2, 32, seed=1)
    for out, what in [(np.empty(batch.shape, np.int16), "dtype"), (np.empty((2, 32, 31), np.float32), "shape"),
                      (np.empty((2, 32, 64), np.float32)[:, :, ::2], "contiguous"), ([0.0], "array")]:
        with pytest.raises(FastCTError, match=f"out: .*{what}"):
            fastct.process(batch, backend="cpu", out=out)


def test_out_with_a_dask_array_is_refused():
    da = pytest.importorskip("dask.array")
    x = da.zeros((2, 32, 32), np.int16, chunks=(1, 32, 32))
    with pytest.raises(FastCTError, match="out: not supported for a Dask array"):
        fastct.process(x, backend="cpu", out=np.empty((2, 32, 32), np.float32))


def test_readme_operations_table_is_the_registry():
    # The README's table is generated from fastct.ops.OPERATIONS; a new or
    # renamed operation must show up there.
    from pathlib import Path

    from fastct import ops

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert ops.operations_table() in readme
    assert len(ops.operations_table().splitlines()) == 2 + len(ops.OPERATIONS)


def test_registry_gives_the_public_functions_and_step_names():
    from fastct import ops

    for name, op in ops.OPERATIONS.items():
        func = getattr(fastct, name)
        assert func.operation is op and name in fastct.__all__
        assert op.parameters == [p for p in inspect.signature(func).parameters if p not in ops.RUN_ARGUMENTS]
        for alias in op.aliases:
            assert ops.lookup(alias) is op
    # a step takes the function's defaults: the default pipeline's Gaussian is the function's
    assert ops.plan("erode").halo == (1, 1)
    assert ops.plan("gaussian", 0, ksize=5).request == {"sigma": 0, "ksize": 5, "truncate": 4.0, "mode": "nearest"}
    with pytest.raises(fastct.StepError, match="unknown operation"):
        ops.lookup("blur")


def test_every_operation_has_twins_of_the_same_signature():
    # Both backends expose the twin each declaration points at, taking the
    # same keyword parameters (the GPU package imports without CuPy).
    import fastct.cpu
    import fastct.gpu
    from fastct import ops

    for name, op in ops.OPERATIONS.items():
        cpu_twin, gpu_twin = op.kernel(fastct.cpu), op.kernel(fastct.gpu)
        assert cpu_twin.__module__.startswith("fastct.cpu.") and gpu_twin.__module__.startswith("fastct.gpu.")
        assert cpu_twin.__name__ == gpu_twin.__name__ == name
        assert inspect.signature(cpu_twin).parameters.keys() == inspect.signature(gpu_twin).parameters.keys()
