"""De-identification of DICOM datasets: the PS3.15 E.1-1 profile with keyed pseudonyms."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as _dt
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import BurnedInAnnotationError, FileFormatError, InvalidArgumentError, OutputExistsError
from . import _keep
from ._table import OPTIONS, lookup, resolve, safe_private_vrs

__all__ = [
    "ENV_KEY",
    "Policy",
    "load_key",
    "deidentify",
    "deidentify_file",
    "clean_meta",
    "pseudonymous_name",
    "pseudonymous_uid",
    "check_burned_in",
]

#: Environment variable holding the pseudonymisation key (text, at least 16 bytes).
ENV_KEY = "FASTCT_DEID_KEY"
_MIN_KEY_BYTES = 16

# Option spellings accepted besides the canonical names (CLI "--retain uids,device-identity").
_ALIASES = {
    "private": "safe_private",
    "retain_safe_private": "safe_private",
    "retain_uids": "uids",
    "device": "device_identity",
    "retain_device_identity": "device_identity",
    "institution": "institution_identity",
    "retain_institution_identity": "institution_identity",
    "patient": "patient_characteristics",
    "retain_patient_characteristics": "patient_characteristics",
    "full_dates": "long_full_dates",
    "retain_long_full_dates": "long_full_dates",
    "dates": "long_modified_dates",
    "modified_dates": "long_modified_dates",
    "retain_long_modified_dates": "long_modified_dates",
    "descriptors": "clean_descriptors",
    "structured_content": "clean_structured_content",
}

# CID 7050 (De-identification Method), scheme DCM: the profile and each option.
_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "long_full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "long_modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "device_identity": ("113109", "Retain Device Identity Option"),
    "uids": ("113110", "Retain UIDs Option"),
    "safe_private": ("113111", "Retain Safe Private Option"),
    "institution_identity": ("113112", "Retain Institution Identity Option"),
}

# Kinds of image that usually show identifying text in their pixels.
_BURNED_IN_MODALITIES = frozenset({"US", "IVUS", "SC", "OT", "XC", "ES", "GM", "DOC"})
_BURNED_IN_SOP_ROOTS = (
    "1.2.840.10008.5.1.4.1.1.7",  # secondary capture (single and multi-frame)
    "1.2.840.10008.5.1.4.1.1.6",  # ultrasound image
    "1.2.840.10008.5.1.4.1.1.3",  # ultrasound multi-frame image (incl. retired)
    "1.2.840.10008.5.1.4.1.1.77.1",  # visible light (endoscopy, photography, screen captures)
    "1.2.840.10008.5.1.4.1.1.104",  # encapsulated documents
)

# Attributes whose value becomes a keyed pseudonym instead of an empty value,
# so that one patient stays one patient and one study one study.
_PSEUDONYMS = {"PatientName": "PN", "PatientID": "ID", "StudyID": "ST"}

_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})
_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})
_MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "ST": 64, "LT": 64, "UT": 64, "UC": 64}


# ---------------------------------------------------------------------------
# keys and the policy


def load_key(key_file=None) -> tuple[bytes, str]:
    """The pseudonymisation key and where it came from.

    Order: ``key_file`` when given (its bytes, surrounding whitespace
    stripped), else the ``FASTCT_DEID_KEY`` environment variable, else 32
    random bytes (a new key every run: nothing links two runs).

    Returns
    -------
    key : bytes
    source : str
        ``"file"``, ``"env"`` or ``"random"``.

    Raises
    ------
    InvalidArgumentError
        The key is shorter than 16 bytes, or the key file cannot be read.

    Examples
    --------
    >>> import os, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "key"
    >>> _ = path.write_text("correct horse battery staple\\n")
    >>> key, source = load_key(path)
    >>> key, source
    (b'correct horse battery staple', 'file')
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise InvalidArgumentError(f"{key_file}: cannot read the key file ({exc.strerror or exc})") from None
        source = "file"
    elif os.environ.get(ENV_KEY):
        key, source = os.environ[ENV_KEY].encode("utf-8"), "env"
    else:
        return secrets.token_bytes(32), "random"
    if len(key) < _MIN_KEY_BYTES:
        raise InvalidArgumentError(f"the de-identification key ({source}) must be at least {_MIN_KEY_BYTES} bytes")
    return key, source


