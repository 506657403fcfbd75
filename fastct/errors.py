"""Exceptions raised by fastct.

Every error fastct raises on purpose derives from :class:`FastCTError`, and
also from the built-in class a caller would naturally catch (``ValueError``
for bad values, ``TypeError`` for bad types), so both ``except FastCTError``
and ``except ValueError`` work.
"""

from __future__ import annotations

__all__ = [
    "FastCTError",
    "InvalidArgumentError",
    "InvalidDTypeError",
    "NonFiniteError",
    "StepError",
    "BackendUnavailable",
    "NotImplementedOnBackend",
]


class FastCTError(Exception):
    """Base class of all errors raised deliberately by fastct."""


class InvalidArgumentError(FastCTError, ValueError):
    """An argument has a bad value (shape, range, parity, unknown name...)."""


class InvalidDTypeError(FastCTError, TypeError):
    """An array has a dtype fastct does not accept (bool, complex, object...)."""


class NonFiniteError(InvalidArgumentError):
    """A floating-point input holds NaN or infinity."""


class StepError(InvalidArgumentError):
    """A pipeline step (string token or ``(name, params)`` pair) is invalid."""


class BackendUnavailable(FastCTError, RuntimeError):
    """The requested compute backend cannot run here.

    The original exception (for instance the ``ImportError`` of CuPy) is kept
    as ``__cause__`` and as the ``cause`` attribute.
    """

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class NotImplementedOnBackend(FastCTError, NotImplementedError):
    """An operation exists in fastct but not (yet) on the chosen backend."""
