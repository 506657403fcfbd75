"""GPU twin of ``fastct.cpu.histogram`` (kernels pending; see :mod:`fastct.gpu`)."""

from ._pending import pending

equalize_hist = pending("histogram", "equalize_hist")
clahe = pending("histogram", "clahe")
