"""In-process publish/subscribe for notifications (instance stored, …).

Handlers are notifications: there may be many, each runs after the transaction has
committed, and an exception in one is logged and never reaches the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[[Any], None]


class EventBus:
    """Synchronous in-process event bus keyed by event type."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, event_type: type, handler: Handler) -> Callable[[], None]:
        """Register ``handler`` for ``event_type``; return a function that unsubscribes it."""
        with self._lock:
            self._handlers[event_type].append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers[event_type]:
                    self._handlers[event_type].remove(handler)

        return unsubscribe

    def publish(self, event: Any) -> None:
        """Call every handler of the event's type; log (never raise) their failures."""
        with self._lock:
            handlers = list(self._handlers.get(type(event), ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler %r failed on %r", handler, event)
