"""Backend-neutral NumPy code shared by the CPU and GPU backends.

Validation, the dtype policy, border index maps, Gaussian taps, footprints,
frequency responses and histogram rules are built here once and handed to the
backend kernels as plain arrays and numbers. Nothing here imports cupy, and
nothing imports numba at import time; the one exception at run time is the
finite-value check of :func:`.validation.as_batch`, which uses the CPU
backend's multithreaded kernel when numba is usable (NumPy otherwise).
"""
