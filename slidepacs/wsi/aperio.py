"""The Aperio ImageDescription: ``Aperio …\\r\\n<geometry>|Key = Value|Key = Value…``."""

from __future__ import annotations

import re
from datetime import datetime

from slidepacs.wsi.model import SlideMetadata

PREFIX = "Aperio"
_QUALITY = re.compile(r"\bQ=(\d+)")


def is_aperio(description: str) -> bool:
    """True when a TIFF ImageDescription is Aperio's."""
    return description.startswith(PREFIX)


def parse_fields(description: str) -> dict[str, str]:
    """The ``key = value`` fields after the first ``|``; the header line is ``_header``."""
    header, *parts = description.split("|")
    fields = {"_header": header.strip()}
    for part in parts:
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _float(fields: dict[str, str], key: str) -> float | None:
    try:
        return float(fields[key])
    except (KeyError, ValueError):
        return None


def _acquired(fields: dict[str, str]) -> str | None:
    """Aperio writes ``Date = MM/DD/YY`` and ``Time = HH:MM:SS``."""
    try:
        stamp = datetime.strptime(f"{fields['Date']} {fields['Time']}", "%m/%d/%y %H:%M:%S")
    except (KeyError, ValueError):
        return None
    return stamp.strftime("%Y%m%d%H%M%S")


def metadata_from(description: str, icc_profile: bytes | None) -> SlideMetadata:
    """Slide metadata from the base level's ImageDescription."""
    fields = parse_fields(description)
    quality = _QUALITY.search(fields["_header"])
    left, top = _float(fields, "Left"), _float(fields, "Top")
    return SlideMetadata(
        mpp=_float(fields, "MPP"),
        objective_power=_float(fields, "AppMag"),
        origin_mm=(left or 0.0, top or 0.0),
        acquired=_acquired(fields),
        scanner_serial=fields.get("ScanScope ID"),
        image_id=fields.get("ImageID"),
        barcode=fields.get("Barcode") or None,
        icc_profile=icc_profile,
        jpeg_quality=int(quality.group(1)) if quality else None,
        properties={k: v for k, v in fields.items() if k != "_header"},
    )


def _fields_of(meta: SlideMetadata) -> dict[str, str]:
    fields = dict(meta.properties)
    if meta.objective_power is not None:
        fields["AppMag"] = f"{meta.objective_power:g}"
    if meta.mpp is not None:
        fields["MPP"] = f"{meta.mpp:.6g}"
    if meta.barcode:
        fields["Barcode"] = meta.barcode
    if meta.image_id:
        fields["ImageID"] = meta.image_id
    if meta.scanner_serial:
        fields["ScanScope ID"] = meta.scanner_serial
    if meta.acquired and len(meta.acquired) >= 14:
        stamp = datetime.strptime(meta.acquired[:14], "%Y%m%d%H%M%S")
        fields["Date"], fields["Time"] = stamp.strftime("%m/%d/%y"), stamp.strftime("%H:%M:%S")
    fields["Left"], fields["Top"] = (f"{v:.6f}" for v in meta.origin_mm)
    return fields


def level_description(
    meta: SlideMetadata, base: tuple[int, int], size: tuple[int, int], tile: tuple[int, int],
    codec: str,
) -> str:
    """ImageDescription of a pyramid level; the base level carries every field."""
    quality = f" Q={meta.jpeg_quality}" if meta.jpeg_quality else ""
    geometry = f"{base[0]}x{base[1]} ({tile[0]}x{tile[1]}) {codec}{quality}"
    if size != base:
        geometry = f"{base[0]}x{base[1]} -> {size[0]}x{size[1]} - ({tile[0]}x{tile[1]}) {codec}"
    text = f"{PREFIX} Image Library slidepacs\r\n{geometry}"
    if size == base:
        text += "".join(f"|{k} = {v}" for k, v in _fields_of(meta).items())
    return text


def associated_description(name: str, size: tuple[int, int]) -> str:
    """ImageDescription of the label (``label``) or macro (``macro``) image."""
    return f"{PREFIX} Image Library slidepacs\r\n{name} {size[0]}x{size[1]}"
