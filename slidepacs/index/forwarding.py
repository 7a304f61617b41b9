"""Rows of the forwarding rules added by CLI and of the forwarding queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from slidepacs.domain.forward_queue import DestinationStatus, ForwardTarget, JobState
from slidepacs.domain.forwarding import RuleSpec
from slidepacs.errors import Conflict
from slidepacs.index.tables import ForwardJobTable, ForwardRuleTable, Instance

Job = ForwardJobTable
PENDING, SENDING, DONE, FAILED = (s.value for s in JobState)


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A claimed job with what sending needs from the instance's row."""

    pk: int
    destination: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    relpath: str
    size: int
    attempts: int


class ForwardRepository:
    """Forwarding rules and jobs (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- rules -------------------------------------------------------------------------------
    def rules(self) -> list[RuleSpec]:
        """Every rule added by CLI, by name."""
        rows = self.session.scalars(select(ForwardRuleTable).order_by(ForwardRuleTable.name))
        return [_rule(row) for row in rows]

    def add_rule(self, spec: RuleSpec) -> None:
        """Store a rule; Conflict if its name is taken."""
        taken = self.session.scalar(select(ForwardRuleTable.pk)
                                    .where(ForwardRuleTable.name == spec.name))
        if taken is not None:
            raise Conflict(f"a forwarding rule named {spec.name!r} already exists")
        criteria = {"calling_ae_title": spec.calling_ae_title, "modality": spec.modality,
                    "sop_class_uid": spec.sop_class_uid, "tags": dict(spec.tags)}
        self.session.add(ForwardRuleTable(name=spec.name, destination=spec.destination,
                                          criteria=json.dumps(criteria)))
        self.session.flush()

    def remove_rule(self, name: str) -> bool:
        """Delete a rule by name; False if there was none."""
        result = self.session.execute(delete(ForwardRuleTable)
                                      .where(ForwardRuleTable.name == name))
        return bool(result.rowcount)

    # -- queueing ----------------------------------------------------------------------------
    def enqueue(
        self, sop_instance_uid: str, targets: Sequence[tuple[ForwardTarget, datetime]],
        now: datetime,
    ) -> int:
        """Queue the instance for each target (due at the given time); a job that exists for
        the same destination starts over. Returns how many jobs were queued."""
        instance_pk = self.session.scalar(
            select(Instance.pk).where(Instance.sop_instance_uid == sop_instance_uid))
        if instance_pk is None or not targets:
            return 0
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        rows = [{"instance_pk": instance_pk, "destination": target.destination,
                 "rule": target.rule[:64], "state": PENDING, "attempts": 0,
                 "next_attempt_at": due, "last_error": "", "claim": None,
                 "created_at": now, "updated_at": now} for target, due in targets]
        statement = dialect.insert(Job).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["instance_pk", "destination"],
            set_={key: statement.excluded[key] for key in (
                "rule", "state", "attempts", "next_attempt_at", "last_error", "claim",
                "updated_at")},
        )
        self.session.execute(statement)
        return len(rows)

    def due_destinations(self, now: datetime, exclude: Sequence[str] = ()) -> list[str]:
        """Destinations with pending jobs due by ``now``, the longest waiting first."""
        query = (select(Job.destination)
                 .where(Job.state == PENDING, Job.next_attempt_at <= now)
                 .group_by(Job.destination).order_by(func.min(Job.next_attempt_at)))
        if exclude:
            query = query.where(Job.destination.not_in(list(exclude)))
        return list(self.session.scalars(query))

    def next_due(self, exclude: Sequence[str] = ()) -> datetime | None:
        """When the earliest pending job (of a destination not excluded) is due."""
        query = select(func.min(Job.next_attempt_at)).where(Job.state == PENDING)
        if exclude:
            query = query.where(Job.destination.not_in(list(exclude)))
        return _aware(self.session.scalar(query))

    def claim(
        self, destination: str, now: datetime, limit: int, claim: str
    ) -> list[QueuedJob]:
        """Mark up to ``limit`` due jobs of a destination as sending under ``claim``."""
        pks = list(self.session.scalars(
            select(Job.pk).where(Job.destination == destination, Job.state == PENDING,
                                 Job.next_attempt_at <= now)
            .order_by(Job.next_attempt_at, Job.pk).limit(limit)
            .with_for_update(skip_locked=True)))
        if not pks:
            return []
        self.session.execute(
            update(Job).where(Job.pk.in_(pks))
            .values(state=SENDING, claim=claim, updated_at=now),
            execution_options={"synchronize_session": False})
        rows = self.session.execute(
            select(Job.pk, Job.destination, Instance.sop_instance_uid, Instance.sop_class_uid,
                   Instance.transfer_syntax_uid, Instance.relpath, Instance.file_size,
                   Job.attempts)
            .join(Instance, Instance.pk == Job.instance_pk)
            .where(Job.pk.in_(pks)).order_by(Job.next_attempt_at, Job.pk)).all()
        return [QueuedJob(*row) for row in rows]

    # -- outcomes ----------------------------------------------------------------------------
    def complete(self, pk: int, claim: str, now: datetime) -> bool:
        """Mark a claimed job done; False if it was re-queued meanwhile (a newer version)."""
        return self._update_claimed(pk, claim, {"state": DONE, "attempts": Job.attempts + 1,
                                                "last_error": "", "claim": None,
                                                "updated_at": now})

    def reschedule(
        self, pk: int, claim: str, next_attempt_at: datetime | None, error: str, now: datetime
    ) -> bool:
        """Record a failed attempt: due again at ``next_attempt_at``, or failed if None."""
        state = FAILED if next_attempt_at is None else PENDING
        values: dict[str, object] = {"state": state, "attempts": Job.attempts + 1,
                                     "last_error": error, "claim": None, "updated_at": now}
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        return self._update_claimed(pk, claim, values)

    def release(self, pks: Sequence[int], claim: str, now: datetime) -> int:
        """Put claimed jobs that were not attempted back to pending, as they were."""
        result = self.session.execute(
            update(Job).where(Job.pk.in_(list(pks)), Job.claim == claim, Job.state == SENDING)
            .values(state=PENDING, claim=None, updated_at=now),
            execution_options={"synchronize_session": False})
        return int(result.rowcount)

    def defer(self, destination: str, until: datetime) -> int:
        """Make a destination's pending jobs due no earlier than ``until``."""
        result = self.session.execute(
            update(Job).where(Job.destination == destination, Job.state == PENDING,
                              Job.next_attempt_at < until)
            .values(next_attempt_at=until),
            execution_options={"synchronize_session": False})
        return int(result.rowcount)

    def reset_interrupted(self, now: datetime) -> int:
        """Jobs left sending by a stopped worker become pending again."""
        result = self.session.execute(
            update(Job).where(Job.state == SENDING)
            .values(state=PENDING, claim=None, updated_at=now),
            execution_options={"synchronize_session": False})
        return int(result.rowcount)

    def retry(self, destination: str | None, now: datetime) -> tuple[int, int]:
        """Failed jobs start over and waiting ones become due now: (reset, advanced)."""
        where = [Job.destination == destination] if destination else []
        failed = self.session.execute(
            update(Job).where(Job.state == FAILED, *where)
            .values(state=PENDING, attempts=0, next_attempt_at=now, updated_at=now),
            execution_options={"synchronize_session": False})
        waiting = self.session.execute(
            update(Job).where(Job.state == PENDING, Job.next_attempt_at > now, *where)
            .values(next_attempt_at=now),
            execution_options={"synchronize_session": False})
        return int(failed.rowcount), int(waiting.rowcount)

    def _update_claimed(self, pk: int, claim: str, values: dict[str, object]) -> bool:
        """Update a job only while it is still sending under this claim."""
        result = self.session.execute(
            update(Job).where(Job.pk == pk, Job.claim == claim, Job.state == SENDING)
            .values(values), execution_options={"synchronize_session": False})
        return bool(result.rowcount)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> list[DestinationStatus]:
        """Counts per state, next attempt and last error for every destination."""
        counts: dict[str, dict[str, int]] = {}
        for destination, state, count in self.session.execute(
                select(Job.destination, Job.state, func.count()).group_by(Job.destination,
                                                                          Job.state)):
            counts.setdefault(destination, {})[state] = count
        due = dict(self.session.execute(
            select(Job.destination, func.min(Job.next_attempt_at))
            .where(Job.state == PENDING).group_by(Job.destination)).all())
        return [self._destination_status(destination, states, _aware(due.get(destination)))
                for destination, states in sorted(counts.items())]

    def _destination_status(
        self, destination: str, counts: dict[str, int], next_attempt_at: datetime | None
    ) -> DestinationStatus:
        last = self.session.execute(
            select(Job.last_error, Job.updated_at)
            .where(Job.destination == destination, Job.state != DONE, Job.last_error != "")
            .order_by(Job.updated_at.desc()).limit(1)).first()
        return DestinationStatus(
            destination, counts.get(PENDING, 0), counts.get(SENDING, 0), counts.get(DONE, 0),
            counts.get(FAILED, 0), next_attempt_at, last[0] if last else "",
            _aware(last[1]) if last else None)


def _rule(row: ForwardRuleTable) -> RuleSpec:
    criteria = json.loads(row.criteria or "{}")
    return RuleSpec(
        row.name, row.destination,
        tuple(criteria.get("calling_ae_title", ())), tuple(criteria.get("modality", ())),
        tuple(criteria.get("sop_class_uid", ())),
        tuple((k, tuple(v)) for k, v in criteria.get("tags", {}).items()),
    )


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