def _option_name(name: str) -> str:
    canon = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    canon = _ALIASES.get(canon, canon)
    if canon in ("clean_graphics", "clean_pixel_data", "clean_recognizable_visual_features"):
        raise InvalidArgumentError(
            f"option {name!r} is not supported: fastct does not alter pixels, overlays or graphics; "
            "overlays and graphic annotations are removed, and images with burned-in text are refused"
        )
    if canon not in OPTIONS:
        raise InvalidArgumentError(f"unknown de-identification option {name!r}; expected one of {sorted(OPTIONS)}")
    return canon


@dataclass
class Policy:
    """What :func:`deidentify` does: the key, the profile options and the refusals.

    Parameters
    ----------
    key : bytes or str, optional
        Secret key of the keyed pseudonyms (HMAC-SHA256): the same key gives
        the same pseudonymous UIDs, names, IDs and date shifts on every run
        and machine; another key gives unrelated ones. At least 16 bytes.
        When omitted: ``FASTCT_DEID_KEY`` if set, else a random key (nothing
        links two runs). See :func:`load_key` and :meth:`from_key_file`.
    options : iterable of str
        PS3.15 E.1-1 options: ``"safe_private"``, ``"uids"``,
        ``"device_identity"``, ``"institution_identity"``,
        ``"patient_characteristics"``, ``"long_full_dates"``,
        ``"long_modified_dates"`` (dates shifted by a keyed per-patient
        offset), ``"clean_descriptors"``, ``"clean_structured_content"``.
        ``-`` for ``_`` and a ``retain_`` prefix are accepted.
    allow_burned_in : bool
        De-identify images that may show identifying text in their pixels
        (see :func:`check_burned_in`) instead of refusing them. Their pixels
        are not changed.
    rename : bool
        Ask callers that write files to name them with
        :func:`pseudonymous_name` (used by :func:`clean_meta` too).
    linkage : LinkageTable, optional
        Where to record original <-> pseudonym pairs; nothing is recorded
        when None.

    Attributes
    ----------
    key_source : str
        ``"given"``, ``"file"``, ``"env"`` or ``"random"``.

    Examples
    --------
    >>> policy = Policy(key=b"0123456789abcdef", options=["retain-uids"])
    >>> sorted(policy.options), policy.key_source
    (['uids'], 'given')
    >>> Policy(key=b"short")
    Traceback (most recent call last):
    ...
    fastct.errors.InvalidArgumentError: the de-identification key must be at least 16 bytes
    """

    key: bytes | str | None = field(default=None, repr=False)
    options: frozenset = frozenset()
    allow_burned_in: bool = False
    rename: bool = False
    linkage: object | None = field(default=None, repr=False)
    key_source: str = field(default="given", init=False)

    def __post_init__(self):
        if self.key is None:
            self.key, self.key_source = load_key()
        else:
            if isinstance(self.key, str):
                self.key = self.key.encode("utf-8")
            self.key = bytes(self.key)
            if len(self.key) < _MIN_KEY_BYTES:
                raise InvalidArgumentError(f"the de-identification key must be at least {_MIN_KEY_BYTES} bytes")
        if isinstance(self.options, str):
            self.options = [o for o in self.options.split(",") if o.strip()]
        self.options = frozenset(_option_name(o) for o in self.options)
        if {"long_full_dates", "long_modified_dates"} <= self.options:
            raise InvalidArgumentError("options long_full_dates and long_modified_dates exclude each other")

    @classmethod
    def from_key_file(cls, key_file=None, **kwargs) -> "Policy":
        """A policy whose key comes from ``key_file``, ``FASTCT_DEID_KEY`` or chance (:func:`load_key`).

        Examples
        --------
        >>> Policy.from_key_file(None, options=["uids"]).key_source in ("env", "random")
        True
        """
        key, source = load_key(key_file)
        policy = cls(key=key, **kwargs)
        policy.key_source = source
        return policy

    def settings(self) -> dict:
        """What decides the de-identified outputs, as a run's manifest records it.

        The key appears only as a keyed fingerprint, which reveals nothing
        about it: ``--resume`` with another key (a random one included) is
        refused, so one output folder never mixes two mappings.

        Examples
        --------
        >>> s = Policy(key=b"0123456789abcdef", options=["uids"]).settings()
        >>> s["options"], len(s["key"]), s == Policy(key=b"0123456789abcdef", options=["uids"]).settings()
        (['uids'], 16, True)
        """
        return {"options": sorted(self.options), "allow_burned_in": bool(self.allow_burned_in),
                "rename": bool(self.rename), "key": self._token("key-fingerprint", "fastct")}

    def apply_to_meta(self, meta):
        """:func:`clean_meta` with this policy (what ``fastct process --deidentify`` calls before writing)."""
        return clean_meta(meta, self)

    def output_name(self, meta, source, suffix: str) -> PurePosixPath:
        """The pseudonymous relative path of an output (``--rename``), ending in ``suffix``.

        DICOM sources are named by study, series and instance
        (:func:`pseudonymous_name` of the first source header); other files
        by a keyed token of their path, so reruns with the same key agree.

        Examples
        --------
        >>> from fastct.io.meta import ImageMeta
        >>> p = Policy(key=b"0123456789abcdef")
        >>> name = p.output_name(ImageMeta(None, "npy", (1, 2, 2), "int16"), "jane_doe.npy", ".npy")
        >>> name.suffix, "jane" in str(name)
        ('.npy', False)
        """
        from pydicom.dataset import Dataset

        headers = [h for h in getattr(meta, "headers", []) or [] if isinstance(h, Dataset)]
        if headers:
            name = pseudonymous_name(headers[0], self)  # study-<hex>/series-<hex>/<number>-<hex>.dcm
            if len(headers) > 1:  # one output for a whole series: study-<hex>/series-<hex><suffix>
                return name.parent.with_name(name.parent.name + suffix)
            return name.with_suffix(suffix)
        return PurePosixPath(f"file-{self._token('file-name', str(source), 16).lower()}{suffix}")

    # keyed primitives -----------------------------------------------------

    def _mac(self, domain: str, text: str) -> bytes:
        message = domain.encode() + b"\x00" + text.encode("utf-8", "surrogateescape")
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def _token(self, domain: str, text: str, n: int = 16) -> str:
        return base64.b32encode(self._mac(domain, text)).decode("ascii").rstrip("=")[:n]

    def _record(self, kind: str, original: str, pseudonym: str) -> None:
        if self.linkage is not None:
            self.linkage.record(kind, original, pseudonym)


