"""Readers and writers. For now: a dependency-free PNG writer and NPY output.

DICOM input goes through pydicom (see :func:`fastct.datasets.ct_sample`).
"""

from .png import write_png

__all__ = ["write_png"]
