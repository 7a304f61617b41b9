"""Slide labels as the scanner's label camera sees them (SPEC §4): a printed barcode of one of
the label symbologies, human-readable text, at 13 µm/pixel; and the macro (overview) image of
the whole glass with its label.

Barcodes are drawn by zxing-cpp's writer; the symbologies rotate through SPEC §4's list.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from slidepacs.errors import Unsupported
from slidepacs.wsi.barcodes import Symbology

LABEL_PIXELS = 800          # square label image: 10.4 mm at 13 µm/pixel
PAPER = (238, 236, 228)
INK = (25, 25, 35)
GLASS = (214, 220, 222)

_WRITER_FORMATS = {
    Symbology.CODABAR: "Codabar", Symbology.QR_CODE: "QRCode",
    Symbology.DATA_MATRIX: "DataMatrix", Symbology.ITF: "ITF", Symbology.CODE_39: "Code39",
    Symbology.CODE_128: "Code128", Symbology.PDF417: "PDF417",
    Symbology.MICRO_PDF417: "MicroPDF417",
}
_TWO_DIMENSIONAL = {Symbology.QR_CODE, Symbology.DATA_MATRIX, Symbology.MICRO_PDF417}


@dataclass(frozen=True, slots=True)
class PrintedLabel:
    """What is printed on a slide label."""

    barcode: str
    symbology: Symbology
    text: tuple[str, ...]


@functools.cache
def writable_symbologies() -> tuple[Symbology, ...]:
    """The SPEC §4 symbologies the installed zxing-cpp can write, in SPEC order."""
    found = []
    for symbology, name in _WRITER_FORMATS.items():
        fmt = getattr(zxingcpp.BarcodeFormat, name, None)
        try:
            if fmt is not None and zxingcpp.create_barcode(_value(symbology, 1), fmt):
                found.append(symbology)
        except (ValueError, RuntimeError):
            continue
    return tuple(found)


def label_for(index: int, case_year: int = 26, stain: str = "HE") -> PrintedLabel:
    """The label of the ``index``-th slide: symbologies in turn, values valid for each."""
    symbologies = writable_symbologies()
    symbology = symbologies[index % len(symbologies)]
    case = f"S{case_year:02d}-{index:06d}"
    return PrintedLabel(_value(symbology, index, case_year, stain), symbology,
                        (case, f"A{index % 9 + 1} {stain}"))


def _value(symbology: Symbology, index: int, year: int = 26, stain: str = "HE") -> str:
    """A barcode value the symbology can encode, naming the slide."""
    digits = f"{year:02d}{index:06d}"
    if symbology is Symbology.CODABAR:
        return f"A{digits}B"
    if symbology is Symbology.ITF:
        return digits
    if symbology is Symbology.CODE_39:
        return f"S{year:02d}-{index:06d}"
    if symbology in (Symbology.QR_CODE, Symbology.DATA_MATRIX, Symbology.PDF417):
        return f"S{year:02d}-{index:06d};A{index % 9 + 1};1;{stain}"
    return f"S{year:02d}-{index:06d} A{index % 9 + 1}"


def barcode_image(value: str, symbology: Symbology, width: int) -> Image.Image:
    """The barcode drawn by zxing-cpp, scaled by whole modules to at most ``width`` pixels."""
    name = _WRITER_FORMATS[symbology]
    fmt = getattr(zxingcpp.BarcodeFormat, name, None)
    if symbology not in writable_symbologies() or fmt is None:
        raise Unsupported(f"the installed zxing-cpp cannot write {symbology.value}")
    code = np.asarray(zxingcpp.create_barcode(value, fmt).to_image(scale=1))
    scale = max(1, width // code.shape[1])
    image = Image.fromarray(code).resize((code.shape[1] * scale, code.shape[0] * scale),
                                         Image.Resampling.NEAREST)
    if symbology not in _TWO_DIMENSIONAL and image.height < width // 4:  # linear: taller bars
        image = image.resize((image.width, width // 4), Image.Resampling.NEAREST)
    return image.convert("RGB")


def label_image(label: PrintedLabel, pixels: int = LABEL_PIXELS, turned: bool = False) -> np.ndarray:
    """The label camera's RGB image: barcode on top, printed text below (turned 90° as
    labels often sit when ``turned``)."""
    paper = Image.new("RGB", (pixels, pixels), PAPER)
    wide = label.symbology not in _TWO_DIMENSIONAL
    code = barcode_image(label.barcode, label.symbology, int(pixels * (0.85 if wide else 0.5)))
    paper.paste(code, ((pixels - code.width) // 2, pixels // 12))
    draw = ImageDraw.Draw(paper)
    font = _font(max(12, pixels // 16))
    y = pixels // 12 + code.height + pixels // 16
    for line in label.text:
        draw.text((pixels // 10, y), line, fill=INK, font=font)
        y += int(pixels / 11)
    if turned:
        paper = paper.rotate(90)
    return np.asarray(paper)


def macro_image(label: np.ndarray, tissue: np.ndarray, height: int = 300) -> np.ndarray:
    """The macro (overview) of the glass, 3:1 like a 75 × 25 mm slide: the label on the left,
    the tissue on the right."""
    glass = Image.new("RGB", (height * 3, height), GLASS)
    glass.paste(Image.fromarray(label).resize((height, height)), (0, 0))
    area = Image.fromarray(tissue)
    area.thumbnail((height * 2 - 20, height - 20))
    glass.paste(area, (height + (height * 2 - area.width) // 2, (height - area.height) // 2))
    return np.asarray(glass)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)
