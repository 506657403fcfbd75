"""What the classification features are: groups, names, bins and scale rules.

Backend-neutral NumPy. :func:`resolve_spec` turns a slice shape and the chosen
groups into a :class:`FeatureSpec`, whose :meth:`FeatureSpec.kernel_params`
are the plain numbers and arrays the CPU (Numba) and GPU (CuPy) kernels take.
The thresholds are written in Hounsfield units here and handed to the kernels
pre-multiplied into the integer units they compare in (sums of 3x3 pixels,
squared window sums), so integer input gives exact, reproducible bins.

The feature vector of one slice, group by group (``N`` slices give an
``(N, n_features)`` float64 matrix). All but ``image`` are computed by
default (:data:`DEFAULT_GROUPS`, 65 features):

``image``  (grid x grid, on request)
    area means of the *preprocessed* slice on a coarse grid (the picture).
``masks``  (2)
    ``body_area`` (body pixels / all pixels) and ``lung_area`` (lung field /
    body). The body is the slice's tissue (3x3 mean >= -400 HU) with its
    holes filled. The lungs are the body's 4-connected low-density regions
    (3x3 mean < -400 HU) of at least 0.5 % of the slice (so not the trachea);
    the lung field is the lungs with their holes filled (nodules, cavities,
    vessels inside count as lung) plus every body pixel whose surrounding box
    (33x33 at 256 px) is at least half lung (lesions against the pleura).
``hu``  (len(HU_EDGES) + 1)
    histogram of the 3x3-mean HU inside the lung field (fractions of it).
``dense``  (len(DENSE_STEPS) + 1)
    size spectrum of dense lesions: the fraction of the lung field that is
    dense (3x3 mean >= -300 HU) *and* at least ``k`` pixels (chessboard
    distance) from any non-dense pixel, for each ``k``. Vessels vanish after
    a few pixels, nodules and cavity walls remain. The last value is the
    largest such distance (in pixels at 256 px).
``air``  (len(AIR_STEPS) + 1)
    the same for air (3x3 mean < -930 HU) inside the lung field: cavities and
    honeycomb cysts. (-930 rather than emphysema's -950: a 3x3 mean over a
    small cavity is pulled up by partial volume and noise.)
``std``  (len(STD_EDGES) + 1)
    histogram of the local standard deviation of HU in a 5x5 window, over
    the lung field.
``grad``  (len(GRAD_EDGES) + 1)
    histogram of the Sobel gradient magnitude of the 3x3-mean HU, in HU per
    pixel, over the lung field.
``lbp``  (10)
    histogram of uniform local binary patterns (8 neighbours, radius 1,
    scikit-image's ``local_binary_pattern(..., 8, 1, "uniform")``) of the
    *preprocessed* slice over the lung field.

Histograms are fractions of the lung field (all zero when a slice has no lung
field). Distances scale with the slice size (``size / 256``); the window
sizes of the 3x3 mean, the 5x5 deviation and the LBP do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError

#: Feature groups in the order they appear in the vector.
GROUPS = ("image", "masks", "hu", "dense", "air", "std", "grad", "lbp")
#: Groups computed when none are named: all but ``image``. On the lung phantoms
#: the coarse picture mostly encodes anatomy and position, which vary within
#: every class; adding it lowers the weighted F1 of the linear SVM (0.98 ->
#: 0.94 in 5-fold cross-validation), so it is there on request only.
DEFAULT_GROUPS = ("masks", "hu", "dense", "air", "std", "grad", "lbp")
#: Groups computed from the preprocessed slice (the others read the raw HU).
IMAGE_GROUPS = ("image", "lbp")

TISSUE_HU = -400  # body and lung-field threshold
DENSE_HU = -300
AIR_HU = -930
HU_EDGES = (-950, -900, -850, -800, -750, -700, -600, -500, -400, -300, -200, -100, 0, 100)
DENSE_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12)
AIR_STEPS = (1, 2, 3, 4, 6, 8, 10)
STD_EDGES = (5, 10, 15, 20, 30, 45, 70, 100, 150, 250)
GRAD_EDGES = (2, 4, 8, 15, 30, 60, 120, 250)
LBP_POINTS, LBP_RADIUS = 8, 1.0
LUNG_BOX_RADIUS = 16  # at 256 px
LUNG_MIN_FRACTION = 0.005  # of the slice area
STD_RADIUS = 2  # 5x5
DEFAULT_GRID = 8


def _edge_names(prefix: str, edges) -> list[str]:
    names = [f"{prefix}[<{edges[0]}]"]
    names += [f"{prefix}[{a},{b})" for a, b in zip(edges[:-1], edges[1:])]
    names.append(f"{prefix}[>={edges[-1]}]")
    return names


def check_groups(groups) -> tuple[str, ...]:
    """Validate a group selection (None = :data:`DEFAULT_GROUPS`; ``"all"`` = every group) in canonical order."""
    if groups is None:
        return DEFAULT_GROUPS
    if isinstance(groups, str) and groups.strip() == "all":
        return GROUPS
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    try:
        chosen = list(groups)
    except TypeError:
        raise InvalidArgumentError(f"groups: expected a list of group names, got {groups!r}") from None
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown:
        raise InvalidArgumentError(f"groups: unknown group(s) {unknown}; known: {', '.join(GROUPS)}")
    if not chosen:
        raise InvalidArgumentError(f"groups: choose at least one of {', '.join(GROUPS)}")
    return tuple(g for g in GROUPS if g in chosen)


@dataclass(frozen=True)
class FeatureSpec:
    """The resolved feature layout for slices of one shape."""

    height: int
    width: int
    groups: tuple
    grid: int = DEFAULT_GRID

    @property
    def scale(self) -> float:
        """Slice size relative to 256 px (distances scale with it)."""
        return min(self.height, self.width) / 256.0

    @property
    def box_radius(self) -> int:
        return max(2, int(round(LUNG_BOX_RADIUS * self.scale)))

    @property
    def min_area(self) -> int:
        """Smallest low-density component that counts as lung (smaller: trachea, bowel gas)."""
        return max(1, int(round(LUNG_MIN_FRACTION * self.height * self.width)))

    def dense_steps(self) -> np.ndarray:
        return np.array([max(1, int(round(k * self.scale))) for k in DENSE_STEPS], np.int64)

    def air_steps(self) -> np.ndarray:
        return np.array([max(1, int(round(k * self.scale))) for k in AIR_STEPS], np.int64)

    def group_sizes(self) -> dict:
        return {
            "image": self.grid * self.grid,
            "masks": 2,
            "hu": len(HU_EDGES) + 1,
            "dense": len(DENSE_STEPS) + 1,
            "air": len(AIR_STEPS) + 1,
            "std": len(STD_EDGES) + 1,
            "grad": len(GRAD_EDGES) + 1,
            "lbp": LBP_POINTS + 2,
        }

    def offsets(self) -> np.ndarray:
        """Start column of every group in the full (all-groups) kernel row, plus the total."""
        sizes = self.group_sizes()
        starts = np.zeros(len(GROUPS) + 1, np.int64)
        for i, g in enumerate(GROUPS):
            starts[i + 1] = starts[i] + sizes[g]
        return starts

    def columns(self) -> np.ndarray:
        """Indices of the chosen groups' columns in the full kernel row."""
        starts = self.offsets()
        return np.concatenate([np.arange(starts[GROUPS.index(g)], starts[GROUPS.index(g) + 1]) for g in self.groups])

    @property
    def needs_image(self) -> bool:
        """True when a chosen group reads the preprocessed slice."""
        return any(g in IMAGE_GROUPS for g in self.groups)

    def names(self) -> list[str]:
        """One name per feature, in vector order."""
        out = []
        for g in self.groups:
            out += _group_names(g, self)
        return out

    def kernel_params(self) -> dict:
        """Thresholds and sizes in the units the kernels compare in."""
        return {
            "grid": self.grid,
            "tissue9": 9.0 * TISSUE_HU,
            "dense9": 9.0 * DENSE_HU,
            "air9": 9.0 * AIR_HU,
            "hu9": np.array(HU_EDGES, np.float64) * 9.0,
            "min_area": self.min_area,
            "box_radius": self.box_radius,
            "scale": float(self.scale),
            "dense_steps": self.dense_steps(),
            "air_steps": self.air_steps(),
            # 5x5 window: std >= e  <=>  25 * sum(x^2) - sum(x)^2 >= (25 e)^2
            "std_num": (np.array(STD_EDGES, np.float64) * (2 * STD_RADIUS + 1) ** 2) ** 2,
            "std_radius": STD_RADIUS,
            # Sobel of the 3x3 sum: HU per pixel = |g| / (8 * 9)
            "grad_sq": (np.array(GRAD_EDGES, np.float64) * 72.0) ** 2,
            "lbp_rows": lbp_offsets()[0],
            "lbp_cols": lbp_offsets()[1],
            "offsets": self.offsets(),
        }


