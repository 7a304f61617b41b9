"""Measuring child processes (wall time, CPU seconds, peak RSS) and recording the results."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ChildRun:
    """One finished child process and what it used (from ``wait4``'s rusage)."""

    returncode: int
    wall: float
    cpu: float
    user_cpu: float
    peak_rss: int
    stdout: str
    stderr: str


GNU_TIME = "/usr/bin/time"


def run_child(command: Sequence[str | os.PathLike[str]], env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> ChildRun:
    """Run ``command`` to completion; return its exit code, wall time, CPU and peak RSS.

    Wall time and CPU seconds come from reaping the child with ``os.wait4`` (its own
    rusage, not ``RUSAGE_CHILDREN``'s running total). Peak RSS comes from GNU time
    wrapped around the command: a child forked from this (large) Python process inherits
    its resident size in ``ru_maxrss`` before it execs, so wait4's figure would be ours.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        arguments = [os.fspath(c) for c in command]
        wrapped = [GNU_TIME, "--format=%M", f"--output={rss.name}", *arguments]
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=out, stderr=err,
                                   env=dict(env) if env is not None else None, cwd=cwd)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(
            returncode=process.returncode,
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            user_cpu=usage.ru_utime,
            peak_rss=_peak_rss(rss.read()),
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def _peak_rss(gnu_time_output: str) -> int:
    """Kilobytes on the last line of GNU time's output, in bytes (0 if missing)."""
    lines = gnu_time_output.strip().splitlines()
    return int(lines[-1]) * 1024 if lines and lines[-1].strip().isdigit() else 0


def check_child(run: ChildRun, what: str) -> None:
    """Raise RuntimeError with the child's output if it failed."""
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-20:])
        raise RuntimeError(f"{what} exited with {run.returncode}:\n{tail}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_fields() -> list[int]:
    # user nice system idle iowait irq softirq steal, in clock ticks (proc(5))
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle (all cores, from /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = _cpu_fields()
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def machine_user_seconds() -> float:
    """CPU seconds the whole machine has spent in user space (all processes, all cores)."""
    user, nice, *_rest = _cpu_fields()
    return (user + nice) / CLOCK_TICKS


class UserClock:
    """The machine's user-space CPU seconds spent while the block runs (all programs)."""

    def __init__(self) -> None:
        """A clock that has not counted yet."""
        self._start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> UserClock:
        """Start counting."""
        self._start = machine_user_seconds()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop counting."""
        self.seconds = machine_user_seconds() - self._start


def wait_for_quiet(limit_cores: float = 0.3, timeout: float = 300.0) -> float:
    """Wait until the machine is nearly idle (< ``limit_cores`` busy over 1 s); return the load.

    Benchmarks on a 2-core machine are meaningless while something else runs; this waits up
    to ``timeout`` seconds for other work to finish, then gives up and returns the last load.
    """
    deadline = time.monotonic() + timeout
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        load = machine_busy_seconds() - before
        if load < limit_cores or time.monotonic() > deadline:
            return load


@dataclass(frozen=True)
class Measurement:
    """One run of one peer on one data set.

    ``seconds`` is the time the rates are computed from (see each peer's description);
    ``wall`` is the wall time of the whole client process(es), start-up included.
    Client figures are the processes the benchmark started (importer, uploader, cp);
    server figures are Orthanc's, taken from /proc during the upload. ``user_cpu`` is the
    user-space part of client plus server CPU and ``machine_user_cpu`` the user-space CPU of
    the whole machine over the same window: the difference is other programs' load.
    """

    dataset: str
    peer: str
    run: int
    files: int
    bytes: int
    seconds: float
    wall: float
    client_cpu: float
    client_rss: int
    user_cpu: float = 0.0
    machine_user_cpu: float = 0.0
    server_cpu: float | None = None
    server_rss: int | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def files_per_second(self) -> float:
        """Files imported per second."""
        return self.files / self.seconds

    @property
    def mb_per_second(self) -> float:
        """Megabytes (10^6 bytes) imported per second."""
        return self.bytes / 1e6 / self.seconds

    @property
    def other_cpu(self) -> float:
        """User-space CPU seconds of other programs during the timed window."""
        return max(0.0, self.machine_user_cpu - self.user_cpu)

    @property
    def total_cpu(self) -> float:
        """Client plus server CPU seconds."""
        return self.client_cpu + (self.server_cpu or 0.0)


@dataclass(frozen=True)
class Summary:
    """The medians over the runs of one peer on one data set."""

    dataset: str
    peer: str
    runs: tuple[Measurement, ...]

    def median(self, attribute: str) -> float:
        """The median of a numeric attribute (or property) over the runs."""
        return statistics.median(float(getattr(run, attribute)) for run in self.runs)

    def median_optional(self, attribute: str) -> float | None:
        """The median of an attribute that some peers do not have (``None`` if absent)."""
        values = [getattr(run, attribute) for run in self.runs]
        if any(v is None for v in values):
            return None
        return statistics.median(float(v) for v in values)


def summarise(measurements: Sequence[Measurement]) -> list[Summary]:
    """Group measurements by (data set, peer), keeping first-seen order."""
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for measurement in measurements:
        groups.setdefault((measurement.dataset, measurement.peer), []).append(measurement)
    return [Summary(dataset, peer, tuple(runs)) for (dataset, peer), runs in groups.items()]
