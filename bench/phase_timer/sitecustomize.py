"""Per-step timers inside a running ``slidepacs serve`` (wall and thread CPU per call).

Python imports ``sitecustomize`` at start-up from the path, so with this folder on
``PYTHONPATH`` and ``PHASE_TIMER_OUT`` set to an output file (not ``SLIDEPACS_*``:
``dimse_bench`` clears those for the server), the server wraps the receive and ingest steps
below with timers and rewrites that file every 2 s: one line per step with its calls, mean
wall time and mean CPU time of the calling thread. For example::

    PHASE_TIMER_OUT=/tmp/phases.txt PYTHONPATH=$PWD/bench/phase_timer \\
        .venv/bin/python bench/dimse_bench.py --datasets ct --peers slidepacs --runs 1 \\
        --no-update-results
    cat /tmp/phases.txt

(``dimse_bench`` keeps ``PYTHONPATH`` unless ``--code`` is given.) The timers cost about 2 µs
per call: compare steps, not totals, with an untimed run.
"""

from __future__ import annotations

import atexit
import functools
import os
import threading
import time
from collections import defaultdict
from typing import Any

_STATS: defaultdict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])


def _wrap(owner: Any, name: str) -> None:
    function = getattr(owner, name)
    label = f"{getattr(owner, '__name__', owner)}.{name}"

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            stats = _STATS[label]
            stats[0] += 1
            stats[1] += time.perf_counter() - wall
            stats[2] += time.thread_time() - cpu

    setattr(owner, name, timed)


def _write(path: str) -> None:
    rows = sorted(_STATS.items(), key=lambda item: -item[1][1])
    if not rows:  # a process that serves nothing (the benchmark's own) writes nothing
        return
    with open(path, "w") as out:
        for label, (calls, wall, cpu) in rows:
            out.write(f"{label:55s} calls {int(calls):7d}  wall {wall / calls * 1e3:7.3f} ms"
                      f"  cpu {cpu / calls * 1e3:7.3f} ms\n")


def _dump(path: str) -> None:
    while True:
        time.sleep(2)
        _write(path)


def _install(path: str) -> None:
    import sqlalchemy.engine.default as engine_default

    import slidepacs.dimse.handlers as handlers
    import slidepacs.storage.received_file as received_file
    import slidepacs.dimse.store_receiver as store_receiver
    import slidepacs.index.repository as repository
    import slidepacs.services.ingest as ingest
    import slidepacs.storage.filesystem as filesystem

    _wrap(ingest, "read_header")
    for owner, names in (
        (ingest.IngestService, ["ingest_received", "_prepare", "_commit", "_index_and_publish"]),
        (repository.IndexRepository, ["find_instances_by_uid", "add_instances", "_hierarchy",
                                       "_refresh_counters"]),
        (received_file.ReceivedFile, ["write", "close", "wait_durable"]),
        (store_receiver.StoreReceiver, ["take", "_begin", "_complete", "_respond"]),
        (handlers.DimseHandlers, ["store"]),
        (filesystem.MirroredFileStore, ["adopt", "begin_publish"]),
        (filesystem.PendingPublish, ["wait"]),
        (engine_default.DefaultDialect, ["do_commit"]),
    ):
        for name in names:
            _wrap(owner, name)
    threading.Thread(target=_dump, args=(path,), name="phase-timer", daemon=True).start()
    atexit.register(_write, path)


if os.environ.get("PHASE_TIMER_OUT"):
    _install(os.environ["PHASE_TIMER_OUT"])
