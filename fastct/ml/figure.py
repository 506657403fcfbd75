"""Greyscale report figures composed as arrays (no plotting library needed).

A 5x7 bitmap font, a text renderer, and :func:`evaluation_figure`: the
confusion matrix with counts and per-class scores, and example test slices of
each class marked with what the model predicted. Written with
:func:`fastct.io.png.write_png`.
"""

from __future__ import annotations

import numpy as np

# 5x7 glyphs, rows top to bottom. Lower case is drawn as upper case.
_GLYPHS = {
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    ">": "01000 00100 00010 00001 00010 00100 01000",
    "<": "00010 00100 01000 10000 01000 00100 00010",
    "[": "01110 01000 01000 01000 01000 01000 01110",
    "]": "01110 00010 00010 00010 00010 00010 01110",
    "#": "01010 01010 11111 01010 11111 01010 01010",
    "?": "01110 10001 00001 00010 00100 00000 00100",
    "!": "00100 00100 00100 00100 00100 00000 00100",
    "'": "00100 00100 01000 00000 00000 00000 00000",
}
_FONT = {c: np.array([[b == "1" for b in row] for row in rows.split()], bool) for c, rows in _GLYPHS.items()}

WHITE, BLACK = 255, 0


def text_size(text: str, scale: int = 2) -> tuple[int, int]:
    """(height, width) in pixels of ``text`` drawn by :func:`draw_text`."""
    return 7 * scale, max(0, 6 * len(text) - 1) * scale


def draw_text(canvas: np.ndarray, text: str, y: int, x: int, value: int = BLACK, scale: int = 2) -> None:
    """Draw ``text`` with its top-left corner at (y, x), clipped to the canvas.

    Examples
    --------
    >>> c = np.full((20, 40), 255, np.uint8)
    >>> draw_text(c, "OK", 2, 2)
    >>> int((c == 0).sum()) > 0
    True
    """
    for i, ch in enumerate(str(text)):
        glyph = _FONT.get(ch.upper(), _FONT["?"])
        big = np.kron(glyph, np.ones((scale, scale), bool))
        gx = x + i * 6 * scale
        y0, x0 = max(y, 0), max(gx, 0)
        y1, x1 = min(y + big.shape[0], canvas.shape[0]), min(gx + big.shape[1], canvas.shape[1])
        if y0 >= y1 or x0 >= x1:
            continue
        part = big[y0 - y : y1 - y, x0 - gx : x1 - gx]
        canvas[y0:y1, x0:x1][part] = value


def _thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """8-bit view of a slice (lung window for integer HU, min-max otherwise), resized to ``size``."""
    img = np.asarray(image)
    if img.dtype.kind in "iu" and img.min() < -200:
        from ..ops import window

        view = window(img, preset="lung", dtype=np.uint8, backend="cpu")
    else:
        f = img.astype(np.float64)
        lo, hi = float(f.min()), float(f.max())
        view = np.zeros(f.shape, np.uint8) if hi <= lo else np.rint((f - lo) / (hi - lo) * 255).astype(np.uint8)
    h, w = view.shape
    rows = np.minimum((np.arange(size) + 0.5) * h / size, h - 1).astype(int)
    cols = np.minimum((np.arange(size) + 0.5) * w / size, w - 1).astype(int)
    return view[rows][:, cols]


