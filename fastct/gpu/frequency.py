"""GPU twin of ``fastct.cpu.frequency`` (kernels pending; see :mod:`fastct.gpu`)."""

from ._pending import pending

lowpass = pending("frequency", "lowpass")
highpass = pending("frequency", "highpass")
