"""The forwarding queue in the index, on SQLite and PostgreSQL: what gets queued, claiming,
outcomes, backoff, giving up, retry, restart, new versions, and the rules added by CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydicom
import pytest

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import Settings, settings_for
from slidepacs.domain.forward_queue import DestinationStatus, ForwardJob, RetryPolicy
from slidepacs.domain.forwarding import RuleSpec
from slidepacs.errors import Conflict, InvalidInput, NotFound
from slidepacs.testing.generators import write_ct_series

QUEUE = {"retry_base_seconds": 0.2, "retry_max_seconds": 0.4, "max_attempts": 3}


def _settings(tmp_path: Path, database_url: str, rules: list[dict[str, Any]] | None = None,
              **sections: Any) -> Settings:
    return settings_for(tmp_path / "data", database={"url": database_url},
                        forwarding={**QUEUE, **sections.pop("forwarding", {})},
                        forward=rules or [], **sections)


@pytest.fixture
def context(tmp_path: Path, database_url: str) -> Iterator[AppContext]:
    """A context with AEs AI (title AI_NODE) and ARCHIVE2 registered, and no rules."""
    app = build_context(_settings(tmp_path, database_url))
    app.registry.add("ai", "AI_NODE", "127.0.0.1", 11113)
    app.registry.add("archive2", "ARCHIVE2", "127.0.0.1", 11114)
    try:
        yield app
    finally:
        app.close()


def _store(app: AppContext, folder: Path, count: int = 1, calling: str = "CT01",
           **changes: str) -> list[str]:
    """Store ``count`` new CT instances as if received from ``calling``; their SOP UIDs."""
    uids = []
    for path in write_ct_series(folder, count, size=16):
        if changes:
            dataset = pydicom.dcmread(path)
            for keyword, value in changes.items():
                setattr(dataset, keyword, value)
            dataset.save_as(path)
        uids.append(app.ingest.ingest_file(path, source=f"dicom:{calling}").sop_instance_uid)
    return uids


def _status(app: AppContext) -> dict[str, DestinationStatus]:
    return {status.destination: status for status in app.forwarding.status()}


def _counts(app: AppContext) -> dict[str, tuple[int, int, int, int]]:
    return {d: (s.pending, s.sending, s.done, s.failed) for d, s in _status(app).items()}


def _claim_all(app: AppContext, destination: str) -> list[ForwardJob]:
    return app.forwarding.claim(destination, 100)


def test_matching_instances_are_queued_once_per_destination(context: AppContext,
                                                            tmp_path: Path) -> None:
    rules = context.forwarding.rules
    rules.add(RuleSpec("ct", "ai", modality=("CT",)))
    rules.add(RuleSpec("from-ct", "AI_NODE", calling_ae_title=("CT*",)))  # same AE, by title
    rules.add(RuleSpec("copy", "archive2", calling_ae_title=("CT0?",)))
    _store(context, tmp_path / "a", 3)
    assert _counts(context) == {"AI_NODE": (3, 0, 0, 0), "ARCHIVE2": (3, 0, 0, 0)}


def test_an_instance_that_no_rule_matches_queues_nothing(context: AppContext,
                                                         tmp_path: Path) -> None:
    rules = context.forwarding.rules
    rules.add(RuleSpec("mr", "ai", modality=("MR",)))
    rules.add(RuleSpec("from-mr", "ai", calling_ae_title=("MR*",)))
    rules.add(RuleSpec("wsi", "ai", sop_class_uid=("1.2.840.10008.5.1.4.1.1.77.*",)))
    rules.add(RuleSpec("head", "ai", tags=(("BodyPartExamined", ("HEAD",)),)))
    _store(context, tmp_path / "a", 2)
    context.importer.run(context.importer.discover([tmp_path / "a"], False)[0])  # duplicates
    assert context.forwarding.status() == []


def test_imported_instances_match_rules_without_a_calling_ae(context: AppContext,
                                                             tmp_path: Path) -> None:
    context.forwarding.rules.add(RuleSpec("ct", "ai", modality=("CT",)))
    context.forwarding.rules.add(RuleSpec("dicom-only", "archive2", calling_ae_title=("*",)))
    write_ct_series(tmp_path / "import", 2, size=16)
    items, _ = context.importer.discover([tmp_path / "import"], False)
    context.importer.run(items)
    assert _counts(context) == {"AI_NODE": (2, 0, 0, 0)}


def test_tag_rules_read_the_values_from_the_stored_file(context: AppContext,
                                                        tmp_path: Path) -> None:
    context.forwarding.rules.add(RuleSpec("chest", "ai", tags=(("BodyPartExamined", ("CHEST",)),)))
    context.forwarding.rules.add(RuleSpec("doe", "archive2", tags=(
        ("PatientName", ("doe^j*",)), ("StationName", ("re:^CT0[1-3]$",)))))
    _store(context, tmp_path / "chest", 1, StationName="CT02")
    _store(context, tmp_path / "head", 1, BodyPartExamined="HEAD", StationName="CT04")
    assert _counts(context) == {"AI_NODE": (1, 0, 0, 0), "ARCHIVE2": (1, 0, 0, 0)}


def test_a_claimed_job_names_the_stored_file_and_completes(context: AppContext,
                                                           tmp_path: Path) -> None:
    context.forwarding.rules.add(RuleSpec("ct", "ai"))
    [uid] = _store(context, tmp_path / "a")
    [job] = _claim_all(context, "AI_NODE")
    assert job.sop_instance_uid == uid and job.attempts == 0
    assert job.path.is_file() and pydicom.dcmread(job.path).SOPInstanceUID == uid
    assert job.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert _claim_all(context, "AI_NODE") == []
    assert _counts(context) == {"AI_NODE": (0, 1, 0, 0)}
    context.forwarding.complete(job)
    assert _counts(context) == {"AI_NODE": (0, 0, 1, 0)}
    assert context.forwarding.due_destinations() == []


def test_failures_back_off_exponentially_then_give_up(context: AppContext,
                                                      tmp_path: Path) -> None:
    context.forwarding.rules.add(RuleSpec("ct", "ai"))
    _store(context, tmp_path / "a")
    delays = []
    for attempt in (1, 2):
        [job] = _claim_all(context, "AI_NODE")
        assert job.attempts == attempt - 1
        before = datetime.now(timezone.utc)
        context.forwarding.fail(job, f"refused {attempt}")
        status = _status(context)["AI_NODE"]
        assert (status.pending, status.last_error) == (1, f"refused {attempt}")
        assert status.next_attempt_at is not None
        delays.append((status.next_attempt_at - before).total_seconds())
        assert _claim_all(context, "AI_NODE") == []  # not due yet
        time.sleep(delays[-1] + 0.05)
    assert 0.2 <= delays[0] < 0.35 and 0.4 <= delays[1] < 0.55  # 0.2 s, then doubled
    [job] = _claim_all(context, "AI_NODE")
    context.forwarding.fail(job, "still refused")  # third failure: max_attempts = 3
    status = _status(context)["AI_NODE"]
    assert (status.pending, status.failed, status.last_error) == (0, 1, "still refused")
    assert status.next_attempt_at is None


def test_an_unreachable_destination_holds_its_other_and_new_jobs(context: AppContext,
                                                                 tmp_path: Path) -> None:
    context.forwarding.rules.add(RuleSpec("ct", "ai"))
    _store(context, tmp_path / "a", 3)
    first = context.forwarding.claim("AI_NODE", 1)
    context.forwarding.fail_destination("AI_NODE", first, "cannot connect")
    _store(context, tmp_path / "b", 1)
    assert context.forwarding.due_destinations() == []
    assert _claim_all(context, "AI_NODE") == []
    time.sleep(0.3)
    assert len(_claim_all(context, "AI_NODE")) == 4


def test_forward_retry_resets_failed_jobs_and_sends_waiting_ones_now(
    context: AppContext, tmp_path: Path
) -> None:
    context.forwarding.rules.add(RuleSpec("ct", "ai"))
    context.forwarding.rules.add(RuleSpec("copy", "archive2"))
    _store(context, tmp_path / "a", 2)
    for _ in range(3):
        for job in _claim_all(context, "AI_NODE"):
            context.forwarding.fail(job, "refused")
        time.sleep(0.45)
    # a backoff long enough that the waiting job is still waiting however slow the machine
    context.forwarding.policy = RetryPolicy(base=600, maximum=600, max_attempts=3)
    [waiting] = context.forwarding.claim("ARCHIVE2", 1)
    context.forwarding.fail(waiting, "busy")
    assert _counts(context) == {"AI_NODE": (0, 0, 0, 2), "ARCHIVE2": (2, 0, 0, 0)}
    result = context.forwarding.retry("ai")  # by name: the jobs name the AE title
    assert (result.failed_reset, result.pending_advanced) == (2, 0)
    assert [job.attempts for job in _claim_all(context, "AI_NODE")] == [0, 0]
    result = context.forwarding.retry()
    assert (result.failed_reset, result.pending_advanced) == (0, 1)
    assert len(_claim_all(context, "ARCHIVE2")) == 2


def test_jobs_left_sending_by_a_stopped_process_become_pending_again(
    tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url, [{"name": "all", "destination": "AI_NODE"}])
    first = build_context(settings)
    first.registry.add("ai", "AI_NODE", "127.0.0.1", 11113)
    _store(first, tmp_path / "a", 2)
    [stale, _] = _claim_all(first, "AI_NODE")
    first.close()  # the process "dies" with both jobs sending
    second = build_context(settings)
    try:
        assert _counts(second) == {"AI_NODE": (0, 2, 0, 0)}
        assert second.forwarding.reset_interrupted() == 2
        assert _counts(second) == {"AI_NODE": (2, 0, 0, 0)}
        jobs = _claim_all(second, "AI_NODE")
        second.forwarding.complete(stale)  # a late report of the old claim changes nothing
        assert _counts(second) == {"AI_NODE": (0, 2, 0, 0)}
        for job in jobs:
            second.forwarding.complete(job)
        assert _counts(second) == {"AI_NODE": (0, 0, 2, 0)}
    finally:
        second.close()


def test_a_new_version_of_an_instance_is_forwarded_again(tmp_path: Path,
                                                         database_url: str) -> None:
    settings = _settings(tmp_path, database_url, [{"name": "all", "destination": "AI_NODE"}],
                         storage={"duplicate_policy": "keep_new_version"})
    app = build_context(settings)
    try:
        app.registry.add("ai", "AI_NODE", "127.0.0.1", 11113)
        [path] = write_ct_series(tmp_path / "v1", 1, size=16)
        app.ingest.ingest_file(path)
        [job] = _claim_all(app, "AI_NODE")
        app.forwarding.complete(job)
        dataset = pydicom.dcmread(path)
        dataset.StudyDescription = "corrected"
        dataset.save_as(path)
        app.ingest.ingest_file(path)
        [again] = _claim_all(app, "AI_NODE")
        assert again.attempts == 0 and again.path.name.endswith(".v2.dcm")
        dataset.StudyDescription = "corrected twice"
        dataset.save_as(path)
        app.ingest.ingest_file(path)  # a third version arrives while the second is sending
        app.forwarding.complete(again)
        assert _counts(app) == {"AI_NODE": (1, 0, 0, 0)}
        [latest] = _claim_all(app, "AI_NODE")
        assert latest.path.name.endswith(".v3.dcm")
    finally:
        app.close()


def test_jobs_for_an_unregistered_destination_are_queued_and_fail_as_unregistered(
    tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url, [{"name": "later", "destination": "LATER"}])
    app = build_context(settings)
    try:
        assert [r.name for r in app.forwarding.rules.unregistered_destinations()] == ["later"]
        _store(app, tmp_path / "a")
        assert _counts(app) == {"LATER": (1, 0, 0, 0)}
        with pytest.raises(NotFound):
            app.forwarding.destination("LATER")
        app.registry.add("LATER", "LATER_AE", "127.0.0.1", 11115)
        assert app.forwarding.destination("LATER").ae_title == "LATER_AE"
        assert app.forwarding.rules.unregistered_destinations() == []
    finally:
        app.close()


def test_rules_added_by_cli_are_stored_checked_and_listed_after_config_rules(
    tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url, [{"name": "fixed", "destination": "AI_NODE"}])
    app = build_context(settings)
    try:
        rules = app.forwarding.rules
        with pytest.raises(NotFound, match="'NOBODY' is not a registered AE; register it first"):
            rules.add(RuleSpec("x", "NOBODY"))
        app.registry.add("ai", "AI_NODE", "127.0.0.1", 11113)
        with pytest.raises(InvalidInput, match="modality: 're:\\(' is not a valid regular"):
            rules.add(RuleSpec("x", "ai", modality=("re:(",)))
        with pytest.raises(Conflict, match="'fixed' is in the config file"):
            rules.add(RuleSpec("fixed", "ai"))
        rules.add(RuleSpec("b-rule", "ai", modality=("CT", "MR"),
                           tags=(("StationName", ("S?",)),)))
        rules.add(RuleSpec("a-rule", "AI_NODE"))
        with pytest.raises(Conflict, match="'a-rule' already exists"):
            rules.add(RuleSpec("a-rule", "ai"))
        listed = rules.all()
        assert [(r.name, r.from_config) for r in listed] == [
            ("fixed", True), ("a-rule", False), ("b-rule", False)]
        assert listed[2] == RuleSpec("b-rule", "ai", modality=("CT", "MR"),
                                     tags=(("StationName", ("S?",)),))
        with pytest.raises(InvalidInput, match="defined in the config file"):
            rules.remove("fixed")
        rules.remove("a-rule")
        with pytest.raises(NotFound):
            rules.remove("a-rule")
    finally:
        app.close()
    reopened = build_context(settings)  # stored rules persist; config rules come from config
    try:
        assert [r.name for r in reopened.forwarding.rules.all()] == ["fixed", "b-rule"]
    finally:
        reopened.close()


def test_status_reports_the_earliest_next_attempt_and_the_latest_error(
    context: AppContext, tmp_path: Path
) -> None:
    context.forwarding.rules.add(RuleSpec("ct", "ai"))
    _store(context, tmp_path / "a", 2)
    one, two = _claim_all(context, "AI_NODE")
    context.forwarding.fail(one, "first error")
    time.sleep(0.05)
    context.forwarding.fail(two, "second error")
    status = _status(context)["AI_NODE"]
    assert status.last_error == "second error"
    assert status.next_attempt_at is not None and status.last_error_at is not None
    assert status.next_attempt_at - status.last_error_at < timedelta(seconds=0.2)
    assert status.next_attempt_at.tzinfo is not None
