"""Stand-ins for the virtual scanner's tests: a scanner API over HTTPS with the lab PKI,
following docs/scanner-api.md (bearer token → 401, ``GET /config`` with ETag / 304,
``POST /heartbeat``, ``POST /images``), and a TCP listener collecting event lines."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from slidepacs.services.certificates import TlsFiles, create_lab_pki, default_hosts

TOKEN = "s3cret-token"


def config_body(version: int, receiver_port: int, events_port: int = 0) -> dict[str, Any]:
    return {"scanner": "Lab 1", "version": version,
            "images": {"hostname": "127.0.0.1", "port": receiver_port, "title": "SVS_STORE_SCP",
                       "calling_title": "GT450_LAB1", "dimension_organization": "SPARSE",
                       "image_output_format": "DICOM"},
            "events": {"hostname": "127.0.0.1", "port": events_port, "tls_port": 0},
            "heartbeat_seconds": 1}


class ApiStandIn:
    """Serves on a free port in a thread; records what scanners posted."""

    def __init__(self, folder: Path, receiver_port: int = 1, events_port: int = 0) -> None:
        self.lab = TlsFiles(folder / "tls")
        if not self.lab.complete():
            create_lab_pki(self.lab, default_hosts())
        self.version = 7
        self.receiver_port, self.events_port = receiver_port, events_port
        self.posted: dict[str, list[dict[str, Any]]] = {"/heartbeat": [], "/images": []}
        self.config_answers: list[int] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                etag = f'"{stand_in.version}"'
                if self.headers.get("If-None-Match") == etag:
                    stand_in.config_answers.append(304)
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                stand_in.config_answers.append(200)
                self._json(200, config_body(stand_in.version, stand_in.receiver_port,
                                            stand_in.events_port), etag)

            def do_POST(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                path = self.path.removeprefix("/api/v1")
                stand_in.posted[path].append(body)
                if path == "/heartbeat":
                    self._json(200, {"time": body["time"], "config_version": stand_in.version,
                                     "clock_skew_seconds": 0.0})
                else:
                    self._json(201, {"image_id": body["image_id"], "joined": False})

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                    return True
                self._json(401, {"detail": "unknown scanner token"})
                return False

            def _json(self, status: int, body: dict[str, Any], etag: str | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.lab.server_certificate, self.lab.server_key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/api/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ApiStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class LineListener:
    """A TCP listener collecting the lines it receives (a stand-in event receiver)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lines: list[dict] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as stream:
            for line in stream:
                self.lines.append(json.loads(line))

    def wait_for(self, count: int, seconds: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.lines) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.lines
