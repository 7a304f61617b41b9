"""The slide receiver over TLS: dcmtk's storescu and a pynetdicom SCU, with and without
client certificates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from slidepacs.bootstrap import build_context, build_dimse_server, ensure_lab_pki
from slidepacs.config import settings_for
from slidepacs.dimse.tls import client_context
from slidepacs.services.certificates import TlsFiles
from slidepacs.testing.generators import write_ct_series
from tests.helpers import counts
from tests.protocol.conftest import RunningDimse, free_port
from tests.protocol.test_dimse_dcmtk import dcmtk

RECEIVER = "SVS_STORE_SCP"


def _receiver(tmp_path: Path, database_url: str, require_client: bool) -> Iterator[RunningDimse]:
    port = free_port()
    settings = settings_for(
        tmp_path / "data",
        dicom={"port": free_port(), "accept_unregistered": True},
        slide_receiver={"port": port, "require_client_certificate": require_client},
        database={"url": database_url},
    )
    assert ensure_lab_pki(settings)
    app = build_context(settings)
    server = build_dimse_server(app)
    server.start()
    try:
        yield RunningDimse(app, port, RECEIVER)
    finally:
        server.stop()
        app.close()


@pytest.fixture
def receiver(tmp_path: Path, database_url: str) -> Iterator[RunningDimse]:
    yield from _receiver(tmp_path, database_url, require_client=False)


@pytest.fixture
def strict_receiver(tmp_path: Path, database_url: str) -> Iterator[RunningDimse]:
    yield from _receiver(tmp_path, database_url, require_client=True)


def _lab(running: RunningDimse) -> TlsFiles:
    return TlsFiles(running.app.settings.tls_folder)


def test_storescu_over_tls_stores_the_slide_files(receiver: RunningDimse, tmp_path: Path):
    files = write_ct_series(tmp_path / "ct", 3, size=32)
    lab = _lab(receiver)
    result = dcmtk("storescu", "+tls", lab.client_key, lab.client_certificate, "+cf", lab.ca,
                   "-aet", "SCANNER1", "-aec", RECEIVER, "127.0.0.1", receiver.port, *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts(receiver.app)[3] == 3


def test_plain_storescu_cannot_talk_to_the_tls_listener(receiver: RunningDimse, tmp_path: Path):
    files = write_ct_series(tmp_path / "ct", 1, size=32)
    result = dcmtk("storescu", "-to", "5", "-ta", "5", "-aet", "SCANNER1", "-aec", RECEIVER,
                   "127.0.0.1", receiver.port, *files, timeout=60)
    assert result.returncode != 0
    assert counts(receiver.app)[3] == 0


def test_storescu_that_does_not_trust_the_lab_ca_is_refused(receiver: RunningDimse, tmp_path: Path):
    files = write_ct_series(tmp_path / "ct", 1, size=32)
    result = dcmtk("storescu", "+tla", "-aet", "SCANNER1", "-aec", RECEIVER, "127.0.0.1",
                   receiver.port, *files)  # +tla without +cf: verifies against no CA
    assert result.returncode != 0
    assert counts(receiver.app)[3] == 0


def test_client_certificate_required_refuses_anonymous_and_accepts_signed(strict_receiver, tmp_path):
    files = write_ct_series(tmp_path / "ct", 1, size=32)
    lab = _lab(strict_receiver)
    anonymous = dcmtk("storescu", "+tla", "+cf", lab.ca, "-aet", "SCANNER1", "-aec", RECEIVER,
                      "127.0.0.1", strict_receiver.port, *files)
    assert anonymous.returncode != 0
    signed = dcmtk("storescu", "+tls", lab.client_key, lab.client_certificate, "+cf", lab.ca,
                   "-aet", "SCANNER1", "-aec", RECEIVER, "127.0.0.1", strict_receiver.port, *files)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert counts(strict_receiver.app)[3] == 1


def test_pynetdicom_scu_echoes_and_stores_over_tls(receiver: RunningDimse, tmp_path: Path):
    [path] = write_ct_series(tmp_path / "ct", 1, size=32)
    lab = _lab(receiver)
    ae = AE("PYSCU")
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    tls = client_context(lab.ca, lab.client_certificate, lab.client_key)
    association = ae.associate("127.0.0.1", receiver.port, ae_title=RECEIVER,
                               tls_args=(tls, "localhost"))
    assert association.is_established
    try:
        assert association.send_c_echo().Status == 0
        assert association.send_c_store(path).Status == 0
    finally:
        association.release()
    assert counts(receiver.app)[3] == 1
