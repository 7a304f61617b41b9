"""The header reader's quick path (raw ASCII text, binary integers) gives exactly the records
pydicom's full value conversion gives, for every readable file of pydicom's corpora and its
character set samples (ISO 2022 escapes are ASCII bytes too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_charset_files

import slidepacs.dicom.header as header
from slidepacs.errors import InvalidInput
from tests.media import pydicom_data_folder, pydicom_test_files


def _corpus() -> list[Path]:
    folders = [pydicom_data_folder(), pydicom_test_files()]
    files = {path for folder in folders for path in folder.rglob("*") if path.is_file()}
    return sorted(files | {Path(path) for path in get_charset_files("*.dcm")})


def _records(path: Path) -> object:
    try:
        return header.read_header(path, "ISO_IR 100").header
    except InvalidInput as exc:
        return f"refused: {exc}"


def test_quick_header_values_equal_pydicoms_conversion_for_the_whole_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _corpus()
    quick = {path: _records(path) for path in files}
    monkeypatch.setattr(header, "_raw_text", lambda dataset, keyword: None)
    converted = {path: _records(path) for path in files}
    readable = [path for path in files if not str(quick[path]).startswith("refused")]
    assert len(readable) > 200  # the comparison covers the corpus, not a handful of files
    differing = [path.name for path in files if quick[path] != converted[path]]
    assert differing == []


def _parsed(path: Path, in_memory: bool = False) -> object:
    try:
        return header.read_header(path, "ISO_IR 100",
                                  memoryview(path.read_bytes()) if in_memory else None)
    except InvalidInput as exc:
        return f"refused: {exc}"


def test_headers_parsed_from_memory_equal_headers_parsed_from_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _corpus()
    in_memory = {path: _parsed(path) for path in files}  # most headers fit in the head
    monkeypatch.setattr(header, "HEAD_BYTES", 300)  # most cross its end, some elements too
    crossing = {path: _parsed(path) for path in files}
    monkeypatch.setattr(header, "HEAD_BYTES", 0)  # always the file itself
    from_file = {path: _parsed(path) for path in files}
    assert sum(not isinstance(p, str) for p in from_file.values()) > 200
    assert [p.name for p in files if in_memory[p] != from_file[p]] == []
    assert [p.name for p in files if crossing[p] != from_file[p]] == []


def test_headers_parsed_from_a_received_content_equal_headers_parsed_from_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _corpus()
    monkeypatch.setattr(header, "DEFER_LARGER_THAN", 64)  # deferred values read from memory
    monkeypatch.setattr(header, "HEAD_BYTES", 300)
    from_content = {path: _parsed(path, in_memory=True) for path in files}
    from_file = {path: _parsed(path) for path in files}
    assert sum(not isinstance(p, str) for p in from_content.values()) > 200
    assert [p.name for p in files if from_content[p] != from_file[p]] == []
