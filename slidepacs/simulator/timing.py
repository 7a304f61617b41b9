"""How long the scanner takes per slide (SPEC §4): a 15 mm × 15 mm area at 40x in under
32 s, 81 slides an hour sustained; scaled by a speed factor.

A slide's cycle is handling (rack move, slide load/unload, focus map), the label and macro
capture and the scan, which grows with the tissue area. Tissue areas are drawn around
15 mm × 15 mm so that the mean cycle is 3600 / 81 s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from slidepacs.errors import InvalidInput

SLIDES_PER_HOUR = 81
CYCLE_SECONDS = 3600 / SLIDES_PER_HOUR      # mean time per slide, sustained
REFERENCE_AREA_MM2 = 15.0 * 15.0
REFERENCE_SCAN_SECONDS = 31.0               # "under 32 s" for 15 mm × 15 mm at 40x
LABEL_MACRO_SECONDS = 4.0                   # label and macro camera
HANDLING_SECONDS = CYCLE_SECONDS - REFERENCE_SCAN_SECONDS - LABEL_MACRO_SECONDS
AREA_RANGE_MM2 = (100.0, 350.0)             # mean = the reference area


@dataclass(frozen=True, slots=True)
class SlideTiming:
    """One slide's times in seconds, already divided by the speed factor."""

    tissue_mm2: float
    handling: float
    label_macro: float
    scan: float

    @property
    def total(self) -> float:
        """The whole cycle of the slide."""
        return self.handling + self.label_macro + self.scan


def scan_seconds(tissue_mm2: float) -> float:
    """Scan time at speed 1 for a tissue area at 40x (proportional to the area)."""
    return REFERENCE_SCAN_SECONDS * tissue_mm2 / REFERENCE_AREA_MM2


class Timing:
    """Per-slide times, deterministic for a seed, divided by ``speed``."""

    def __init__(self, speed: float = 1.0, seed: int = 0) -> None:
        if not speed > 0:
            raise InvalidInput(f"speed must be positive, not {speed}")
        self.speed = speed
        self._random = random.Random(seed)

    def next_slide(self) -> SlideTiming:
        """The times of the next slide."""
        area = self._random.uniform(*AREA_RANGE_MM2)
        return SlideTiming(area, HANDLING_SECONDS / self.speed,
                           LABEL_MACRO_SECONDS / self.speed, scan_seconds(area) / self.speed)
