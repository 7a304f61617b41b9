"""Whole slides entering the archive, on SQLite and PostgreSQL: an imported SVS becomes a
DICOM WSI series (importing it again changes nothing), and each sender's image rules name
the slide in the index or keep it in quarantine until they are fixed."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from sqlalchemy import select

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import Settings
from slidepacs.index.tables import Instance
from slidepacs.services.image_rules import RuleChanges
from slidepacs.services.importer import ImportItem, ImportReport
from slidepacs.services.quarantine import RetryOutcome
from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.dicom_modules import WSI_SOP_CLASS
from slidepacs.wsi.svs_reader import SvsSlide

SCANNER = "GT450_LAB1"
SMALL = SlideSpec(width=1024, height=768, downsamples=(1, 4))

from tests.helpers import received_files


def import_slide(app: AppContext, svs: Path, sender: str | None = None) -> ImportReport:
    return app.importer.run([ImportItem(svs, svs.parent)], sender=sender)


def indexed(app: AppContext) -> list[tuple[str, str, str, str]]:
    with app.unit_of_work.read() as repo:
        rows = repo.session.execute(select(Instance.sop_class_uid, Instance.barcode,
                                           Instance.slide_id, Instance.case_id))
        return sorted(tuple(row) for row in rows)


def stored_datasets(app: AppContext) -> list[pydicom.Dataset]:
    """Every stored instance's header, read from its file."""
    with app.unit_of_work.read() as repo:
        relpaths = list(repo.session.scalars(select(Instance.relpath)))
    return [pydicom.dcmread(app.store.path(relpath), stop_before_pixels=True)
            for relpath in relpaths]


def test_an_imported_svs_is_stored_as_a_dicom_wsi_series_and_reimport_is_a_duplicate(
    app: AppContext, tmp_path: Path
) -> None:
    svs = make_svs(tmp_path / "slide.svs", SMALL)
    first = import_slide(app, svs)
    assert first.failures == [] and first.stored >= 3  # 2 levels, label, overview, thumbnail
    rows = indexed(app)
    assert len(rows) == first.stored
    assert {row[0] for row in rows} == {WSI_SOP_CLASS}
    assert {row[1] for row in rows} == {"S26-04711 A1"}
    again = import_slide(app, svs)
    assert again.duplicates == first.stored and again.stored == 0
    assert len(indexed(app)) == first.stored
    assert not received_files(app.ingest.incoming_path().parent)  # conversion leaves nothing


def test_a_file_that_only_looks_like_tiff_is_refused_with_the_reason(
    app: AppContext, tmp_path: Path
) -> None:
    fake = tmp_path / "broken.svs"
    fake.write_bytes(b"II*\x00" + b"\x00" * 200)
    report = import_slide(app, fake)
    assert report.stored == 0 and len(report.failures) == 1
    assert report.failures[0][0] == fake and "TIFF" in report.failures[0][1]
    assert indexed(app) == []


def test_rules_of_the_sender_set_slide_and_case_id_in_the_index(
    app: AppContext, tmp_path: Path
) -> None:
    app.rules.set(SCANNER, RuleChanges(barcode_regex=r"S\d{2}-\d{5}",
                                       case_id_regex=r"S\d{2}-\d{5}",
                                       slide_id_regex=r"(?<= )[A-Z]\d+$"))
    report = import_slide(app, make_svs(tmp_path / "slide.svs", SMALL), sender=SCANNER)
    assert report.stored >= 3 and report.quarantined == 0
    assert {row[1:] for row in indexed(app)} == {("S26-04711", "A1", "S26-04711")}


def test_a_slide_without_barcode_is_quarantined_then_ingested_once_the_rule_is_fixed(
    app: AppContext, tmp_path: Path
) -> None:
    app.rules.set(SCANNER, RuleChanges(require_barcode=True))
    svs = make_svs(tmp_path / "slide.svs", SlideSpec(width=1024, height=768, barcode=None))
    report = import_slide(app, svs, sender=SCANNER)
    assert report.stored == 0 and report.failures == [] and report.quarantined >= 3
    assert indexed(app) == []
    entries = app.quarantine.entries()
    assert len(entries) == report.quarantined
    assert all("barcode" in e.reason and e.ae_title == SCANNER for e in entries)
    assert all(app.quarantine.file_path(e).is_file() for e in entries)

    still = app.quarantine.retry()
    assert {r.outcome for r in still} == {RetryOutcome.STILL_BREAKS_RULES}
    app.rules.set(SCANNER, RuleChanges(require_barcode=False))
    done = app.quarantine.retry()
    assert {r.outcome for r in done} == {RetryOutcome.INGESTED}
    assert len(indexed(app)) == report.quarantined and app.quarantine.entries() == []


