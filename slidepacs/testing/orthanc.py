"""A throw-away Orthanc for tests and benchmarks: own temporary storage and config, free
loopback ports.

Orthanc 1.10 cannot choose its listening address: it listens on every interface. Its HTTP
server refuses other hosts (``RemoteAccessAllowed: false``), and the DICOM server is off
unless asked for; keep the machine's ports firewalled to loopback when you enable it.
Orthanc runs with ``TCP_NODELAY=1`` in its environment (see docs/BENCHMARKS.md, pitfall 1).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


class OrthancUnavailable(RuntimeError):
    """Orthanc is not installed (``make test`` installs it from apt)."""


def orthanc_binary() -> str:
    """The Orthanc executable (Debian installs it in /usr/sbin, often not on PATH)."""
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise OrthancUnavailable("Orthanc is not installed (apt-get install orthanc)")
    return found


def orthanc_version() -> str:
    """The first line of ``Orthanc --version``."""
    result = subprocess.run([orthanc_binary(), "--version"], capture_output=True, text=True,
                            check=False)
    return (result.stdout or result.stderr).splitlines()[0].strip()


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OrthancServer:
    """Start Orthanc on free loopback ports with an empty archive; stop it and delete it all.

    Use as a context manager; :attr:`url` is its REST API, :attr:`pid` its process id and,
    with ``dicom=True``, :attr:`dicom_port` its DICOM port (AE title :attr:`ae_title`).
    """

    name = "slidepacs-test"
    ae_title = "ORTHANC"

    def __init__(self, root: Path | None = None, dicom: bool = False,
                 settings: dict[str, Any] | None = None) -> None:
        """Prepare a server under ``root`` (or the system temp folder); ``settings`` override."""
        self._root_parent = root
        self._dicom = dicom
        self._extra = dict(settings or {})
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.http_port = 0
        self.dicom_port = 0

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int:
        """Process id of the running server."""
        if self._process is None:
            raise RuntimeError("Orthanc is not running")
        return self._process.pid

    @property
    def storage(self) -> Path:
        """The storage (and index) folder of this server."""
        if self._workdir is None:
            raise RuntimeError("Orthanc is not running")
        return self._workdir / "storage"

    def configuration(self) -> dict[str, Any]:
        """The configuration written for this server (see /etc/orthanc/orthanc.json)."""
        if self._workdir is None:
            raise RuntimeError("Orthanc has no work folder yet")
        settings: dict[str, Any] = {
            "Name": self.name,
            "StorageDirectory": str(self.storage),
            "IndexDirectory": str(self.storage),
            "TemporaryDirectory": str(self._workdir / "tmp"),
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": self._dicom,
            "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title,
            "Plugins": [],
            "StorageCompression": False,
            "SyncStorageArea": True,
            "SaveJobs": False,
            "KeepAlive": True,
            "TcpNoDelay": True,
        }
        settings.update(self._extra)
        return settings

    def __enter__(self) -> OrthancServer:
        """Start the server."""
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Stop the server and delete its files."""
        self.stop()

    def start(self) -> None:
        """Write the config, start Orthanc and wait until ``/system`` answers."""
        binary = orthanc_binary()
        self._workdir = Path(tempfile.mkdtemp(prefix="orthanc-", dir=self._root_parent))
        (self._workdir / "tmp").mkdir()
        self.storage.mkdir()
        self.http_port = free_port()
        self.dicom_port = free_port()
        config = self._workdir / "orthanc.json"
        config.write_text(json.dumps(self.configuration(), indent=2))
        log = (self._workdir / "orthanc.log").open("wb")
        env = {**os.environ, "TCP_NODELAY": "1"}
        self._process = subprocess.Popen(
            [binary, str(config)], stdout=log, stderr=subprocess.STDOUT, env=env,
            cwd=self._workdir,
        )
        log.close()
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start-up; see {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/system", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Orthanc did not answer /system within {START_TIMEOUT:.0f} s")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        if self._workdir is None:
            return ""
        log = self._workdir / "orthanc.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def get_bytes(self, path: str) -> bytes:
        """GET a REST resource as bytes (e.g. ``/instances/<id>/file``)."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
            return bytes(response.read())

    def get_json(self, path: str) -> Any:
        """GET a REST resource and decode its JSON."""
        return json.loads(self.get_bytes(path))

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and delete its folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
