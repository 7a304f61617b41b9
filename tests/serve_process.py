"""``slidepacs serve`` in a subprocess, as an administrator runs it, for system tests."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from types import TracebackType

from tests.cli import SLIDEPACS, clean_environment, closed_port, rest_of_output, scanner_ports_toml

START_TIMEOUT = 60.0
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


class ServeProcess:
    """Run ``slidepacs serve`` on free loopback ports with its own data path.

    The general DICOM listener accepts (and auto-registers) unknown AEs; the TLS slide
    receiver is disabled unless ``slide_receiver_port`` is given. Use as a context manager;
    leaving it kills a server still running.
    """

    def __init__(self, cwd: Path, data_path: Path, ae_title: str = "SLIDEPACS",
                 extra_toml: str = "", slide_receiver_port: int | None = None,
                 command: tuple[str, ...] = ("serve",)) -> None:
        """Prepare ``cwd/slidepacs.toml`` (``extra_toml`` appended: more sections);
        nothing runs until :meth:`start`."""
        self.cwd = cwd
        self.data_path = data_path
        self.ae_title = ae_title
        self.command = command  # e.g. ("demo", "--racks", "1")
        self.stdin: int | None = None  # a file descriptor for the server's standard input
        self.port = closed_port()
        self.http_port = closed_port()
        self.process: subprocess.Popen[str] | None = None
        self.output = ""
        receiver = (f"enabled = true\nport = {slide_receiver_port}\ntls = true\n"
                    if slide_receiver_port else "enabled = false\n")
        cwd.mkdir(parents=True, exist_ok=True)
        (cwd / "slidepacs.toml").write_text(
            f'[dicom]\nae_title = "{ae_title}"\nport = {self.port}\naccept_unregistered = true\n'
            f'[slide_receiver]\n{receiver}[http]\nport = {self.http_port}\n'
            f'[print]\nport = {closed_port()}\n{scanner_ports_toml()}'
            f'[storage]\ndata_path = "{data_path}"\n{extra_toml}', encoding="utf-8")

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self.process is None:
            raise RuntimeError("slidepacs serve is not running")
        return self.process.pid

    def start(self) -> None:
        """Start the server and wait for its "running" banner."""
        self.process = subprocess.Popen(
            [str(SLIDEPACS), *self.command], cwd=self.cwd, env=clean_environment(), stdin=self.stdin,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watchdog = threading.Timer(START_TIMEOUT, self.process.kill)
        watchdog.start()
        try:
            assert self.process.stdout is not None
            first = self.process.stdout.readline()
        finally:
            watchdog.cancel()
        if "slidepacs is running" not in first:
            self.stop(signal.SIGKILL)
            raise RuntimeError(f"slidepacs serve did not start: {first}{self.output}")

    def memory_kb(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server in KiB, from /proc/<pid>/status."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``signum`` and wait; return the exit code (the output is in :attr:`output`)."""
        if self.process is None:
            raise RuntimeError("slidepacs serve is not running")
        if self.process.poll() is None:
            self.process.send_signal(signum)
        self.output += rest_of_output(self.process, timeout)
        return self.process.returncode

    def __enter__(self) -> ServeProcess:
        """Start the server."""
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Kill the server if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def storescu(port: int, called: str, *files: Path | str, calling: str = "STORESCU",
             extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """Start dcmtk's ``storescu`` sending ``files`` on one association."""
    return subprocess.Popen(
        ["storescu", "-aet", calling, "-aec", called, *extra, "127.0.0.1", str(port),
         *map(str, files)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=DCMTK_ENV)
