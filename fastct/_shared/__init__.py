"""Backend-neutral NumPy code shared by the CPU and GPU backends.

Validation, the dtype policy, border index maps, Gaussian taps, footprints,
frequency responses and histogram rules are built here once and handed to the
backend kernels as plain arrays and numbers. Nothing here imports numba or cupy.
"""
