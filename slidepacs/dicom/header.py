"""Read a DICOM file's header into index records, never loading its pixel data."""

from __future__ import annotations

import io
import logging
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from slidepacs.dicom.frames import FrameGeometry, FrameMap, frame_map, needs_offset_table
from slidepacs.dicom.layout import PixelLayout, check_complete, dataset_start, read_offset_table
from slidepacs.domain.records import (
    InstanceHeader,
    InstanceRecord,
    PatientRecord,
    SeriesRecord,
    SlideRecord,
    StudyRecord,
)
from slidepacs.domain.uids import checked_uid
from slidepacs.errors import InvalidInput

log = logging.getLogger(__name__)
WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
MEDIA_DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10"
DEFER_LARGER_THAN = 256 * 1024
HEAD_BYTES = 64 * 1024  # headers that fit are parsed from memory


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A readable DICOM file: its records and how to store it as a Part 10 file.

    ``prefix`` is written before the file's bytes from ``dataset_offset`` on: empty for a
    Part 10 file (stored exactly as received), a preamble and File Meta for a bare dataset.
    ``frame_map``: where each frame lies in the stored file, packed (see
    :class:`~slidepacs.dicom.frames.FrameMap`; zero frames without Pixel Data); None when
    that cannot be told without parsing the frames (or the file is deflated).
    """

    header: InstanceHeader
    prefix: bytes
    dataset_offset: int
    size: int
    frame_map: bytes | None = None


def read_header(path: Path, default_charset: str,
                content: memoryview | None = None) -> ParsedFile:
    """Parse ``path`` up to Pixel Data, check the rest is complete, and build its records;
    ``content``, when the file's whole content is in memory already, is read instead.

    Raises InvalidInput with a reason naming the tag or byte that is wrong.
    """
    try:
        size = path.stat().st_size if content is None else len(content)
        with path.open("rb") if content is None else _MemoryFile(content) as handle:
            dataset, has_meta = _read_dataset(handle, path)
            if dataset.get("SOPClassUID") == MEDIA_DIRECTORY_SOP_CLASS or (
                has_meta and dataset.file_meta.get("MediaStorageSOPClassUID")
                == MEDIA_DIRECTORY_SOP_CLASS
            ):
                raise InvalidInput("file is a DICOMDIR (media directory), not an instance")
            implicit, little = _encoding(dataset)
            transfer_syntax = _transfer_syntax(dataset, has_meta, implicit, little)
            frames = _walk(handle, size, dataset, has_meta, transfer_syntax)
    except OSError as exc:
        raise InvalidInput(f"cannot read file ({exc.strerror or exc})") from None
    declared = _text(dataset, "SpecificCharacterSet")
    if not declared.strip("\\ "):  # missing or empty: decode text with the configured default
        dataset.set_original_encoding(
            *dataset.original_encoding, convert_encodings(default_charset.split("\\"))
        )
    header = _records(dataset, transfer_syntax, declared, has_meta)
    prefix = b"" if has_meta else _part10_prefix(dataset, header, transfer_syntax)
    dataset_offset = 0
    packed = None if frames is None else frames.shifted(len(prefix) - dataset_offset).pack()
    return ParsedFile(header, prefix, dataset_offset, size, packed)


def read_frame_map(path: Path) -> bytes | None:
    """The packed frame map of a stored Part 10 file, as :func:`read_header` records it
    (for instances indexed before frame maps were); InvalidInput if the file is unreadable."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            dataset, has_meta = _read_dataset(handle, path)
            implicit, little = _encoding(dataset)
            transfer_syntax = _transfer_syntax(dataset, has_meta, implicit, little)
            frames = _walk(handle, size, dataset, has_meta, transfer_syntax)
    except OSError as exc:
        raise InvalidInput(f"cannot read file ({exc.strerror or exc})") from None
    return None if frames is None else frames.pack()


def _walk(
    handle: Any, size: int, dataset: Dataset, has_meta: bool, transfer_syntax: str
) -> FrameMap | None:
    """Prove the file is complete (unless deflated) and map its frames on the way."""
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        return None
    implicit, little = _encoding(dataset)
    start = dataset_start(handle, size, has_meta)
    layout = check_complete(handle, size, implicit, little, start)
    geometry = FrameGeometry(
        *(_integer(dataset, keyword, warn=False) for keyword in _GEOMETRY),
        photometric_interpretation=_text(dataset, "PhotometricInterpretation"),
    )
    table = _offset_table(handle, layout, geometry, little)
    return frame_map(layout, geometry, table)


_GEOMETRY = ("NumberOfFrames", "Rows", "Columns", "SamplesPerPixel", "BitsAllocated")


def _offset_table(
    handle: Any, layout: PixelLayout | None, geometry: FrameGeometry, little: bool
) -> Sequence[int]:
    """The Basic Offset Table, read only when the frames cannot be told apart without it."""
    if layout is None or not needs_offset_table(layout, geometry):
        return ()
    return read_offset_table(handle, layout, little)


