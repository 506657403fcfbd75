"""GPU twin of ``fastct.cpu.intensity`` (kernels pending; see :mod:`fastct.gpu`)."""

from ._pending import pending

window = pending("intensity", "window")
to_gray = pending("intensity", "to_gray")
