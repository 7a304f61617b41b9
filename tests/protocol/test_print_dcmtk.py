"""dcmtk's print tools against the print server: dcmpsprt lays out a stored print,
dcmprscu prints it to slidepacs (Film Session, Film Box, Image Box N-SET, N-ACTION)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.protocol.test_print_server import DPI, RunningPrinter, printer  # noqa: F401

CONFIG = """[[GENERAL]]
[DATABASE]
Directory = {folder}/database
[PRINT]
Directory = {folder}/spool
[NETWORK]
Aetitle = DCMPRSCU
[[COMMUNICATION]]
[SLIDEPACS]
Aetitle = {ae_title}
Description = slidepacs print server
Hostname = 127.0.0.1
Port = {port}
Type = PRINTER
MaxPDU = 16384
DisplayFormat = 1,1\\2,1\\2,2
FilmSizeID = 8INX10IN\\14INX17IN
MagnificationType = REPLICATE\\BILINEAR\\CUBIC\\NONE
MediumType = PAPER
BorderDensity = BLACK\\WHITE
EmptyImageDensity = BLACK\\WHITE
MaxDensity = 300
MinDensity = 20
Annotation = false
SupportsPresentationLUT = false
"""


def _gradient_image(path: Path) -> None:
    """A secondary capture whose columns run from black to white."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "PRINT^TEST", "P1", "OT"
    pixels = np.tile(np.arange(256, dtype=np.uint8), (128, 1))
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dcmprscu_prints_a_two_image_film(printer: RunningPrinter, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "dcmtk"
    for name in ("database", "spool"):
        (folder / name).mkdir(parents=True)
    config = folder / "print.cfg"
    config.write_text(CONFIG.format(folder=folder, ae_title=printer.ae_title, port=printer.port))
    image = folder / "image.dcm"
    _gradient_image(image)
    subprocess.run(["dcmpsprt", "-c", str(config), "-p", "SLIDEPACS", "--layout", "2", "1",
                    "--filmsize", "8INX10IN", str(image), str(image)],
                   check=True, capture_output=True, timeout=60)
    [stored_print] = (folder / "database").glob("SP_*.dcm")
    sent = subprocess.run(["dcmprscu", "-c", str(config), "-p", "SLIDEPACS", str(stored_print)],
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    [job] = printer.app.printing.jobs()
    assert job.calling_ae == "DCMPRSCU" and len(job.films) == 1
    assert (job.films[0].film_size, job.films[0].layout) == ("8INX10IN", "STANDARD\\2,1")
    film = np.asarray(Image.open(printer.app.printing.folder_of(job) / job.films[0].png))
    assert film.shape == (10 * DPI, 8 * DPI)
    row = film[5 * DPI].astype(int)
    half = 4 * DPI
    for box in (row[:half], row[half:]):  # each box: the gradient, dark to light
        assert box[5] < 30 and box[-5] > 220 and np.all(np.diff(box) >= 0)
