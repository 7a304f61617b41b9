"""Import throughput: slidepacs (CLI and in-process), Orthanc's REST API, and ``cp`` + ``sync``.

Every run starts from an empty archive in a new folder under the work folder, which is
deleted afterwards; dirty pages are flushed (``sync``, untimed) before each timed run so one
peer's writes are not charged to the next. Source files are read from the page cache (they
were generated or read by an earlier run) for every peer alike.

One peer on one data set, for trying things by hand::

    .venv/bin/python bench/import_bench.py --peer orthanc --dataset ct --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import DataSet  # noqa: E402
from bench.measure import ChildRun, Measurement, UserClock, check_child, run_child  # noqa: E402
from bench.orthanc import OrthancServer  # noqa: E402

BENCH = Path(__file__).resolve().parent
UPLOAD_THREADS = 4


@dataclass(frozen=True)
class Peer:
    """A way of importing a data set, measured one run at a time."""

    key: str
    title: str
    measure: Callable[[DataSet, Path, int], Measurement]


def slidepacs_cli() -> str:
    """The ``slidepacs`` console script of the running environment."""
    beside = Path(sys.executable).with_name("slidepacs")
    if beside.exists():
        return str(beside)
    found = shutil.which("slidepacs")
    if found is None:
        raise RuntimeError("the slidepacs command is not installed (make install)")
    return found


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without slidepacs settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIDEPACS_")}
    env.update(extra)
    return env


def _stored_files(data: Path) -> int:
    return sum(1 for _root, _dirs, names in os.walk(data) for n in names if n.endswith(".dcm"))


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.sync()
    return folder


def measure_slidepacs_cli(dataset: DataSet, work: Path, run: int) -> Measurement:
    """``slidepacs import DIR --recursive`` as a user runs it: a new process, default settings.

    Rates use the process's wall time, interpreter and schema creation included.
    """
    home = _fresh(work / f"slidepacs-cli-{run}")
    data = home / "data"
    with UserClock() as clock:
        child = run_child([slidepacs_cli(), "import", dataset.folder, "--recursive"],
                          env=_clean_env(SLIDEPACS_STORAGE__DATA_PATH=str(data), COLUMNS="120"),
                          cwd=home)
    check_child(child, "slidepacs import")
    stored = _stored_files(data)
    if stored != dataset.files:
        raise RuntimeError(f"slidepacs stored {stored} files of {dataset.files}")
    shutil.rmtree(home)
    return Measurement(dataset.key, "slidepacs-cli", run, dataset.files, dataset.bytes,
                       seconds=child.wall, wall=child.wall, client_cpu=child.cpu,
                       client_rss=child.peak_rss, user_cpu=child.user_cpu,
                       machine_user_cpu=clock.seconds)


def measure_slidepacs_inprocess(dataset: DataSet, work: Path, run: int,
                                profile: Path | None = None) -> Measurement:
    """``ImportService.run`` timed inside a fresh process (start-up and discovery excluded)."""
    home = _fresh(work / f"slidepacs-run-{run}")
    command: list[str | os.PathLike[str]] = [sys.executable, BENCH / "ingest_inprocess.py",
                                             "--data", home / "data"]
    if profile is not None:
        command += ["--profile", profile]
    with UserClock() as clock:
        child = run_child([*command, dataset.folder], env=_clean_env(), cwd=home)
    check_child(child, "in-process import")
    report = json.loads(child.stdout.splitlines()[-1])
    if report["stored"] != dataset.files:
        raise RuntimeError(f"in-process import stored {report['stored']} of {dataset.files}")
    shutil.rmtree(home)
    return Measurement(dataset.key, "slidepacs-run", run, dataset.files, dataset.bytes,
                       seconds=report["seconds"], wall=child.wall, client_cpu=child.cpu,
                       client_rss=child.peak_rss, user_cpu=child.user_cpu,
                       machine_user_cpu=clock.seconds,
                       extra={"setup_seconds": report["setup_seconds"]})


def measure_orthanc(dataset: DataSet, work: Path, run: int) -> Measurement:
    """POST every file to a fresh Orthanc's ``/instances`` with UPLOAD_THREADS connections.

    Rates use the uploader's own timing of its upload loop (the server is already up, as
    a running archive would be); server CPU and peak RSS come from /proc.
    """
    root = _fresh(work / f"orthanc-{run}")
    with OrthancServer(root=root) as server:
        os.sync()
        with UserClock() as clock:
            cpu_before, user_before = server.cpu_seconds()
            child = run_child([sys.executable, BENCH / "orthanc_upload.py", "--url", server.url,
                               "--threads", str(UPLOAD_THREADS), dataset.folder],
                              env=_clean_env())
            cpu_after, user_after = server.cpu_seconds()
        server_rss = server.peak_rss_bytes()
        check_child(child, "Orthanc upload")
        report = json.loads(child.stdout.splitlines()[-1])
        count = server.get_json("/statistics")["CountInstances"]
        if count != dataset.files or report["statuses"].get("Success") != dataset.files:
            raise RuntimeError(f"Orthanc stored {count} of {dataset.files}: {report}")
    shutil.rmtree(root)
    return Measurement(dataset.key, "orthanc", run, dataset.files, dataset.bytes,
                       seconds=report["seconds"], wall=child.wall, client_cpu=child.cpu,
                       client_rss=child.peak_rss,
                       user_cpu=child.user_cpu + user_after - user_before,
                       machine_user_cpu=clock.seconds,
                       server_cpu=cpu_after - cpu_before, server_rss=server_rss)


def measure_copy(dataset: DataSet, work: Path, run: int) -> Measurement:
    """The ceiling: ``cp -r`` of the folder then ``sync``, timed together."""
    home = _fresh(work / f"copy-{run}")
    with UserClock() as clock:
        copied: ChildRun = run_child(["cp", "-r", dataset.folder, home / "copy"])
        synced = run_child(["sync"])
    check_child(copied, "cp -r")
    check_child(synced, "sync")
    shutil.rmtree(home)
    seconds = copied.wall + synced.wall
    return Measurement(dataset.key, "copy", run, dataset.files, dataset.bytes,
                       seconds=seconds, wall=seconds, client_cpu=copied.cpu + synced.cpu,
                       client_rss=max(copied.peak_rss, synced.peak_rss),
                       user_cpu=copied.user_cpu + synced.user_cpu,
                       machine_user_cpu=clock.seconds)


PEERS: tuple[Peer, ...] = (
    Peer("copy", "ceiling: `cp -r` + `sync`", measure_copy),
    Peer("slidepacs-cli", "slidepacs: `slidepacs import DIR --recursive` (whole process)",
         measure_slidepacs_cli),
    Peer("slidepacs-run", "slidepacs: `ImportService.run` in-process (no start-up)",
         measure_slidepacs_inprocess),
    Peer("orthanc", f"Orthanc 1.10: REST `POST /instances`, {UPLOAD_THREADS} uploader threads",
         measure_orthanc),
)


def peer(key: str) -> Peer:
    """The peer called ``key``."""
    for candidate in PEERS:
        if candidate.key == key:
            return candidate
    raise KeyError(key)


def main(argv: list[str] | None = None) -> int:
    """Measure one peer on one data set once and print the measurement as JSON."""
    from bench.datasets import ct_series, large_multiframe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=[p.key for p in PEERS], required=True)
    parser.add_argument("--dataset", choices=["ct", "large"], required=True)
    parser.add_argument("--quick", action="store_true", help="300 files / 256 MiB")
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    args = parser.parse_args(argv)
    cache = args.out / "cache"
    if args.dataset == "ct":
        dataset = ct_series(cache, 300 if args.quick else 2000)
    else:
        dataset = large_multiframe(cache, (256 << 20) if args.quick else (1 << 30))
    result = peer(args.peer).measure(dataset, args.out / "work", 1)
    print(json.dumps({**result.__dict__, "files_per_second": result.files_per_second,
                      "mb_per_second": result.mb_per_second}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
