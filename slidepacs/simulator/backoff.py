"""Waiting between retries: exponential backoff with a ceiling, cut short by a stop event."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays ``initial``, ``initial × factor``, … up to ``maximum`` seconds."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))

    def wait(self, attempt: int, stop: threading.Event) -> bool:
        """Wait after failed attempt ``attempt``; False when ``stop`` was set meanwhile."""
        return not stop.wait(self.delay(attempt))
