"""Index match rows as DICOM attributes: the values C-FIND and QIDO-RS answers carry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

# DICOM attributes that the index keeps under another name.
ALIASES = {"ContainerIdentifier": "SlideID"}
# Index fields that are not DICOM attributes, answered under the attribute that holds them.
ATTRIBUTE_OF_FIELD = {field: attribute for attribute, field in ALIASES.items()}


def dicom_value(keyword: str, value: Any) -> Any:
    """A value pydicom accepts for the keyword's VR (None when empty)."""
    if value is None or value == "":
        return None
    vr = dictionary_VR(keyword)
    if vr in ("IS", "US", "UL", "SS", "SL"):
        return int(value)
    if isinstance(value, str) and "\\" in value and vr not in ("LT", "ST", "UT"):
        return value.split("\\")
    return value


def match_dataset(match: Mapping[str, Any], keywords: Iterable[str]) -> Dataset:
    """A data set holding ``keywords`` (DICOM keywords) with their values from ``match``;
    a keyword the match has no value for is present and empty. Non-DICOM keywords are
    skipped."""
    dataset = Dataset()
    for keyword in keywords:
        if tag_for_keyword(keyword) is None:
            continue
        setattr(dataset, keyword, dicom_value(keyword, match.get(ALIASES.get(keyword, keyword))))
    return dataset
