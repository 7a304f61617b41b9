"""``slidepacs ae echo`` goes through the echo service (as the admin page does) and reaches a
real peer (dcmtk's storescp); an unreachable peer exits 1 with the reason."""

from __future__ import annotations

from pathlib import Path

from tests.cli import closed_port, run_slidepacs, toml_config
from tests.protocol.test_forwarding import StoreScp


def test_ae_echo_reports_success_and_a_closed_port(tmp_path: Path) -> None:
    cwd = tmp_path / "site"
    toml_config(cwd, tmp_path / "data")
    peer = StoreScp(tmp_path / "peer", "ECHOPEER")
    peer.start()
    try:
        for args in (("peer", "ECHOPEER", "127.0.0.1", str(peer.port)),
                     ("gone", "GONE", "127.0.0.1", str(closed_port()))):
            added = run_slidepacs("ae", "add", *args, cwd=cwd)
            assert added.returncode == 0, added.stdout + added.stderr
        good = run_slidepacs("ae", "echo", "peer", cwd=cwd)
        assert good.returncode == 0, good.stdout + good.stderr
        assert "ECHOPEER at 127.0.0.1" in good.stdout and "success" in good.stdout
        assert peer.associations() == 1
        bad = run_slidepacs("ae", "echo", "gone", cwd=cwd)
        assert bad.returncode == 1 and "no association" in bad.stdout
    finally:
        peer.stop()
