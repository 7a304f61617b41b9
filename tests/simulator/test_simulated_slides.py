"""The virtual scanner's slides as DICOM WSI: FULL or SPARSE as configured, Series Number =
image ID, Barcode Value as printed (or left out), scanner equipment, 0.26 µm/pixel at 40x;
independent readers open them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from wsidicom import WsiDicom

from slidepacs.errors import InvalidInput
from slidepacs.simulator.labels import label_for
from slidepacs.simulator.slides import ScannerIdentity, parse_slide_size, write_slide
from slidepacs.wsi.barcodes import read_label_barcode

SIZE = (1024, 768)


def headers(files: tuple[Path, ...]) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(path, stop_before_pixels=True) for path in files]


@pytest.mark.parametrize(("sparse", "organisation"), [(False, "TILED_FULL"),
                                                       (True, "TILED_SPARSE")])
def test_pyramid_levels_follow_the_configured_dimension_organisation(
    tmp_path: Path, sparse: bool, organisation: str
) -> None:
    slide = write_slide(tmp_path, "104233", label_for(3), seed=1, sparse=sparse, size=SIZE)
    volumes = [d for d in headers(slide.files) if "VOLUME" in d.ImageType]
    assert len(volumes) == 2
    assert {d.DimensionOrganizationType for d in volumes} == {organisation}
    base = max(volumes, key=lambda d: int(d.TotalPixelMatrixColumns))
    tiles = 4 * 3
    assert int(base.NumberOfFrames) == (tiles - 4 if sparse else tiles)  # glass corners left out


def test_every_instance_names_the_image_id_barcode_and_scanner(tmp_path: Path) -> None:
    identity = ScannerIdentity("Virtual Scans", "VS-9", "VS9-0042", "vscan 2.1")
    slide = write_slide(tmp_path, "104233", label_for(1), seed=2, size=SIZE, identity=identity)
    for ds in headers(slide.files):
        assert (ds.SeriesNumber, ds.BarcodeValue) == (104233, label_for(1).barcode)
        assert (ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber) == (
            "Virtual Scans", "VS-9", "VS9-0042")
        assert ds.SoftwareVersions[0] == "vscan 2.1"
    assert len({ds.SeriesInstanceUID for ds in headers(slide.files)}) == 1
    base = headers(slide.files)[0]
    assert float(base.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
                 .PixelSpacing[0]) == pytest.approx(0.00026)
    assert base.OpticalPathSequence[0].ObjectiveLensPower == "40"


def test_a_slide_without_barcode_value_still_carries_it_on_its_label(tmp_path: Path) -> None:
    slide = write_slide(tmp_path, "7", label_for(6), seed=3, size=SIZE, barcode_in_header=False)
    assert all(not ds.get("BarcodeValue") for ds in headers(slide.files))
    [label] = [path for path in slide.files if path.name == "label.dcm"]
    found = read_label_barcode(pydicom.dcmread(label).pixel_array)
    assert found is not None and found.value == label_for(6).barcode


def test_wsidicom_opens_the_slide_with_label_and_macro(tmp_path: Path) -> None:
    write_slide(tmp_path, "55", label_for(2), seed=4, sparse=True, size=SIZE)
    with WsiDicom.open(tmp_path) as wsi:
        assert (wsi.size.width, wsi.size.height) == SIZE
        assert wsi.mpp.width == pytest.approx(0.26)
        region = np.asarray(wsi.read_region((0, 0), 0, (512, 512)).convert("RGB"))
        assert region.std() > 5  # tissue, not a blank image
        assert read_label_barcode(np.asarray(wsi.read_label())) is not None
        assert wsi.read_overview() is not None


def test_the_same_seed_makes_the_same_tiles(tmp_path: Path) -> None:
    one = write_slide(tmp_path / "1", "1", label_for(1), seed=8, size=SIZE)
    two = write_slide(tmp_path / "2", "1", label_for(1), seed=8, size=SIZE)
    frames = [pydicom.dcmread(slide.files[0]).PixelData for slide in (one, two)]
    assert frames[0] == frames[1]


@pytest.mark.parametrize("text", ["4096", "4096x", "100x4096", "4096x70000", "axb"])
def test_a_bad_slide_size_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_slide_size(text)


def test_a_slide_size_is_width_by_height() -> None:
    assert parse_slide_size("8192x4096") == (8192, 4096)
