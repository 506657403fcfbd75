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
    "FileFormatError",
    "NoPixelDataError",
    "SkippedInputError",
    "MissingDependencyError",
    "OutputExistsError",
    "BurnedInAnnotationError",
    "LinkageTableError",
    "WriteError",
    "ManifestMismatchError",
    "OutputLockedError",
    "OutsideOutputError",
    "NotDicomError",
    "UntrustedModelError",
    "ProfileTableError",
    "NotAnImageError",
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


class FileFormatError(FastCTError, ValueError):
    """A file is not an image fastct can read: empty, unrecognised, corrupt or
    truncated. The message names the file and what was wrong."""


class SkippedInputError(FastCTError):
    """A valid input that fastct deliberately leaves out: batch runs report it
    as *skipped* with this message as the reason, not as failed."""


class NoPixelDataError(FileFormatError, SkippedInputError):
    """A valid file without an image in it (a DICOM RT plan, structured report...)."""


#: The distribution name on the package index (the import name is ``fastct``).
DISTRIBUTION = "fastct-engine"


def install_hint(extra: str) -> str:
    """How to install one of fastct's extras, from the package index and from a checkout.

    Examples
    --------
    >>> install_hint("io")
    "pip install 'fastct-engine[io]' (from a checkout: pip install -e '.[io]')"
    """
    return f"pip install '{DISTRIBUTION}[{extra}]' (from a checkout: pip install -e '.[{extra}]')"


class MissingDependencyError(FastCTError, ImportError):
    """An optional package is needed for this file or format and is not installed.

    ``package`` is the package to install and ``extra`` the fastct extra that
    pulls it in (:func:`install_hint`).
    """

    def __init__(self, message: str, package: str | None = None, extra: str | None = None):
        super().__init__(message)
        self.package = package
        self.extra = extra


class OutputExistsError(FastCTError, FileExistsError):
    """An output file exists already and overwriting was not asked for, or the
    output would replace an input."""


class BurnedInAnnotationError(SkippedInputError, ValueError):
    """An image that may show identifying text in its pixels was not de-identified.

    Raised for BurnedInAnnotation YES, and for kinds of image that usually
    carry burned-in text (ultrasound, secondary and screen captures, "other")
    without an explicit BurnedInAnnotation NO, unless the caller allows them.
    ``reason`` says which rule applied.
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class LinkageTableError(FastCTError, ValueError):
    """A linkage table could not be read: wrong passphrase, or not a linkage file."""


class WriteError(FastCTError, OSError):
    """Writing an output failed; the message names the output file and the cause."""


class ManifestMismatchError(FastCTError, ValueError):
    """``--resume`` into a folder written with other steps, format or options."""


class OutputLockedError(FastCTError, RuntimeError):
    """Another run holds the output folder's lock."""


class OutsideOutputError(FastCTError, ValueError):
    """An output would land outside the output folder (``..``, an absolute path, a link)."""


class NotDicomError(SkippedInputError, ValueError):
    """An input of ``fastct deidentify`` that is not DICOM (it is left out, not copied)."""


class UntrustedModelError(InvalidArgumentError):
    """A model file is a pickle (joblib) file, which runs code when loaded, and trust was not given."""


class ProfileTableError(FastCTError, ValueError):
    """A de-identification data file shipped with fastct is malformed.

    Raised when ``ps3_15_e1_1.csv`` or ``ps3_15_e3_10_1.csv`` holds a row
    with an unknown action code, an unreadable tag or a repeated tag: the
    profile is then not applied at all rather than applied in part.
    """


class NotAnImageError(NoPixelDataError):
    """A file that holds no image fastct processes, decided by its content.

    Text, unknown binary content, the data half of a header/image pair, and
    DICOM objects that are not images to filter (segmentations, RT dose and
    structure sets, structured reports, presentation states, key object
    selections ...). It is a :class:`~fastct.errors.NoPixelDataError`, so a
    batch run reports such files as *skipped*, whatever their names, while
    damaged images (a PNG signature with a broken body, a truncated DICOM
    file) stay :class:`~fastct.errors.FileFormatError` failures.
    """