def pseudonymous_uid(uid: str, policy: Policy) -> str:
    """The keyed pseudonym of a UID: ``2.25.<integer>``.

    The integer is the first 128 bits of HMAC-SHA256(key, uid), the form of
    a UUID-derived UID (PS3.5 B.2), so it is at most 44 characters.

    Examples
    --------
    >>> p = Policy(key=b"0123456789abcdef")
    >>> u = pseudonymous_uid("1.2.3.4", p)
    >>> u.startswith("2.25."), u == pseudonymous_uid("1.2.3.4", p), len(u) <= 64
    (True, True, True)
    """
    uid = str(uid).strip().rstrip("\x00")
    if not uid:
        return uid
    new = "2.25." + str(int.from_bytes(policy._mac("uid", uid)[:16], "big"))
    policy._record("uid", uid, new)
    return new


# ---------------------------------------------------------------------------
# burned-in annotation


def _uid_under(uid: str, root: str) -> bool:
    parts, base = str(uid).split("."), root.split(".")
    return parts[: len(base)] == base


def check_burned_in(dataset) -> str | None:
    """Why ``dataset`` may show identifying text in its pixels, or None.

    BurnedInAnnotation YES, or an ultrasound, secondary/screen capture,
    visible-light, document or "other" image without an explicit
    BurnedInAnnotation NO.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset(); ds.Modality = "US"
    >>> check_burned_in(ds)
    'Modality US usually carries burned-in text and BurnedInAnnotation is not NO'
    >>> ds.BurnedInAnnotation = "NO"; check_burned_in(ds) is None
    True
    """
    flag = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "BurnedInAnnotation is YES"
    if flag == "NO":
        return None
    modality = str(dataset.get("Modality", "") or "").strip().upper()
    if modality in _BURNED_IN_MODALITIES:
        return f"Modality {modality} usually carries burned-in text and BurnedInAnnotation is not NO"
    sop = str(dataset.get("SOPClassUID", "") or "")
    if any(_uid_under(sop, root) for root in _BURNED_IN_SOP_ROOTS):
        return f"SOP class {sop} usually carries burned-in text and BurnedInAnnotation is not NO"
    return None


# ---------------------------------------------------------------------------
# the walk over a dataset


