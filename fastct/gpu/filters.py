"""GPU twin of ``fastct.cpu.filters`` (kernels pending; see :mod:`fastct.gpu`)."""

from ._pending import pending

gaussian_blur = pending("filters", "gaussian_blur")
unsharp_mask = pending("filters", "unsharp_mask")
sharpen = pending("filters", "sharpen")
