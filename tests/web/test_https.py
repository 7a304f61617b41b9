"""With ``http.tls`` the DICOMweb front speaks HTTPS only, with the lab PKI's certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pydicom
import pytest
import requests
from pydicom.data import get_testdata_file

from slidepacs.bootstrap import tls_files
from tests.web.conftest import start_web


def test_dicomweb_over_https_verifies_with_the_lab_ca_and_refuses_plain_http(
    tmp_path: Path, database_url: str
) -> None:
    run = start_web(tmp_path, database_url, tls=True)
    web = next(run)
    try:
        assert web.root.startswith("https://")
        ca = tls_files(web.app.settings)[2]
        session = requests.Session()
        session.verify = str(ca)
        session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment wins
        client = web.dicomweb(session=session)
        sample = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        client.store_instances([sample])
        [study] = client.search_for_studies()
        assert study["0020000D"]["Value"] == [sample.StudyInstanceUID]
        with pytest.raises(httpx.ConnectError):  # not signed by a CA the client trusts
            httpx.get(f"{web.root}/studies", verify=ssl.create_default_context())
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets nowhere
            httpx.get(web.root.replace("https://", "http://") + "/studies", timeout=5)
    finally:
        run.close()
