"""C-STORE of whole slides meets the calling AE's image rules: a slide that keeps to them is
indexed with the IDs they derive; one that breaks them is acknowledged (it is kept, never
lost), held in quarantine with the reason, and stored once the rules are fixed."""

from __future__ import annotations

from pathlib import Path

import pydicom
from sqlalchemy import select

from slidepacs.index.tables import Instance
from slidepacs.services.image_rules import RuleChanges
from slidepacs.services.quarantine import RetryOutcome
from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.dicom_reader import DicomSlide
from slidepacs.wsi.svs_reader import SvsSlide
from slidepacs.wsi.to_dicom import DicomOptions
from tests.helpers import received_files
from tests.protocol.conftest import RunningDimse
from tests.protocol.scu import associate

SCANNER = "GT450_LAB1"


def dicom_slide(tmp_path: Path, barcode: str | None) -> list[Path]:
    svs = make_svs(tmp_path / "slide.svs", SlideSpec(width=1024, height=768, barcode=barcode))
    return convert(svs, tmp_path / "series", Target.DICOM, DicomOptions())


def send(front: RunningDimse, files: list[Path]) -> list[int]:
    syntaxes = {pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID
                for f in files}
    contexts = [("1.2.840.10008.5.1.4.1.1.77.1.6", [syntax]) for syntax in sorted(syntaxes)]
    with associate(front.port, front.ae_title, contexts, calling=SCANNER,
                   maximum_pdu=0) as association:
        return [association.send_c_store(path).Status for path in files]


def indexed(front: RunningDimse) -> list[tuple[str, str, str]]:
    with front.app.unit_of_work.read() as repo:
        rows = repo.session.execute(select(Instance.barcode, Instance.slide_id,
                                           Instance.case_id))
        return sorted(tuple(row) for row in rows)


def test_a_stored_slide_gets_the_case_id_its_senders_rules_derive(
    open_dimse: RunningDimse, tmp_path: Path
) -> None:
    open_dimse.app.rules.set(SCANNER, RuleChanges(case_id_regex=r"^S\d{2}-\d{5}"))
    files = dicom_slide(tmp_path, "S26-04711 A1")
    assert send(open_dimse, files) == [0x0000] * len(files)
    assert {row[2] for row in indexed(open_dimse)} == {"S26-04711"}


def test_a_slide_that_breaks_the_rules_is_acknowledged_quarantined_and_stored_once_fixed(
    open_dimse: RunningDimse, tmp_path: Path
) -> None:
    app = open_dimse.app
    app.rules.set(SCANNER, RuleChanges(require_barcode=True))
    files = dicom_slide(tmp_path, None)
    assert send(open_dimse, files) == [0x0000] * len(files)
    assert indexed(open_dimse) == []
    entries = app.quarantine.entries()
    assert len(entries) == len(files)
    assert all(e.ae_title == SCANNER and "barcode" in e.reason for e in entries)
    assert received_files(app.store.incoming_path().parent) == []

    app.rules.set(SCANNER, RuleChanges(require_barcode=False))
    assert {r.outcome for r in app.quarantine.retry()} == {RetryOutcome.INGESTED}
    assert len(indexed(open_dimse)) == len(files) and app.quarantine.entries() == []


def test_a_scanner_with_svs_output_gets_the_slide_it_sent_as_an_svs_file(
    open_dimse: RunningDimse, tmp_path: Path
) -> None:
    out = tmp_path / "svs-out"
    open_dimse.app.rules.set(SCANNER, RuleChanges(output_format="svs", file_location=str(out),
                                                  filename_template="{CASEID}",
                                                  case_id_regex=r"^S\d{2}-\d{5}"))
    files = dicom_slide(tmp_path, "S26-04711 A1")
    assert send(open_dimse, files) == [0x0000] * len(files)
    written = open_dimse.app.slide_outputs.write_due(force=True)
    assert written == [out / "S26-04711.svs"]
    with SvsSlide(written[0]) as copy, DicomSlide(files[0]) as sent:
        assert [level.px_width for level in copy.levels] == [
            level.px_width for level in sent.levels]
        assert copy.read_frame(0, 0, 0) is not None
