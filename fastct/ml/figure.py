"""The evaluation figure of ``fastct classify``, drawn with Pillow (:mod:`fastct._draw`).

:func:`evaluation_figure` composes the confusion matrix (class labels, the
axis titles "true" and "predicted", counts in cells shaded by the share of
their row), the per-class scores beside it, and example test slices of each
class below it, captioned with the prediction, mistakes framed in red.
"""

from __future__ import annotations

import numpy as np

from .. import _draw


def _matrix_panel(confusion: np.ndarray, names: list, scores: dict | None):
    """The confusion matrix with its labels and axis titles, and the score table to its right."""
    Image, ImageDraw = _draw.pillow()
    size, k = _draw.TEXT, len(names)
    line = _draw.text_size("Hg", size)[1]
    widest = max(_draw.text_size(n, size)[0] for n in names)
    cell = max(56, widest + 16, _draw.text_size(str(int(confusion.max(initial=0))), size)[0] + 16)
    pad, gap = 10, 8
    axis_w = line + gap  # the rotated "true"
    matrix_x = pad + axis_w + widest + gap
    matrix_y = pad + 2 * (line + gap)  # "predicted", then the column labels
    side = k * cell
    heads = ("precision", "recall", "F1", "n")
    col_w = [max(_draw.text_size(h, size)[0], _draw.text_size("0.000", size)[0]) + 18 for h in heads]
    table_x = matrix_x + side + 36
    width = (table_x + widest + gap + sum(col_w) if scores else matrix_x + side) + pad
    height = matrix_y + side + pad
    img = Image.new("RGB", (width, height), _draw.WHITE)
    draw = ImageDraw.Draw(img)

    _draw.text(draw, (matrix_x + side // 2, pad), "predicted", size=size, anchor="ma")
    _draw.vertical_text(img, (pad + line // 2, matrix_y + side // 2), "true", size=size)
    row_sums = np.maximum(confusion.sum(axis=1), 1)
    for i, name in enumerate(names):
        _draw.text(draw, (matrix_x + i * cell + cell // 2, matrix_y - gap // 2), name, size=size, anchor="md")
        _draw.text(draw, (matrix_x - gap, matrix_y + i * cell + cell // 2), name, size=size, anchor="rm")
        for j in range(k):
            share = confusion[i, j] / row_sums[i]
            x0, y0 = matrix_x + j * cell, matrix_y + i * cell
            draw.rectangle([x0, y0, x0 + cell, y0 + cell], fill=_draw.shade(share), outline=_draw.GRID)
            _draw.text(draw, (x0 + cell // 2, y0 + cell // 2), int(confusion[i, j]), size=size,
                       fill=_draw.ink_on(share), anchor="mm")
    draw.rectangle([matrix_x, matrix_y, matrix_x + side, matrix_y + side], outline=_draw.MUTED)

    if scores:
        x = table_x + widest + gap
        for c, head in enumerate(heads):
            _draw.text(draw, (x + sum(col_w[: c + 1]) - 8, matrix_y - gap // 2), head, size=size,
                       fill=_draw.MUTED, anchor="rd")
        for i, name in enumerate(names):
            y = matrix_y + i * cell + cell // 2
            _draw.text(draw, (table_x, y), name, size=size, anchor="lm")
            p, r, f, n = scores.get(name, (0.0, 0.0, 0.0, 0))
            for c, value in enumerate((f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", str(int(n)))):
                _draw.text(draw, (x + sum(col_w[: c + 1]) - 8, y), value, size=size, anchor="rm")
    return img


def evaluation_figure(confusion, classes, *, title="", scores=None, examples=None, thumb=112):
    """The report figure of a classifier evaluation, as a Pillow image.

    Parameters
    ----------
    confusion : array (k, k)
        Counts; rows are true classes, columns predicted.
    classes : sequence of str
        Class names in matrix order.
    title : str
        First line of the figure.
    scores : dict, optional
        ``{class: (precision, recall, f1, support)}`` tabled beside the matrix.
    examples : dict, optional
        ``{class: [(slice, predicted_label), ...]}`` shown one row per true
        class; a slice is 2-D (Hounsfield units are shown through the lung
        window, see :func:`fastct._draw.display_u8`). Mistakes are framed
        in red and captioned with the prediction.
    thumb : int
        Side of each example tile in pixels.

    Returns
    -------
    PIL.Image.Image
        RGB.

    Raises
    ------
    fastct.errors.MissingDependencyError
        Pillow is not installed (``pip install 'fastct-engine[io]'``).

    Examples
    --------
    >>> fig = evaluation_figure(np.array([[3, 1], [0, 4]]), ["normal", "nodule"], title="demo")
    >>> fig.mode, fig.width > 100
    ('RGB', True)
    """
    confusion = np.asarray(confusion, np.int64)
    names = [str(c) for c in classes]
    parts = []
    if title:
        Image, ImageDraw = _draw.pillow()
        w, h = _draw.text_size(title, _draw.TITLE)
        head = Image.new("RGB", (w + 20, h + 10), _draw.WHITE)
        _draw.text(ImageDraw.Draw(head), (10, 10), title, size=_draw.TITLE)
        parts.append(head)
    parts.append(_matrix_panel(confusion, names, scores))
    examples = examples or {}
    if any(examples.get(n) for n in names):
        rows, captions, wrong = [], [], []
        for name in names:
            picks = examples.get(name, [])
            rows.append([_draw.display_u8(image) for image, _ in picks])
            captions.append(["ok" if str(p) == name else f"as {p}" for _, p in picks])
            wrong.append([str(p) != name for _, p in picks])
        parts.append(_draw.tile_grid(
            rows, box=thumb, row_labels=names, captions=captions, wrong=wrong, empty="no test slice",
            heading="test slices per true class, captioned with the prediction (mistakes framed in red)"))
    return _draw.stack(parts, gap=14)
