"""DICOM PS3.15 Table E.1-1 read from the data file shipped beside this module.

The table is data (``ps3_15_e1_1.csv``), not code: one row per attribute
with its basic-profile action and the action each option column gives it.
This module only parses it and answers "what happens to this tag under these
options".

Action codes (PS3.15 E.1.1):

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
from dataclasses import dataclass
from importlib import resources

__all__ = ["OPTIONS", "Row", "table", "lookup", "resolve"]

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


@dataclass(frozen=True)
class Row:
    """One attribute of Table E.1-1."""

    tag: str  # as printed in the standard: "(0010,0010)", "(60xx,3000)"
    name: str
    basic: str
    options: dict  # option name -> action, only for non-empty cells


def _parse_tag(text: str):
    """``"(0010,0010)"`` -> (group, element, group_mask, element_mask).

    ``x`` digits in the standard's tag (repeating groups such as ``60xx``) are
    wildcards: they are zero in the value and in the mask.
    """
    body = text.strip().strip("()").replace(",", "").lower()
    if body == "ggggeeee":
        return None  # private attributes: handled by the private-tag rules
    value = int(body.replace("x", "0"), 16)
    mask = int("".join("0" if c == "x" else "f" for c in body), 16)
    return value, mask


@functools.lru_cache(maxsize=1)
def table() -> tuple[dict, list, Row]:
    """Parse the data file once.

    Returns ``(exact, masked, private_row)``: a dict of tag int -> :class:`Row`
    for ordinary attributes, a list of ``(value, mask, Row)`` for repeating
    groups, and the row for private attributes.
    """
    text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    exact, masked, private = {}, [], None
    for rec in csv.DictReader(lines):
        opts = {name: rec[col] for name, col in OPTIONS.items() if rec[col]}
        row = Row(rec["tag"], rec["name"], rec["basic"], opts)
        parsed = _parse_tag(rec["tag"])
        if parsed is None:
            private = row
        elif parsed[1] == 0xFFFFFFFF:
            exact[parsed[0]] = row
        else:
            masked.append((parsed[0], parsed[1], row))
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
