"""Films of the DICOM print server (PS3.3 C.13): sizes, layouts, densities and validation.

Pure: no pynetdicom, no files. A film is a grid of image boxes laid out per its Image Display
Format; a density (hundredths of optical density) maps to a grey level linearly between the
film's min density (white, 255) and max density (black, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slidepacs.errors import InvalidInput

# Film Size ID (PS3.3 C.13.3) → (width, height) in inches, portrait.
FILM_SIZES: dict[str, tuple[float, float]] = {
    "8INX10IN": (8.0, 10.0),
    "8_5INX11IN": (8.5, 11.0),
    "10INX12IN": (10.0, 12.0),
    "10INX14IN": (10.0, 14.0),
    "11INX14IN": (11.0, 14.0),
    "11INX17IN": (11.0, 17.0),
    "14INX14IN": (14.0, 14.0),
    "14INX17IN": (14.0, 17.0),
    "17INX17IN": (17.0, 17.0),
}
ORIENTATIONS = ("PORTRAIT", "LANDSCAPE")
MAGNIFICATIONS = ("REPLICATE", "BILINEAR", "CUBIC", "NONE")
POLARITIES = ("NORMAL", "REVERSE")
MEDIUM_TYPES = ("PAPER", "CLEAR FILM", "BLUE FILM", "MAMMO CLEAR FILM", "MAMMO BLUE FILM")
FILM_DESTINATIONS = ("MAGAZINE", "PROCESSOR")
PRIORITIES = ("HIGH", "MED", "LOW")
DEFAULT_MIN_DENSITY = 20
DEFAULT_MAX_DENSITY = 300
MAX_BOXES = 64


@dataclass(frozen=True)
class Box:
    """One image box's place on the film, as fractions of the film's width and height."""

    left: float
    top: float
    width: float
    height: float


def layout_boxes(display_format: str) -> list[Box]:
    """The image boxes of an Image Display Format, in Image Box Position order.

    ``STANDARD\\C,R``: C columns and R rows, numbered left to right, top to bottom.
    ``ROW\\a,b,…``: one row per number, each with that many boxes, top to bottom.
    ``COL\\a,b,…``: one column per number, each with that many boxes, left to right.
    InvalidInput for anything else (other formats such as SLIDE or SUPERSLIDE are not
    supported).
    """
    kind, _, numbers = display_format.strip().partition("\\")
    kind = kind.strip().upper()
    try:
        counts = [int(part) for part in numbers.split(",")]
    except ValueError:
        raise InvalidInput(f"image display format {display_format!r}: not numbers") from None
    if not counts or any(count < 1 for count in counts):
        raise InvalidInput(f"image display format {display_format!r}: counts must be ≥ 1")
    boxes: list[Box]
    if kind == "STANDARD" and len(counts) == 2:
        columns, rows = counts
        boxes = [Box(c / columns, r / rows, 1 / columns, 1 / rows)
                 for r in range(rows) for c in range(columns)]
    elif kind == "ROW":
        boxes = [Box(c / per_row, r / len(counts), 1 / per_row, 1 / len(counts))
                 for r, per_row in enumerate(counts) for c in range(per_row)]
    elif kind == "COL":
        boxes = [Box(c / len(counts), r / per_col, 1 / len(counts), 1 / per_col)
                 for c, per_col in enumerate(counts) for r in range(per_col)]
    else:
        raise InvalidInput(f"image display format {display_format!r} is not supported "
                           "(STANDARD\\C,R, ROW\\… or COL\\…)")
    if len(boxes) > MAX_BOXES:
        raise InvalidInput(f"image display format {display_format!r}: more than {MAX_BOXES} "
                           "boxes")
    return boxes


def parse_density(value: object, name: str, default: int) -> int:
    """A density attribute: hundredths of OD, or BLACK/WHITE (kept as -1/-2 markers)."""
    if value is None or value == "":
        return default
    text = str(value).strip().upper()
    if text == "BLACK":
        return BLACK
    if text == "WHITE":
        return WHITE
    try:
        number = int(text)
    except ValueError:
        raise InvalidInput(f"{name} {value!r} is not a density") from None
    if number < 0:
        raise InvalidInput(f"{name} {value!r} is negative")
    return number


BLACK = -1
WHITE = -2


@dataclass
class FilmSpec:
    """What a Film Box asks for: validated on N-CREATE and N-SET."""

    display_format: str = "STANDARD\\1,1"
    film_size: str = "8INX10IN"
    orientation: str = "PORTRAIT"
    magnification: str = "BILINEAR"
    min_density: int = DEFAULT_MIN_DENSITY
    max_density: int = DEFAULT_MAX_DENSITY
    border_density: int = BLACK
    empty_density: int = BLACK
    boxes: list[Box] = field(default_factory=lambda: layout_boxes("STANDARD\\1,1"))

    def pixel_size(self, dpi: int) -> tuple[int, int]:
        """(width, height) of the rendered film in pixels at ``dpi``."""
        width, height = FILM_SIZES[self.film_size]
        if self.orientation == "LANDSCAPE":
            width, height = height, width
        return round(width * dpi), round(height * dpi)

    def grey(self, density: int) -> int:
        """The 8-bit grey level of a density: min density → 255 (white), max → 0 (black)."""
        if density == BLACK:
            return 0
        if density == WHITE:
            return 255
        span = max(self.max_density - self.min_density, 1)
        fraction = (self.max_density - density) / span
        return int(round(255 * min(max(fraction, 0.0), 1.0)))


def film_spec(attributes: dict[str, object], base: FilmSpec | None = None) -> FilmSpec:
    """A FilmSpec from Film Box attribute values (keyword → value, absent ones keep ``base``).

    InvalidInput naming the attribute for an unsupported or malformed value.
    """
    spec = FilmSpec() if base is None else FilmSpec(**base.__dict__)
    display = attributes.get("ImageDisplayFormat")
    if display is not None:
        spec.boxes = layout_boxes(str(display))
        spec.display_format = str(display)
    size = attributes.get("FilmSizeID")
    if size not in (None, ""):
        text = str(size).strip().upper()
        if text not in FILM_SIZES:
            raise InvalidInput(f"FilmSizeID {size!r} is not supported "
                               f"({', '.join(FILM_SIZES)})")
        spec.film_size = text
    for keyword, allowed, attribute in (
        ("FilmOrientation", ORIENTATIONS, "orientation"),
        ("MagnificationType", MAGNIFICATIONS, "magnification"),
    ):
        value = attributes.get(keyword)
        if value not in (None, ""):
            text = str(value).strip().upper()
            if text not in allowed:
                raise InvalidInput(f"{keyword} {value!r} is not one of {', '.join(allowed)}")
            setattr(spec, attribute, text)
    spec.min_density = parse_density(attributes.get("MinDensity"), "MinDensity",
                                     spec.min_density)
    spec.max_density = parse_density(attributes.get("MaxDensity"), "MaxDensity",
                                     spec.max_density)
    if spec.min_density < 0 or spec.max_density < 0 or spec.max_density <= spec.min_density:
        raise InvalidInput("MaxDensity must be a number above MinDensity")
    spec.border_density = parse_density(attributes.get("BorderDensity"), "BorderDensity",
                                        spec.border_density)
    spec.empty_density = parse_density(attributes.get("EmptyImageDensity"),
                                       "EmptyImageDensity", spec.empty_density)
    return spec


def check_choice(keyword: str, value: object, allowed: tuple[str, ...]) -> str | None:
    """An enumerated attribute's value upper-cased, None when absent; InvalidInput if not
    allowed."""
    if value in (None, ""):
        return None
    text = str(value).strip().upper()
    if text not in allowed:
        raise InvalidInput(f"{keyword} {value!r} is not one of {', '.join(allowed)}")
    return text