class _Context:
    """Per-dataset state: the policy, the patient's date offset, the values to scrub."""

    def __init__(self, policy: Policy, dataset):
        self.policy = policy
        self.options = policy.options
        patient = str(dataset.get("PatientID", "") or "") + "\x00" + str(dataset.get("PatientName", "") or "")
        days = int.from_bytes(policy._mac("date-offset", patient)[:4], "big") % 3652
        # Between 1 and 3652 days earlier, in whole days, so that every interval is kept.
        self.offset = _dt.timedelta(days=-(1 + days))
        self.patient = patient
        self.scrub = _identifying_strings(dataset)
        self.scrub_re = None
        self._offset_recorded = False

    def shift_date(self, text: str) -> str | None:
        if not self._offset_recorded:
            self.policy._record("date_offset_days", self.patient, str(self.offset.days))
            self._offset_recorded = True
        try:
            return (_dt.datetime.strptime(text[:8], "%Y%m%d") + self.offset).strftime("%Y%m%d")
        except ValueError:
            return None


def _identifying_strings(dataset) -> list[str]:
    """Values of the dataset's identifying attributes, to be scrubbed from kept free text."""
    found = set()

    def walk(ds):
        for elem in ds:
            if elem.VR == "SQ":
                for item in elem.value or ():
                    walk(item)
                continue
            if elem.tag.is_private or elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
                continue
            row = lookup(elem.tag)
            # Identifiers (names, IDs, UIDs, dates, addresses) only: descriptors, the attributes
            # an option keeps after cleaning, are what gets scrubbed, not what is scrubbed out.
            if row is None or row.basic == "K" or elem.VR in _NUMBER_VRS:
                continue
            if any(row.options.get(o) == "C" for o in _DESCRIPTOR_OPTIONS):
                continue
            values = elem.value if _multi(elem.value) else [elem.value]
            for v in values:
                text = str(v or "").strip()
                pieces = [text] + re.split(r"[\^=\s,]+", text) if elem.VR == "PN" else [text]
                found.update(p for p in pieces if len(p) >= 3)

    walk(dataset)
    return sorted(found, key=len, reverse=True)


_DESCRIPTOR_OPTIONS = ("clean_descriptors", "clean_structured_content", "patient_characteristics")


def _multi(value) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _scrub(text: str, ctx: _Context) -> str:
    if ctx.scrub_re is None:
        # One alternation, longest first, so a full name goes before its parts.
        ctx.scrub_re = re.compile("|".join(re.escape(v) for v in ctx.scrub), re.IGNORECASE)
    previous = None
    while previous != text:  # removing one value may join the pieces of another
        previous, text = text, ctx.scrub_re.sub("", text)
    return text


def _dummy(elem, ctx: _Context):
    """A dummy value consistent with the VR, derived from the original by the key (never equal to it)."""
    vr = elem.VR
    if vr in ("DA",):
        return "19000101"
    if vr == "DT":
        return "19000101000000"
    if vr == "TM":
        return "000000"
    if vr in ("DS", "IS"):
        return "0"
    if vr == "AS":
        return "000Y"
    if vr in _NUMBER_VRS:
        return 0
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "UR"):
        return b"" if vr != "UR" else ""
    values = elem.value if _multi(elem.value) else [elem.value]
    out = []
    for v in values:
        if vr == "PN":
            out.append("ANON^" + ctx.policy._token("name", str(v), 12))
        else:
            out.append(ctx.policy._token(f"value-{elem.keyword}", str(v), min(16, _MAX_LEN.get(vr, 16))))
    return out if len(out) != 1 else out[0]


def _pseudonym(elem, ctx: _Context):
    kind = _PSEUDONYMS[elem.keyword]
    original = str(elem.value or "")
    if not original:
        return original
    if kind == "PN":
        new = "ANON^" + ctx.policy._token("patient-name", original, 12)
    else:
        new = kind + ctx.policy._token(f"id-{kind}", original, 14)
    ctx.policy._record(elem.keyword, original, new)
    return new


def _map_uids(elem, ctx: _Context) -> None:
    values = elem.value if _multi(elem.value) else [elem.value]
    mapped = [pseudonymous_uid(v, ctx.policy) for v in values if v is not None]
    elem.value = mapped if len(mapped) != 1 else mapped[0]


def _standard_uid(uid) -> bool:
    from pydicom.uid import UID_dictionary

    return str(uid) in UID_dictionary


def _class_uid(keyword: str) -> bool:
    """UIDs of kinds of things (SOP classes, transfer syntaxes, coding schemes), never of an instance.

    A private SOP class or coding scheme names a vendor's product, not a
    patient or a study, and replacing it would make the object unreadable.
    """
    return keyword.endswith("ClassUID") or keyword in ("TransferSyntaxUID", "CodingSchemeUID")


def _clean_sequence(elem, ctx: _Context) -> None:
    for item in elem.value or ():
        _clean_dataset(item, ctx)


