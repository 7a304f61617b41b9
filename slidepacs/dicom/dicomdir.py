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

# Type 1 keys of the directory records that pydicom refuses to create without. Placeholders
# go into the DICOMDIR record only; the exported file keeps its own bytes. None of these keys
# changes which record type pydicom picks for an instance.
_REQUIRED_FOR_RECORDS = {
    "PatientID": "UNKNOWN",
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "StudyID": "0",
    "SeriesNumber": "0",
    "InstanceNumber": "1",
    "Modality": "OT",
    "CompletionFlag": "PARTIAL",           # SR DOCUMENT
    "VerificationFlag": "UNVERIFIED",      # SR DOCUMENT
    "ContentDate": "19000101",             # SR DOCUMENT, KEY OBJECT DOC, PRESENTATION
    "ContentTime": "000000",
    "DoseSummationType": "PLAN",           # RT DOSE
    "StructureSetLabel": "UNKNOWN",        # RT STRUCTURE SET
    "InstanceCreationDate": "19000101",    # RT TREAT RECORD
    "ContentLabel": "UNKNOWN",             # PRESENTATION and other content records
    "MIMETypeOfEncapsulatedDocument": "application/octet-stream",  # ENCAP DOC
}


def referenced_files(dicomdir: Path) -> list[Path]:
    """The files a DICOMDIR references, in record order; InvalidInput if it is unreadable.

    A referenced file that is missing is still listed, so that importing the media reports
    it as one failed file instead of refusing the whole medium (pydicom's FileSet, used here
    to check the record tree, silently leaves such records out).
    """
    try:
        dataset = pydicom.dcmread(dicomdir)
        FileSet(dicomdir)  # reads it again: FileSet may rewrite the dataset it is given
    except Exception as exc:
        raise InvalidInput(f"not a readable DICOMDIR ({str(exc).splitlines()[0][:200]})") from None
    paths = []
    for record in dataset.get("DirectoryRecordSequence", []):
        if "ReferencedFileID" in record and record.get("RecordInUseFlag", 0xFFFF) != 0:
            paths.append(_referenced_path(dicomdir.parent, record.ReferencedFileID))
    return paths


def _referenced_path(root: Path, file_id: str | Sequence[str]) -> Path:
    components = [file_id] if isinstance(file_id, str) else list(file_id)
    path = Path(os.path.normpath(root.joinpath(*components)))
    if not components or root not in path.parents:
        raise InvalidInput(f"DICOMDIR references {'/'.join(components)!r}, outside its folder")
    return path


def write_file_set(
    sources: Sequence[Path],
    target: Path,
    file_set_id: str = "SLIDEPACS",
    progress: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write the DICOM files ``sources`` as a standard file-set with a DICOMDIR in ``target``.

    Returns the paths of the written instance files. ``target`` must be an empty or missing
    folder; if writing fails, what was written is removed again.
    """
    created = _check_target(target)
    file_set = FileSet()
    file_set.ID = file_set_id[:16]
    originals = {_add(file_set, source): source for source in sources}
    try:
        target.mkdir(parents=True, exist_ok=True)
        file_set.write(target)
        written = []
        for instance in file_set:
            destination = Path(instance.path)
            shutil.copyfile(originals[instance.SOPInstanceUID], destination)
            written.append(destination)
            if progress:
                progress(destination)
        _fsync_tree(target)
    except OSError as exc:
        _remove_written(target, created)
        raise StorageFailure(f"cannot write file-set to {target} ({exc.strerror})") from None
    except BaseException:
        _remove_written(target, created)
        raise
    return written


def _check_target(target: Path) -> bool:
    """Refuse a target that is a file or a non-empty folder; True when it does not exist yet."""
    if not target.exists():
        return True
    if not target.is_dir():
        raise InvalidInput(f"export target {target} exists and is not a folder")
    if any(target.iterdir()):
        raise InvalidInput(f"export folder {target} is not empty")
    return False


def _add(file_set: FileSet, source: Path) -> str:
    """Add the directory records of one file (header only); return its SOP Instance UID."""
    header = pydicom.dcmread(source, stop_before_pixels=True)
    for keyword, placeholder in _REQUIRED_FOR_RECORDS.items():
        if not str(header.get(keyword, "") or "").strip():
            setattr(header, keyword, placeholder)
    try:
        return str(file_set.add(header).SOPInstanceUID)
    except ValueError as exc:  # pydicom: a Type 1 key of the instance's record is missing
        uid = header.get("SOPInstanceUID", "?")
        raise InvalidInput(f"instance {uid} cannot be listed in a DICOMDIR ({exc})") from None


def _remove_written(target: Path, created: bool) -> None:
    if created:
        shutil.rmtree(target, ignore_errors=True)
        return
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
