"""A throw-away Orthanc for benchmarks: the tests' server (slidepacs.testing.orthanc) plus
the CPU and memory figures a benchmark reads from /proc.

Orthanc 1.10 cannot choose its listening address: it listens on every interface. Its HTTP
server refuses other hosts (``RemoteAccessAllowed: false``), and the DICOM server is off
unless asked for; keep the machine's ports firewalled to loopback when you enable it.
"""

from __future__ import annotations

import os
from pathlib import Path

from slidepacs.testing import orthanc as _testing
from slidepacs.testing.orthanc import free_port, orthanc_binary, orthanc_version

__all__ = ["OrthancServer", "free_port", "orthanc_binary", "orthanc_version",
           "process_cpu_seconds", "process_peak_rss_bytes"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """(user + system, user) CPU seconds used so far by every thread of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS, utime / CLOCK_TICKS


def process_peak_rss_bytes(pid: int) -> int:
    """The peak resident set size (VmHWM) of ``pid`` so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


class OrthancServer(_testing.OrthancServer):
    """The tests' throw-away Orthanc, with its resource use for benchmark reports."""

    name = "slidepacs-bench"

    def cpu_seconds(self) -> tuple[float, float]:
        """(total, user-space) CPU seconds used by the server so far."""
        return process_cpu_seconds(self.pid)

    def peak_rss_bytes(self) -> int:
        """Peak resident memory of the server so far."""
        return process_peak_rss_bytes(self.pid)