def evaluation_figure(confusion, classes, *, title="", scores=None, examples=None, thumb=112) -> np.ndarray:
    """The report figure as a uint8 image.

    Parameters
    ----------
    confusion : array (k, k)
        Counts; rows are true classes, columns predicted.
    classes : sequence of str
        Class names in matrix order.
    title : str
        First line of the figure.
    scores : dict, optional
        ``{class: (precision, recall, f1, support)}`` printed beside the matrix.
    examples : dict, optional
        ``{class: [(slice, predicted_label), ...]}`` shown one row per class.
    thumb : int
        Side of each example thumbnail in pixels.

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W)

    Examples
    --------
    >>> fig = evaluation_figure(np.array([[3, 1], [0, 4]]), ["normal", "nodule"], title="demo")
    >>> fig.dtype, fig.ndim
    (dtype('uint8'), 2)
    """
    confusion = np.asarray(confusion, np.int64)
    names = [str(c) for c in classes]
    k = len(names)
    s = 2  # font scale
    line = 7 * s + 8
    label_w = max(text_size(n, s)[1] for n in names) + 16
    cell = max(56, label_w - 8)
    margin = 16
    matrix_x = margin + label_w
    matrix_y = margin + 2 * line + line  # title, axis caption, column names
    matrix_w = matrix_h = k * cell
    table_x = matrix_x + matrix_w + 32
    table_cols = ["PREC", "REC", "F1", "N"]
    col_w = 7 * 6 * s
    table_w = len(table_cols) * col_w + label_w if scores else 0
    width = max(table_x + table_w + margin, matrix_x + matrix_w + margin, text_size(title, s)[1] + 2 * margin)
    examples = examples or {}
    per_row = max((len(v) for v in examples.values()), default=0)
    ex_y = matrix_y + matrix_h + 2 * line
    ex_row_h = thumb + line + 12
    if per_row:
        width = max(width, margin + label_w + per_row * (thumb + 10) + margin)
    height = (ex_y + line + k * ex_row_h + margin) if per_row else (matrix_y + matrix_h + margin)
    canvas = np.full((height, width), WHITE, np.uint8)
    draw_text(canvas, title, margin, margin, scale=s)
    draw_text(canvas, "CONFUSION MATRIX: ROWS TRUE, COLUMNS PREDICTED", margin + line, margin, scale=s)
    row_sums = np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    for i, name in enumerate(names):
        draw_text(canvas, name, matrix_y + i * cell + (cell - 7 * s) // 2, margin, scale=s)
        short = name[: max(1, cell // (6 * s))]
        tw = text_size(short, s)[1]
        draw_text(canvas, short, matrix_y - line, matrix_x + i * cell + (cell - tw) // 2, scale=s)
        for j in range(k):
            frac = confusion[i, j] / row_sums[i, 0]
            y0, x0 = matrix_y + i * cell, matrix_x + j * cell
            canvas[y0 : y0 + cell, x0 : x0 + cell] = int(round(255 - 215 * frac))
            canvas[y0, x0 : x0 + cell] = BLACK
            canvas[y0 : y0 + cell, x0] = BLACK
            label = str(int(confusion[i, j]))
            th, tw = text_size(label, s)
            draw_text(canvas, label, y0 + (cell - th) // 2, x0 + (cell - tw) // 2,
                      value=WHITE if frac > 0.5 else BLACK, scale=s)
    canvas[matrix_y + matrix_h, matrix_x : matrix_x + matrix_w + 1] = BLACK
    canvas[matrix_y : matrix_y + matrix_h + 1, matrix_x + matrix_w] = BLACK
    if scores:
        for c, head in enumerate(table_cols):
            draw_text(canvas, head, matrix_y - line, table_x + label_w + c * col_w, scale=s)
        for i, name in enumerate(names):
            p, r, f, n = scores.get(name, (0, 0, 0, 0))
            y = matrix_y + i * cell + (cell - 7 * s) // 2
            draw_text(canvas, name, y, table_x, scale=s)
            for c, v in enumerate((f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", str(int(n)))):
                draw_text(canvas, v, y, table_x + label_w + c * col_w, scale=s)
    if per_row:
        draw_text(canvas, "TEST SLICES PER TRUE CLASS (LUNG WINDOW), MARKED WITH THE PREDICTION", ex_y, margin, scale=s)
        for i, name in enumerate(names):
            y = ex_y + line + i * ex_row_h
            draw_text(canvas, name, y + thumb // 2 - 7, margin, scale=s)
            for j, (image, predicted) in enumerate(examples.get(name, [])[:per_row]):
                x = margin + label_w + j * (thumb + 10)
                canvas[y : y + thumb, x : x + thumb] = _thumbnail(image, thumb)
                ok = str(predicted) == name
                mark = "OK" if ok else f"> {predicted}"
                draw_text(canvas, mark[: max(1, thumb // (6 * s))], y + thumb + 4, x, scale=s)
                if not ok:  # a black frame in the white gap around mistakes
                    canvas[y - 3 : y, x - 3 : x + thumb + 3] = BLACK
                    canvas[y + thumb : y + thumb + 3, x - 3 : x + thumb + 3] = BLACK
                    canvas[y - 3 : y + thumb + 3, x - 3 : x] = BLACK
                    canvas[y - 3 : y + thumb + 3, x + thumb : x + thumb + 3] = BLACK
    return canvas
