"""The forwarding queue's records: jobs, their states, the retry policy, per-destination state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path


class JobState(str, Enum):
    """Where a forwarding job (one instance to one destination) stands."""

    PENDING = "pending"    # waiting for its next attempt
    SENDING = "sending"    # claimed by a worker; reset to pending when a worker starts
    DONE = "done"          # the destination acknowledged it
    FAILED = "failed"      # given up after the last allowed attempt (see `forward retry`)


@dataclass(frozen=True, slots=True)
class ForwardJob:
    """A claimed job: what to send where, and how often it was tried before."""

    pk: int
    destination: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: Path
    size: int
    attempts: int
    claim: str


@dataclass(frozen=True, slots=True)
class ForwardTarget:
    """A destination an instance must be forwarded to, and the rule that decided it."""

    destination: str
    rule: str


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    """The queue as seen for one destination."""

    destination: str
    pending: int
    sending: int
    done: int
    failed: int
    next_attempt_at: datetime | None
    last_error: str
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base`` seconds after the first failure, doubling up to
    ``maximum``; after ``max_attempts`` failed attempts a job is given up (state failed)."""

    base: float
    maximum: float
    max_attempts: int

    def delay(self, attempts: int) -> float | None:
        """Seconds to wait after ``attempts`` failed attempts, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        return min(self.maximum, self.base * 2.0 ** min(max(attempts - 1, 0), 60))
