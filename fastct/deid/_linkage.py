"""The optional linkage table: original value <-> pseudonym, kept encrypted.

It is written only when asked, to a path of its own, encrypted with a key
derived from a passphrase (scrypt, then Fernet: AES-128-CBC with an
HMAC-SHA256 tag, from the ``cryptography`` package, the ``deid`` extra).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from pathlib import Path

from ..errors import LinkageTableError, MissingDependencyError, install_hint

__all__ = ["LinkageTable"]

_MAGIC = b"FASTCT-LINKAGE 1\n"
# scrypt cost: about 0.1 s and 32 MiB per derivation, enough to slow down guessing.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def _crypto():
    try:
        from cryptography.fernet import Fernet, InvalidToken
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError as exc:
        raise MissingDependencyError(
            "an encrypted linkage table needs the optional package 'cryptography': "
            + install_hint("deid") + " (or pip install cryptography)",
            package="cryptography",
            extra="deid",
        ) from exc
    return Fernet, InvalidToken, Scrypt


def _fernet_key(passphrase, salt: bytes, params: dict):
    Fernet, _, Scrypt = _crypto()
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    if not passphrase:
        raise LinkageTableError("a linkage table needs a non-empty passphrase")
    kdf = Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"])
    return Fernet(base64.urlsafe_b64encode(kdf.derive(bytes(passphrase))))


class LinkageTable:
    """Pairs of original values and their pseudonyms, by kind (``uid``, ``PatientID`` ...).

    Give one to :class:`~fastct.deid.Policy` (``linkage=``) to record every
    pseudonym made; :meth:`save` writes it encrypted, :meth:`load` reads it
    back. Safe to share between threads.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> table = LinkageTable()
    >>> table.record("PatientID", "12345", "IDQ2W3E4R5T6Y7U")
    >>> path = table.save(pathlib.Path(tempfile.mkdtemp()) / "link.bin", "a long passphrase")
    >>> b"12345" in path.read_bytes()
    False
    >>> LinkageTable.load(path, "a long passphrase").pseudonym("PatientID", "12345")
    'IDQ2W3E4R5T6Y7U'
    >>> try:
    ...     LinkageTable.load(path, "wrong")
    ... except LinkageTableError as exc:
    ...     print(str(exc).endswith("wrong passphrase, or not a fastct linkage table"))
    True
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pairs: dict[str, dict[str, str]] = {}

    def record(self, kind: str, original: str, pseudonym: str) -> None:
        """Note that ``original`` (of ``kind``) became ``pseudonym``."""
        with self._lock:
            self._pairs.setdefault(str(kind), {})[str(original)] = str(pseudonym)

    def pseudonym(self, kind: str, original: str) -> str | None:
        """The pseudonym recorded for ``original``, or None."""
        with self._lock:
            return self._pairs.get(kind, {}).get(str(original))

    def original(self, kind: str, pseudonym: str) -> str | None:
        """The original value behind ``pseudonym``, or None (re-identification)."""
        with self._lock:
            for orig, pseudo in self._pairs.get(kind, {}).items():
                if pseudo == pseudonym:
                    return orig
        return None

    def as_dict(self) -> dict:
        """A copy of every pair: ``{kind: {original: pseudonym}}``."""
        with self._lock:
            return {k: dict(v) for k, v in self._pairs.items()}

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._pairs.values())

    def save(self, path, passphrase, *, overwrite: bool = False) -> Path:
        """Write the table to ``path``, encrypted with ``passphrase``, atomically; the file is mode 0600."""
        from ..io._files import atomic_path

        salt = secrets.token_bytes(16)
        fernet = _fernet_key(passphrase, salt, _SCRYPT)
        body = json.dumps({"version": 1, "pairs": self.as_dict()}, sort_keys=True).encode("utf-8")
        header = json.dumps({"kdf": "scrypt", **_SCRYPT, "salt": base64.b64encode(salt).decode()}).encode()
        data = _MAGIC + header + b"\n" + fernet.encrypt(body)
        path = Path(path)
        with atomic_path(path, overwrite=overwrite) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        return path

    @classmethod
    def load(cls, path, passphrase) -> "LinkageTable":
        """Read a table written by :meth:`save`."""
        _, InvalidToken, _ = _crypto()
        path = Path(path)
        data = path.read_bytes()
        bad = LinkageTableError(f"{path}: wrong passphrase, or not a fastct linkage table")
        if not data.startswith(_MAGIC):
            raise bad
        try:
            header, token = data[len(_MAGIC):].split(b"\n", 1)
            params = json.loads(header)
            fernet = _fernet_key(passphrase, base64.b64decode(params["salt"]), params)
            body = json.loads(fernet.decrypt(token))
        except (ValueError, KeyError, InvalidToken):
            raise bad from None
        table = cls()
        for kind, pairs in body["pairs"].items():
            for orig, pseudo in pairs.items():
                table.record(kind, orig, pseudo)
        return table
