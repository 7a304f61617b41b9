"""What a rendered or thumbnail request asks for (PS3.18 §8.3.5, Table 8.3.5-1): the output
media type, the viewport (output size and source region), the VOI window and the JPEG
quality; parsed from query text, and the output geometry and limits that follow from them.

Pure Python: every malformed value raises InvalidInput naming its parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from slidepacs.errors import InvalidInput, Unsupported

JPEG = "image/jpeg"
PNG = "image/png"
RENDERED_MEDIA_TYPES = (JPEG, PNG)  # the first is the default
DEFAULT_QUALITY = 90
THUMBNAIL_SIZE = 256
# refusals (400 naming ``viewport``): an output larger than this many pixels ...
MAX_OUTPUT_PIXELS = 40_000_000
# ... or a source region of a tiled image covering more tiles than this (e.g. 64 × 64
# tiles of 256 pixels: a 16k × 16k region); a smaller region or another level is needed
MAX_SOURCE_TILES = 4096


class NotRenderable(Unsupported):
    """The instance or frame cannot be rendered: not an image, a transfer syntax without a
    decoder, several frames for a single-image media type."""


class VoiFunction(str, Enum):
    """The VOI LUT functions of PS3.3 C.11.2.1.2, as the ``window`` parameter names them."""

    LINEAR = "linear"
    LINEAR_EXACT = "linear-exact"
    SIGMOID = "sigmoid"


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window: centre and width in modality (rescaled) values."""

    center: float
    width: float
    function: VoiFunction = VoiFunction.LINEAR


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of source pixels: left column, top row, width, height."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """The column just past the region."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """The row just past the region."""
        return self.y + self.height


@dataclass(frozen=True, slots=True)
class Viewport:
    """The output's bounding box and, optionally, the source region shown in it."""

    width: int
    height: int
    region: Region | None = None


@dataclass(frozen=True, slots=True)
class RenderParams:
    """Everything that shapes a rendered image besides the instance itself."""

    media_type: str = JPEG
    viewport: Viewport | None = None
    window: Window | None = None
    quality: int = DEFAULT_QUALITY


def parse_viewport(text: str) -> Viewport:
    """``vw,vh`` or ``vw,vh,sx,sy,sw,sh`` (sizes > 0, offsets >= 0, whole pixels)."""
    values = _integers("viewport", text)
    if len(values) not in (2, 6):
        raise InvalidInput(f"viewport {text!r} must be vw,vh or vw,vh,sx,sy,sw,sh")
    if values[0] < 1 or values[1] < 1:
        raise InvalidInput(f"viewport {text!r}: the width and height must be at least 1")
    if len(values) == 2:
        return Viewport(values[0], values[1])
    x, y, width, height = values[2:]
    if x < 0 or y < 0 or width < 1 or height < 1:
        raise InvalidInput(f"viewport {text!r}: sx and sy must be 0 or more and sw and sh "
                           "at least 1 (flipping with negative sizes is not supported)")
    return Viewport(values[0], values[1], Region(x, y, width, height))


def parse_window(text: str) -> Window:
    """``center,width[,function]`` with a function of linear (default), linear-exact or
    sigmoid; the width must be above 0 (at least 1 for linear)."""
    fields = [field.strip() for field in text.split(",")]
    if len(fields) not in (2, 3):
        raise InvalidInput(f"window {text!r} must be center,width[,function]")
    try:
        center, width = float(fields[0]), float(fields[1])
    except ValueError:
        raise InvalidInput(f"window {text!r}: center and width must be numbers") from None
    if not (math.isfinite(center) and math.isfinite(width)):
        raise InvalidInput(f"window {text!r}: center and width must be finite")
    try:
        function = VoiFunction(fields[2].lower()) if len(fields) == 3 else VoiFunction.LINEAR
    except ValueError:
        raise InvalidInput(f"window {text!r}: the function must be linear, linear-exact or "
                           "sigmoid") from None
    if width <= 0 or (function is VoiFunction.LINEAR and width < 1):
        raise InvalidInput(f"window {text!r}: the width must be above 0 (at least 1 for "
                           "linear)")
    return Window(center, width, function)


def parse_quality(text: str) -> int:
    """A JPEG quality from 1 to 100."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 100:
        raise InvalidInput(f"quality {text!r} must be a whole number from 1 to 100")
    return int(text)


def render_params(query: dict[str, str], media_type: str,
                  default_viewport: Viewport | None = None) -> RenderParams:
    """The parameters of a request's query (other query keys are ignored)."""
    viewport = parse_viewport(query["viewport"]) if "viewport" in query else default_viewport
    window = parse_window(query["window"]) if "window" in query else None
    quality = parse_quality(query["quality"]) if "quality" in query else DEFAULT_QUALITY
    return RenderParams(media_type, viewport, window, quality)


def source_region(viewport: Viewport | None, width: int, height: int) -> Region:
    """The region of a ``width`` × ``height`` image to show: the viewport's (which must
    start inside the image; what lies beyond the image is background) or all of it."""
    if viewport is None or viewport.region is None:
        return Region(0, 0, width, height)
    region = viewport.region
    if region.x >= width or region.y >= height:
        raise InvalidInput(f"viewport: the region starts at ({region.x}, {region.y}), outside "
                           f"the {width} × {height} image")
    return region


def output_size(viewport: Viewport | None, region: Region) -> tuple[int, int]:
    """(width, height) of the output: the region scaled to fit inside the viewport with its
    aspect ratio kept (the region's own size without a viewport); InvalidInput naming
    ``viewport`` beyond MAX_OUTPUT_PIXELS."""
    if viewport is None:
        width, height = region.width, region.height
    else:
        scale = min(viewport.width / region.width, viewport.height / region.height)
        width = min(viewport.width, max(1, round(region.width * scale)))
        height = min(viewport.height, max(1, round(region.height * scale)))
    if width * height > MAX_OUTPUT_PIXELS:
        raise InvalidInput(f"viewport: a {width} × {height} output is over the limit of "
                           f"{MAX_OUTPUT_PIXELS:,} pixels; ask for a smaller viewport")
    return width, height


def check_tile_count(count: int, region: Region) -> None:
    """InvalidInput naming ``viewport`` when a region covers more than MAX_SOURCE_TILES."""
    if count > MAX_SOURCE_TILES:
        raise InvalidInput(
            f"viewport: the {region.width} × {region.height} source region covers {count:,} "
            f"tiles (at most {MAX_SOURCE_TILES:,} are decoded per request); choose a smaller "
            "region (sx,sy,sw,sh) or a smaller pyramid level")


def _integers(name: str, text: str) -> list[int]:
    values = []
    for field in text.split(","):
        field = field.strip()
        if not field.lstrip("-").isdigit():
            raise InvalidInput(f"{name} {text!r} must be whole numbers separated by commas")
        values.append(int(field))
    return values