def _clean_text(elem, ctx: _Context) -> None:
    values = elem.value if _multi(elem.value) else [elem.value]
    cleaned = [_scrub(str(v or ""), ctx) for v in values]
    elem.value = cleaned if len(cleaned) != 1 else cleaned[0]


def _shift_dates(ds, elem, ctx: _Context) -> None:
    """Modified dates: DA and the date part of DT shift by the patient's offset; TM is kept."""
    if elem.VR == "TM" or not elem.value:
        return
    if elem.VR not in ("DA", "DT"):
        return
    values = elem.value if _multi(elem.value) else [elem.value]
    out = []
    for v in values:
        text = str(v).strip()
        if elem.VR == "DA" and "-" in text:
            parts = [ctx.shift_date(p) if p else "" for p in text.split("-")]
            new = None if None in parts else "-".join(parts)
        elif len(text) >= 8:
            head = ctx.shift_date(text)
            new = None if head is None else head + text[8:]
        else:
            new = None  # partial dates (YYYY, YYYYMM) cannot carry a whole-day shift
        if new is None:
            del ds[elem.tag]
            return
        out.append(new)
    elem.value = out if len(out) != 1 else out[0]


def _apply(ds, elem, action: str, ctx: _Context) -> None:
    if action == "X":
        del ds[elem.tag]
    elif action == "K":
        if elem.VR == "SQ":
            _clean_sequence(elem, ctx)
    elif action == "Z":
        if elem.keyword in _PSEUDONYMS:
            elem.value = _pseudonym(elem, ctx)
        elif elem.VR == "SQ":
            elem.value = []
        else:
            elem.value = None
    elif action == "D":
        if elem.VR == "SQ":
            _clean_sequence(elem, ctx)
        elif elem.keyword in _PSEUDONYMS:
            elem.value = _pseudonym(elem, ctx)
        elif elem.VR == "UI":
            _map_uids(elem, ctx)
        elif elem.VR in ("DA", "DT") and "long_modified_dates" in ctx.options:
            _shift_dates(ds, elem, ctx)
        elif elem.VR in ("DA", "DT", "TM") and "long_full_dates" in ctx.options:
            pass
        else:
            elem.value = _dummy(elem, ctx)
    elif action in ("U", "U*"):
        if elem.VR == "SQ":
            _clean_sequence(elem, ctx)
        elif elem.VR == "UI":
            _map_uids(elem, ctx)
        else:
            del ds[elem.tag]
    elif action == "C":
        if elem.VR == "SQ":
            _clean_sequence(elem, ctx)
        elif elem.VR in ("DA", "DT", "TM"):
            _shift_dates(ds, elem, ctx)
        elif elem.VR in _TEXT_VRS:
            _clean_text(elem, ctx)
    else:  # an action this code does not know: never keep what it cannot vouch for
        del ds[elem.tag]


def _clean_private(ds, ctx: _Context) -> None:
    """Remove private attributes; under Retain Safe Private keep those of Table E.3.10-1.

    A private element is kept only when its block's private creator, its
    group, its offset in the block and its VR all match a row of the table:
    the same element number under another creator means something else, and
    an element whose VR differs from the table's (``UN`` in an implicit-VR file
    whose creator pydicom does not know) cannot be vouched for. A kept element
    is cleaned (action ``C`` of the private-attributes row): text is scrubbed
    of the object's identifying values, UIDs are replaced like instance UIDs
    unless defined by the standard, and the items of a sequence are cleaned by
    the same rules as the data set. The creator element of a block stays when
    the block keeps an element.
    """
    private = [e for e in ds if e.tag.is_private]
    if not private:
        return
    keep_blocks = set()
    if "safe_private" in ctx.options:
        for elem in private:
            group, element = elem.tag.group, elem.tag.element
            if element < 0x1000:
                continue
            creator_elem = ds.get((group << 16) | (element >> 8))
            creator = str(creator_elem.value).strip() if creator_elem is not None else ""
            if creator and elem.VR in safe_private_vrs(creator, group, element):
                keep_blocks.add((group, element >> 8))
                _clean_safe_private(elem, ctx)
                continue
            del ds[elem.tag]
    for elem in private:
        if elem.tag not in ds:
            continue
        group, element = elem.tag.group, elem.tag.element
        if 0x10 <= element <= 0xFF and (group, element) in keep_blocks:
            continue  # the creator of a block with a kept element
        if element >= 0x1000 and (group, element >> 8) in keep_blocks:
            continue
        del ds[elem.tag]


