"""DICOM PS3.15 Tables E.1-1 and E.3.10-1 read from the data files shipped beside this module.

The tables are data, not code:

- ``ps3_15_e1_1.csv``: Table E.1-1, one row per attribute with its Basic
  Profile action and the action each option column gives it;
- ``ps3_15_e3_10_1.csv``: Table E.3.10-1 "Safe Private Attributes", the
  private attributes (private creator, element, VR) that the Retain Safe
  Private Option may keep.

Both are transcribed from the same edition of the standard, :data:`EDITION`.
This module only parses them and answers "what happens to this tag under
these options" and "is this private attribute listed as safe".

Action codes (PS3.15 Table E.1-1a):

- ``D`` replace with a non-zero length dummy value consistent with the VR;
- ``Z`` replace with a zero length value (or a dummy);
- ``X`` remove;
- ``K`` keep (sequences are still cleaned item by item);
- ``C`` clean: keep, with identifying content replaced or removed;
- ``U`` replace the UID with a consistent pseudonymous UID;
- ``Z/D``, ``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``: the choice depends on the
  attribute's type in the IOD; see :func:`resolve`.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources

from ..errors import ProfileTableError

__all__ = [
    "EDITION",
    "OPTIONS",
    "ProfileTableError",
    "Row",
    "table",
    "lookup",
    "resolve",
    "safe_private",
    "safe_private_vrs",
]

#: Edition of DICOM PS3.15 both data files are transcribed from.
EDITION = "2026d"

#: Profile options, by the name used in :class:`fastct.deid.Policy`, mapped to
#: their column in the data file.
OPTIONS = {
    "safe_private": "retain_safe_private",
    "uids": "retain_uids",
    "device_identity": "retain_device_identity",
    "institution_identity": "retain_institution_identity",
    "patient_characteristics": "retain_patient_characteristics",
    "long_full_dates": "retain_long_full_dates",
    "long_modified_dates": "retain_long_modified_dates",
    "clean_descriptors": "clean_descriptors",
    "clean_structured_content": "clean_structured_content",
    "clean_graphics": "clean_graphics",
}

_DATA_FILE = "ps3_15_e1_1.csv"
_SAFE_PRIVATE_FILE = "ps3_15_e3_10_1.csv"

# Table E.1-1a: the Basic Profile codes, and the codes an option cell may hold.
_BASIC_ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
_OPTION_ACTIONS = frozenset({"K", "C", "X"})

# How Table E.1-1 writes the row that stands for every private attribute.
_PRIVATE_TAG = "(gggg,eeee) where gggg is odd"
_TAG_RE = re.compile(r"\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)")
_PRIVATE_ELEMENT_RE = re.compile(r"\(([0-9A-Fa-f]{4}),xx([0-9A-Fa-f]{2})\)")


@dataclass(frozen=True)
class Row:
    """One attribute of Table E.1-1."""

    tag: str  # as printed in the standard: "(0010,0010)", "(60xx,3000)"
    name: str
    basic: str
    options: dict  # option name -> action, only for non-empty cells


def _data_lines(name: str) -> list[str]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _parse_tag(text: str):
    """``"(0010,0010)"`` -> (value, mask); the private-attributes row -> None.

    ``x`` digits in the standard's tag (repeating groups such as ``60xx``) are
    wildcards: they are zero in the value and in the mask.

    Raises
    ------
    ProfileTableError
        The text is neither a tag nor the private-attributes row.
    """
    text = text.strip()
    if text == _PRIVATE_TAG:
        return None  # private attributes: handled by the private-tag rules
    match = _TAG_RE.fullmatch(text)
    if match is None:
        raise ProfileTableError(f"{_DATA_FILE}: {text!r} is not a tag of the form (gggg,eeee)")
    body = (match.group(1) + match.group(2)).lower()
    value = int(body.replace("x", "0"), 16)
    mask = int("".join("0" if c == "x" else "f" for c in body), 16)
    return value, mask


@functools.lru_cache(maxsize=1)
def table() -> tuple[dict, list, Row]:
    """Parse Table E.1-1 once.

    Returns
    -------
    exact : dict
        Tag int -> :class:`Row` for ordinary attributes.
    masked : list
        ``(value, mask, Row)`` for repeating groups.
    private : Row
        The row for private attributes.

    Raises
    ------
    ProfileTableError
        A row holds an action that Table E.1-1a does not define, a tag that
        cannot be read, or a tag listed twice; or the private row is missing.
    """
    exact, masked, private = {}, [], None
    for rec in csv.DictReader(_data_lines(_DATA_FILE)):
        opts = {name: rec[col] for name, col in OPTIONS.items() if rec[col]}
        row = Row(rec["tag"], rec["name"], rec["basic"], opts)
        if row.basic not in _BASIC_ACTIONS or not set(opts.values()) <= _OPTION_ACTIONS:
            raise ProfileTableError(f"{_DATA_FILE}: {row.tag} {row.name}: an action Table E.1-1a does not define")
        parsed = _parse_tag(rec["tag"])
        if parsed is None:
            if private is not None:
                raise ProfileTableError(f"{_DATA_FILE}: the private-attributes row is listed twice")
            private = row
        elif parsed[1] == 0xFFFFFFFF:
            if parsed[0] in exact:
                raise ProfileTableError(f"{_DATA_FILE}: {row.tag} is listed twice")
            exact[parsed[0]] = row
        else:
            masked.append((parsed[0], parsed[1], row))
    if private is None:
        raise ProfileTableError(f"{_DATA_FILE}: no row for private attributes")
    return exact, masked, private


def lookup(tag: int) -> Row | None:
    """The Table E.1-1 row of a (non-private) tag, or None when it is not listed.

    Examples
    --------
    >>> lookup(0x00100010).name
    "Patient's Name"
    >>> lookup(0x60023000).name      # overlay data in any repeating group
    'Overlay Data'
    >>> lookup(0x00280010) is None   # Rows: not in the table
    True
    """
    exact, masked, _ = table()
    row = exact.get(int(tag))
    if row is not None:
        return row
    for value, mask, row in masked:
        if int(tag) & mask == value:
            return row
    return None


def resolve(row: Row, options: frozenset) -> str:
    """The action for ``row`` under the selected ``options``.

    Where several selected options have a cell for the row, keeping (``K``)
    wins over cleaning (``C``), which wins over removing (``X``): an option
    only ever asks for more to be retained than the basic profile.

    Compound basic actions are settled without the IOD at hand, so as to
    keep objects valid without keeping any original value: a choice holding
    ``D`` gives ``D`` (a dummy satisfies a Type 1 attribute), else one holding
    ``Z`` gives ``Z`` (an empty value satisfies Type 2), and ``X/Z/U*`` gives
    ``U*`` (the referencing sequence is kept and every UID in it replaced).

    Examples
    --------
    >>> row = lookup(0x00080022)            # Acquisition Date: X/Z, K, C
    >>> resolve(row, frozenset()), resolve(row, frozenset({"long_modified_dates"}))
    ('Z', 'C')
    >>> resolve(lookup(0x00081140), frozenset())   # Referenced Image Sequence
    'U*'
    """
    chosen = [row.options[o] for o in options if o in row.options]
    for action in ("K", "C", "X"):
        if action in chosen:
            return action
    basic = row.basic
    if "/" not in basic:
        return basic
    parts = basic.split("/")
    for action in ("U*", "D", "Z"):
        if action in parts:
            return action
    return parts[0]


@functools.lru_cache(maxsize=1)
def safe_private() -> dict:
    """Parse Table E.3.10-1 "Safe Private Attributes" once.

    Returns
    -------
    dict
        ``(private creator, group, element offset in the block)`` -> the
        frozenset of VRs the table allows for it (``"OW/OB"`` allows either;
        an attribute the table gives no VR for maps to an empty set, so that
        no element ever matches it).

    Raises
    ------
    ProfileTableError
        A tag is not of the form ``(gggg,xxee)`` with an odd group, or an
        attribute is listed twice for the same private creator.

    Examples
    --------
    >>> sorted(safe_private()[("GEMS_ACQU_01", 0x0019, 0x23)])   # table speed
    ['DS']
    >>> ("GEMS_ACQU_01", 0x0019, 0x10) in safe_private()
    False
    """
    out = {}
    for rec in csv.DictReader(_data_lines(_SAFE_PRIVATE_FILE)):
        match = _PRIVATE_ELEMENT_RE.fullmatch(rec["tag"].strip())
        if match is None or not int(match.group(1), 16) & 1:
            raise ProfileTableError(f"{_SAFE_PRIVATE_FILE}: {rec['tag']!r} is not a private tag (gggg,xxee)")
        key = (rec["private_creator"].strip(), int(match.group(1), 16), int(match.group(2), 16))
        if key in out:
            raise ProfileTableError(f"{_SAFE_PRIVATE_FILE}: {rec['tag']} of {key[0]!r} is listed twice")
        out[key] = frozenset(v for v in rec["vr"].split("/") if v)
    return out


def safe_private_vrs(creator: str, group: int, element: int) -> frozenset:
    """The VRs under which a private element is listed as safe; empty when it is not listed.

    ``element`` is the full element number (``0x1023`` in block ``0x10``);
    only its offset in the block counts, since the block a private creator
    reserves differs from file to file.

    Examples
    --------
    >>> sorted(safe_private_vrs("GEMS_ACQU_01", 0x0019, 0x1023))
    ['DS']
    >>> safe_private_vrs("GEMS_ACQU_02", 0x0019, 0x1023)    # another creator: not listed
    frozenset()
    """
    return safe_private().get((str(creator).strip(), int(group), int(element) & 0xFF), frozenset())
