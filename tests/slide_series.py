"""A synthetic whole slide as a DICOM WSI series for the slide viewer's tests: three pyramid
levels (by default 1800×1100, 450×275, 113×69 in 256-pixel tiles) plus label, overview and
thumbnail."""

from __future__ import annotations

from pathlib import Path

import pydicom

from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions

WIDTH, HEIGHT, TILE, DOWNSAMPLES = 1800, 1100, 256, (1, 4, 16)
MPP = 0.25


def slide_series(folder: Path, sparse: bool = False,
                 missing: frozenset[tuple[int, int]] = frozenset(),
                 slide_id: str = "SL-0001", seed: int = 7, width: int = WIDTH,
                 height: int = HEIGHT) -> Path:
    """Write the slide as DICOM WSI files in ``folder``/dicom and return that folder;
    ``missing`` base-level tiles are left out (stored TILED_SPARSE when ``sparse``)."""
    svs = make_svs(folder / "slide.svs", SlideSpec(
        width=width, height=height, tile=TILE, downsamples=DOWNSAMPLES, mpp=MPP,
        missing=missing, seed=seed))
    out = folder / "dicom"
    convert(svs, out, Target.DICOM, DicomOptions(sparse=sparse, slide_id=slide_id))
    return out


def datasets(folder: Path) -> list[pydicom.Dataset]:
    """Every instance of the series (headers only)."""
    return [pydicom.dcmread(path, stop_before_pixels=True) for path in sorted(folder.iterdir())]


def volumes(folder: Path) -> list[pydicom.Dataset]:
    """The pyramid levels, largest first."""
    levels = [d for d in datasets(folder) if "VOLUME" in d.ImageType]
    return sorted(levels, key=lambda d: -int(d.TotalPixelMatrixColumns))


def move_into_study(folder: Path, like: Path) -> None:
    """Rewrite the series in ``folder`` into the study (and patient) of the one in ``like``."""
    model = datasets(like)[0]
    for path in sorted(folder.iterdir()):
        dataset = pydicom.dcmread(path)
        for keyword in ("StudyInstanceUID", "StudyID", "AccessionNumber", "StudyDate",
                        "StudyTime", "PatientID", "PatientName", "PatientBirthDate",
                        "PatientSex"):
            if keyword in model:
                setattr(dataset, keyword, model.get(keyword))
        dataset.save_as(path, enforce_file_format=True)
