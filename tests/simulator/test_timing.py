"""Virtual scanner timing against SPEC §4: 81 slides/hour sustained, 15 × 15 mm in < 32 s."""

from __future__ import annotations

import pytest

from slidepacs.errors import InvalidInput
from slidepacs.simulator.timing import Timing, scan_seconds


def test_throughput_at_speed_one_is_81_slides_an_hour() -> None:
    timing = Timing(speed=1.0, seed=1)
    hours = sum(timing.next_slide().total for _ in range(2000)) / 3600
    assert 2000 / hours == pytest.approx(81, abs=2)


def test_a_15_by_15_mm_area_scans_in_under_32_seconds() -> None:
    assert 30 < scan_seconds(225.0) < 32


def test_bigger_tissue_takes_longer() -> None:
    assert scan_seconds(300.0) > scan_seconds(100.0)


def test_the_speed_factor_divides_every_time() -> None:
    slow = [Timing(1.0, seed=5).next_slide() for _ in range(1)][0]
    fast = Timing(50.0, seed=5).next_slide()
    assert fast.tissue_mm2 == slow.tissue_mm2
    assert fast.total == pytest.approx(slow.total / 50)


def test_the_same_seed_gives_the_same_times() -> None:
    one, two = Timing(seed=9), Timing(seed=9)
    assert [one.next_slide() for _ in range(5)] == [two.next_slide() for _ in range(5)]


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_a_speed_that_is_not_positive_is_refused(speed: float) -> None:
    with pytest.raises(InvalidInput):
        Timing(speed)
