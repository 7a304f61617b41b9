"""Image rules in the index and the quarantine, on SQLite and PostgreSQL: rules stored per AE
with versions, slides that break them kept durably in every storage location, listed,
retried after the rule is fixed (then ingested and gone from the quarantine), deleted only
on request — and never lost on the way."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import settings_for
from slidepacs.domain.image_rules import SlideValues
from slidepacs.errors import InvalidInput, NotFound
from slidepacs.index.tables import ImageRuleTable
from slidepacs.services.image_rules import ImageRulesService, RuleChanges
from slidepacs.services.quarantine import QuarantineService, RetryOutcome
from slidepacs.testing.generators import write_ct_series

SCANNER = "GT450_LAB1"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[AppContext]:
    settings = settings_for(tmp_path / "data", database={"url": database_url},
                            storage={"backup_paths": [str(tmp_path / "backup")]})
    context = build_context(settings)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def rules(app: AppContext) -> ImageRulesService:
    return app.rules


@pytest.fixture
def quarantine(app: AppContext) -> QuarantineService:
    return app.quarantine


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def values(barcode: str | None, image_id: str = "104233") -> SlideValues:
    return SlideValues(image_id, barcode, "Lab 1", date(2026, 11, 23))


def quarantined_files(app: AppContext) -> list[Path]:
    return sorted(p for location in app.store.locations
                  for p in (location / "quarantine").rglob("*") if p.is_file())


def test_rules_are_stored_per_ae_with_a_version_and_partial_changes(
    rules: ImageRulesService
) -> None:
    first = rules.set(SCANNER, RuleChanges(scanner="Lab 1", barcode_regex=r"\d{6}",
                                           require_barcode=True))
    assert first.rules.version == 1 and first.rules.spec.barcode_regex == r"\d{6}"
    second = rules.set(SCANNER, RuleChanges(filename_template="{CASEID}-{IMAGEID}",
                                            case_id_regex=r"^[A-Z]\d{2}-\d+"))
    assert second.rules.version == 2
    assert second.rules.spec.barcode_regex == r"\d{6}" and second.rules.spec.require_barcode
    assert second.rules.scanner == "Lab 1"
    assert {name for name, _, _ in second.changes} == {"filename_template", "case_id_regex"}
    rules.set("OTHER", RuleChanges(require_barcode=False))
    assert [r.ae_title for r in rules.show()] == ["GT450_LAB1", "OTHER"]
    cleared = rules.set(SCANNER, RuleChanges(barcode_regex=""))
    assert cleared.rules.spec.barcode_regex == "" and cleared.rules.version == 3
    rules.remove("OTHER")
    with pytest.raises(NotFound, match="no image rules"):
        rules.show("OTHER")


def test_a_bad_rule_is_refused_and_nothing_is_stored(rules: ImageRulesService) -> None:
    rules.set(SCANNER, RuleChanges(barcode_regex=r"\d{6}"))
    with pytest.raises(InvalidInput, match=r"modifier_format: \$1 .* no capture groups"):
        rules.set(SCANNER, RuleChanges(modifier_regex="[(.*)&$]", modifier_format="$1&"))
    with pytest.raises(InvalidInput, match="barcode_regex: .* not a valid regular expression"):
        rules.set(SCANNER, RuleChanges(barcode_regex=r"(\d{6}"))
    with pytest.raises(InvalidInput, match="AE title"):
        rules.set("BAD\\TITLE", RuleChanges())
    [stored] = rules.show(SCANNER)
    assert stored.version == 1 and stored.spec.modifier_regex == ""


def test_apply_uses_the_senders_rules_and_the_defaults_otherwise(
    rules: ImageRulesService
) -> None:
    rules.set(SCANNER, RuleChanges(barcode_regex=r"\d{6}", require_barcode=True))
    decision = rules.apply(SCANNER, values("S26-123456-A1"))
    assert (decision.barcode_id, decision.file_name, decision.rules_version) == \
        ("123456", "104233-123456", 1)
    assert not rules.apply(SCANNER, values(None)).accepted
    other = rules.apply("UNKNOWN_AE", values("S26-1"))
    assert other.accepted and other.file_name == "104233-S26-1" and other.rules_version == 0


def test_quarantine_keeps_the_file_in_every_location_lists_and_retries_it(
    app: AppContext, rules: ImageRulesService, quarantine: QuarantineService, tmp_path: Path
) -> None:
    rules.set(SCANNER, RuleChanges(barcode_regex=r"\d{6}", require_barcode=True))
    [source] = write_ct_series(tmp_path / "in", 1, size=32)
    digest, size = sha256(source), source.stat().st_size
    slide = values("S26-12345")  # five digits: breaks the rule
    decision = rules.apply(SCANNER, slide)
    pk = quarantine.quarantine(source, SCANNER, slide, decision, source="dicom:GT450_LAB1")
    source.unlink()  # the sender's copy is gone: the quarantine's must be enough

    copies = quarantined_files(app)
    assert len(copies) == 2 and {p.suffix for p in copies} == {".quarantined"}
    assert all(sha256(p) == digest for p in copies)
    assert not any(p.name.endswith(".tmp") for p in copies)
    [entry] = quarantine.entries()
    assert (entry.pk, entry.ae_title, entry.size, entry.checksum, entry.rules_version) == \
        (pk, SCANNER, size, digest, 1)
    assert "'S26-12345'" in entry.reason and r"\d{6}" in entry.reason
    assert entry.values == slide and entry.original_name == source.name
    assert quarantine.file_path(entry).is_relative_to(app.store.locations[0])

    [still] = quarantine.retry()
    assert still.outcome is RetryOutcome.STILL_BREAKS_RULES
    assert quarantine.entry(pk).attempts == 1 and len(quarantined_files(app)) == 2

    rules.set(SCANNER, RuleChanges(barcode_regex=r"\d{5}"))  # the rule is fixed
    [done] = quarantine.retry([pk])
    assert done.outcome is RetryOutcome.INGESTED and done.ingested is not None
    assert done.decision.barcode_id == "12345" and done.decision.rules_version == 2
    assert quarantine.entries() == [] and quarantined_files(app) == []
    stored = app.store.path(done.ingested.relpath)
    assert sha256(stored) == digest
    with app.unit_of_work.read() as repo:
        assert repo.find_instance(done.ingested.sop_instance_uid) is not None


def test_a_file_ingest_refuses_stays_in_quarantine_with_the_error(
    app: AppContext, rules: ImageRulesService, quarantine: QuarantineService, tmp_path: Path
) -> None:
    rules.set(SCANNER, RuleChanges(require_barcode=True))
    broken = tmp_path / "label.svs"
    broken.write_bytes(b"II*\x00 not a DICOM file")
    pk = quarantine.quarantine(broken, SCANNER, values(None),
                               rules.apply(SCANNER, values(None)))
    rules.set(SCANNER, RuleChanges(require_barcode=False))
    [result] = quarantine.retry()
    assert result.outcome is RetryOutcome.INGEST_FAILED and result.detail
    entry = quarantine.entry(pk)
    assert entry.attempts == 1 and entry.last_error == result.detail
    assert entry.relpath.endswith(".svs.quarantined")
    assert len(quarantined_files(app)) == 2


def test_retry_all_mixes_outcomes_and_loses_nothing(
    app: AppContext, rules: ImageRulesService, quarantine: QuarantineService, tmp_path: Path
) -> None:
    rules.set(SCANNER, RuleChanges(barcode_regex=r"^S26-\d{6}$", require_barcode=True))
    files = write_ct_series(tmp_path / "in", 3, size=32)
    barcodes = ["S26-1234567", "S26-12345", "H26-000001"]
    for path, barcode in zip(files, barcodes, strict=True):
        slide = values(barcode, image_id=path.stem)
        quarantine.quarantine(path, SCANNER, slide, rules.apply(SCANNER, slide))
    assert len(quarantine.entries()) == 3 and len(quarantined_files(app)) == 6
    rules.set(SCANNER, RuleChanges(barcode_regex=r"^S26-\d{5,7}$"))
    results = quarantine.retry()
    assert [r.outcome for r in results] == [RetryOutcome.INGESTED, RetryOutcome.INGESTED,
                                            RetryOutcome.STILL_BREAKS_RULES]
    [left] = quarantine.entries()
    assert left.values.barcode == "H26-000001" and left.rules_version == 2
    assert len(quarantined_files(app)) == 2
    with app.unit_of_work.read() as repo:
        assert repo.image_rules.count() == 1


def test_delete_removes_the_entry_and_every_copy_and_only_that(
    app: AppContext, rules: ImageRulesService, quarantine: QuarantineService, tmp_path: Path
) -> None:
    rules.set(SCANNER, RuleChanges(require_barcode=True))
    first, second = write_ct_series(tmp_path / "in", 2, size=32)
    keep = quarantine.quarantine(first, SCANNER, values(None), rules.apply(SCANNER, values(None)))
    gone = quarantine.quarantine(second, SCANNER, values(None),
                                 rules.apply(SCANNER, values(None)))
    deleted = quarantine.delete(gone)
    assert deleted.pk == gone
    assert [e.pk for e in quarantine.entries()] == [keep]
    assert len(quarantined_files(app)) == 2
    with pytest.raises(NotFound):
        quarantine.delete(gone)
    with pytest.raises(NotFound):
        quarantine.retry([gone])


def test_an_accepted_slide_is_not_quarantined(
    rules: ImageRulesService, quarantine: QuarantineService, tmp_path: Path
) -> None:
    [source] = write_ct_series(tmp_path / "in", 1, size=32)
    with pytest.raises(InvalidInput):
        quarantine.quarantine(source, SCANNER, values("S26-1"),
                              rules.apply(SCANNER, values("S26-1")))
    assert quarantine.entries() == []


def test_a_received_file_handed_over_is_moved_not_copied(
    app: AppContext, rules: ImageRulesService, quarantine: QuarantineService, tmp_path: Path
) -> None:
    rules.set(SCANNER, RuleChanges(require_barcode=True))
    [source] = write_ct_series(tmp_path / "in", 1, size=32)
    received = app.ingest.incoming_path()
    received.write_bytes(source.read_bytes())
    pk = quarantine.quarantine(received, SCANNER, values(None),
                               rules.apply(SCANNER, values(None)), handover=True,
                               original_name="slide 104233.dcm")
    assert not received.exists()
    entry = quarantine.entry(pk)
    assert entry.original_name == "slide 104233.dcm" and entry.relpath.endswith(".dcm.quarantined")
    assert entry.checksum == sha256(source)
    assert [sha256(p) for p in quarantined_files(app)] == [entry.checksum] * 2


def test_stored_rules_that_no_longer_compile_refuse_slides_with_the_reason(
    app: AppContext, rules: ImageRulesService
) -> None:
    rules.set(SCANNER, RuleChanges(barcode_regex=r"\d{6}"))
    with app.unit_of_work.write() as repo:  # e.g. edited in the database by hand
        row = repo.session.scalar(select(ImageRuleTable))
        assert row is not None
        row.barcode_regex = r"(\d{6}"
    decision = rules.apply(SCANNER, values("S26-123456"), fresh=True)
    assert not decision.accepted
    assert "image rules of AE GT450_LAB1 are not valid" in (decision.violation or "")
    assert rules.apply("OTHER_AE", values("S26-1"), fresh=True).accepted
