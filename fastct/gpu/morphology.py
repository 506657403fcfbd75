"""GPU twin of ``fastct.cpu.morphology`` (kernels pending; see :mod:`fastct.gpu`)."""

from ._pending import pending

erode = pending("morphology", "erode")
dilate = pending("morphology", "dilate")
opening = pending("morphology", "opening")
closing = pending("morphology", "closing")
