"""``slidepacs import`` on a folder of good and bad files, as an administrator runs it.

The command runs in a subprocess without the capabilities that let root ignore file
permissions, so a ``chmod 000`` file really is unreadable even when the tests run as root.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from slidepacs.bootstrap import AppContext
from slidepacs.testing.generators import write_ct_series
from tests.helpers import counts, stored_files
from tests.media import indexed_sop_uids, run_slidepacs, write_config

# Bad file name → a part of the reason the import must give for it.
BAD_FILES = {
    "truncated.dcm": "file is truncated: element (7FE0,0010)",
    "notes.dcm": "not a DICOM file",
    "no_sop_uid.dcm": "SOP Instance UID (0008,0018) is missing or empty",
    "locked.dcm": "cannot read file (Permission denied)",
    "dangling.dcm": "cannot read file (No such file or directory)",
    "escape_sop.dcm": "SOP Instance UID (0008,0018) '../../../etc/x' is not a valid UID",
    "escape_study.dcm": "Study Instance UID (0020,000D) '../../outside' is not a valid UID",
    "pipe.dcm": "not a regular file",  # opening a named pipe would wait forever
}
UNCOPYABLE = ("locked.dcm", "dangling.dcm", "pipe.dcm")


@dataclass(frozen=True)
class Incoming:
    """A folder of files to import: three good ones, the rest bad."""

    folder: Path
    good_uids: set[str]
    good_bytes: int


def _with_uid(source: Path, target: Path, keyword: str, value: str | None) -> None:
    ds = pydicom.dcmread(source)
    if value is None:
        delattr(ds, keyword)
    else:
        setattr(ds, keyword, value)
        if keyword == "SOPInstanceUID":
            ds.file_meta.MediaStorageSOPInstanceUID = value
    ds.save_as(target)


@pytest.fixture
def incoming(tmp_path: Path) -> Incoming:
    folder = tmp_path / "incoming"
    good = write_ct_series(folder, 3, size=32)
    spare = write_ct_series(tmp_path / "spare", 1, size=32)[0]
    data = spare.read_bytes()
    (folder / "truncated.dcm").write_bytes(data[:-500])
    (folder / "notes.dcm").write_bytes(b"Patient notes, not DICOM.\n" * 40)
    _with_uid(spare, folder / "no_sop_uid.dcm", "SOPInstanceUID", None)
    _with_uid(spare, folder / "escape_sop.dcm", "SOPInstanceUID", "../../../etc/x")
    _with_uid(spare, folder / "escape_study.dcm", "StudyInstanceUID", "../../outside")
    (folder / "locked.dcm").write_bytes(data)
    (folder / "locked.dcm").chmod(0)
    (folder / "dangling.dcm").symlink_to(tmp_path / "deleted.dcm")
    os.mkfifo(folder / "pipe.dcm")
    uids = {str(pydicom.dcmread(p).SOPInstanceUID) for p in good}
    return Incoming(folder, uids, sum(p.stat().st_size for p in good))


@pytest.fixture
def config(app: AppContext, tmp_path: Path) -> Path:
    return write_config(app.settings, tmp_path / "config")


def failed_rows(stdout: str) -> dict[str, str]:
    """File name → reason, from the "Failed files" table of the summary."""
    rows = re.findall(r"^│ (\S+)\s+│ (.+?)\s+│$", stdout.split("Failed files", 1)[-1], re.M)
    return {Path(path).name: reason for path, reason in rows}


def test_bad_files_are_listed_with_their_reasons_and_the_exit_code_is_not_zero(
    app, config, incoming
):
    result = run_slidepacs(config, "import", incoming.folder, without_root_file_access=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"files .*━.* 10/10", result.stdout), result.stdout  # the progress bar
    assert re.search(r"bytes .*━", result.stdout)
    assert "Import summary" in result.stdout
    assert re.search(r"│ stored\s+│\s+3 │", result.stdout)
    assert re.search(r"│ failed\s+│\s+8 │", result.stdout)
    rows = failed_rows(result.stdout)
    assert rows.keys() == BAD_FILES.keys()
    for name, reason in BAD_FILES.items():
        assert reason in rows[name], (name, rows[name])


def test_nothing_of_a_failed_file_is_stored(app, config, incoming, tmp_path):
    run_slidepacs(config, "import", incoming.folder, without_root_file_access=True)
    assert indexed_sop_uids(app) == incoming.good_uids
    assert counts(app) == (1, 1, 1, 3)
    [listing] = stored_files(app).values()
    assert len(listing) == 3 and all(name.endswith(".dcm") for name in listing)
    assert not any(name.endswith(".tmp") for name in listing)
    with app.unit_of_work.read() as repo:
        assert repo.counts().bytes == incoming.good_bytes
    # no path escape: nothing was written beside the data, config and input folders
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "data", "incoming", "spare"]


def test_errors_to_copies_each_failed_file_with_reasons_tsv(app, config, incoming, tmp_path):
    errors = tmp_path / "errors"
    result = run_slidepacs(config, "import", incoming.folder, "--errors-to", errors,
                           without_root_file_access=True)
    assert result.returncode == 1
    assert f"Failed files copied to {errors}" in result.stdout
    with (errors / "reasons.tsv").open(encoding="utf-8", newline="") as listing:
        rows = list(csv.DictReader(listing, delimiter="\t"))
    by_name = {Path(row["original"]).name: row for row in rows}
    assert by_name.keys() == BAD_FILES.keys()
    for name, reason in BAD_FILES.items():
        row = by_name[name]
        assert reason in row["reason"]
        assert row["original"] == str(incoming.folder / name)
        if name in UNCOPYABLE:
            assert row["copy"].startswith("(not copied:")
        else:
            assert row["copy"] == name
            assert (errors / name).read_bytes() == (incoming.folder / name).read_bytes()
    copies = sorted(p.name for p in errors.iterdir())
    assert copies == sorted([*(n for n in BAD_FILES if n not in UNCOPYABLE), "reasons.tsv"])


def test_failed_files_with_the_same_name_in_two_folders_are_both_kept(app, config, tmp_path):
    first, second = tmp_path / "scanner1", tmp_path / "scanner2"
    for folder, text in ((first, b"first"), (second, b"second")):
        folder.mkdir()
        (folder / "IMG0001.dcm").write_bytes(text * 100)
    errors = tmp_path / "errors"
    result = run_slidepacs(config, "import", first, second, "--errors-to", errors)
    assert result.returncode == 1
    with (errors / "reasons.tsv").open(encoding="utf-8", newline="") as listing:
        rows = list(csv.DictReader(listing, delimiter="\t"))
    assert [Path(r["original"]).parent.name for r in rows] == ["scanner1", "scanner2"]
    copies = [(errors / r["copy"]).read_bytes() for r in rows]
    assert copies == [b"first" * 100, b"second" * 100]


def test_a_good_folder_imports_with_exit_code_zero_and_no_failure_table(app, config, tmp_path):
    folder = tmp_path / "good"
    write_ct_series(folder, 4, size=32)
    result = run_slidepacs(config, "import", folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"│ stored\s+│\s+4 │", result.stdout)
    assert "Failed files" not in result.stdout
    assert counts(app) == (1, 1, 1, 4)


def test_pydicom_warnings_go_to_the_log_file_not_over_the_progress_bar(app, config, incoming):
    # pydicom warns while reading this one (its data set is implicit VR, its meta says not)
    shutil.copy(get_testdata_file("SC_rgb_jpeg.dcm"), incoming.folder / "mixed_vr.dcm")
    result = run_slidepacs(config, "import", incoming.folder, without_root_file_access=True)
    assert result.returncode == 1
    assert "Warning" not in result.stderr, result.stderr
    log = (app.settings.log_path / "slidepacs.log").read_text(encoding="utf-8")
    assert "Expected explicit VR, but found implicit VR" in log


def test_paths_given_directly_are_reported_with_their_own_reason(app, config, tmp_path):
    dangling = tmp_path / "dangling.dcm"
    dangling.symlink_to(tmp_path / "deleted.dcm")
    missing = tmp_path / "missing"
    result = run_slidepacs(config, "import", dangling, missing)
    assert result.returncode == 1
    rows = failed_rows(result.stdout)
    assert rows == {"dangling.dcm": "cannot read file (No such file or directory)",
                    "missing": "path does not exist"}