def _read_dataset(handle: Any, path: Path) -> tuple[Dataset, bool]:
    """The data set up to Pixel Data, parsed from the file's first bytes in memory when the
    header fits in them: pydicom asks the file's position once per element, which on a file
    is a system call (and, with several ingest threads, a hand-over of the GIL)."""
    head = handle.read(HEAD_BYTES)
    if len(head) < HEAD_BYTES:  # the whole file
        dataset, has_meta = _parse(io.BytesIO(head), path)
    else:
        buffer = io.BytesIO(head)
        try:
            dataset, has_meta = _parse(buffer, path)
            complete = buffer.tell() <= HEAD_BYTES - 16
        except InvalidInput:
            complete = False  # perhaps only cut off by the end of the head
        if not complete:  # the header is longer than the head: parse the file itself
            handle.seek(0)
            dataset, has_meta = _parse(handle, path)
    if isinstance(handle, _MemoryFile):  # deferred values are read from memory too
        dataset.buffer, dataset.filename = _MemoryFile(handle.content), None
    else:  # deferred values are read from the file itself, by name
        dataset.buffer, dataset.fileobj_type, dataset.filename = None, open, str(path)
    return dataset, has_meta


class _MemoryFile:
    """A read-only file over bytes in memory, without copying them (``io.BytesIO`` copies
    all but ``bytes``)."""

    def __init__(self, content: memoryview) -> None:
        self.content = content
        self.closed = False
        self._position = 0

    def read(self, count: int = -1) -> bytes:
        """Up to ``count`` bytes (all the rest if negative) from the position on."""
        end = len(self.content) if count < 0 else min(self._position + count, len(self.content))
        data = bytes(self.content[self._position:end])
        self._position = max(end, self._position)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the position, as a file's ``seek`` does."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: len(self.content)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        """The position."""
        return self._position

    def close(self) -> None:
        """Nothing to free."""
        self.closed = True

    def __enter__(self) -> _MemoryFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _parse(handle: Any, path: Path) -> tuple[Dataset, bool]:
    try:
        dataset = pydicom.dcmread(
            handle, stop_before_pixels=True, defer_size=DEFER_LARGER_THAN
        )
        return dataset, True
    except InvalidDicomError:
        pass
    except Exception as exc:  # pydicom raises many types on malformed input
        raise InvalidInput(f"not a readable DICOM file ({_describe(exc)})") from None
    handle.seek(0)
    try:
        dataset = pydicom.dcmread(
            handle, stop_before_pixels=True, defer_size=DEFER_LARGER_THAN, force=True
        )
    except Exception as exc:
        raise InvalidInput(f"not a DICOM file ({_describe(exc)})") from None
    if "SOPClassUID" not in dataset or "SOPInstanceUID" not in dataset:
        raise InvalidInput("not a DICOM file (no DICM prefix and no SOP Class/Instance UID)")
    if len(getattr(dataset, "file_meta", None) or ()):
        raise InvalidInput("File Meta Information without the 128-byte preamble and DICM prefix")
    return dataset, False


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _encoding(dataset: Dataset) -> tuple[bool, bool]:
    implicit, little = dataset.original_encoding
    if implicit is None or little is None:
        raise InvalidInput("cannot tell the dataset's encoding (implicit/explicit VR)")
    return bool(implicit), bool(little)


def _transfer_syntax(dataset: Dataset, has_meta: bool, implicit: bool, little: bool) -> str:
    if has_meta:
        uid = str(dataset.file_meta.get("TransferSyntaxUID", "")).strip()
        if not uid:
            raise InvalidInput("File Meta Information has no Transfer Syntax UID (0002,0010)")
        return uid
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def _part10_prefix(dataset: Dataset, header: InstanceHeader, transfer_syntax: str) -> bytes:
    """Preamble and File Meta Information for a bare dataset received without them."""
    from io import BytesIO

    from pydicom.filewriter import write_file_meta_info

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = header.instance.sop_class_uid
    meta.MediaStorageSOPInstanceUID = header.instance.sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax
    buffer = BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue()


