"""A file cut short anywhere (header, sequence, deferred value, pixel data) is refused whole;
valid nesting of undefined-length sequences in every encoding is accepted."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from slidepacs.dicom.header import read_header
from slidepacs.errors import InvalidInput
from slidepacs.services.ingest import Outcome
from slidepacs.testing.generators import PatientSpec, ct_dataset
from tests.helpers import counts, stored_files

ENCODINGS = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]


def nested_sequences(depth: int, undefined: bool) -> Sequence:
    """A sequence nested ``depth`` deep, every level with two items of text."""
    items = []
    for number in range(2):
        item = Dataset()
        item.CodeValue, item.CodeMeaning = f"C{depth}{number}", f"level {depth} item {number}"
        if depth > 1:
            item.ConceptCodeSequence = nested_sequences(depth - 1, undefined)
        item.is_undefined_length_sequence_item = undefined
        items.append(item)
    return Sequence(items)


def write_with_sequences(path: Path, transfer_syntax: str, undefined: bool) -> Path:
    """A small CT whose header holds a three-level sequence (defined or undefined lengths)."""
    ds = ct_dataset(PatientSpec(), pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), 1,
                    size=8)
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.ProcedureCodeSequence = nested_sequences(3, undefined)
    ds["ProcedureCodeSequence"].is_undefined_length = undefined
    ds.save_as(path, implicit_vr=transfer_syntax == ImplicitVRLittleEndian,
               little_endian=transfer_syntax != ExplicitVRBigEndian, enforce_file_format=True)
    return path


def cut_inside(path: Path, marker: bytes) -> Path:
    """A copy of ``path`` that ends in the middle of ``marker`` (a value inside the header)."""
    data = path.read_bytes()
    position = data.index(marker)
    cut = path.with_name(f"cut-{path.name}")
    cut.write_bytes(data[: position + len(marker) // 2])
    return cut


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("transfer_syntax", ENCODINGS, ids=lambda ts: ts.name)
def test_nested_sequences_in_every_encoding_are_accepted(tmp_path, transfer_syntax, undefined):
    path = write_with_sequences(tmp_path / "seq.dcm", transfer_syntax, undefined)
    parsed = read_header(path, "ISO_IR 192")
    assert parsed.size == path.stat().st_size
    assert parsed.header.instance.transfer_syntax_uid == transfer_syntax


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("transfer_syntax", ENCODINGS, ids=lambda ts: ts.name)
def test_file_cut_inside_a_header_sequence_is_refused(tmp_path, transfer_syntax, undefined):
    path = write_with_sequences(tmp_path / "seq.dcm", transfer_syntax, undefined)
    cut = cut_inside(path, b"level 2 item 1")
    # pydicom notices some of these cuts itself, slidepacs' own walk the rest
    with pytest.raises(InvalidInput, match="truncated|not a readable DICOM file"):
        read_header(cut, "ISO_IR 192")


def test_cut_file_is_not_stored_and_the_whole_one_is_stored_byte_for_byte(app, tmp_path):
    path = write_with_sequences(tmp_path / "seq.dcm", ExplicitVRLittleEndian, undefined=False)
    with pytest.raises(InvalidInput, match="truncated"):
        app.ingest.ingest_file(cut_inside(path, b"level 2 item 1"))
    assert counts(app) == (0, 0, 0, 0)
    assert all(names == [] for names in stored_files(app).values())
    result = app.ingest.ingest_file(path)
    assert result.outcome is Outcome.STORED
    assert app.store.path(result.relpath).read_bytes() == path.read_bytes()


def test_file_cut_inside_a_large_deferred_header_value_is_refused(app, tmp_path):
    ds = ct_dataset(PatientSpec(), pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), 1,
                    size=8)
    del ds.PixelData
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF" + b"x" * 400_000  # larger than the deferred-read size
    whole = tmp_path / "doc.dcm"
    ds.save_as(whole, enforce_file_format=True)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole.read_bytes()[:-1000])
    with pytest.raises(InvalidInput, match=r"truncated: element \(0042,0011\)"):
        app.ingest.ingest_file(cut)
    assert app.ingest.ingest_file(whole).outcome is Outcome.STORED
    assert counts(app) == (1, 1, 1, 1)


def test_pydicom_rtplan_cut_inside_its_beam_sequence_is_refused(app):
    path = Path(get_testdata_file("rtplan_truncated.dcm"))
    assert pydicom.dcmread(path).SOPInstanceUID  # pydicom itself reads it without complaint
    with pytest.raises(InvalidInput, match=r"truncated: element \(300A,00B0\)"):
        app.ingest.ingest_file(path)
    assert counts(app) == (0, 0, 0, 0)


def test_explicit_vr_file_whose_data_set_is_implicit_is_refused_with_the_reason(app):
    path = Path(get_testdata_file("SC_rgb_jpeg.dcm"))
    with pytest.raises(InvalidInput, match="has no VR although the transfer syntax is explicit"):
        app.ingest.ingest_file(path)
