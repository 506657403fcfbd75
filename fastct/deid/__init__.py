"""De-identification of DICOM objects and of the metadata of every other output.

The DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile
(Table E.1-1 of the edition :data:`EDITION`, shipped as data in
``ps3_15_e1_1.csv``) with its options, the Retain Safe Private Option
keeping the private attributes of Table E.3.10-1 (``ps3_15_e3_10_1.csv``), and
keyed pseudonyms: UIDs become ``2.25.<integer>`` from HMAC-SHA256(key, UID),
names and IDs keyed tokens, and dates (with the modified-dates option) shift
by a keyed per-patient offset. The same key gives the same pseudonyms on
every run and machine; another key gives unrelated ones.

Only pydicom is needed; the encrypted linkage table needs ``cryptography``
(``pip install 'fastct-engine[deid]'``), imported when a table is saved or loaded.

Examples
--------
>>> from pydicom.data import get_testdata_file
>>> import pydicom
>>> from fastct.deid import Policy, deidentify
>>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
>>> out = deidentify(ds, Policy(key=b"a secret key of 16+ bytes"))
>>> out.PatientIdentityRemoved, out.PixelData == ds.PixelData
('YES', True)
"""

from ._core import (
    ENV_KEY,
    Policy,
    check_burned_in,
    clean_meta,
    deidentify,
    deidentify_file,
    load_key,
    pseudonymous_name,
    pseudonymous_uid,
)
from ._linkage import LinkageTable
from ._table import EDITION, OPTIONS, ProfileTableError

__all__ = [
    "EDITION",
    "ENV_KEY",
    "OPTIONS",
    "ProfileTableError",
    "LinkageTable",
    "Policy",
    "check_burned_in",
    "clean_meta",
    "deidentify",
    "deidentify_file",
    "load_key",
    "pseudonymous_name",
    "pseudonymous_uid",
]
