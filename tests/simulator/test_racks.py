"""The virtual scanner's racks: SPEC §4's 15 racks × 30 slides, ≤ 3 priority racks first,
continuous loading."""

from __future__ import annotations

import pytest

from slidepacs.errors import Conflict, InvalidInput
from slidepacs.simulator.racks import Racks, SlotRef


def scan_all(racks: Racks) -> list[SlotRef]:
    order = []
    while (slide := racks.next_slide()) is not None:
        order.append(slide)
    return order


def test_a_full_carousel_holds_450_slides_and_refuses_a_16th_rack() -> None:
    racks = Racks()
    for _ in range(15):
        racks.load()
    assert (racks.capacity, racks.remaining) == (450, 450)
    with pytest.raises(Conflict, match="all 15 rack positions are taken"):
        racks.load()
    assert len(scan_all(racks)) == 450


def test_racks_are_scanned_in_loading_order_slot_by_slot() -> None:
    racks = Racks(slots_per_rack=3)
    racks.load(position=5)
    racks.load(2, position=1)
    assert [(s.rack, s.slot) for s in scan_all(racks)] == [(5, 1), (5, 2), (5, 3), (1, 1), (1, 2)]


def test_priority_racks_go_first_in_the_order_they_were_marked() -> None:
    racks = Racks(slots_per_rack=2)
    for _ in range(5):
        racks.load()
    racks.prioritise(4)
    racks.prioritise(2)
    order = [(s.rack, s.priority) for s in scan_all(racks)]
    assert order == [(4, True), (4, True), (2, True), (2, True), (1, False), (1, False),
                     (3, False), (3, False), (5, False), (5, False)]


def test_at_most_three_racks_have_priority() -> None:
    racks = Racks()
    for _ in range(4):
        racks.load()
    for position in (1, 2, 3):
        racks.prioritise(position)
    with pytest.raises(Conflict, match="at most 3 racks"):
        racks.prioritise(4)


def test_a_priority_rack_loaded_while_scanning_is_scanned_next() -> None:
    racks = Racks(slots_per_rack=3)
    racks.load()
    first = racks.next_slide()
    late = racks.load(2)
    racks.prioritise(late)
    rest = [(s.rack, s.slot) for s in scan_all(racks)]
    assert first == SlotRef(1, 1, False)
    assert rest == [(2, 1), (2, 2), (1, 2), (1, 3)]


def test_continuous_loading_reuses_the_position_of_an_unloaded_finished_rack() -> None:
    racks = Racks(racks=2, slots_per_rack=1)
    racks.load()
    racks.load()
    assert racks.next_slide() == SlotRef(1, 1, False)
    assert racks.finished() == [1]
    racks.unload(1)
    assert racks.load() == 1
    assert [s.rack for s in scan_all(racks)] == [2, 1]


@pytest.mark.parametrize(("racks", "slots"), [(0, 30), (16, 30), (15, 0), (15, 31)])
def test_a_carousel_beyond_the_scanner_is_refused(racks: int, slots: int) -> None:
    with pytest.raises(InvalidInput):
        Racks(racks, slots)


def test_a_rack_position_is_checked() -> None:
    racks = Racks(racks=2)
    racks.load(position=2)
    with pytest.raises(Conflict, match="position 2 already holds"):
        racks.load(position=2)
    with pytest.raises(InvalidInput):
        racks.load(position=3)
    with pytest.raises(InvalidInput):
        racks.load(31)
