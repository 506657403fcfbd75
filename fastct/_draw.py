"""Pictures drawn with Pillow: the few helpers every figure fastct writes shares.

The confusion-matrix figure of ``fastct classify`` (:mod:`fastct.ml.figure`),
the ``fastct bench`` chart (:mod:`fastct.bench.report`) and the ``fastct
demo`` montage (:mod:`fastct.cli`) are drawn with these: one font (Pillow's
default, scalable since Pillow 10.1), one way to turn a slice into 8-bit
grey, one grid of labelled slice tiles, PNG bytes for the atomic writers of
:mod:`fastct.io`.

Pillow is optional (the ``io`` extra): it is imported on first use, and its
absence is a :class:`~fastct.errors.MissingDependencyError`. Importing this
module imports neither Pillow nor numba.
"""

from __future__ import annotations

import io

import numpy as np

#: Colours shared by the figures (RGB).
WHITE = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (110, 110, 110)
GRID = (225, 225, 225)
ACCENT = (31, 119, 180)
WRONG = (214, 39, 40)

#: Text sizes in pixels: body text, headings, the figure's title.
TEXT, HEADING, TITLE = 14, 15, 18


def pillow():
    """``(Image, ImageDraw)``: Pillow's modules, or a clear error where it is not installed.

    Raises
    ------
    fastct.errors.MissingDependencyError
        Pillow is not installed (``pip install 'fastct-engine[io]'``).

    Examples
    --------
    >>> Image, ImageDraw = pillow()
    >>> Image.new("RGB", (4, 3)).size
    (4, 3)
    """
    from .io._files import require

    require("PIL", "drawing figures")
    from PIL import Image, ImageDraw

    return Image, ImageDraw


_FONTS: dict = {}


def font(size: int = TEXT):
    """Pillow's default font at ``size`` pixels (cached).

    Pillow 10.1 and later scale it; older versions have one small bitmap
    size, used whatever ``size`` asks.

    Examples
    --------
    >>> font(14) is font(14)
    True
    """
    found = _FONTS.get(size)
    if found is None:
        pillow()
        from PIL import ImageFont

        try:
            found = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: one fixed bitmap font
            found = ImageFont.load_default()
        _FONTS[size] = found
    return found


def text_size(text: str, size: int = TEXT) -> tuple[int, int]:
    """``(width, height)`` in pixels of one line of ``text``; the height is the font's line height.

    Examples
    --------
    >>> w, h = text_size("predicted")
    >>> w > h > 0
    True
    """
    f = font(size)
    width = int(np.ceil(f.getlength(str(text)))) if hasattr(f, "getlength") else f.getbbox(str(text))[2]
    if hasattr(f, "getmetrics"):
        ascent, descent = f.getmetrics()
        return width, ascent + descent
    return width, f.getbbox("Hg")[3] + 2  # the bitmap font of Pillow builds without FreeType


_ANCHOR_X = {"l": 0.0, "m": 0.5, "r": 1.0}
_ANCHOR_Y = {"a": 0.0, "m": 0.5, "d": 1.0}


def text(draw, xy, value, *, size: int = TEXT, fill=INK, anchor: str = "la") -> None:
    """Draw one line of text at ``xy`` placed by ``anchor``.

    ``anchor`` is two letters as in Pillow: left, middle or right (``l``,
    ``m``, ``r``) of the text, then its top, middle or bottom (``a``, ``m``,
    ``d``) of the line: ``"la"`` top left, ``"mm"`` centred, ``"rm"``
    right-aligned. Placed here from :func:`text_size` rather than by Pillow,
    which ignores anchors for its bitmap font (Pillow without FreeType).

    Examples
    --------
    >>> Image, ImageDraw = pillow()
    >>> img = Image.new("RGB", (60, 20), WHITE)
    >>> text(ImageDraw.Draw(img), (2, 2), "true")
    >>> img.getbbox() is not None
    True
    """
    w, h = text_size(value, size)
    x = xy[0] - _ANCHOR_X[anchor[0]] * w
    y = xy[1] - _ANCHOR_Y[anchor[1]] * h
    draw.text((round(x), round(y)), str(value), fill=fill, font=font(size))


