"""Slide → DICOM WSI series, level by level, frames copied as they are.

One pass over each source level copies its frames to its instance; when levels below it are
missing (and completion is asked for), the same pass decodes the frames and feeds the
:class:`PyramidBuilder`, whose levels are written at the same time to their own instances.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from slidepacs.errors import Conflict, InvalidInput
from slidepacs.wsi import codec as frame_codec
from slidepacs.wsi.dicom_modules import ImageSpec, SeriesContext, seeded_uid
from slidepacs.wsi.dicom_writer import LevelTarget, associated_spec, level_writer, write_associated
from slidepacs.wsi.model import Associated, Level, SlideSource
from slidepacs.wsi.pyramid import PyramidBuilder, missing_below

EXTENDED_OFFSETS_FROM = 3_900_000_000  # bytes of frames in one instance
OVERVIEW_MM_PER_PX = 0.013  # SPEC §4: the scanner's label/macro camera resolution
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class DicomOptions:
    """How to write the series."""

    sparse: bool = False
    complete_pyramid: bool | None = None  # None: only when the slide has just its base level
    jpeg_quality: int = 85
    extended_offsets: bool | None = None  # None: when a level passes 4 GiB
    barcode: str | None = None
    slide_id: str | None = None
    mpp: float | None = None
    workers: int = 2  # threads decoding/encoding tiles of derived levels
    uid_seed: str | None = None       # same seed, same UIDs (None: new UIDs every time)
    created: datetime | None = None   # Study/Content Date and Time (None: now)


def series_context(source: SlideSource, options: DicomOptions, fallback_id: str) -> SeriesContext:
    """UIDs and identifiers shared by every instance of the series."""
    meta = source.metadata
    mpp = options.mpp or meta.mpp
    if not mpp:
        raise InvalidInput("the slide has no MPP (microns per pixel); give one with --mpp")
    meta = replace(meta, mpp=mpp, barcode=options.barcode or meta.barcode,
                   slide_id=options.slide_id or meta.slide_id)
    container = meta.slide_id or meta.barcode or meta.image_id or fallback_id
    seed = options.uid_seed

    def uid(role: str) -> str:
        return seeded_uid(seed, role)

    return SeriesContext(
        study_uid=uid("study"), series_uid=uid("series"),
        frame_of_reference_uid=uid("frame-of-reference"),
        dimension_organization_uid=uid("dimension-organization"),
        specimen_uid=uid("specimen"), container_id=container[:64], specimen_id=container[:64],
        meta=meta, created=options.created or datetime.now(), uid_seed=seed,
    )


def _level_spec(ctx: SeriesContext, level: Level, number: int, sparse: bool, frames: int,
                encoded_bytes: int, quality: int) -> ImageSpec:
    original = number == 1 and not level.derived
    image_type = ("ORIGINAL", "PRIMARY", "VOLUME", "NONE") if original \
        else ("DERIVED", "PRIMARY", "VOLUME", "RESAMPLED")
    derivation = (f"downsampled 2x2 and re-encoded by slidepacs at quality {quality}"
                  if level.derived else None)
    return ImageSpec(
        kind=None, image_type=image_type, instance_number=number,
        px_size=(level.px_width, level.px_height), tile_size=(level.tile_width, level.tile_height),
        mm_spacing=(ctx.meta.mpp or 0) * level.downsample / 1000, photometric=level.photometric,
        frame_count=frames, sparse=sparse,
        lossy_method="ISO_10918_1" if level.codec.value == "jpeg" else "ISO_15444_1",
        compression_ratio=level.px_width * level.px_height * 3 / max(encoded_bytes, 1),
        derivation=derivation,
    )


def to_dicom(source: SlideSource, out_dir: Path, options: DicomOptions,
             progress: Progress = lambda n: None) -> list[Path]:
    """Write the series into ``out_dir`` (created; must not hold a slide already)."""
    _prepare(out_dir)
    ctx = series_context(source, options, out_dir.name)
    existing = [level.downsample for level in source.levels]
    fill = options.complete_pyramid
    if fill is None:
        fill = len(source.levels) == 1
    derived = [missing_below(level, existing) if fill else [] for level in source.levels]
    downsamples = sorted(set(existing) | {d.downsample for chain in derived for d in chain})
    numbers = {downsample: n + 1 for n, downsample in enumerate(downsamples)}
    written: list[Path] = []
    for index, chain in enumerate(derived):
        targets = _targets(ctx, source, index, chain, options, out_dir, numbers)
        _convert_level(source, index, chain, ctx, targets, options, progress)
        written += [t.path for t in targets]
    written += _write_associated(source, ctx, out_dir, len(downsamples))
    return written


def _prepare(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise Conflict(f"{out_dir} already exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)


def _target(ctx: SeriesContext, level: Level, number: int, options: DicomOptions,
            out_dir: Path, tiles: list[tuple[int, int]] | None, encoded_bytes: int) -> LevelTarget:
    frames = len(tiles) if tiles is not None else level.tile_count
    extended = options.extended_offsets
    if extended is None:
        extended = encoded_bytes > EXTENDED_OFFSETS_FROM
    spec = _level_spec(ctx, level, number, tiles is not None, frames, encoded_bytes,
                       options.jpeg_quality)
    return LevelTarget(out_dir / f"level-{number - 1}.dcm", spec, level.codec,
                       ctx.new_uid(f"level-{number}"), tiles, extended)


def _targets(ctx: SeriesContext, source: SlideSource, index: int, derived: list[Level],
             options: DicomOptions, out_dir: Path, numbers: dict[float, int]) -> list[LevelTarget]:
    """The instance of source level ``index`` first, then those of its derived levels."""
    level, size = source.levels[index], source.level_bytes(index)
    tiles = list(source.present_tiles(index)) if options.sparse else None
    targets = [_target(ctx, level, numbers[level.downsample], options, out_dir, tiles, size)]
    for child in derived:
        grid = [(x, y) for y in range(child.tiles_down) for x in range(child.tiles_across)]
        estimate = int(size / (child.downsample / level.downsample) ** 2)
        targets.append(_target(ctx, child, numbers[child.downsample], options, out_dir,
                               grid if options.sparse else None, estimate))
    return targets


def _convert_level(source: SlideSource, index: int, derived: list[Level], ctx: SeriesContext,
                   targets: list[LevelTarget], options: DicomOptions, progress: Progress) -> None:
    """One pass over a source level: copy its frames; decode them for derived levels."""
    level = source.levels[index]
    sparse = targets[0].tiles is not None
    with ExitStack() as stack:
        writers = [stack.enter_context(level_writer(ctx, t)) for t in targets]
        pool = stack.enter_context(ThreadPoolExecutor(options.workers)) if derived else None
        builder = PyramidBuilder(level, derived, [w.add for w in writers[1:]],
                                 options.jpeg_quality, pool.map) if pool else None
        blank = frame_codec.blank((level.tile_width, level.tile_height), level.codec,
                                  level.photometric, options.jpeg_quality)
        for tile_y in range(level.tiles_down):
            row = source.read_row(index, tile_y)
            for frame in row:
                if frame is not None:
                    writers[0].add(frame)
                    progress(len(frame))
                elif not sparse:
                    writers[0].add(blank)
            if builder is not None and pool is not None:
                builder.push(_decoded_row(level, tile_y, row, pool))
        if builder is not None:
            builder.finish()


def _decoded_row(level: Level, tile_y: int, row: list[bytes | None],
                 pool: ThreadPoolExecutor) -> np.ndarray:
    """One tile row of pixels, cropped to the level's size (missing tiles white)."""
    height = min(level.tile_height, level.px_height - tile_y * level.tile_height)
    strip = np.full((height, level.px_width, 3), 255, np.uint8)

    def place(tile_x: int) -> None:
        frame = row[tile_x]
        if frame is None:
            return
        x0 = tile_x * level.tile_width
        width = min(level.tile_width, level.px_width - x0)
        pixels = frame_codec.decode(frame, level.codec, level.photometric)
        strip[:, x0:x0 + width] = pixels[:height, :width]

    list(pool.map(place, range(len(row))))
    return strip


def _write_associated(source: SlideSource, ctx: SeriesContext, out_dir: Path,
                      levels: int) -> list[Path]:
    written = []
    base = source.levels[0]
    for number, kind in enumerate(Associated, start=levels + 1):
        pixels = source.associated(kind)
        if pixels is None:
            continue
        spacing = OVERVIEW_MM_PER_PX
        if kind is Associated.THUMBNAIL:
            spacing = (ctx.meta.mpp or 0) / 1000 * base.px_width / pixels.shape[1]
        spec = associated_spec(kind, pixels, spacing, number)
        path = out_dir / f"{kind.value.lower()}.dcm"
        write_associated(path, ctx, spec, ctx.new_uid(kind.value), pixels)
        written.append(path)
    return written