def _clean_safe_private(elem, ctx: _Context) -> None:
    if elem.VR == "SQ":
        _clean_sequence(elem, ctx)
    elif elem.VR == "UI":
        values = elem.value if _multi(elem.value) else [elem.value]
        if not all(_standard_uid(v) for v in values if v):
            _map_uids(elem, ctx)
    elif (elem.VR in _TEXT_VRS or elem.VR == "CS") and ctx.scrub and elem.value:
        _clean_text(elem, ctx)


def _emptied_text(elem) -> bool:
    if elem.VR not in _TEXT_VRS:
        return False
    values = elem.value if _multi(elem.value) else [elem.value]
    return not any(str(v or "").strip() for v in values)


# Sequences that image IODs make Type 2 (present, possibly empty); other
# sequences that the table lets be removed or emptied are removed.
_TYPE2_SEQUENCES = frozenset({"AcquisitionContextSequence"})


def _empty_sequence_ok(elem) -> bool:
    return elem.keyword in _TYPE2_SEQUENCES


def _clean_dataset(ds, ctx: _Context) -> None:
    _clean_private(ds, ctx)
    for elem in list(ds):
        tag = elem.tag
        if tag.is_private:
            continue
        if tag.element == 0:  # group lengths would be stale
            del ds[tag]
            continue
        row = lookup(tag)
        if row is not None:
            action = resolve(row, ctx.options)
            if action == "Z" and elem.VR == "SQ" and "X" in row.basic and not _empty_sequence_ok(elem):
                action = "X"  # an empty sequence is an error where the sequence is optional
            _apply(ds, elem, action, ctx)
            if action == "C" and "D" in row.basic.split("/") and tag in ds and _emptied_text(ds[tag]):
                # The basic action's D marks a Type 1 attribute: cleaning must not leave it empty.
                ds[tag].value = _dummy(ds[tag], ctx)
            continue
        keyword = elem.keyword
        if keyword in _keep.STRUCTURED_TEXT and "clean_structured_content" in ctx.options:
            _clean_text(elem, ctx)
        elif keyword in _keep.KEEP or (keyword and elem.VR in _keep.SAFE_VRS):
            if elem.VR == "SQ":
                _clean_sequence(elem, ctx)
            elif elem.VR == "UI":
                values = elem.value if _multi(elem.value) else [elem.value]
                if not _class_uid(keyword) and not all(_standard_uid(v) for v in values if v):
                    _map_uids(elem, ctx)
            elif elem.VR in _TEXT_VRS or elem.VR == "CS":
                if ctx.scrub:
                    _clean_text(elem, ctx)  # defence in depth: no identifying value survives in kept text
        else:
            del ds[tag]  # status unknown: removed


def _method_attributes(ds, policy: Policy, burned_in_allowed: bool) -> None:
    from pydicom.dataset import Dataset

    ds.PatientIdentityRemoved = "YES"
    applied = ["basic"] + sorted((o for o in policy.options if o in _CODES), key=lambda o: _CODES[o][0])
    # LO values: at most 64 characters each.
    ds.DeidentificationMethod = ["fastct PS3.15 E.1-1 " + _CODES["basic"][1]] + [_CODES[a][1][:64] for a in applied[1:]]
    items = []
    for a in applied:
        item = Dataset()
        item.CodeValue, item.CodeMeaning = _CODES[a]
        item.CodingSchemeDesignator = "DCM"
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    if "long_full_dates" in policy.options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif "long_modified_dates" in policy.options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


