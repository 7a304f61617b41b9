"""Virtual scanner labels: every SPEC §4 symbology it prints reads back with the archive's
label barcode reader."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from slidepacs.simulator.labels import label_for, label_image, macro_image, writable_symbologies
from slidepacs.wsi.barcodes import Symbology, read_label_barcode


def test_every_spec_symbology_is_printed_in_turn() -> None:
    assert set(writable_symbologies()) == set(Symbology)  # MicroPDF417 too
    assert {label_for(i).symbology for i in range(len(Symbology))} == set(Symbology)


@pytest.mark.parametrize("index", range(len(Symbology)), ids=[s.value for s in Symbology])
@pytest.mark.parametrize("turned", [False, True], ids=["upright", "turned-90"])
def test_each_printed_symbology_reads_back_after_jpeg(index: int, turned: bool) -> None:
    label = label_for(index + 40)
    buffer = io.BytesIO()
    Image.fromarray(label_image(label, turned=turned)).save(buffer, "JPEG", quality=85)
    found = read_label_barcode(np.asarray(Image.open(buffer)))
    assert found is not None, f"no {label.symbology.value} found"
    assert (found.value, found.symbology) == (label.barcode, label.symbology)


def test_the_macro_shows_the_label_and_the_tissue_on_a_3_to_1_glass() -> None:
    label = label_image(label_for(1))
    tissue = np.full((200, 300, 3), (236, 150, 190), np.uint8)
    macro = macro_image(label, tissue, height=240)
    assert macro.shape == (240, 720, 3)
    assert read_label_barcode(macro[:, :240]) is not None
    assert (macro[120, 480] == (236, 150, 190)).all()
