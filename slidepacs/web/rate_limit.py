"""A per-client request budget for expensive unauthenticated routes (one-time keys)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]
MAX_CLIENTS = 10_000


class RateLimiter:
    """At most ``limit`` requests per ``window`` seconds from one client address."""

    def __init__(self, limit: int, window: float, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> float:
        """0 when ``client`` may go on (and counts the request), else the seconds to wait."""
        now = self._clock()
        with self._lock:
            times = self._seen.get(client)
            if times is None:
                if len(self._seen) >= MAX_CLIENTS:
                    self._forget_idle(now)
                times = self._seen[client] = deque()
            while times and times[0] <= now - self._window:
                times.popleft()
            if len(times) >= self._limit:
                return times[0] + self._window - now
            times.append(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        for client in [c for c, t in self._seen.items() if not t or t[-1] <= now - self._window]:
            del self._seen[client]
