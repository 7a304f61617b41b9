"""Time slidepacs' own import loop (``ImportService.run``) without interpreter start-up.

Run as a separate process, one fresh archive per run::

    python bench/ingest_inprocess.py --data DATA_DIR [--profile OUT [--cpu]] FOLDER

Builds the application context exactly as ``slidepacs import`` does (SQLite index in the
data path, default settings), discovers the files, then times only ``ImportService.run``.
With ``--profile OUT`` the run is recorded with cProfile: ``OUT.main.pstats`` for the
calling thread (discovery order, index commits) and ``OUT.workers.pstats`` for the threads
ingest starts (header parsing, staging), merged. cProfile slows pure-Python code, so the
profiled run's time is reported but should not be compared with unprofiled ones.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from slidepacs.bootstrap import build_context
from slidepacs.config import settings_for
from slidepacs.services.importer import ImportService


@contextmanager
def profiled(out: Path | None, cpu: bool = False) -> Iterator[None]:
    """Profile the calling thread and every thread started inside the block (cProfile).

    The clock is wall time per thread, or with ``cpu`` each thread's own CPU time
    (``time.thread_time``), which leaves out waits for the disk and for the GIL.
    """
    if out is None:
        yield
        return
    timer = time.thread_time if cpu else time.perf_counter
    main_profile = cProfile.Profile(timer)
    workers: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_in_thread(_frame: FrameType, _event: str, _arg: Any) -> None:
        # threading installs this in each new thread; it swaps itself for a Profile.
        profile = cProfile.Profile(timer)
        with lock:
            workers.append(profile)
        profile.enable()

    threading.setprofile(start_in_thread)
    main_profile.enable()
    try:
        yield
    finally:
        main_profile.disable()
        threading.setprofile(None)
        main_profile.dump_stats(str(out) + ".main.pstats")
        with lock:
            if workers:
                merged = pstats.Stats(workers[0])
                for profile in workers[1:]:
                    merged.add(profile)
                merged.dump_stats(str(out) + ".workers.pstats")


def main(argv: list[str] | None = None) -> int:
    """Import the given folders into a new archive at ``--data``; print a JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="new, empty data folder")
    parser.add_argument("--profile", type=Path, help="write cProfile statistics to PROFILE.*")
    parser.add_argument("--cpu", action="store_true", help="profile CPU time, not wall time")
    parser.add_argument("--workers", type=int, help="ingest threads (default: as configured)")
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to import")
    args = parser.parse_args(argv)

    setup_started = time.perf_counter()
    context = build_context(settings_for(args.data))
    try:
        items, problems = context.importer.discover(args.paths, recursive=True)
        setup_seconds = time.perf_counter() - setup_started
        importer = context.importer
        if args.workers is not None:
            importer = ImportService(context.ingest, workers=args.workers)
        with profiled(args.profile, args.cpu):
            report = importer.run(items, "import")
    finally:
        context.close()
    json.dump({
        "files": report.files,
        "stored": report.stored,
        "failures": len(report.failures) + len(problems),
        "bytes": report.bytes_stored,
        "seconds": report.seconds,
        "setup_seconds": setup_seconds,
        "profiled": args.profile is not None,
    }, sys.stdout)
    sys.stdout.write("\n")
    return 1 if report.failures or problems else 0


if __name__ == "__main__":
    sys.exit(main())
