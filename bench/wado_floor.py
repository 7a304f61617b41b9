"""The Python floor of bench/wado_bench.py: a bare FastAPI route answering one frame with one
``os.pread`` (no index lookup, no access check, no headers of its own), on one uvicorn
worker with uvicorn's defaults (its ``auto`` loop and HTTP parser: uvloop and httptools when
importable, else asyncio and h11).

The frame offsets are read from the file once at start-up (slidepacs' own frame map reader),
so a request costs only what FastAPI, uvicorn and one positioned read cost::

    .venv/bin/python bench/wado_floor.py --port 8000 FILE.dcm

GET /frames/{n} (from 1) answers the n-th frame, ``image/jpeg``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn  # noqa: E402
from fastapi import FastAPI, Response  # noqa: E402

from slidepacs.dicom.frames import FrameMap  # noqa: E402
from slidepacs.dicom.header import read_frame_map  # noqa: E402


def create_app(path: Path) -> FastAPI:
    """The one-route application over the frames of ``path``."""
    packed = read_frame_map(path)
    if packed is None:
        raise SystemExit(f"{path}: its frames cannot be located")
    frames = FrameMap.unpack(packed)
    # one (offset, length) per frame: the base level's tiles are single fragments
    pieces = [frames.pieces(index)[0] for index in range(len(frames))]
    fd = os.open(path, os.O_RDONLY)
    app = FastAPI()

    @app.get("/frames/{number}")
    async def frame(number: int) -> Response:
        offset, length = pieces[number - 1]
        return Response(os.pread(fd, length, offset), media_type="image/jpeg")

    return app


def main() -> None:
    """Serve until SIGTERM / SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    uvicorn.run(create_app(args.file), host="127.0.0.1", port=args.port, log_config=None,
                access_log=False)


if __name__ == "__main__":
    main()
