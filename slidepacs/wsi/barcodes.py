"""Barcodes on the slide label, read from the label image with zxing-cpp (SPEC §4).

Only the symbologies slide scanners read from labels are looked for (fewer false finds in
handwriting and printed text): NW7 (Codabar), QR Code, Data Matrix, Interleaved 2 of 5,
Code 39, Code 128, PDF417 and MicroPDF417. Values are returned as zxing-cpp decodes them
(its "human readable" text mode): Codabar keeps its start/stop characters (``A…B``), which a
barcode value identifier can drop.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import numpy as np
import zxingcpp

from slidepacs.domain.image_rules import SlideValues
from slidepacs.errors import InvalidInput


class Symbology(str, Enum):
    """The label symbologies of SPEC §4, by the name slidepacs records."""

    CODABAR = "Codabar"
    QR_CODE = "QRCode"
    DATA_MATRIX = "DataMatrix"
    ITF = "ITF"
    CODE_39 = "Code39"
    CODE_128 = "Code128"
    PDF417 = "PDF417"
    MICRO_PDF417 = "MicroPDF417"


_FORMATS: dict[str, Symbology] = {
    "Codabar": Symbology.CODABAR, "QRCode": Symbology.QR_CODE,
    "DataMatrix": Symbology.DATA_MATRIX, "ITF": Symbology.ITF, "Code39": Symbology.CODE_39,
    "Code39Std": Symbology.CODE_39, "Code39Ext": Symbology.CODE_39,
    "Code128": Symbology.CODE_128, "PDF417": Symbology.PDF417,
    "CompactPDF417": Symbology.PDF417, "MicroPDF417": Symbology.MICRO_PDF417,
}


@dataclass(frozen=True, slots=True)
class LabelBarcode:
    """One barcode found on a label image."""

    value: str
    symbology: Symbology
    position: tuple[tuple[int, int], ...]  # corners (x, y) in label pixels, clockwise


def label_formats() -> tuple[Any, ...]:
    """The zxing-cpp formats of the SPEC §4 symbologies that this zxing-cpp can read."""
    return tuple(fmt for fmt, _ in _readable())


def unreadable_symbologies() -> list[Symbology]:
    """The SPEC §4 symbologies that the installed zxing-cpp cannot read."""
    found = {symbology for _, symbology in _readable()}
    return [symbology for symbology in Symbology if symbology not in found]


@functools.cache
def _readable() -> tuple[tuple[Any, Symbology], ...]:
    everything: Any = zxingcpp.BarcodeFormat.AllReadable
    readable = list(zxingcpp.barcode_formats_list(everything))
    formats = [(getattr(zxingcpp.BarcodeFormat, name, None), symbology)
               for name, symbology in _FORMATS.items()]
    return tuple((fmt, symbology) for fmt, symbology in formats
                 if fmt is not None and fmt in readable)


def read_label_barcodes(image: Any) -> list[LabelBarcode]:
    """Every label barcode zxing-cpp finds in ``image`` (numpy array: grey, RGB or RGBA;
    or a PIL image), top to bottom then left to right. InvalidInput if it is not an image."""
    grey = _grey(image)
    formats: Any = label_formats()  # zxing-cpp 3 takes a sequence of formats
    found = zxingcpp.read_barcodes(grey, formats=formats, try_rotate=True,
                                   try_downscale=True, try_invert=True)
    barcodes = [_label_barcode(result) for result in found if result.valid and result.text]
    return sorted((b for b in barcodes if b is not None), key=_reading_order)


def read_label_barcode(image: Any) -> LabelBarcode | None:
    """The first label barcode in reading order, or None when there is none."""
    barcodes = read_label_barcodes(image)
    return barcodes[0] if barcodes else None


def with_label_barcode(values: SlideValues, label_image: Any | None) -> SlideValues:
    """``values`` with the barcode read from the label image when the slide came without
    one (and the symbology recorded); unchanged when it has a barcode, no label image, or
    no readable code on the label."""
    if (values.barcode or "").strip() or label_image is None:
        return values
    found = read_label_barcode(label_image)
    if found is None:
        return values
    return replace(values, barcode=found.value, barcode_symbology=found.symbology.value)


def _label_barcode(result: Any) -> LabelBarcode | None:
    symbology = _FORMATS.get(_format_name(result.format))
    if symbology is None:
        return None
    position = result.position
    corners = tuple((int(point.x), int(point.y)) for point in (
        position.top_left, position.top_right, position.bottom_right, position.bottom_left))
    return LabelBarcode(result.text, symbology, corners)


def _format_name(fmt: Any) -> str:
    """``BarcodeFormat.Code128`` → ``Code128``."""
    return getattr(fmt, "name", str(fmt).rpartition(".")[2])


def _reading_order(barcode: LabelBarcode) -> tuple[int, int]:
    xs = [x for x, _ in barcode.position]
    ys = [y for _, y in barcode.position]
    return min(ys), min(xs)


def _grey(image: Any) -> np.ndarray:
    """An 8-bit greyscale array of ``image`` (zxing-cpp reads 3 channels as BGR, so colour
    is converted here, by luminance, whatever the channel order)."""
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
        image = np.asarray(image.convert("L"))
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[..., :3].astype(np.float32)
        luminance = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        array = np.clip(luminance + 0.5, 0, 255).astype(np.uint8)
    if array.ndim != 2 or array.size == 0:
        raise InvalidInput(f"not a label image (array of shape {array.shape})")
    if array.dtype != np.uint8:
        array = _to_uint8(array)
    grey: np.ndarray = np.ascontiguousarray(array)
    return grey


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """8 bits from boolean, 0-1 floating point, 16-bit or other integer pixels."""
    converted: np.ndarray
    if array.dtype == np.bool_:
        converted = np.where(array, 255, 0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
        converted = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif array.dtype == np.uint16:
        converted = (array >> 8).astype(np.uint8)
    else:
        converted = np.clip(array, 0, 255).astype(np.uint8)
    return converted