def vertical_text(image, centre, value, *, size: int = TEXT, fill=INK) -> None:
    """Draw ``value`` reading bottom to top, centred on ``centre`` (an axis title).

    Examples
    --------
    >>> Image, _ = pillow()
    >>> img = Image.new("RGB", (30, 80), WHITE)
    >>> vertical_text(img, (15, 40), "true")
    >>> img.convert("L").getextrema()[0] < 128
    True
    """
    Image, ImageDraw = pillow()
    w, h = text_size(value, size)
    label = Image.new("RGBA", (w + 2, h + 2), (0, 0, 0, 0))
    ImageDraw.Draw(label).text((1, 1), str(value), fill=fill, font=font(size))
    label = label.rotate(90, expand=True)
    image.paste(label, (int(centre[0] - label.width / 2), int(centre[1] - label.height / 2)), label)


def shade(fraction: float) -> tuple[int, int, int]:
    """A colour from white (0) to dark blue (1), for matrix cells; ink on it reads with :func:`ink_on`.

    Examples
    --------
    >>> shade(0.0), shade(1.0)
    ((247, 251, 255), (8, 48, 107))
    """
    f = min(max(float(fraction), 0.0), 1.0)
    low, high = (247, 251, 255), (8, 48, 107)
    return tuple(int(round(a + (b - a) * f)) for a, b in zip(low, high, strict=True))


def ink_on(fraction: float):
    """Text colour that reads on :func:`shade` of ``fraction``.

    Examples
    --------
    >>> ink_on(0.9)
    (255, 255, 255)
    """
    return WHITE if fraction > 0.5 else INK


def display_u8(image) -> np.ndarray:
    """An 8-bit grey view of one slice for a figure.

    Integer slices that reach below -200 are read as Hounsfield units and
    shown through the lung window (:func:`fastct.window` ``preset="lung"``);
    floats within [0, 1] (what equalisation and windowing return) are scaled
    by 255; uint8 is shown as it is; anything else is stretched from its
    minimum to its maximum.

    Parameters
    ----------
    image : array_like, shape (H, W)

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W)

    Examples
    --------
    >>> display_u8(np.array([[0.0, 0.5, 1.0]], np.float32))
    array([[  0, 128, 255]], dtype=uint8)
    >>> display_u8(np.array([[10, 20, 30]], np.int16))
    array([[  0, 128, 255]], dtype=uint8)
    """
    img = np.asarray(image)
    if img.dtype == np.uint8:
        return img
    if img.size == 0:
        return np.zeros(img.shape, np.uint8)
    lo, hi = float(img.min()), float(img.max())
    if img.dtype.kind in "iu" and lo < -200:
        from .ops import window  # compute only: importing this module stays light

        return window(np.ascontiguousarray(img), preset="lung", dtype=np.uint8, backend="cpu")
    f = img.astype(np.float64)
    if img.dtype.kind == "f" and 0.0 <= lo and hi <= 1.0:
        return np.rint(f * 255.0).astype(np.uint8)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(img.shape, np.uint8)
    return np.rint((f - lo) / (hi - lo) * 255.0).astype(np.uint8)


def tile(array, box: int):
    """A uint8 slice as a grey Pillow image fitted into a ``box`` x ``box`` square (aspect kept).

    Shrinking uses Lanczos filtering; enlarging repeats pixels (the pixels
    a user looks at are the data's own).

    Examples
    --------
    >>> tile(np.zeros((8, 16), np.uint8), 64).size
    (64, 32)
    """
    Image, _ = pillow()
    a = np.ascontiguousarray(array, dtype=np.uint8)
    img = Image.fromarray(a)  # 2-D uint8: mode "L"
    h, w = a.shape
    scale = box / max(h, w)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    if size == (w, h):
        return img
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    return img.resize(size, resample)


