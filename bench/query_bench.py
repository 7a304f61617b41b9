"""Query latency at scale: study-level queries against an index of a million instances.

Populates a fresh index (SQLite by default, or PostgreSQL with ``--postgres``) with
50,000 patients, 100,000 studies, 200,000 series and 1,000,000 instances through the index
tables in bulk (ingesting a million files would take an hour and measure something else),
then times typical study-level queries through the same QueryService that C-FIND and QIDO-RS
use: p50/p99 over repeated runs with varying values.

    .venv/bin/python bench/query_bench.py [--instances 1000000] [--postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from slidepacs.bootstrap import build_context
from slidepacs.config import settings_for
from slidepacs.domain.names import name_key
from slidepacs.domain.query import Level, Query, parse_condition
from slidepacs.index.tables import Instance, Patient, Series, Study
from slidepacs.services.query import QueryService

SURNAMES = ["SMITH", "MÜLLER", "GARCIA", "ROSSI", "KOWALSKI", "NGUYEN", "TANAKA", "DUBOIS",
            "JOHNSON", "SILVA", "IVANOV", "KIM", "NOWAK", "BROWN", "MARTIN", "LEE"]
GIVEN = ["ANNA", "JAN", "MARIA", "PIOTR", "LUCA", "SOPHIE", "JOHN", "YUKI", "ELENA", "OMAR"]
MODALITIES = ["CT", "MR", "SM", "CR", "US", "DX", "PT", "MG"]
CHUNK = 20_000


def index_rows(instances: int) -> Iterator[tuple[type, dict[str, Any]]]:
    """The synthetic index, row by row in insertion order: (table, row) for every patient,
    then every study, series and instance. ``instances // 10`` studies of 2 series of 5
    instances, 2 studies per patient; each series' modality is one of its study's
    ModalitiesInStudy, so the same rows can also be written as DICOM objects."""
    rng = random.Random(7)
    studies = instances // 10
    patients = studies // 2
    for i in range(patients):
        name = f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}"
        yield Patient, {
            "pk": i + 1, "patient_id": f"P{i:07d}", "issuer_of_patient_id": "",
            "patient_name": name, "patient_name_key": name_key(name),
            "birth_date": f"19{rng.randint(30, 99)}0101", "sex": rng.choice("MF"), "comments": "",
        }
    modalities: list[list[str]] = []
    for i in range(studies):
        study_date = f"20{rng.randint(10, 24):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        study_modalities = sorted({rng.choice(MODALITIES), rng.choice(MODALITIES)})
        modalities.append(study_modalities)
        yield Study, {
            "pk": i + 1, "patient_pk": i // 2 + 1, "study_instance_uid": f"1.2.826.0.1.1.{i}",
            "study_date": study_date,
            "study_time": "101500", "accession_number": f"A{i:08d}", "study_id": str(i % 10000),
            "description": "generated", "referring_physician_name": "",
            "referring_physician_name_key": "", "case_id": f"S24-{i:06d}" if i % 4 == 0 else "",
            "modalities": "\\".join(study_modalities), "num_series": 2, "num_instances": 10,
        }
    for i in range(studies * 2):
        study_modalities = modalities[i // 2]
        yield Series, {
            "pk": i + 1, "study_pk": i // 2 + 1, "series_instance_uid": f"1.2.826.0.1.2.{i}",
            "modality": study_modalities[(i % 2) % len(study_modalities)],
            "series_number": i % 2 + 1, "series_date": "", "series_time": "", "description": "",
            "body_part_examined": "", "num_instances": 5,
        }
    for i in range(instances):
        yield Instance, {
            "pk": i + 1, "series_pk": i // 5 + 1, "sop_instance_uid": f"1.2.826.0.1.3.{i}",
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax_uid": "1.2.840.10008.1.2.1",
            "instance_number": i % 5 + 1, "relpath": f"x/{i}.dcm", "file_size": 525_000,
            "checksum": "0" * 64, "version": 1, "source": "bench",
        }


def populate(app, instances: int) -> tuple[int, int]:
    """Insert the rows of :func:`index_rows` in bulk; return (studies, patients)."""
    studies = instances // 10
    with app.unit_of_work.write() as repo:
        for table, rows in groupby(index_rows(instances), key=itemgetter(0)):
            _bulk(repo.session, table, (row for _table, row in rows))
    with app.engine.begin() as connection:  # fresh statistics, as autovacuum / optimize would
        connection.exec_driver_sql("ANALYZE")
    return studies, studies // 2


def _bulk(session, table, rows) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            session.execute(insert(table), batch)
            batch = []
    if batch:
        session.execute(insert(table), batch)


def filters(studies: int, patients: int) -> dict[str, Callable[[random.Random], dict[str, str]]]:
    """Named study-level filters (DICOM keyword → value), each drawing fresh values per run;
    shared by this benchmark (as queries) and bench/cfind_bench.py (as C-FIND identifiers)."""
    return {
        "PatientID exact": lambda r: {"PatientID": f"P{r.randrange(patients):07d}"},
        "PatientName prefix*": lambda r: {"PatientName": r.choice(SURNAMES)[:3].lower() + "*"},
        "PatientName exact (any case)": lambda r: {"PatientName": f"{r.choice(SURNAMES)}^{r.choice(GIVEN)}".lower()},
        "StudyDate one month": lambda r: {"StudyDate": "20{0}0301-20{0}0331".format(r.randint(10, 24))},
        "AccessionNumber exact": lambda r: {"AccessionNumber": f"A{r.randrange(studies):08d}"},
        "StudyInstanceUID exact": lambda r: {"StudyInstanceUID": f"1.2.826.0.1.1.{r.randrange(studies)}"},
        "ModalitiesInStudy=SM + date year": lambda r: {"ModalitiesInStudy": "SM", "StudyDate": "20{0}0101-20{0}1231".format(r.randint(10, 24))},
        "newest 100 (universal)": lambda r: {},
    }


def scenarios(studies: int, patients: int) -> dict[str, Callable[[random.Random], Query]]:
    """Named study-level queries (limit 100) made of :func:`filters`."""
    def query(make: Callable[[random.Random], dict[str, str]]) -> Callable[[random.Random], Query]:
        return lambda r: Query(Level.STUDY, tuple(
            c for c in (parse_condition(k, v) for k, v in make(r).items()) if c), limit=100)

    return {name: query(make) for name, make in filters(studies, patients).items()}


def list_searches(studies: int, patients: int) -> dict[str, Callable[[random.Random], str]]:
    """Named searches of the browser's study list (its URL language), fresh values per run."""
    return {
        "newest 50 (no filter)": lambda r: "",
        "patientid=P… (equal)": lambda r: f"patientid=P{r.randrange(patients):07d}",
        "patientname=**smi (contains)": lambda r: "patientname=**" + r.choice(SURNAMES)[:3].lower(),
        "studydate one month (range)": lambda r: "studydate==~20{0}/03/01~20{0}/03/31".format(
            r.randint(10, 24)),
        "modality=SM + year (series EXISTS)": lambda r: (
            "modality=SM&studydate==~20{0}/01/01~20{0}/12/31".format(r.randint(10, 24))),
        "modality=!=CT (NOT EXISTS)": lambda r: "modality=!=CT",
        "accessionnumber===A… (equal)": lambda r: f"accessionnumber===A{r.randrange(studies):08d}",
        "sort=patientname, page 3": lambda r: "sort=patientname&order=asc&offset=100",
    }


