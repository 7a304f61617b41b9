"""The display order of a series' images: along the slice normal, in the direction the
instance numbers run, else by instance number."""

from __future__ import annotations

from slidepacs.domain.slice_order import display_order, distance_along_normal

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _order(images: list[tuple[int | None, tuple | None, tuple | None]]) -> list[int | None]:
    ordered = display_order(images, lambda i: i[0], lambda i: (i[1], i[2]))
    return [number for number, _p, _o in ordered]


def test_slices_are_ordered_by_position_not_by_their_instance_numbers() -> None:
    images = [(1, (0, 0, 0.0), AXIAL), (3, (0, 0, 5.0), AXIAL), (2, (0, 0, 10.0), AXIAL)]
    assert _order(images) == [1, 3, 2]


def test_the_order_follows_the_direction_the_instance_numbers_run() -> None:
    images = [(1, (0, 0, 20.0), AXIAL), (2, (0, 0, 10.0), AXIAL), (3, (0, 0, 0.0), AXIAL)]
    assert _order(list(reversed(images))) == [1, 2, 3]


def test_the_normal_comes_from_the_orientation() -> None:
    # sagittal: the normal is −x, so a larger x lies earlier along it
    assert distance_along_normal((10.0, 0, 0), SAGITTAL) == -10.0
    images = [(1, (0.0, 0, 0), SAGITTAL), (2, (-4.0, 0, 0), SAGITTAL), (3, (-2.0, 0, 0), SAGITTAL)]
    assert _order(images) == [1, 3, 2]


def test_without_a_position_on_every_image_the_instance_numbers_decide() -> None:
    images = [(3, (0, 0, 0.0), AXIAL), (1, None, None), (2, (0, 0, 9.0), AXIAL)]
    assert _order(images) == [1, 2, 3]
    assert _order([(None, None, None), (2, None, None)]) == [None, 2]