def tile_grid(rows, *, box: int = 112, row_labels=None, column_titles=None, captions=None, wrong=None,
              heading: str | None = None, empty: str | None = None, size: int = TEXT):
    """Rows of slice tiles with labels: the example slices of a figure, the demo montage.

    Parameters
    ----------
    rows : list of list of ndarray
        uint8 slices (:func:`display_u8`), one list per row; rows may differ
        in length.
    box : int
        Side of each tile's square in pixels; slices are fitted into it.
    row_labels : list of str, optional
        Drawn left of each row.
    column_titles : list of str, optional
        Drawn above the first row's tiles.
    captions : list of list of str, optional
        Drawn under each tile.
    wrong : list of list of bool, optional
        Tiles framed in :data:`WRONG` (a misclassified slice).
    heading : str, optional
        One line above everything.
    empty : str, optional
        Drawn in place of the tiles of an empty row.
    size : int
        Text size.

    Returns
    -------
    PIL.Image.Image (RGB)

    Examples
    --------
    >>> img = tile_grid([[np.zeros((8, 8), np.uint8)] * 2], box=32, row_labels=["input"],
    ...                 column_titles=["a", "b"], captions=[["ok", "ok"]])
    >>> img.mode, img.width > 64
    ('RGB', True)
    """
    Image, ImageDraw = pillow()
    line = text_size("Hg", size)[1]
    pad, gap, frame = 10, 10, 3
    label_w = max((text_size(s, size)[0] for s in row_labels or ()), default=0)
    left = pad + (label_w + gap if row_labels else 0)
    cols = max((len(r) for r in rows), default=0)
    caption_h = line + 4 if captions else 0
    row_h = box + caption_h + gap + 2 * frame
    top = pad + (line + 6 if heading else 0) + (line + 4 if column_titles else 0)
    width = left + cols * (box + gap + 2 * frame) + pad
    if heading:
        width = max(width, pad + text_size(heading, size)[0] + pad)
    height = top + len(rows) * row_h + pad - gap
    img = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(img)
    if heading:
        text(draw, (pad, pad), heading, size=size)
    x_of = [left + frame + j * (box + gap + 2 * frame) for j in range(cols)]
    for j, title in enumerate(column_titles or ()):
        if j < cols:
            text(draw, (x_of[j] + box // 2, top - 4), title, size=size, fill=MUTED, anchor="md")
    for i, row in enumerate(rows):
        y = top + frame + i * row_h
        if row_labels:
            text(draw, (pad, y + box // 2), row_labels[i], size=size, anchor="lm")
        if not row and empty and cols:
            text(draw, (x_of[0], y + box // 2), empty, size=size, fill=MUTED, anchor="lm")
        for j, slice_ in enumerate(row):
            t = tile(slice_, box)
            x0, y0 = x_of[j] + (box - t.width) // 2, y + (box - t.height) // 2
            img.paste(t, (x0, y0))
            is_wrong = bool(wrong and wrong[i][j])
            if is_wrong:  # the frame sits in the gap, never over the slice
                draw.rectangle([x0 - frame, y0 - frame, x0 + t.width + frame - 1, y0 + t.height + frame - 1],
                               outline=WRONG, width=frame)
            if captions and j < len(captions[i]):
                text(draw, (x_of[j] + box // 2, y + box + frame + 2), captions[i][j], size=size,
                     fill=WRONG if is_wrong else MUTED, anchor="ma")
    return img


def stack(images, *, gap: int = 12):
    """Pillow images one under the other, left-aligned, on white.

    Examples
    --------
    >>> Image, _ = pillow()
    >>> stack([Image.new("RGB", (10, 5)), Image.new("RGB", (4, 7))], gap=2).size
    (10, 14)
    """
    Image, _ = pillow()
    images = [im for im in images if im is not None]
    width = max(im.width for im in images)
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (width, height), WHITE)
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


def png_bytes(image) -> bytes:
    """The PNG encoding of a Pillow image (for :func:`fastct.io.png.write_atomic`).

    Examples
    --------
    >>> Image, _ = pillow()
    >>> png_bytes(Image.new("RGB", (2, 2)))[:4]
    b'\\x89PNG'
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