def measure_list(app, make: Callable[[random.Random], str], runs: int) -> tuple[float, float, int]:  # noqa: ANN001
    """p50 and p99 of a study-list search (page and total), and the total of the last run."""
    from urllib.parse import parse_qsl
    rng = random.Random(11)
    timings, total = [], 0
    for _ in range(runs):
        search = app.study_list.parse(parse_qsl(make(rng)))
        started = time.perf_counter()
        total = app.study_list.search(search).total
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1], total


def measure(service: QueryService, make: Callable[[random.Random], Query], runs: int) -> tuple[float, float, int]:
    """p50 and p99 latency in ms, and the rows of the last run."""
    rng = random.Random(11)
    timings, rows = [], 0
    for _ in range(runs):
        query = make(rng)
        started = time.perf_counter()
        rows = len(service.find(query))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1], rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="use a throw-away PostgreSQL")
    parser.add_argument("--list", action="store_true",
                        help="also time the browser's study-list searches (page of 50 + total)")
    args = parser.parse_args()
    cluster = url = None
    if args.postgres:
        from slidepacs.testing.postgres import PostgresCluster
        cluster = PostgresCluster()
        cluster.start()
        url = cluster.create_database()
    try:
        with tempfile.TemporaryDirectory(prefix="slidepacs-qbench-") as tmp:
            app = build_context(settings_for(Path(tmp) / "data", database={"url": url or ""}))
            started = time.perf_counter()
            studies, patients = populate(app, args.instances)
            print(f"backend {app.engine.dialect.name}: populated {args.instances:,} instances, "
                  f"{studies:,} studies, {patients:,} patients in {time.perf_counter() - started:.0f} s")
            service = QueryService(app.unit_of_work)
            print("| query (study level, limit 100) | p50 ms | p99 ms | rows |")
            print("| --- | ---: | ---: | ---: |")
            for name, make in scenarios(studies, patients).items():
                p50, p99, rows = measure(service, make, args.runs)
                print(f"| {name} | {p50:.2f} | {p99:.2f} | {rows} |")
            if args.list:
                print("\n| study-list search (page of 50 + total) | p50 ms | p99 ms | total |")
                print("| --- | ---: | ---: | ---: |")
                for name, make_text in list_searches(studies, patients).items():
                    p50, p99, total = measure_list(app, make_text, max(args.runs // 4, 10))
                    print(f"| {name} | {p50:.2f} | {p99:.2f} | {total} |")
            app.close()
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