def _records(
    dataset: Dataset, transfer_syntax: str, declared_charset: str, has_meta: bool
) -> InstanceHeader:
    sop_class = checked_uid("SOP Class UID (0008,0016)", _text(dataset, "SOPClassUID"))
    patient = PatientRecord(
        patient_id=_text(dataset, "PatientID"),
        issuer_of_patient_id=_text(dataset, "IssuerOfPatientID"),
        patient_name=_text(dataset, "PatientName"),
        birth_date=_text(dataset, "PatientBirthDate"),
        sex=_text(dataset, "PatientSex"),
        comments=_text(dataset, "PatientComments"),
    )
    study = StudyRecord(
        study_instance_uid=checked_uid(
            "Study Instance UID (0020,000D)", _text(dataset, "StudyInstanceUID")
        ),
        study_date=_text(dataset, "StudyDate"),
        study_time=_text(dataset, "StudyTime"),
        accession_number=_text(dataset, "AccessionNumber"),
        study_id=_text(dataset, "StudyID"),
        description=_text(dataset, "StudyDescription"),
        referring_physician_name=_text(dataset, "ReferringPhysicianName"),
    )
    series = SeriesRecord(
        series_instance_uid=checked_uid(
            "Series Instance UID (0020,000E)", _text(dataset, "SeriesInstanceUID")
        ),
        modality=_text(dataset, "Modality"),
        series_number=_integer(dataset, "SeriesNumber"),
        series_date=_text(dataset, "SeriesDate"),
        series_time=_text(dataset, "SeriesTime"),
        description=_text(dataset, "SeriesDescription"),
        body_part_examined=_text(dataset, "BodyPartExamined"),
    )
    instance = InstanceRecord(
        sop_instance_uid=checked_uid(
            "SOP Instance UID (0008,0018)", _text(dataset, "SOPInstanceUID")
        ),
        sop_class_uid=sop_class,
        transfer_syntax_uid=transfer_syntax,
        instance_number=_integer(dataset, "InstanceNumber"),
        image_type=_text(dataset, "ImageType"),
        number_of_frames=_integer(dataset, "NumberOfFrames"),
        rows=_integer(dataset, "Rows"),
        columns=_integer(dataset, "Columns"),
        specific_character_set=declared_charset,
        slide=_slide(dataset, sop_class),
    )
    return InstanceHeader(patient, study, series, instance, has_meta)


def _slide(dataset: Dataset, sop_class: str) -> SlideRecord:
    if sop_class != WSI_SOP_CLASS:
        return SlideRecord()
    return SlideRecord(
        barcode=_text(dataset, "BarcodeValue"),
        slide_id=_text(dataset, "ContainerIdentifier"),
        scanner=_text(dataset, "DeviceSerialNumber") or _text(dataset, "StationName"),
        tile_width=_integer(dataset, "Columns"),
        tile_height=_integer(dataset, "Rows"),
        total_pixel_matrix_columns=_integer(dataset, "TotalPixelMatrixColumns"),
        total_pixel_matrix_rows=_integer(dataset, "TotalPixelMatrixRows"),
    )


def _text(dataset: Dataset, keyword: str) -> str:
    """The value of ``keyword`` as decoded text; multi-values joined by backslash."""
    quick = _raw_text(dataset, keyword)
    if quick is not None:
        return quick
    try:
        value = dataset.get(keyword)  # one lookup; converts only this element
    except Exception as exc:
        raise InvalidInput(f"{keyword} cannot be decoded ({_describe(exc)})") from None
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip().rstrip("\x00")
    if isinstance(value, bytes):
        return value.decode("latin-1").strip().rstrip("\x00")
    return str(value).strip().rstrip("\x00")


def _raw_text(dataset: Dataset, keyword: str) -> str | None:
    """``_text`` without pydicom's value conversion, for the common case: a raw, loaded
    element of a plain string VR holding only ASCII without escape sequences (the same text in
    every character set),
    or a binary US/UL/SS/SL. None when the element needs pydicom's full conversion."""
    tag = _TAGS.get(keyword)
    if tag is None:
        tag = _TAGS[keyword] = tag_for_keyword(keyword)
    element = dataset._dict.get(tag)  # the stored element itself; get() would convert it
    if element is None:
        return ""
    if type(element) is not RawDataElement or element.value is None:
        return None
    vr = element.VR or _implicit_vr(tag)
    value = element.value
    if vr in _PLAIN_TEXT_VRS and value.isascii() and b"\x1b" not in value:
        return value.decode("ascii").strip().rstrip("\x00")
    if vr in _BINARY_INTEGERS and len(value) == _BINARY_INTEGERS[vr][1]:
        code = ("<" if element.is_little_endian else ">") + _BINARY_INTEGERS[vr][0]
        return str(struct.unpack(code, value)[0])
    return None


def _implicit_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


_TAGS: dict[str, int] = {}
_PLAIN_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH",
                             "ST", "TM", "UC", "UI", "UT"})
_BINARY_INTEGERS = {"US": ("H", 2), "UL": ("I", 4), "SS": ("h", 2), "SL": ("i", 4)}


def _integer(dataset: Dataset, keyword: str, warn: bool = True) -> int | None:
    text = _text(dataset, keyword).split("\\")[0].strip()
    if not text:
        return None
    try:
        return int(float(text))
    except ValueError:
        if warn:
            log.warning("ignoring %s value %r: not a number", keyword, text)
        return None


def is_dicomdir(path: Path) -> bool:
    """True when ``path`` is a DICOMDIR file (by name, or by its Media Storage SOP Class)."""
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(132 + 1024)
    except OSError:
        return False
    return head[128:132] == b"DICM" and MEDIA_DIRECTORY_SOP_CLASS.encode() in head


def file_size(path: Path) -> int:
    """Size in bytes of ``path``."""
    return os.stat(path).st_size
