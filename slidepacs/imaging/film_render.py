"""Renders a film (a grid of image boxes) to pixels and writes it as PNG and PDF.

Memory: the film is one preallocated uint8 array (5440×5440 for 17×17 in at 320 dpi: 30 MB
grey, 89 MB RGB); each image is scaled by Pillow straight into its box's slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from slidepacs.domain.film import FilmSpec
from slidepacs.errors import InvalidInput
from slidepacs.storage.filesystem import write_atomically

RESAMPLING = {"REPLICATE": Image.Resampling.NEAREST, "BILINEAR": Image.Resampling.BILINEAR,
              "CUBIC": Image.Resampling.BICUBIC}


@dataclass(frozen=True)
class BoxImage:
    """An image for one box: 8-bit pixels (rows, columns) grey or (rows, columns, 3) RGB,
    already in display sense (255 = white / least dense)."""

    pixels: np.ndarray
    polarity: str = "NORMAL"
    magnification: str | None = None


def preformatted_pixels(rows: int, columns: int, samples: int, bits_allocated: int,
                        bits_stored: int, photometric: str, data: bytes,
                        planar: int = 0) -> np.ndarray:
    """The 8-bit display pixels of a Preformatted Grayscale/Color Image Sequence item.

    Grey: 8 or 12 bits stored (in 8 or 16 allocated), MONOCHROME1 inverted; colour: RGB,
    8 bits, pixel- or plane-interleaved. InvalidInput if the sizes and the data disagree.
    """
    if rows < 1 or columns < 1:
        raise InvalidInput("Rows and Columns must be at least 1")
    if samples == 1:
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise InvalidInput(f"PhotometricInterpretation {photometric!r} for a grey box")
        if (bits_allocated, bits_stored) not in ((8, 8), (16, 12)):
            raise InvalidInput(f"BitsAllocated/BitsStored {bits_allocated}/{bits_stored} "
                               "(8/8 or 16/12 expected)")
    elif samples == 3:
        if photometric != "RGB" or (bits_allocated, bits_stored) != (8, 8):
            raise InvalidInput("a colour box takes RGB with 8 bits per sample")
    else:
        raise InvalidInput(f"SamplesPerPixel {samples} (1 or 3 expected)")
    expected = rows * columns * samples * bits_allocated // 8
    if len(data) not in (expected, expected + 1):  # one pad byte for an odd length
        raise InvalidInput(f"PixelData holds {len(data)} bytes; {rows}×{columns}×{samples} "
                           f"at {bits_allocated} bits needs {expected}")
    if samples == 3:
        values = np.frombuffer(data, np.uint8, expected)
        if planar:
            return np.ascontiguousarray(values.reshape(3, rows, columns).transpose(1, 2, 0))
        return values.reshape(rows, columns, 3)
    if bits_allocated == 8:
        grey = np.frombuffer(data, np.uint8, expected).reshape(rows, columns)
    else:
        wide = np.frombuffer(data, "<u2", rows * columns).reshape(rows, columns) & 0x0FFF
        grey = ((wide.astype(np.uint32) * 255 + 2047) // 4095).astype(np.uint8)
    return 255 - grey if photometric == "MONOCHROME1" else grey


def render_film(spec: FilmSpec, images: dict[int, BoxImage], dpi: int,
                colour: bool) -> np.ndarray:
    """The film's pixels: border density everywhere, each box's image scaled to fit (aspect
    kept, centred) per its magnification, boxes without an image at the empty density.

    ``images`` maps Image Box Position (1-based) to its image.
    """
    width, height = spec.pixel_size(dpi)
    shape = (height, width, 3) if colour else (height, width)
    film = np.empty(shape, np.uint8)
    film[...] = spec.grey(spec.border_density)
    empty = spec.grey(spec.empty_density)
    for position, box in enumerate(spec.boxes, start=1):
        x0, y0 = round(box.left * width), round(box.top * height)
        x1, y1 = round((box.left + box.width) * width), round((box.top + box.height) * height)
        image = images.get(position)
        if image is None:
            film[y0:y1, x0:x1] = empty
            continue
        _place(film[y0:y1, x0:x1], image, image.magnification or spec.magnification, colour)
    return film


def _place(area: np.ndarray, image: BoxImage, magnification: str, colour: bool) -> None:
    """Scale ``image`` into ``area`` (aspect kept, centred); NONE keeps its size, cropped."""
    pixels = image.pixels
    if colour and pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif not colour and pixels.ndim == 3:
        pixels = np.asarray(Image.fromarray(pixels, "RGB").convert("L"))
    if image.polarity == "REVERSE":
        pixels = 255 - pixels
    box_h, box_w = area.shape[:2]
    rows, columns = pixels.shape[:2]
    if magnification == "NONE":
        new_w, new_h = min(columns, box_w), min(rows, box_h)
        top, left = (rows - new_h) // 2, (columns - new_w) // 2
        scaled = pixels[top:top + new_h, left:left + new_w]
    else:
        factor = min(box_w / columns, box_h / rows)
        new_w, new_h = max(1, int(columns * factor)), max(1, int(rows * factor))
        source = Image.fromarray(np.ascontiguousarray(pixels), "RGB" if colour else "L")
        scaled = np.asarray(source.resize((new_w, new_h), RESAMPLING[magnification]))
    y, x = (box_h - new_h) // 2, (box_w - new_w) // 2
    area[y:y + new_h, x:x + new_w] = scaled


def write_film(pixels: np.ndarray, folder: Path, stem: str, dpi: int) -> tuple[Path, Path]:
    """Write the film as ``stem.png`` and ``stem.pdf`` (page size = film size) durably:
    temporary name, fsync, rename. Returns (png, pdf)."""
    image = Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L")
    png = write_atomically(folder / f"{stem}.png",
                           lambda path: image.save(path, "PNG", dpi=(dpi, dpi), compress_level=1))
    pdf = write_atomically(folder / f"{stem}.pdf",
                           lambda path: image.save(path, "PDF", resolution=float(dpi)))
    return png, pdf
