"""Frames read from the index, on SQLite and PostgreSQL: where each frame lies is recorded at
ingest, so a frame is one index lookup plus one positioned read per piece, byte for byte what
pydicom extracts; instances indexed before that get their map the first time it is needed."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames
from sqlalchemy import Column, MetaData, String, Table, bindparam, delete, select, text

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import settings_for
from slidepacs.dicom.frames import FrameMap
from slidepacs.errors import IndexFailure, NotFound, Unsupported
from slidepacs.index.database import MIGRATIONS, head_revision, upgrade
from slidepacs.index.direct import DirectReader
from slidepacs.index.frames import FrameFiles, FrameRepository
from slidepacs.index.tables import InstanceFrames
from slidepacs.testing.postgres import PostgresCluster
from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions

SMALL = SlideSpec(width=1024, height=768, downsamples=(1, 4))


@pytest.fixture(scope="module")
def wsi_series(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """One generated slide as DICOM WSI: with Basic Offset Tables and with Extended ones."""
    folder = tmp_path_factory.mktemp("wsi")
    svs = make_svs(folder / "slide.svs", SMALL)
    return {
        kind: convert(svs, folder / kind, Target.DICOM,
                      DicomOptions(extended_offsets=kind == "extended"))
        for kind in ("basic", "extended")
    }


def uids(path: Path) -> tuple[str, str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def pydicom_frames(path: Path) -> list[bytes]:
    """Every frame as pydicom extracts it: encapsulated frames, or slices of native data."""
    ds = pydicom.dcmread(path)
    count = int(ds.get("NumberOfFrames") or 1)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        extended = None
        if "ExtendedOffsetTable" in ds:
            extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
        return list(generate_frames(ds.PixelData, number_of_frames=count,
                                    extended_offsets=extended))
    size = len(ds.PixelData) // count
    return [ds.PixelData[i * size:(i + 1) * size] for i in range(count)]


def read_every_frame(app: AppContext, path: Path) -> list[bytes]:
    count = len(pydicom_frames(path))
    location = app.frames.locate(*uids(path), list(range(1, count + 1)))
    return [app.frames.read(location, number) for number in range(1, count + 1)]


def frame_rows(app: AppContext) -> dict[int, bytes | None]:
    with app.unit_of_work.read() as repo:
        rows = repo.session.execute(select(InstanceFrames.instance_pk, InstanceFrames.frame_map))
        return {pk: frame_map for pk, frame_map in rows}


def forget_frame_maps(app: AppContext) -> None:
    """As if the instances had been indexed before frame maps were recorded."""
    with app.unit_of_work.write() as repo:
        repo.session.execute(delete(InstanceFrames))


@pytest.mark.parametrize("offsets", ["basic", "extended"])
def test_every_frame_of_an_ingested_whole_slide_is_what_pydicom_extracts(
    app: AppContext, wsi_series: dict[str, list[Path]], offsets: str
) -> None:
    files = wsi_series[offsets]
    results = [app.ingest.ingest_file(path) for path in files]
    assert len(frame_rows(app)) == len(files)
    frames_read = 0
    for path, result in zip(files, results, strict=True):
        stored = app.store.path(result.relpath)
        assert read_every_frame(app, stored) == pydicom_frames(path)
        frames_read += len(pydicom_frames(path))
    assert frames_read > 12 + 1  # the base level's tiles, the second level and the images


def test_every_frame_of_a_native_multiframe_image_is_its_slice_of_pixel_data(
    app: AppContext
) -> None:
    path = Path(get_testdata_file("emri_small.dcm"))
    app.ingest.ingest_file(path)
    frames = read_every_frame(app, path)
    assert len(frames) == 10 and frames == pydicom_frames(path)
    location = app.frames.locate(*uids(path), [3, 1])
    assert dict(app.frames.read_all(location)) == {3: frames[2], 1: frames[0]}


def test_unknown_instances_and_frames_outside_the_instance_are_not_found(
    app: AppContext
) -> None:
    path = Path(get_testdata_file("emri_small.dcm"))
    app.ingest.ingest_file(path)
    study, series, sop = uids(path)
    for asked in ((study, series, "1.2.3.4", [1]), (study, "1.2.3", sop, [1]),
                  ("1.2.3", series, sop, [1]), (study, series, sop, [0]),
                  (study, series, sop, [11]), (study, series, sop, [1, 11])):
        with pytest.raises(NotFound):
            app.frames.locate(*asked)
    location = app.frames.locate(study, series, sop, [10])
    with pytest.raises(NotFound):
        app.frames.read(location, 9)  # a frame of the instance, but not one located


def test_an_instance_indexed_before_frame_maps_gets_its_map_on_first_request(
    app: AppContext, wsi_series: dict[str, list[Path]]
) -> None:
    path = max(wsi_series["basic"], key=lambda p: p.stat().st_size)  # the base level
    app.ingest.ingest_file(path)
    recorded = frame_rows(app)
    forget_frame_maps(app)
    assert frame_rows(app) == {}
    assert read_every_frame(app, path) == pydicom_frames(path)
    assert frame_rows(app) == recorded


def test_a_warm_request_reads_no_map_from_the_index(
    app: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(get_testdata_file("emri_small.dcm"))
    app.ingest.ingest_file(path)
    reads = []
    file_of, map_of = FrameFiles.source, FrameRepository.frame_map

    def counting_files(self: FrameFiles, uid: str):  # type: ignore[no-untyped-def]
        reads.append("file")
        return file_of(self, uid)

    def counting_maps(self: FrameRepository, uid: str, load_map: bool = True):  # type: ignore
        reads.append("map" if load_map else "file by session")
        return map_of(self, uid, load_map)

    monkeypatch.setattr(FrameFiles, "source", counting_files)
    monkeypatch.setattr(FrameRepository, "frame_map", counting_maps)
    for number in (1, 2, 3):
        app.frames.read(app.frames.locate(*uids(path), [number]), number)
    assert reads == ["file", "map", "file", "file"]  # one lookup a request; the map once


def test_the_event_loop_path_locates_only_once_the_map_is_cached(app: AppContext) -> None:
    path = Path(get_testdata_file("emri_small.dcm"))
    app.ingest.ingest_file(path)
    assert app.frames.locate_mapped(*uids(path), [2]) is None  # cold: leave it to a thread
    located = app.frames.locate(*uids(path), [2])
    assert app.frames.locate_mapped(*uids(path), [2]) == located
    study, series, sop = uids(path)
    with pytest.raises(NotFound):
        app.frames.locate_mapped(study, "1.2.3.4", sop, [2])
    with pytest.raises(NotFound):
        app.frames.locate_mapped(study, series, sop, [11])


def test_frame_lookups_survive_the_index_server_dropping_their_connection(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    url = postgres_cluster.create_database()
    app = build_context(settings_for(tmp_path / "data", database={"url": url}))
    try:
        path = Path(get_testdata_file("emri_small.dcm"))
        app.ingest.ingest_file(path)
        expected = pydicom_frames(path)
        assert app.frames.read(app.frames.locate(*uids(path), [1]), 1) == expected[0]
        with app.engine.connect() as connection:  # as a server restart would
            killed = connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        assert killed and killed >= 1
        assert app.frames.read(app.frames.locate(*uids(path), [3]), 3) == expected[2]
    finally:
        app.close()
        postgres_cluster.drop_database(url)


def test_a_failing_direct_read_is_an_index_failure(app: AppContext) -> None:
    missing = Table("no_such_table", MetaData(), Column("uid", String))
    reader = DirectReader(app.engine)
    try:
        with pytest.raises(IndexFailure, match="index database error"):
            reader.first(select(missing.c.uid).where(missing.c.uid == bindparam("uid")),
                         {"uid": "1.2"})
    finally:
        reader.close()


def test_a_new_version_of_an_instance_replaces_its_frame_map(
    tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path / "data", database={"url": database_url},
                            storage={"duplicate_policy": "keep_new_version"})
    app = build_context(settings)
    try:
        first = Path(get_testdata_file("emri_small.dcm"))
        ds = pydicom.dcmread(first)
        app.ingest.ingest_file(first)
        assert len(read_every_frame(app, first)) == 10
        ds.NumberOfFrames = 4
        ds.PixelData = ds.PixelData[:4 * 64 * 64 * 2]
        second = tmp_path / "second.dcm"
        ds.save_as(second)
        assert app.ingest.ingest_file(second).version == 2
        [packed] = frame_rows(app).values()
        assert packed is not None and len(FrameMap.unpack(packed)) == 4
        assert read_every_frame(app, second) == pydicom_frames(second)
        with pytest.raises(NotFound):
            app.frames.locate(*uids(second), [5])
    finally:
        app.close()


def test_an_index_upgraded_to_frame_maps_maps_its_instances_on_first_request(
    app: AppContext
) -> None:
    path = Path(get_testdata_file("emri_small.dcm"))
    app.ingest.ingest_file(path)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = app.engine
    command.downgrade(config, "0004")  # the index as it was before frame maps
    assert upgrade(app.engine) == ("0004", head_revision())
    assert frame_rows(app) == {}
    assert read_every_frame(app, path) == pydicom_frames(path)
    assert len(frame_rows(app)) == 1


def test_frames_of_a_deflated_instance_are_left_to_the_parser(app: AppContext) -> None:
    path = Path(get_testdata_file("image_dfl.dcm"))
    app.ingest.ingest_file(path)
    location = app.frames.locate(*uids(path), [1])
    assert location.pieces is None and location.transfer_syntax_uid.endswith(".1.2.1.99")
    with pytest.raises(Unsupported):
        app.frames.read(location, 1)
    with pytest.raises(Unsupported):
        list(app.frames.read_all(location))
    with pytest.raises(NotFound):
        app.frames.locate(*uids(path), [2])


def test_threads_locating_and_reading_at_once_all_get_their_frames(app: AppContext) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = Path(get_testdata_file("emri_small.dcm"))
    app.ingest.ingest_file(path)
    expected = pydicom_frames(path)

    def read(number: int) -> bytes:
        return app.frames.read(app.frames.locate(*uids(path), [number]), number)

    with ThreadPoolExecutor(4) as pool:
        numbers = [1 + i % 10 for i in range(80)]
        assert list(pool.map(read, numbers)) == [expected[n - 1] for n in numbers]
