"""The scanner's rack carousel (SPEC §4): 15 racks of 30 slides, up to 3 priority racks
scanned first, continuous loading into free rack positions while scanning."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from slidepacs.errors import Conflict, InvalidInput

RACKS = 15
SLOTS_PER_RACK = 30
MAX_PRIORITY_RACKS = 3


@dataclass(frozen=True, slots=True)
class SlotRef:
    """One slide's place: rack position (1-based), slot in the rack (1-based)."""

    rack: int
    slot: int
    priority: bool


@dataclass
class _Rack:
    slides: int
    scanned: int = 0

    @property
    def done(self) -> bool:
        return self.scanned >= self.slides


class Racks:
    """Loaded racks and the order their slides are scanned in.

    Priority racks come first, in the order they were marked; then the other racks in the
    order they were loaded. Racks may be loaded or marked while scanning.
    """

    def __init__(self, racks: int = RACKS, slots_per_rack: int = SLOTS_PER_RACK) -> None:
        if not 1 <= racks <= RACKS:
            raise InvalidInput(f"racks must be 1-{RACKS} (the scanner holds {RACKS})")
        if not 1 <= slots_per_rack <= SLOTS_PER_RACK:
            raise InvalidInput(f"slides per rack must be 1-{SLOTS_PER_RACK}")
        self.positions = racks
        self.slots_per_rack = slots_per_rack
        self._racks: dict[int, _Rack] = {}
        self._loaded: deque[int] = deque()
        self._priority: list[int] = []

    @property
    def capacity(self) -> int:
        """Slides the carousel holds when every position is full."""
        return self.positions * self.slots_per_rack

    @property
    def remaining(self) -> int:
        """Slides loaded and not yet scanned."""
        return sum(r.slides - r.scanned for r in self._racks.values())

    def free_positions(self) -> list[int]:
        """Rack positions with no rack in them."""
        return [p for p in range(1, self.positions + 1) if p not in self._racks]

    def load(self, slides: int | None = None, position: int | None = None) -> int:
        """Put a rack of ``slides`` (default: full) into ``position`` (default: the first
        free one); returns the position. Conflict when the carousel or position is taken."""
        slides = self.slots_per_rack if slides is None else slides
        if not 1 <= slides <= self.slots_per_rack:
            raise InvalidInput(f"a rack holds 1-{self.slots_per_rack} slides, not {slides}")
        free = self.free_positions()
        if position is None:
            if not free:
                raise Conflict(f"all {self.positions} rack positions are taken "
                               f"({self.capacity} slides); unload a finished rack first")
            position = free[0]
        elif not 1 <= position <= self.positions:
            raise InvalidInput(f"rack position must be 1-{self.positions}, not {position}")
        elif position not in free:
            raise Conflict(f"rack position {position} already holds a rack")
        self._racks[position] = _Rack(slides)
        self._loaded.append(position)
        return position

    def prioritise(self, position: int) -> None:
        """Scan the rack at ``position`` before the others (after earlier priority racks)."""
        if position not in self._racks:
            raise InvalidInput(f"no rack at position {position}")
        if position in self._priority:
            return
        if len(self._priority) >= MAX_PRIORITY_RACKS:
            raise Conflict(f"at most {MAX_PRIORITY_RACKS} racks can have priority "
                           f"(racks {', '.join(map(str, self._priority))} have it)")
        self._priority.append(position)

    def is_priority(self, position: int) -> bool:
        """True when the rack at ``position`` is a priority rack."""
        return position in self._priority

    def next_slide(self) -> SlotRef | None:
        """Take the next slide to scan (marking it scanned), or None when none is left."""
        for position in [*self._priority, *self._loaded]:
            rack = self._racks[position]
            if not rack.done:
                rack.scanned += 1
                return SlotRef(position, rack.scanned, position in self._priority)
        return None

    def finished(self) -> list[int]:
        """Positions of racks whose slides have all been scanned."""
        return [p for p in self._loaded if self._racks[p].done]

    def unload(self, position: int) -> None:
        """Take the rack out of ``position`` (its unscanned slides go with it)."""
        if position not in self._racks:
            raise InvalidInput(f"no rack at position {position}")
        del self._racks[position]
        self._loaded.remove(position)
        if position in self._priority:
            self._priority.remove(position)