def deidentify(dataset, policy: Policy):
    """A de-identified copy of a pydicom ``Dataset`` (PS3.15 E.1-1 with keyed pseudonyms).

    Every attribute of Table E.1-1 gets its action (under the policy's
    options), at every depth of every sequence; private attributes are
    removed (the Retain Safe Private Option keeps, cleaned, those that
    PS3.15 Table E.3.10-1 lists for their private creator);
    attributes the table does not list are removed unless they are on the
    documented keep-list of image-essential attributes. UIDs become
    ``2.25.<integer>`` keyed pseudonyms (the same everywhere for the same key,
    so references and frames of reference stay consistent); the patient's
    name and ID and the study ID become keyed pseudonyms; other dummies are
    keyed tokens. PatientIdentityRemoved, DeidentificationMethod and
    DeidentificationMethodCodeSequence (CID 7050) are added, the file meta
    information is rebuilt and the preamble zeroed. Pixel data are not touched.

    Parameters
    ----------
    dataset : pydicom.Dataset
        The source; it is not modified.
    policy : Policy

    Returns
    -------
    pydicom.Dataset

    Raises
    ------
    BurnedInAnnotationError
        The image may show identifying text in its pixels (see
        :func:`check_burned_in`) and ``policy.allow_burned_in`` is False.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "12345", "CT"
    >>> ds.SOPInstanceUID, ds.InstitutionName = "1.2.3.4.5", "General Hospital"
    >>> out = deidentify(ds, Policy(key=b"0123456789abcdef"))
    >>> str(out.PatientName).startswith("ANON^"), out.InstitutionName != "General Hospital", out.Modality
    (True, True, 'CT')
    >>> out.SOPInstanceUID.startswith("2.25."), out.PatientIdentityRemoved
    (True, 'YES')
    """
    reason = check_burned_in(dataset)
    if reason is not None and not policy.allow_burned_in:
        raise BurnedInAnnotationError(
            f"refused: the image may show identifying text in its pixels ({reason}); "
            "pass allow_burned_in=True (--allow-burned-in) to de-identify its header anyway",
            reason=reason,
        )
    ctx = _Context(policy, dataset)
    out = copy.deepcopy(dataset)
    _clean_dataset(out, ctx)
    _method_attributes(out, policy, reason is not None)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and len(meta):
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

        new = FileMetaDataset()
        if "SOPClassUID" in out:
            new.MediaStorageSOPClassUID = out.SOPClassUID
        if "SOPInstanceUID" in out:
            new.MediaStorageSOPInstanceUID = out.SOPInstanceUID
        if "TransferSyntaxUID" in meta:
            new.TransferSyntaxUID = meta.TransferSyntaxUID
        new.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        out.file_meta = new
    if hasattr(out, "preamble"):
        out.preamble = b"\x00" * 128
    return out


# ---------------------------------------------------------------------------
# files, metadata of other formats, names


def deidentify_file(source, output, policy: Policy, *, overwrite: bool = False) -> Path:
    """De-identify one DICOM file into ``output``, atomically.

    The file is parsed with pydicom; a file that cannot be parsed (or holds
    no SOP class) is refused, never copied through. The output keeps the
    source's transfer syntax and its pixel data bytes; it is written to a
    temporary file renamed into place (:func:`fastct.io.atomic_path`).

    Parameters
    ----------
    source, output : str or Path
    policy : Policy
    overwrite : bool
        Replace an existing ``output``.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    FileFormatError
        ``source`` is not a readable DICOM object (the message names the
        file, never a value read from it).
    BurnedInAnnotationError
        See :func:`deidentify`.
    OutputExistsError
        ``output`` exists and ``overwrite`` is False, or it is ``source``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from pydicom.data import get_testdata_file
    >>> src = get_testdata_file("CT_small.dcm")
    >>> out = deidentify_file(src, pathlib.Path(tempfile.mkdtemp()) / "ct.dcm", Policy(key=b"0123456789abcdef"))
    >>> import pydicom; pydicom.dcmread(out).PatientIdentityRemoved
    'YES'
    """
    from ..io._files import atomic_path

    source, output = Path(source), Path(output)
    if output.exists() and source.exists() and os.path.samefile(source, output):
        raise OutputExistsError(f"{output}: the output would replace its input")
    ds = _read(source)
    out = deidentify(ds, policy)
    with atomic_path(output, overwrite=overwrite, suffix=".dcm") as tmp:
        out.save_as(tmp, enforce_file_format=True)
    return output


