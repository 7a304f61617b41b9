"""Run the real ``slidepacs`` command in a subprocess, as an administrator would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

SLIDEPACS = Path(sys.executable).with_name("slidepacs")


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without SLIDEPACS_* variables, plus ``extra``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLIDEPACS_")}
    environ["COLUMNS"] = "200"
    environ.update(extra or {})
    return environ


def run_slidepacs(
    *args: str | Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``slidepacs ARGS`` in ``cwd`` (``input`` on its standard input) and return its
    exit code and output."""
    if not SLIDEPACS.is_file():
        raise FileNotFoundError(f"{SLIDEPACS} is missing: install the project (make test)")
    return subprocess.run(
        [str(SLIDEPACS), *map(str, args)], cwd=cwd, env=clean_environment(env),
        capture_output=True, text=True, timeout=timeout, input=input,
    )


def slidepacs_output(*args: str | Path, cwd: Path) -> str:
    """The standard output of ``slidepacs ARGS``, which must succeed."""
    result = run_slidepacs(*args, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def toml_config(
    folder: Path, data_path: Path, backup_paths: list[Path] | None = None, database_url: str = ""
) -> Path:
    """Write ``folder/slidepacs.toml`` with these storage locations and database."""
    backups = ", ".join(f'"{p}"' for p in backup_paths or [])
    text = (f'[storage]\ndata_path = "{data_path}"\nbackup_paths = [{backups}]\n'
            f'[database]\nurl = "{database_url}"\n')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "slidepacs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scanner_ports_toml() -> str:
    """``[scanner_api]`` and ``[events]`` sections on free ports, for a test's serve."""
    return (f"[scanner_api]\nport = {closed_port()}\n"
            f"[events]\nport = {closed_port()}\ntls_port = {closed_port()}\n")


def rest_of_output(process: subprocess.Popen[str], timeout: float) -> str:
    """Everything ``process`` still writes to stdout until it exits, kill after ``timeout``.

    Unlike ``communicate(timeout=…)``, which reads the raw pipe, this keeps what an earlier
    ``stdout.readline()`` already pulled into the text buffer (lines were lost that way).
    """
    stream = process.stdout
    if stream is None:
        raise ValueError("the process's stdout is not a pipe")
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(stream.read()), daemon=True)
    reader.start()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    finally:
        reader.join(10)
    return "".join(chunks)