def lbp_offsets(points: int = LBP_POINTS, radius: float = LBP_RADIUS):
    """Sample offsets of the circular LBP neighbourhood, rounded as scikit-image rounds them."""
    angles = 2 * np.pi * np.arange(points, dtype=np.float64) / points
    return np.round(-radius * np.sin(angles), 5), np.round(radius * np.cos(angles), 5)


def _group_names(group: str, spec: FeatureSpec) -> list[str]:
    if group == "image":
        return [f"image[{r},{c}]" for r in range(spec.grid) for c in range(spec.grid)]
    if group == "masks":
        return ["body_area", "lung_area"]
    if group == "hu":
        return _edge_names("hu", HU_EDGES)
    if group == "dense":
        return [f"dense[r>={k}]" for k in DENSE_STEPS] + ["dense[max]"]
    if group == "air":
        return [f"air[r>={k}]" for k in AIR_STEPS] + ["air[max]"]
    if group == "std":
        return _edge_names("std", STD_EDGES)
    if group == "grad":
        return _edge_names("grad", GRAD_EDGES)
    if group == "lbp":
        return [f"lbp[{k}]" for k in range(LBP_POINTS + 1)] + ["lbp[non-uniform]"]
    raise AssertionError(group)  # pragma: no cover


def resolve_spec(height: int, width: int, groups=None, grid: int = DEFAULT_GRID) -> FeatureSpec:
    """The feature layout for ``(height, width)`` slices and the chosen groups."""
    from .._shared.validation import check_int

    grid = check_int(grid, "grid", low=1, high=64)
    if height < 8 or width < 8:
        raise InvalidArgumentError(f"image: slices must be at least 8x8 for features, got {height}x{width}")
    if grid > min(height, width):
        raise InvalidArgumentError(f"grid: {grid} is larger than the slice ({height}x{width})")
    return FeatureSpec(int(height), int(width), check_groups(groups), grid)
