"""The ingest service: durable mirrored storage, indexing, duplicate policy, events."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from slidepacs.bootstrap import build_context
from slidepacs.config import Settings, settings_for
from slidepacs.domain.events import InstanceStored
from slidepacs.errors import Conflict
from slidepacs.services.ingest import Outcome
from slidepacs.storage.filesystem import file_checksum
from slidepacs.testing.generators import PatientSpec, write_ct_series
from tests.helpers import counts, stored_files


@pytest.fixture
def mirrored(tmp_path: Path, database_url: str):
    settings = settings_for(
        tmp_path / "data",
        storage={"backup_paths": [str(tmp_path / "b1"), str(tmp_path / "b2")]},
        database={"url": database_url},
    )
    context = build_context(settings)
    yield context
    context.close()


def test_ingest_writes_identical_copy_in_every_location_and_indexes_it(mirrored, tmp_path):
    [source] = write_ct_series(tmp_path / "in", 1, size=64)
    result = mirrored.ingest.ingest_file(source, "test")
    assert result.outcome is Outcome.STORED
    listing = stored_files(mirrored)
    assert len(listing) == 3
    expected = file_checksum(source)
    for location, names in listing.items():
        assert names == [result.relpath]
        assert file_checksum(location / result.relpath) == expected
    assert counts(mirrored) == (1, 1, 1, 1)


def test_same_instance_with_same_bytes_is_an_idempotent_success(app, tmp_path):
    [source] = write_ct_series(tmp_path / "in", 1, size=64)
    first = app.ingest.ingest_file(source)
    second = app.ingest.ingest_file(source)
    assert second.outcome is Outcome.DUPLICATE
    assert second.relpath == first.relpath
    assert counts(app) == (1, 1, 1, 1)
    with app.unit_of_work.read() as repo:
        assert repo.counts().old_versions == 0


def _modified_copy(source: Path, target: Path) -> Path:
    ds = pydicom.dcmread(source)
    ds.SeriesDescription = "corrected"
    ds.save_as(target)
    return target


def test_same_uid_with_other_bytes_is_rejected_and_changes_nothing(app, tmp_path):
    [source] = write_ct_series(tmp_path / "in", 1, size=64)
    app.ingest.ingest_file(source)
    before = stored_files(app)
    changed = _modified_copy(source, tmp_path / "changed.dcm")
    with pytest.raises(Conflict, match="already stored with different content"):
        app.ingest.ingest_file(changed)
    assert stored_files(app) == before
    with app.unit_of_work.read() as repo:
        existing = repo.find_instance(pydicom.dcmread(source).SOPInstanceUID)
    assert existing is not None and existing.file.checksum == file_checksum(source)


def test_keep_new_version_policy_keeps_old_file_and_indexes_new(tmp_path, database_url):
    settings = settings_for(tmp_path / "data", storage={"duplicate_policy": "keep_new_version"},
                            database={"url": database_url})
    app = build_context(settings)
    try:
        [source] = write_ct_series(tmp_path / "in", 1, size=64)
        first = app.ingest.ingest_file(source)
        changed = _modified_copy(source, tmp_path / "changed.dcm")
        second = app.ingest.ingest_file(changed)
        assert second.outcome is Outcome.NEW_VERSION and second.version == 2
        assert second.relpath != first.relpath
        data = app.store.locations[0]
        assert file_checksum(data / first.relpath) == file_checksum(source)
        assert file_checksum(data / second.relpath) == file_checksum(changed)
        with app.unit_of_work.read() as repo:
            assert repo.counts().old_versions == 1
            assert repo.counts().instances == 1
        assert app.storage_check.verify().clean
    finally:
        app.close()


def test_instance_stored_event_is_published_after_commit(app, tmp_path):
    seen: list[tuple[InstanceStored, int]] = []

    def on_stored(event: InstanceStored) -> None:
        seen.append((event, counts(app)[3]))  # the index already holds it

    app.bus.subscribe(InstanceStored, on_stored)
    [source] = write_ct_series(tmp_path / "in", 1, size=64)
    result = app.ingest.ingest_file(source, "unit-test")
    app.ingest.ingest_file(source, "unit-test")  # duplicate: no second event
    assert len(seen) == 1
    event, indexed = seen[0]
    assert indexed == 1
    assert event.sop_instance_uid == result.sop_instance_uid
    assert event.source == "unit-test" and event.modality == "CT"
    assert event.path.is_file()


def test_failing_subscriber_does_not_fail_the_store(app, tmp_path):
    def broken(_event: InstanceStored) -> None:
        raise RuntimeError("subscriber bug")

    app.bus.subscribe(InstanceStored, broken)
    [source] = write_ct_series(tmp_path / "in", 1, size=64)
    assert app.ingest.ingest_file(source).outcome is Outcome.STORED


def test_batch_with_a_repeated_instance_stores_it_once(app, tmp_path):
    paths = write_ct_series(tmp_path / "in", 3, size=64)
    results = app.ingest.ingest_batch([paths[0], paths[1], paths[0], paths[2]])
    outcomes = [r.outcome for r in results]  # type: ignore[union-attr]
    assert outcomes == [Outcome.STORED, Outcome.STORED, Outcome.DUPLICATE, Outcome.STORED]
    assert counts(app) == (1, 1, 1, 3)


def test_study_counters_and_modalities_follow_ingest(app, tmp_path):
    patient = PatientSpec()
    study_uid = generate_uid()
    write_ct_series(tmp_path / "a", 2, patient, size=32, study_uid=study_uid)
    second = write_ct_series(tmp_path / "b", 3, patient, size=32, study_uid=study_uid)
    ds = pydicom.dcmread(second[0])
    ds.Modality, ds.SeriesInstanceUID, ds.SOPInstanceUID = "MR", generate_uid(), generate_uid()
    ds.save_as(tmp_path / "mr.dcm")
    for path in sorted((tmp_path).rglob("*.dcm")):
        app.ingest.ingest_file(path)
    from slidepacs.index.tables import Study
    with app.unit_of_work.read() as repo:
        study = repo.session.query(Study).one()
        assert (study.num_series, study.num_instances) == (3, 6)
        assert set(study.modalities.split("\\")) == {"CT", "MR"}


def test_settings_fixture_runs_on_both_backends(settings: Settings, app):
    assert app.engine.dialect.name in ("sqlite", "postgresql")
    assert (settings.database.url == "") == (app.engine.dialect.name == "sqlite")


def test_commit_failure_after_publishing_fails_the_batch_and_a_resend_stores_it(app, tmp_path):
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    paths = write_ct_series(tmp_path / "in", 3, size=32)

    def refuse_commit(_connection) -> None:
        raise OperationalError("COMMIT", {}, OSError("disk I/O error"))

    event.listen(app.engine, "commit", refuse_commit)
    try:
        results = app.ingest.ingest_batch(paths)
    finally:
        event.remove(app.engine, "commit", refuse_commit)
    assert all(not hasattr(r, "outcome") for r in results)
    assert counts(app)[3] == 0
    listing = stored_files(app)[app.store.locations[0]]
    assert not [name for name in listing if name.endswith(".tmp")]
    again = app.ingest.ingest_batch(paths)
    assert [r.outcome for r in again] == [Outcome.STORED] * 3  # type: ignore[union-attr]
    assert app.storage_check.verify().clean


def test_a_failure_after_the_rename_puts_the_files_back_and_the_batch_is_retried_alone(
        mirrored, tmp_path, monkeypatch):
    """Files are renamed to their final names before the index rows are written (their
    folders are fsynced meanwhile); if writing the rows fails, they go back to their
    temporary names, as if never published, and each object is retried on its own."""
    from slidepacs.errors import IndexFailure
    from slidepacs.index.repository import IndexRepository

    paths = write_ct_series(tmp_path / "in", 3, size=32)
    original = IndexRepository.add_instances
    calls = []

    def fail_first(self, items, source, location_pks):
        calls.append(len(items))
        if len(calls) == 1:
            assert all(mirrored.store.resolve(mirrored.store.locations[0], i.file.relpath)
                       .is_file() for i in items)  # renamed already
            raise IndexFailure("index database error (simulated)")
        return original(self, items, source, location_pks)

    monkeypatch.setattr(IndexRepository, "add_instances", fail_first)
    results = mirrored.ingest.ingest_batch(paths)
    assert calls == [3, 1, 1, 1]
    assert [r.outcome for r in results] == [Outcome.STORED] * 3  # type: ignore[union-attr]
    assert counts(mirrored)[3] == 3
    for names in stored_files(mirrored).values():
        assert len(names) == 3 and not [n for n in names if n.endswith(".tmp")]
    assert mirrored.storage_check.verify().clean
