"""The display order of a series' images (pure): along the slice normal when every image has
a position and orientation, in the direction the instance numbers run; else by instance
number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Image = TypeVar("Image")
Vector = Sequence[float]


def distance_along_normal(position: Vector, orientation: Vector) -> float:
    """How far a slice lies along its normal (the cross product of the row and column
    direction cosines of ImageOrientationPatient)."""
    a, b, c, d, e, f = orientation
    normal = (b * f - c * e, c * d - a * f, a * e - b * d)
    return sum(n * p for n, p in zip(normal, position))


def display_order(images: Sequence[Image], number: Callable[[Image], int | None],
                  geometry: Callable[[Image], tuple[Vector | None, Vector | None]]
                  ) -> list[Image]:
    """``images`` in display order; ``number`` gives an image's InstanceNumber and
    ``geometry`` its (ImagePositionPatient, ImageOrientationPatient), each None if absent."""
    def by_number(image: Image) -> int:
        value = number(image)
        return value if value is not None else 0

    placed = [geometry(image) for image in images]
    if len(images) < 2 or not all(p and o and len(p) == 3 and len(o) == 6 for p, o in placed):
        return sorted(images, key=by_number)
    keyed = [(distance_along_normal(p, o), by_number(image), n)  # type: ignore[arg-type]
             for n, (image, (p, o)) in enumerate(zip(images, placed))]
    ordered = [images[n] for _d, _number, n in sorted(keyed)]
    head, tail = number(ordered[0]), number(ordered[-1])
    if head is not None and tail is not None and head > tail:
        ordered.reverse()
    return ordered
