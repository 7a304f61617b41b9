"""DICOMDIR media (PS3.10 file-sets): list the files of one, write one.

Writing uses pydicom's FileSet for the directory records, built from headers only; the full
files are then copied byte for byte into place, so exporting a multi-gigabyte slide never
loads it into memory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom
from pydicom.fileset import FileSet

from slidepacs.errors import InvalidInput, StorageFailure

# Type 1 keys of the directory records that pydicom refuses to create without.
_REQUIRED_FOR_RECORDS = {
    "PatientID": "UNKNOWN",
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "StudyID": "0",
    "SeriesNumber": "0",
    "InstanceNumber": "1",
    "Modality": "OT",
}


def referenced_files(dicomdir: Path) -> list[Path]:
    """The files a DICOMDIR references, in record order; InvalidInput if it is unreadable."""
    try:
        file_set = FileSet(pydicom.dcmread(dicomdir))
    except Exception as exc:
        raise InvalidInput(f"not a readable DICOMDIR ({str(exc).splitlines()[0][:200]})") from None
    paths = []
    for instance in file_set:
        path = Path(instance.path)
        if not path.is_file():
            raise InvalidInput(f"DICOMDIR references {path.name}, which is missing")
        paths.append(path)
    return paths


def write_file_set(
    sources: Sequence[Path],
    target: Path,
    file_set_id: str = "SLIDEPACS",
    progress: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write the DICOM files ``sources`` as a standard file-set with a DICOMDIR in ``target``.

    Returns the paths of the written instance files. ``target`` must be empty or missing.
    """
    if target.exists() and any(target.iterdir()):
        raise InvalidInput(f"export folder {target} is not empty")
    file_set = FileSet()
    file_set.ID = file_set_id[:16]
    originals: dict[str, Path] = {}
    for source in sources:
        header = pydicom.dcmread(source, stop_before_pixels=True)
        for keyword, placeholder in _REQUIRED_FOR_RECORDS.items():
            if not str(header.get(keyword, "") or "").strip():
                setattr(header, keyword, placeholder)
        instance = file_set.add(header)
        originals[instance.SOPInstanceUID] = source
    try:
        target.mkdir(parents=True, exist_ok=True)
        file_set.write(target)
    except OSError as exc:
        raise StorageFailure(f"cannot write file-set to {target} ({exc.strerror})") from None
    written = []
    for instance in file_set:
        destination = Path(instance.path)
        shutil.copyfile(originals[instance.SOPInstanceUID], destination)
        written.append(destination)
        if progress:
            progress(destination)
    _fsync_tree(target)
    return written


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
