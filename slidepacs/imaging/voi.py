"""One frame of a (non-tiled) image for display, 8 bits per sample (PS3.3 C.11, PS3.4 N.2):
stored values → Modality LUT (Rescale Slope/Intercept or a Modality LUT Sequence) → VOI
(the request's window, else the file's first window, else its VOI LUT, else the frame's
minimum to maximum) → MONOCHROME1 inverted; palette colour through its LUTs; colour as RGB.

Frames are decoded by pydicom when it has a decoder for the transfer syntax (native data,
RLE, and JPEG / JPEG 2000 with Pillow or pylibjpeg installed), else by imagecodecs from the
stored frame's bytes (JPEG baseline, extended and lossless, JPEG-LS, JPEG 2000, HTJ2K).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom.pixels
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from slidepacs.domain.rendering import NotRenderable, VoiFunction, Window
from slidepacs.errors import StorageFailure
from slidepacs.imaging.codecs import DECODABLE, decode_frame

_FUNCTIONS = {"LINEAR": VoiFunction.LINEAR, "LINEAR_EXACT": VoiFunction.LINEAR_EXACT,
              "SIGMOID": VoiFunction.SIGMOID}


def display_frame(path: Path, ds: Dataset, index: int, window: Window | None,
                  encoded: Callable[[], bytes]) -> np.ndarray:
    """Frame ``index`` (from 0) of the image in ``path`` (header ``ds``) as rows × columns ×
    1 (grey) or 3 (RGB) 8-bit samples; ``encoded`` gives the stored frame's bytes for the
    decoders pydicom lacks. ``window`` applies to monochrome images only."""
    if "Rows" not in ds or "PhotometricInterpretation" not in ds:
        raise NotRenderable("the instance is not an image (no Rows / Photometric "
                            "Interpretation); its rendered forms are not supported")
    photometric = str(ds.PhotometricInterpretation).strip()
    stored = _stored_values(path, ds, index, encoded, photometric)
    if photometric.startswith("MONOCHROME"):
        grey = _voi(modality_values(stored, ds, index), ds, index, window)
        if photometric == "MONOCHROME1":
            grey = 255 - grey
        return grey[..., None]
    if photometric == "PALETTE COLOR":
        rgb = pydicom.pixels.apply_color_lut(stored, ds)
        return _to_8_bits(rgb, 16 if rgb.dtype == np.uint16 else 8)
    if stored.ndim == 2:
        raise NotRenderable(f"a {photometric} image with one sample per pixel")
    return _to_8_bits(stored[..., :3], int(ds.get("BitsStored", 8)))


def _voi(values: np.ndarray, ds: Dataset, index: int, window: Window | None) -> np.ndarray:
    """Modality values onto 0–255: the request's window, the file's, its VOI LUT Sequence,
    else the frame's span."""
    window = window or file_window(ds, index)
    if window is None and "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        lut_input = np.rint(values).astype(np.int64)  # LUT entries are for whole values
        return _to_8_bits(pydicom.pixels.apply_voi(lut_input, ds, index=0), bits)
    return apply_window(values, window or span_window(values))


def _stored_values(path: Path, ds: Dataset, index: int, encoded: Callable[[], bytes],
                   photometric: str) -> np.ndarray:
    syntax = str(ds.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in getattr(
        ds, "file_meta", Dataset()) else "1.2.840.10008.1.2"
    if _pydicom_decodes(syntax):
        try:
            return pydicom.pixels.pixel_array(path, index=index)
        except Exception as exc:  # pydicom raises many types on malformed pixel data
            if syntax not in DECODABLE:  # else imagecodecs may (Pillow lacks 12-bit JPEG)
                raise StorageFailure(f"frame {index + 1} of {path.name} cannot be decoded "
                                     f"({type(exc).__name__}: {exc})") from None
    pixels = decode_frame(encoded(), syntax, photometric)
    if int(ds.get("PixelRepresentation", 0)) == 1 and pixels.dtype.kind == "u":
        bits = int(ds.get("BitsStored", pixels.dtype.itemsize * 8))
        signed = pixels.astype(np.int64)
        pixels = np.where(signed >= 1 << (bits - 1), signed - (1 << bits), signed)
    return pixels


def _pydicom_decodes(syntax: str) -> bool:
    try:
        return bool(pydicom.pixels.get_decoder(syntax).is_available)
    except (NotImplementedError, ValueError):
        return False


def modality_values(stored: np.ndarray, ds: Dataset, index: int) -> np.ndarray:
    """Stored values through the Modality LUT (the frame's rescale in enhanced images)."""
    if "ModalityLUTSequence" in ds:
        return np.asarray(pydicom.pixels.apply_modality_lut(stored, ds), np.float64)
    transform = _frame_item(ds, index, "PixelValueTransformationSequence") or ds
    slope = float(transform.get("RescaleSlope", 1) or 1)
    intercept = float(transform.get("RescaleIntercept", 0) or 0)
    return stored.astype(np.float64) * slope + intercept


def file_window(ds: Dataset, index: int) -> Window | None:
    """The first VOI window the file gives for the frame (top level, else its functional
    groups); None when there is none or it is unusable."""
    source = ds if "WindowCenter" in ds else _frame_item(ds, index, "FrameVOILUTSequence")
    if source is None or "WindowCenter" not in source or "WindowWidth" not in source:
        return None
    try:
        center, width = _first(source.WindowCenter), _first(source.WindowWidth)
    except (TypeError, ValueError):
        return None
    function = _FUNCTIONS.get(str(source.get("VOILUTFunction", "LINEAR")).upper(),
                              VoiFunction.LINEAR)
    if width <= 0:
        return None
    return Window(center, max(width, 1.0) if function is VoiFunction.LINEAR else width,
                  function)


def span_window(values: np.ndarray) -> Window:
    """The window from the frame's minimum to its maximum (linear-exact)."""
    low, high = float(values.min()), float(values.max())
    return Window((low + high) / 2, max(high - low, 1e-9), VoiFunction.LINEAR_EXACT)


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Modality values through a VOI window onto 0–255 (PS3.3 C.11.2.1.2)."""
    center, width = window.center, window.width
    if window.function is VoiFunction.LINEAR_EXACT:
        scaled = (values - center) / width + 0.5
    elif window.function is VoiFunction.SIGMOID:
        scaled = 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    elif width <= 1:
        scaled = (values > center - 0.5).astype(np.float64)
    else:
        scaled = (values - (center - 0.5)) / (width - 1) + 0.5
    return np.rint(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_8_bits(pixels: np.ndarray, bits: int) -> np.ndarray:
    if pixels.dtype == np.uint8 and bits <= 8:
        return pixels
    top = float((1 << bits) - 1)
    return np.rint(np.clip(pixels.astype(np.float64), 0, top) * (255.0 / top)).astype(np.uint8)


def _frame_item(ds: Dataset, index: int, sequence: str) -> Dataset | None:
    """The first item of a functional group sequence for frame ``index``: per-frame first,
    then shared; None when neither has it."""
    for groups, position in (("PerFrameFunctionalGroupsSequence", index),
                             ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        if items is not None and len(items) > position and sequence in items[position]:
            found = items[position][sequence]
            if len(found):
                return found[0]
    return None


def _first(value: Any) -> float:
    """The first of a possibly multi-valued number."""
    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0]
    return float(value)
