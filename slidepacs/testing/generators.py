"""Generate realistic DICOM objects for tests and benchmarks (never downloaded)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MULTIFRAME_TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"


@dataclass(frozen=True)
class PatientSpec:
    """Who a generated object belongs to."""

    patient_id: str = "PAT001"
    patient_name: str = "DOE^JOHN"
    birth_date: str = "19700101"
    sex: str = "M"
    character_set: str = "ISO_IR 192"


def ct_dataset(
    patient: PatientSpec,
    study_uid: str,
    series_uid: str,
    number: int,
    size: int = 512,
    study_date: str = "20240115",
    accession: str = "ACC001",
    modality: str = "CT",
) -> Dataset:
    """A CT-like slice (about 512 KB at the default size) with a smooth, noisy body phantom."""
    ds = _base_dataset(CTImageStorage, patient, study_uid, series_uid, modality)
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = study_date, "101500", accession
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.SeriesDescription, ds.StudyDescription = "Generated axial", "Generated CT"
    ds.BodyPartExamined = "CHEST"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SliceLocation = float(number)
    ds.ImagePositionPatient = [-250.0, -250.0, float(number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.SliceThickness = 1.0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.WindowCenter, ds.WindowWidth = 40, 400
    _set_monochrome(ds, _phantom(size, number))
    return ds


def write_ct_series(
    folder: Path, count: int, patient: PatientSpec | None = None, size: int = 512,
    study_uid: str | None = None,
) -> list[Path]:
    """Write ``count`` CT slices of one new series under ``folder``; return their paths."""
    patient = patient or PatientSpec()
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(1, count + 1):
        path = folder / f"CT{number:05d}.dcm"
        ct_dataset(patient, study_uid, series_uid, number, size).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_large_multiframe(path: Path, total_bytes: int, patient: PatientSpec | None = None) -> str:
    """Write a multi-frame true-colour instance of about ``total_bytes``, streamed to disk.

    The header is written by pydicom; the Pixel Data value (synthetic tissue-like frames) is
    appended frame by frame, so memory stays small whatever the size. Returns the SOP UID.
    """
    patient = patient or PatientSpec()
    side = 1024
    frame_bytes = side * side * 3
    frames = max(1, total_bytes // frame_bytes)
    ds = _base_dataset(MULTIFRAME_TRUE_COLOR_SC, patient, generate_uid(), generate_uid(), "SM")
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = frames
    ds.save_as(path, enforce_file_format=True)
    tile = _tissue_frame(side)
    with path.open("ab") as handle:
        handle.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, frames * frame_bytes))
        for index in range(frames):
            handle.write(np.roll(tile, index * 7, axis=1).tobytes())
    return str(ds.SOPInstanceUID)


def _base_dataset(
    sop_class: str, patient: PatientSpec, study_uid: str, series_uid: str, modality: str
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    sop_uid = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SpecificCharacterSet = patient.character_set
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.PatientID, ds.PatientName = patient.patient_id, patient.patient_name
    ds.PatientBirthDate, ds.PatientSex = patient.birth_date, patient.sex
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.Modality = modality
    ds.StudyID, ds.StudyDate, ds.StudyTime = "1", "20240115", "101500"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Manufacturer = "slidepacs test generator"
    return ds


def _set_monochrome(ds: Dataset, pixels: np.ndarray) -> None:
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype("<u2").tobytes()


def _phantom(size: int, seed: int) -> np.ndarray:
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    body = ((x / 0.8) ** 2 + (y / 0.6) ** 2) < 1
    lungs = (((x + 0.35) / 0.25) ** 2 + (y / 0.4) ** 2 < 1) | (((x - 0.35) / 0.25) ** 2 + (y / 0.4) ** 2 < 1)
    image = np.where(body, 1064, 24) - np.where(lungs, 800, 0)
    noise = np.random.default_rng(seed).normal(0, 20, (size, size))
    return np.clip(image + noise, 0, 4095)


def _tissue_frame(side: int) -> np.ndarray:
    rng = np.random.default_rng(42)
    y, x = np.mgrid[0:side, 0:side]
    cells = (np.sin(x / 9.0) * np.cos(y / 11.0) > 0.6)
    frame = np.empty((side, side, 3), np.uint8)
    frame[..., 0] = np.where(cells, 150, 235) + rng.integers(0, 12, (side, side))
    frame[..., 1] = np.where(cells, 80, 200) + rng.integers(0, 12, (side, side))
    frame[..., 2] = np.where(cells, 170, 225) + rng.integers(0, 12, (side, side))
    return frame
