"""``slidepacs convert``: both directions, options, and one clear line for bad input."""

from __future__ import annotations

from pathlib import Path

import pydicom

from tests.cli import run_slidepacs
from tests.wsi.support import summary, tiled_pages


def test_convert_svs_to_sparse_dicom_and_back(slides: dict[str, Path], tmp_path: Path) -> None:
    done = run_slidepacs("convert", slides["ycbcr"], "dicom", "--to", "dicom",
                         "--organization", "sparse", "--slide-id", "S26-0815-A1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Wrote 5 file(s)" in done.stdout
    ds = pydicom.dcmread(tmp_path / "dicom" / "level-0.dcm", stop_before_pixels=True)
    assert ds.DimensionOrganizationType == "TILED_SPARSE"
    assert ds.ContainerIdentifier == "S26-0815-A1"
    label = pydicom.dcmread(tmp_path / "dicom" / "label.dcm", stop_before_pixels=True)
    assert label.BarcodeValue == "S26-04711 A1"
    done = run_slidepacs("convert", "dicom", "back.svs", "--to", "svs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert tiled_pages(tmp_path / "back.svs")[0].tiles == tiled_pages(slides["ycbcr"])[0].tiles
    assert summary(tmp_path / "back.svs")[0] == summary(slides["ycbcr"])[0]


def test_convert_refuses_an_existing_output(slides: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "taken.svs").write_bytes(b"x")
    done = run_slidepacs("convert", slides["ycbcr"], "taken.svs", "--to", "svs", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: taken.svs already exists"
    assert (tmp_path / "taken.svs").read_bytes() == b"x"


def test_convert_says_when_the_input_is_not_a_slide(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a slide")
    done = run_slidepacs("convert", "notes.txt", "out", "--to", "dicom", cwd=tmp_path)
    assert done.returncode == 1
    assert "notes.txt: not a whole-slide image (neither Aperio SVS nor DICOM WSI)" in done.stderr
    assert not (tmp_path / "out").exists()


def test_convert_says_when_a_tiff_is_not_an_svs(tmp_path: Path) -> None:
    import numpy as np
    import tifffile

    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((64, 64, 3), np.uint8))
    done = run_slidepacs("convert", "plain.tif", "out", "--to", "dicom", cwd=tmp_path)
    assert done.returncode == 1
    assert "plain.tif: not an Aperio SVS (no Aperio ImageDescription)" in done.stderr


def test_convert_says_when_the_input_is_missing_or_truncated(slides: dict[str, Path],
                                                             tmp_path: Path) -> None:
    done = run_slidepacs("convert", "absent.svs", "out", "--to", "dicom", cwd=tmp_path)
    assert done.returncode == 1
    assert "absent.svs: no such file or folder" in done.stderr
    (tmp_path / "cut.svs").write_bytes(slides["ycbcr"].read_bytes()[:5000])
    done = run_slidepacs("convert", "cut.svs", "out", "--to", "dicom", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: cut.svs: ") and "truncated" in done.stderr
    assert not (tmp_path / "out").exists()
    assert "Traceback" not in done.stderr