@pytest.mark.parametrize("organization", ["full", "sparse"])
def test_an_svs_is_imported_in_the_tiling_its_senders_rules_ask_for(
    app: AppContext, tmp_path: Path, organization: str
) -> None:
    app.rules.set(SCANNER, RuleChanges(organization=organization))
    report = import_slide(app, make_svs(tmp_path / "slide.svs", SMALL), sender=SCANNER)
    assert report.stored >= 3 and report.failures == []
    levels = [ds for ds in stored_datasets(app) if "VOLUME" in ds.ImageType]
    assert levels
    expected = "TILED_SPARSE" if organization == "sparse" else "TILED_FULL"
    assert {ds.DimensionOrganizationType for ds in levels} == {expected}
    for ds in levels:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if organization == "sparse":
            assert len(per_frame) == ds.NumberOfFrames
            assert "PlanePositionSlideSequence" in per_frame[0]
        else:
            assert per_frame is None


def test_without_a_sender_no_rules_apply(app: AppContext, tmp_path: Path) -> None:
    app.rules.set(SCANNER, RuleChanges(require_barcode=True))
    svs = make_svs(tmp_path / "slide.svs", SlideSpec(width=1024, height=768, barcode=None))
    report = import_slide(app, svs)
    assert report.stored >= 3 and report.quarantined == 0


def test_a_sender_with_svs_output_gets_each_slide_as_an_svs_named_by_its_template(
    app: AppContext, tmp_path: Path
) -> None:
    out = tmp_path / "slides"
    app.rules.set(SCANNER, RuleChanges(output_format="svs", file_location=str(out),
                                       barcode_regex=r"S\d{2}-\d{5}",
                                       filename_template="{BARCODEID}_{IMAGEID}"))
    svs = make_svs(tmp_path / "in.svs", SMALL)
    report = import_slide(app, svs, sender=SCANNER)
    assert report.stored >= 3
    with SvsSlide(svs) as original:
        name = f"S26-04711_{original.metadata.image_id}.svs"  # the scanner's image ID
    written = app.slide_outputs.write_due(force=True)
    assert [p.name for p in written] == [name] and written[0].parent == out
    assert [p.name for p in out.iterdir()] == [name]  # no temporary left
    with SvsSlide(svs) as original, SvsSlide(written[0]) as copy:
        assert len(copy.levels) == len(original.levels)
        assert copy.read_frame(0, 1, 1) == original.read_frame(0, 1, 1)  # not re-encoded


def test_a_slide_waiting_for_its_svs_when_the_process_dies_gets_it_at_the_next_start(
    app: AppContext, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "slides"
    app.rules.set(SCANNER, RuleChanges(output_format="svs", file_location=str(out)))
    import_slide(app, make_svs(tmp_path / "in.svs", SMALL), sender=SCANNER)
    app.close()  # "crash": the pending slide is only in memory … and in its durable note
    restarted = build_context(settings)
    try:
        assert restarted.slide_outputs.resume() == 1
        [written] = restarted.slide_outputs.write_due(force=True)
        assert written.parent == out and written.suffix == ".svs"
        assert restarted.slide_outputs.resume() == 0  # the note is gone once written
    finally:
        restarted.close()


def test_a_sender_with_dicom_output_gets_the_slides_dicom_files_in_a_folder_named_by_its_template(
    app: AppContext, tmp_path: Path
) -> None:
    out = tmp_path / "slides"
    app.rules.set(SCANNER, RuleChanges(file_location=str(out), barcode_regex=r"S\d{2}-\d{5}",
                                       filename_template="{BARCODEID}_{IMAGEID}"))
    svs = make_svs(tmp_path / "in.svs", SMALL)
    report = import_slide(app, svs, sender=SCANNER)
    with SvsSlide(svs) as original:
        name = f"S26-04711_{original.metadata.image_id}"
    written = app.slide_outputs.write_due(force=True)
    assert sorted(p.name for p in written) == sorted(
        f"{name}-{number}.dcm" for number in range(1, report.stored + 1))
    assert [p.name for p in out.iterdir()] == [name]
    copies = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in written}
    assert copies == {ds.SOPInstanceUID for ds in stored_datasets(app)}
    assert not list(out.rglob("*.tmp")) and not list(out.glob("*.svs"))
    assert app.slide_outputs.write_due(force=True) == []  # written once


def test_a_sender_without_a_file_location_gets_no_copy(app: AppContext, tmp_path: Path) -> None:
    app.rules.set(SCANNER, RuleChanges(barcode_regex=r"S\d{2}-\d{5}"))
    import_slide(app, make_svs(tmp_path / "in.svs", SMALL), sender=SCANNER)
    assert app.slide_outputs.write_due(force=True) == []
