"""WADO-RS rendered: time to render a 1024 × 1024 viewport of a whole-slide level, and a CT
slice.

A synthetic slide (``--width`` × ``--height``, 256-pixel JPEG tiles, a pool of encoded tissue
tiles as in the other benchmarks) is written as SVS, converted to DICOM WSI (TILED_FULL) and
ingested into a throw-away SQLite archive. Then, over HTTP (``slidepacs`` front in-process,
one keep-alive httpx client, JPEG quality 90):

- *cold*: the first request of a freshly built archive context and HTTP server (empty frame
  map and tile grid caches) after the level file's pages are dropped from the OS page cache
  (``posix_fadvise(DONTNEED)`` on that file only); ``--cold`` samples, one server each;
- *warm*: ``--regions`` random regions on one running server after one untimed request
  (caches filled, file pages cached; tiles are decoded on every request, there is no tile
  cache);

for regions of 1024 × 1024 source pixels shown 1:1 (``viewport=1024,1024,x,y,1024,1024``,
16–25 tiles) and of 4096 × 4096 shown in 1024 × 1024 (256–289 tiles). And a 512 × 512 CT
slice (``/rendered``, JPEG and PNG), warm. Prints p50 / p90 in milliseconds.

    .venv/bin/python bench/rendered_bench.py [--width 40000 --height 30000] [--regions 50]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pydicom

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import settings_for
from slidepacs.testing.generators import write_ct_series
from slidepacs.testing.orthanc import free_port
from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.web.server import HttpServer
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions


def _serve(data: Path) -> tuple[AppContext, HttpServer, httpx.Client]:
    settings = settings_for(data, http={"port": free_port()})
    app = build_context(settings)
    server = HttpServer(app)
    server.start()
    root = f"http://{settings.http.host}:{settings.http.port}/dicom-web"
    return app, server, httpx.Client(base_url=root, timeout=120)


def _stop(app: AppContext, server: HttpServer, client: httpx.Client) -> None:
    client.close()
    server.stop()
    app.close()


def _timed(get: Callable[[], httpx.Response]) -> float:
    start = time.perf_counter()
    answer = get()
    elapsed = (time.perf_counter() - start) * 1000
    if answer.status_code != 200:
        raise SystemExit(f"{answer.status_code}: {answer.text[:300]}")
    return elapsed


def _summary(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    print(f"{name:58s} n={len(samples):3d}  p50 {statistics.median(samples):7.1f} ms"
          f"  p90 {p90:7.1f} ms")


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=40_000)
    parser.add_argument("--height", type=int, default=30_000)
    parser.add_argument("--regions", type=int, default=50)
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="rendered-bench-") as scratch:
        work = Path(scratch)
        started = time.perf_counter()
        svs = make_svs(work / "slide.svs", SlideSpec(width=args.width, height=args.height,
                                                     tile=256, downsamples=(1, 4, 16),
                                                     tile_pool=64))
        convert(svs, work / "dicom", Target.DICOM, DicomOptions())
        ct = write_ct_series(work / "ct", 1, size=512)[0]
        app, server, client = _serve(work / "data")
        for path in [*sorted((work / "dicom").iterdir()), ct]:
            app.ingest.ingest_file(path)
        base = max((pydicom.dcmread(p, stop_before_pixels=True) for p in
                    (work / "dicom").iterdir()),
                   key=lambda d: int(d.get("TotalPixelMatrixColumns", 0)))
        level_url = (f"/studies/{base.StudyInstanceUID}/series/{base.SeriesInstanceUID}"
                     f"/instances/{base.SOPInstanceUID}/rendered")
        [stored] = app.retrieve.instances(base.StudyInstanceUID, base.SeriesInstanceUID,
                                          base.SOPInstanceUID)
        print(f"slide {args.width} x {args.height}, base level {stored.size / 1e6:.0f} MB, "
              f"{int(base.NumberOfFrames)} tiles; prepared in "
              f"{time.perf_counter() - started:.0f} s")

        def region(side: int) -> str:
            x = rng.randrange(0, args.width - side)
            y = rng.randrange(0, args.height - side)
            return f"1024,1024,{x},{y},{side},{side}"

        for side in (1024, 4096):
            client.get(level_url, params={"viewport": region(side)})
            _summary(f"warm, {side} x {side} region -> 1024 x 1024 JPEG",
                     [_timed(lambda: client.get(level_url, params={"viewport": region(side)}))
                      for _ in range(args.regions)])
        ct_dataset = pydicom.dcmread(ct, stop_before_pixels=True)
        ct_url = (f"/studies/{ct_dataset.StudyInstanceUID}/series/"
                  f"{ct_dataset.SeriesInstanceUID}/instances/{ct_dataset.SOPInstanceUID}"
                  "/rendered")
        for media in ("image/jpeg", "image/png"):
            client.get(ct_url, headers={"Accept": media})
            _summary(f"warm, CT 512 x 512 slice as {media}",
                     [_timed(lambda: client.get(ct_url, headers={"Accept": media}))
                      for _ in range(args.regions)])
        _stop(app, server, client)
        for side in (1024, 4096):
            samples = []
            for _ in range(args.cold):
                _evict(stored.path)
                app, server, client = _serve(work / "data")
                samples.append(_timed(lambda: client.get(level_url,
                                                         params={"viewport": region(side)})))
                _stop(app, server, client)
            _summary(f"cold, {side} x {side} region -> 1024 x 1024 JPEG", samples)


if __name__ == "__main__":
    main()
