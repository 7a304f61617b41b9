"""Barcodes read from generated slide-label images, for every symbology of SPEC §4.

Each symbology is drawn by zxing-cpp's own writer and, where a well-kept independent
generator exists, by that one too (python-barcode for the linear codes, segno for QR Code),
so that the reader is not only tested on its own output. The barcode is placed on a label
with printed-text-like marks, optionally turned 90° as labels often are in the label image,
and passed through JPEG as label images are stored in SVS and DICOM files.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import barcode as python_barcode
import numpy as np
import pytest
import segno
import zxingcpp
from barcode.writer import ImageWriter
from PIL import Image

from slidepacs.domain.image_rules import ImageRuleSpec, SlideValues, compile_rules
from slidepacs.errors import InvalidInput
from slidepacs.wsi.barcodes import (
    Symbology,
    read_label_barcode,
    read_label_barcodes,
    unreadable_symbologies,
    with_label_barcode,
)

# (symbology, zxing-cpp format name, value as printed, value as read)
CODES = [
    (Symbology.CODABAR, "Codabar", "A26012345B", "A26012345B"),
    (Symbology.QR_CODE, "QRCode", "S26-012345;A1;3;HE", "S26-012345;A1;3;HE"),
    (Symbology.DATA_MATRIX, "DataMatrix", "H26/004711;B2;1;PAS", "H26/004711;B2;1;PAS"),
    (Symbology.ITF, "ITF", "2601234501", "2601234501"),
    (Symbology.CODE_39, "Code39", "S26-012345", "S26-012345"),
    (Symbology.CODE_128, "Code128", "S26-012345 A1 HE", "S26-012345 A1 HE"),
    (Symbology.PDF417, "PDF417", "S26-012345|A1|3|HE|2026-11-23", "S26-012345|A1|3|HE|2026-11-23"),
    (Symbology.MICRO_PDF417, "MicroPDF417", "S26-012345", "S26-012345"),
]


def zxing_drawn(format_name: str, value: str) -> Image.Image:
    code = zxingcpp.create_barcode(value, getattr(zxingcpp.BarcodeFormat, format_name))
    return Image.fromarray(np.asarray(code.to_image(scale=4))).convert("RGB")


def python_barcode_drawn(name: str, value: str) -> Image.Image:
    options = {"add_checksum": False} if name == "code39" else {}
    code = python_barcode.get(name, value, writer=ImageWriter(), options=options)
    drawn: Image.Image = code.render({"module_width": 0.3, "module_height": 12.0,
                                      "quiet_zone": 4.0, "write_text": False, "dpi": 200})
    return drawn.convert("RGB")


def segno_drawn(value: str) -> Image.Image:
    buffer = io.BytesIO()
    segno.make_qr(value, error="m").save(buffer, kind="png", scale=5, border=4)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


INDEPENDENT: dict[Symbology, Callable[[str], Image.Image]] = {
    Symbology.CODABAR: lambda value: python_barcode_drawn("codabar", value),
    Symbology.ITF: lambda value: python_barcode_drawn("itf", value),
    Symbology.CODE_39: lambda value: python_barcode_drawn("code39", value),
    Symbology.CODE_128: lambda value: python_barcode_drawn("code128", value),
    Symbology.QR_CODE: segno_drawn,
}


def label_with(code: Image.Image, turned: bool = False, seed: int = 0) -> np.ndarray:
    """An RGB slide-label image (JPEG-compressed) carrying ``code`` and some printed text."""
    rng = np.random.default_rng(seed)
    width, height = max(900, code.width + 120), max(600, code.height + 260)
    paper = np.full((height, width, 3), (236, 234, 226), np.uint8)
    paper = np.clip(paper + rng.normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    for line in range(3):  # lines of "printed text" below the code
        y = code.height + 80 + line * 50
        for x in range(60, width - 140, 34):
            if rng.random() < 0.8:
                paper[y:y + 26, x:x + 22] = (40, 40, 60)
    label = Image.fromarray(paper)
    label.paste(code, (60, 40))
    if turned:
        label = label.rotate(90, expand=True, fillcolor=(236, 234, 226))
    buffer = io.BytesIO()
    label.save(buffer, "JPEG", quality=80)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


@pytest.mark.parametrize(("symbology", "format_name", "printed", "read"), CODES,
                         ids=[code[0].value for code in CODES])
@pytest.mark.parametrize("turned", [False, True], ids=["upright", "turned-90"])
def test_zxing_drawn_label_codes_decode_to_their_value(
    symbology: Symbology, format_name: str, printed: str, read: str, turned: bool
) -> None:
    image = label_with(zxing_drawn(format_name, printed), turned)
    found = read_label_barcode(image)
    assert found is not None, f"no {symbology.value} found"
    assert (found.value, found.symbology) == (read, symbology)


@pytest.mark.parametrize("symbology", list(INDEPENDENT), ids=[s.value for s in INDEPENDENT])
def test_independently_drawn_label_codes_decode_to_their_value(symbology: Symbology) -> None:
    _, _, printed, read = next(code for code in CODES if code[0] is symbology)
    found = read_label_barcode(label_with(INDEPENDENT[symbology](printed), seed=1))
    assert found is not None, f"no {symbology.value} found"
    assert (found.value, found.symbology) == (read, symbology)


def test_every_spec_symbology_is_readable_by_the_installed_zxing_cpp() -> None:
    assert unreadable_symbologies() == []  # docs/admin-guide.md says so; update both together


def test_a_pil_image_and_a_grey_array_are_read_too() -> None:
    rgb = label_with(zxing_drawn("DataMatrix", "S26-7"))
    assert read_label_barcode(Image.fromarray(rgb)).value == "S26-7"  # type: ignore[union-attr]
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    assert read_label_barcode(grey).value == "S26-7"  # type: ignore[union-attr]


def test_two_codes_on_one_label_come_in_reading_order() -> None:
    top = zxing_drawn("QRCode", "S26-1;A1")
    bottom = zxing_drawn("Code128", "S26-1")
    sheet = Image.new("RGB", (900, 700), (236, 234, 226))
    sheet.paste(bottom, (60, 380))
    sheet.paste(top, (60, 40))
    found = read_label_barcodes(np.asarray(sheet))
    assert [(code.value, code.symbology) for code in found] == [
        ("S26-1;A1", Symbology.QR_CODE), ("S26-1", Symbology.CODE_128)]


def test_a_label_without_a_code_gives_none() -> None:
    blank = label_with(Image.new("RGB", (10, 10), (236, 234, 226)))
    assert read_label_barcode(blank) is None


def test_a_symbology_outside_spec_is_not_reported() -> None:
    ean = label_with(zxing_drawn("EAN13", "4006381333931"))
    assert read_label_barcodes(ean) == []


@pytest.mark.parametrize("bad", [np.zeros((0, 0), np.uint8), np.zeros((4, 4, 4, 4), np.uint8)])
def test_a_non_image_is_refused(bad: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        read_label_barcodes(bad)


def test_a_slide_without_a_barcode_gets_the_labels_and_the_rules_use_it() -> None:
    label = label_with(zxing_drawn("Codabar", "A26012345B"), turned=True)
    values = with_label_barcode(SlideValues("104233", None, "GT450-1"), label)
    assert (values.barcode, values.barcode_symbology) == ("A26012345B", "Codabar")
    rules = compile_rules(ImageRuleSpec(barcode_regex=r"^[A-D](\d+)[A-D]$",
                                        require_barcode=True))
    assert rules.apply(values).file_name == "104233-26012345"


def test_a_barcode_sent_by_the_scanner_wins_over_the_label() -> None:
    label = label_with(zxing_drawn("QRCode", "FROM-LABEL"))
    sent = SlideValues("1", "FROM-SCANNER")
    assert with_label_barcode(sent, label) is sent
    assert with_label_barcode(SlideValues("1"), None) == SlideValues("1")
