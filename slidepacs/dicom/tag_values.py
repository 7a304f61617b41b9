"""Attribute keywords and their values, read from a stored file without its pixel data."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from slidepacs.errors import InvalidInput, NotFound

BULK_DATA_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


def unknown_keywords(keywords: Iterable[str]) -> list[str]:
    """The keywords that are not in the DICOM data dictionary (or name a sequence)."""
    unknown = []
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None or dictionary_VR(tag) == "SQ":
            unknown.append(keyword)
    return unknown


def person_name_keywords(keywords: Iterable[str]) -> frozenset[str]:
    """The keywords whose value representation is PN (matched ignoring case)."""
    return frozenset(k for k in keywords
                     if (tag := tag_for_keyword(k)) is not None and dictionary_VR(tag) == "PN")


def read_tag_values(
    path: Path, keywords: Iterable[str], default_charset: str
) -> dict[str, tuple[str, ...]]:
    """Decoded values of top-level attributes, read up to Pixel Data at most.

    A multi-valued attribute gives one text per value; an absent one is left out. Raises
    InvalidInput when the file cannot be read.
    """
    wanted = sorted(set(keywords))
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True,
                                  specific_tags=["SpecificCharacterSet", *wanted])
    except OSError as exc:
        raise InvalidInput(f"cannot read {path.name} ({exc.strerror or exc})") from None
    except Exception as exc:  # pydicom raises many types on malformed input
        raise InvalidInput(f"cannot read {path.name} ({type(exc).__name__}: {exc})") from None
    _decode_with_default(dataset, default_charset)
    values: dict[str, tuple[str, ...]] = {}
    for keyword in wanted:
        element = dataset.get(keyword)
        if element is None:
            continue
        if isinstance(element, MultiValue):
            values[keyword] = tuple(str(v) for v in element)
        else:
            values[keyword] = ("" if element is None else str(element),)
    return values


def read_metadata(path: Path, default_charset: str, defer_larger_than: int = 1024) -> Dataset:
    """Every attribute up to Pixel Data, text decoded (the configured default character set
    when the file declares none); values longer than ``defer_larger_than`` bytes stay
    unread until asked for."""
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, defer_size=defer_larger_than)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path.name} ({exc.strerror or exc})") from None
    except Exception as exc:  # pydicom raises many types on malformed input
        raise InvalidInput(f"cannot read {path.name} ({type(exc).__name__}: {exc})") from None
    _decode_with_default(dataset, default_charset)
    return dataset


def element_range(path: Path, tag: int) -> tuple[int, int]:
    """(offset, length) in the file of a top-level element's value (before Pixel Data);
    NotFound when the file has no such element or its length is undefined."""
    dataset = read_metadata(path, "ISO_IR 6", defer_larger_than=0)
    raw = dataset.get_item(tag)
    if raw is None or getattr(raw, "value_tell", None) is None or raw.length == 0xFFFFFFFF:
        raise NotFound(f"no top-level bulk data element ({tag >> 16:04X},{tag & 0xFFFF:04X})")
    return int(raw.value_tell), int(raw.length)


def _decode_with_default(dataset: Dataset, default_charset: str) -> None:
    """A file that declares no character set has its text decoded with the default one."""
    if not str(dataset.get("SpecificCharacterSet", "")).strip("\\ "):
        implicit, little = dataset.original_encoding
        dataset.set_original_encoding(
            implicit, little, convert_encodings(default_charset.split("\\"))
        )