def _read(source: Path):
    """Parse a whole DICOM file, or raise FileFormatError naming it (never a value read from it)."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    def parse(force: bool):
        ds = pydicom.dcmread(source, force=force)
        # Parse everything now: a truncated or corrupt file fails here, not halfway through the write.
        sum(1 for _ in ds.iterall())
        return ds

    try:
        try:
            ds = parse(False)
        except InvalidDicomError:
            # A data set without the 128-byte preamble and file meta (older files, raw
            # data sets): accepted only if it then parses as a composite object.
            ds = parse(True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # pydicom raises many kinds; the message must not quote values
        raise FileFormatError(f"{source}: not a readable DICOM file ({type(exc).__name__}); not copied") from None
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        raise FileFormatError(f"{source}: not a DICOM composite object (no SOP Class/Instance UID); not copied")
    _check_pixel_length(ds, source)
    meta = ds.file_meta
    if "TransferSyntaxUID" not in meta:
        implicit, little = getattr(ds, "original_encoding", (True, True))
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def _check_pixel_length(ds, source: Path) -> None:
    """Native (uncompressed) pixel data shorter than the image it describes: a truncated file."""
    if "PixelData" not in ds:
        return
    elem = ds["PixelData"]
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if elem.is_undefined_length or (syntax is not None and syntax.is_compressed):
        return
    if not isinstance(elem.value, (bytes, bytearray)):
        return
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise FileFormatError(f"{source}: pixel data without a usable image description; not copied") from None
    if samples == 3 and str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        samples = 2  # chroma subsampled horizontally: two samples per pixel on average
    expected = (rows * cols * samples * frames * bits + 7) // 8
    if len(elem.value) < expected:
        raise FileFormatError(f"{source}: truncated pixel data ({len(elem.value)} of {expected} bytes); not copied")


_NIFTI_TEXT = ("descrip", "aux_file", "intent_name", "db_name")


def clean_meta(meta, policy: Policy):
    """A copy of an :class:`~fastct.io.meta.ImageMeta` with nothing identifying left in it.

    For every output that is not written by :func:`deidentify_file`: DICOM
    ``headers`` are de-identified (:func:`deidentify`), the series and SOP
    UIDs in ``extra`` replaced by their keyed pseudonyms; NIfTI header text
    fields (descrip, aux_file, intent_name, db_name) are blanked; text
    metadata of other formats (TIFF/PNG descriptions and the like: every
    string or bytes value in ``extra``) are removed. With ``policy.rename``
    the source file names in ``extra["files"]`` become pseudonymous names.

    Examples
    --------
    >>> from fastct.io.meta import ImageMeta
    >>> meta = ImageMeta(path=None, format="png", shape=(1, 2, 2), dtype="uint8",
    ...                  extra={"Description": "Jane Doe", "dpi": (72, 72)})
    >>> clean_meta(meta, Policy(key=b"0123456789abcdef")).extra
    {'dpi': (72, 72)}
    """
    from pydicom.dataset import Dataset

    headers = []
    for header in meta.headers:
        if isinstance(header, Dataset):
            headers.append(deidentify(header, policy))
        elif hasattr(header, "copy") and hasattr(header, "get_data_shape"):
            h = header.copy()
            for name in _NIFTI_TEXT:
                try:
                    h[name] = b""
                except (KeyError, ValueError):
                    pass
            headers.append(h)
        else:
            headers.append(header)
    extra = dict(meta.extra)
    if meta.format == "dicom":
        if extra.get("series_uid"):
            extra["series_uid"] = pseudonymous_uid(extra["series_uid"], policy)
        if extra.get("sop_uids"):
            extra["sop_uids"] = [pseudonymous_uid(u, policy) for u in extra["sop_uids"]]
        if policy.rename and extra.get("files") and len(meta.headers) == len(extra["files"]):
            extra["files"] = [str(pseudonymous_name(h, policy).name) for h in meta.headers]
    elif meta.format != "nifti":
        extra = {k: v for k, v in extra.items() if not isinstance(v, (str, bytes))}
    return dataclasses.replace(meta, headers=headers, extra=extra)


def pseudonymous_name(dataset, policy: Policy) -> PurePosixPath:
    """Relative path ``study-<hex>/series-<hex>/<number>-<hex>.dcm`` for ``--rename``.

    Built from the keyed pseudonyms of the source's Study, Series and SOP
    Instance UIDs (pass the source dataset, before de-identification), so
    the files of one study and series land together, under names that
    reveal nothing; the instance number (kept by the profile) orders them.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2", "1.2.3", "1.2.3.4"
    >>> ds.InstanceNumber = 7
    >>> name = pseudonymous_name(ds, Policy(key=b"0123456789abcdef"))
    >>> len(name.parts), name.parts[0].startswith("study-"), name.name.startswith("00007-")
    (3, True, True)
    """

    def short(keyword: str) -> str:
        uid = str(dataset.get(keyword, "") or "")
        if not uid:
            return "unknown"
        return hashlib.sha256(pseudonymous_uid(uid, policy).encode()).hexdigest()[:12]

    number = dataset.get("InstanceNumber", None)
    try:
        prefix = f"{int(number):05d}-" if number not in (None, "") else ""
    except (TypeError, ValueError):
        prefix = ""
    return PurePosixPath(f"study-{short('StudyInstanceUID')}", f"series-{short('SeriesInstanceUID')}",
                         f"{prefix}{short('SOPInstanceUID')}.dcm")

