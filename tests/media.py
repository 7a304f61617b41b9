"""Test helpers for import and export: sample files, the real command line, the index content."""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import data_manager, get_charset_files
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.cli.main import app as cli_app
from slidepacs.config import Settings, settings_for
from slidepacs.index.tables import Instance, Patient, Series, Study
from slidepacs.testing.generators import PatientSpec, ct_dataset

SLIDEPACS = Path(sys.executable).with_name("slidepacs")
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


# -- sample files shipped with pydicom and pydicom-data -------------------------------------------
def pydicom_data_folder() -> Path:
    """The data folder of the installed ``pydicom-data`` distribution (fails if it is missing)."""
    distribution = importlib.metadata.distribution("pydicom-data")
    folder = Path(str(distribution.locate_file("data_store/data")))
    if not folder.is_dir() or not any(folder.glob("*.dcm")):
        raise FileNotFoundError(f"pydicom-data has no DICOM files in {folder}")
    return folder


def pydicom_test_files() -> Path:
    """pydicom's own ``data/test_files`` folder."""
    folder = Path(data_manager.DATA_ROOT) / "test_files"
    if not (folder / "dicomdirtests" / "DICOMDIR").is_file():
        raise FileNotFoundError(f"pydicom's test files are missing from {folder}")
    return folder


def charset_file(name: str) -> Path:
    """One of pydicom's character set sample files (``chrH31.dcm`` …)."""
    [path] = get_charset_files(name)
    return Path(path)


# -- generated studies ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesSpec:
    """A generated series: modality and number of instances."""

    modality: str
    count: int


def write_study(
    folder: Path, patient: PatientSpec, study_date: str, series: list[SeriesSpec]
) -> dict[str, list[str]]:
    """Write one study (small images) under ``folder``; return series UID → SOP Instance UIDs."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = generate_uid()
    written: dict[str, list[str]] = {}
    for spec in series:
        series_uid = generate_uid()
        for number in range(1, spec.count + 1):
            ds = ct_dataset(patient, study_uid, series_uid, number, size=16,
                            study_date=study_date, modality=spec.modality)
            ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
            written.setdefault(series_uid, []).append(str(ds.SOPInstanceUID))
    return written


def study_uid_of(folder: Path) -> str:
    """The Study Instance UID of the first file in ``folder``."""
    return str(pydicom.dcmread(next(iter(sorted(folder.glob("*.dcm"))))).StudyInstanceUID)


# -- the real command line ------------------------------------------------------------------------
def write_config(settings: Settings, folder: Path) -> Path:
    """A TOML file with the storage, database and character set of ``settings``."""
    storage = settings.storage
    backups = ", ".join(_toml_string(str(p)) for p in storage.backup_paths)
    text = (
        "[storage]\n"
        f"data_path = {_toml_string(str(storage.data_path))}\n"
        f"backup_paths = [{backups}]\n"
        f"duplicate_policy = {_toml_string(storage.duplicate_policy.value)}\n"
        "[database]\n"
        f"url = {_toml_string(settings.database.url)}\n"
        "[character_set]\n"
        f"default = {_toml_string(settings.character_set.default)}\n"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "slidepacs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_slidepacs(
    config: Path, *args: str | Path, without_root_file_access: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``slidepacs --config CONFIG ARGS`` in a subprocess; return exit code and output.

    ``without_root_file_access`` drops the capabilities that let root ignore file permissions
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a ``chmod 000`` file is unreadable even when
    the tests run as root.
    """
    if not SLIDEPACS.is_file():
        raise FileNotFoundError(f"{SLIDEPACS} is missing: install the project (make test)")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLIDEPACS_")}
    environ["COLUMNS"] = "400"
    return subprocess.run(
        [str(SLIDEPACS), "--config", str(config), *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", errors="replace", env=environ,
        timeout=180, preexec_fn=_drop_file_capabilities if without_root_file_access else None,
    )


@dataclass(frozen=True)
class CliResult:
    """Exit code and output of a command run in-process."""

    returncode: int
    stdout: str
    stderr: str


def invoke_slidepacs(config: Path, *args: str | Path) -> CliResult:
    """Run ``slidepacs --config CONFIG ARGS`` in this process (typer's CliRunner).

    An exception that escapes the command (a crash, not a reported error) is re-raised.
    """
    runner = CliRunner(env={"COLUMNS": "400"})
    result = runner.invoke(cli_app, ["--config", str(config), *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


def _drop_file_capabilities() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop file-access capabilities")


# -- archives shared by the tests of a module -----------------------------------------------------
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def archive_on(
    backend: str, request: Any, data_path: Path, **sections: Mapping[str, Any]
) -> Iterator[AppContext]:
    """A fresh archive on ``backend`` (a new PostgreSQL database, or SQLite in the data path).

    For module-scoped fixtures, which cannot use the function-scoped ``app`` fixture.
    """
    url = request.getfixturevalue("postgres_cluster").create_database() if (
        backend == "postgresql") else ""
    context = build_context(settings_for(data_path, database={"url": url}, **sections))
    try:
        yield context
    finally:
        context.close()
        if url:
            request.getfixturevalue("postgres_cluster").drop_database(url)


# -- the index content ----------------------------------------------------------------------------
_NOT_CONTENT = {"pk", "created_at", "updated_at", "received_at", "source",
                "patient_pk", "study_pk", "series_pk"}


def index_content(app: AppContext) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every indexed attribute per level, keyed by natural key (and parent's natural key).

    Surrogate keys, timestamps and the import source are left out; modalities in a study are
    a set, since their order only reflects which series arrived first.
    """
    with app.unit_of_work.read() as repo:
        session = repo.session
        return {
            "patients": {(p.patient_id, p.issuer_of_patient_id): _row(p)
                         for p in session.query(Patient)},
            "studies": {s.study_instance_uid: _row(s) | {
                "patient": (s.patient.patient_id, s.patient.issuer_of_patient_id),
                "modalities": set(s.modalities.split("\\"))} for s in session.query(Study)},
            "series": {s.series_instance_uid: _row(s) | {"study": s.study.study_instance_uid}
                       for s in session.query(Series)},
            "instances": {i.sop_instance_uid: _row(i) | {"series": _series_uid(session, i)}
                          for i in session.query(Instance)},
        }


def _row(row: Any) -> dict[str, Any]:
    columns = row.__table__.columns
    return {c.key: getattr(row, c.key) for c in columns if c.key not in _NOT_CONTENT}


def _series_uid(session: Any, instance: Instance) -> str:
    return str(session.get(Series, instance.series_pk).series_instance_uid)


def indexed_sop_uids(app: AppContext) -> set[str]:
    """SOP Instance UIDs of every indexed instance."""
    with app.unit_of_work.read() as repo:
        return {uid for (uid,) in repo.session.query(Instance.sop_instance_uid)}
