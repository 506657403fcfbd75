"""Every picture fastct draws goes through fastct._draw (Pillow): the evaluation figure, the demo montage, the
benchmark chart, and the clear error without Pillow."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("PIL")

from fastct import _draw  # noqa: E402
from fastct.errors import MissingDependencyError  # noqa: E402
from fastct.ml.figure import evaluation_figure  # noqa: E402


def _red(px):
    return (px[..., 0] > 200) & (px[..., 1] < 80) & (px[..., 2] < 80)


def test_evaluation_figure_frames_the_mistakes():
    air = np.full((32, 32), -1000, np.int16)
    fig = evaluation_figure(np.array([[5, 1], [0, 6]]), ["normal", "nodule"], title="test",
                            scores={"normal": (1.0, 0.8, 0.9, 6), "nodule": (0.9, 1.0, 0.95, 6)},
                            examples={"normal": [(air, "nodule"), (air, "normal")]})
    assert fig.mode == "RGB" and fig.height > 200
    px = np.asarray(fig)
    assert (px == 255).all(axis=-1).any() and (px < 64).all(axis=-1).any()  # white ground, dark ink
    assert _red(px).sum() >= 4 * 32  # the mistake's frame (the correct slice has none)
    bare = evaluation_figure(np.array([[5, 1], [0, 6]]), ["normal", "nodule"])
    assert bare.height < fig.height and not _red(np.asarray(bare)).any()


def test_matrix_cells_are_shaded_by_their_row_share():
    px = np.asarray(evaluation_figure(np.array([[9, 0], [0, 9]]), ["a", "b"]))
    assert (px == _draw.shade(1.0)).all(axis=-1).sum() > 2 * 40 * 40  # the two full diagonal cells
    assert (px == _draw.shade(0.0)).all(axis=-1).sum() > 2 * 40 * 40  # the two empty ones


def test_display_u8_reads_hounsfield_units_through_the_lung_window():
    hu = np.array([[-1000, -600, 400]], np.int16)
    out = _draw.display_u8(hu)
    assert out.dtype == np.uint8 and out[0, 0] < out[0, 1] < out[0, 2] == 255
    assert _draw.display_u8(np.zeros((2, 2), np.float32)).max() == 0
    assert _draw.display_u8(np.full((2, 2), np.nan, np.float32)).max() == 0


def test_tile_grid_labels_and_fits_tiles():
    img = _draw.tile_grid([[np.zeros((10, 40), np.uint8)], []], box=40, row_labels=["input", "processed"],
                          column_titles=["x"], empty="none")
    assert img.mode == "RGB" and img.width > 40 and img.height > 2 * 40


def test_demo_montage_has_titled_panels():
    from fastct.cli import _montage

    img = _montage([np.full((16, 16), -1000, np.int16)], [np.ones((16, 16), np.float32)], ["slice 0"], "erode:3")
    px = np.asarray(img)
    assert img.mode == "RGB" and (px < 64).all(axis=-1).any()  # titles drawn in dark ink
    assert img.width > 16 + _draw.text_size("processed")[0]


def test_chart_through_the_shared_helpers(tmp_path):
    from fastct.bench.report import write_chart

    row = {"group": "erode", "backend": "cpu", "dtype": "int16", "batch": "1x8x8", "pixels": 64,
           "fastct_mpx_s": 900.0, "best_peer_mpx_s": 500.0, "floor_mpx_s": 4000.0, "best_peer": "x"}
    path = write_chart([row], tmp_path / "c.png")
    from PIL import Image

    with Image.open(path) as img:
        assert img.mode == "RGB" and img.width > 400


def test_without_pillow_figures_name_the_extra_and_the_chart_is_skipped(monkeypatch, tmp_path):
    from fastct.bench.report import write_chart

    monkeypatch.setitem(sys.modules, "PIL", None)  # `import PIL` fails, as when Pillow is not installed
    monkeypatch.setattr(_draw, "_FONTS", {})
    with pytest.raises(MissingDependencyError, match=r"Pillow.*fastct-engine\[io\]"):
        evaluation_figure(np.array([[1, 0], [0, 1]]), ["a", "b"])
    assert write_chart([{"group": "erode", "backend": "cpu", "dtype": "int16", "batch": "1x8x8", "pixels": 64,
                         "fastct_mpx_s": 1.0, "best_peer_mpx_s": None, "floor_mpx_s": None}],
                       tmp_path / "c.png") is None
