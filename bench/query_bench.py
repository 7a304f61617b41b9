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
from collections.abc import Callable
from pathlib import Path

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


def populate(app, instances: int) -> tuple[int, int]:
    """Insert patients, studies, series and instances in bulk; return (studies, patients)."""
    rng = random.Random(7)
    studies = instances // 10
    patients = studies // 2
    series_count = studies * 2
    with app.unit_of_work.write() as repo:
        session = repo.session
        _bulk(session, Patient, ({
            "pk": i + 1, "patient_id": f"P{i:07d}", "issuer_of_patient_id": "",
            "patient_name": (name := f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}"),
            "patient_name_key": name_key(name), "birth_date": f"19{rng.randint(30, 99)}0101",
            "sex": rng.choice("MF"), "comments": "",
        } for i in range(patients)))
        _bulk(session, Study, ({
            "pk": i + 1, "patient_pk": i // 2 + 1, "study_instance_uid": f"1.2.826.0.1.1.{i}",
            "study_date": f"20{rng.randint(10, 24):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
            "study_time": "101500", "accession_number": f"A{i:08d}", "study_id": str(i % 10000),
            "description": "generated", "referring_physician_name": "",
            "referring_physician_name_key": "", "case_id": f"S24-{i:06d}" if i % 4 == 0 else "",
            "modalities": "\\".join(sorted({rng.choice(MODALITIES), rng.choice(MODALITIES)})),
            "num_series": 2, "num_instances": 10,
        } for i in range(studies)))
        _bulk(session, Series, ({
            "pk": i + 1, "study_pk": i // 2 + 1, "series_instance_uid": f"1.2.826.0.1.2.{i}",
            "modality": rng.choice(MODALITIES), "series_number": i % 2 + 1, "series_date": "",
            "series_time": "", "description": "", "body_part_examined": "", "num_instances": 5,
        } for i in range(series_count)))
        _bulk(session, Instance, ({
            "pk": i + 1, "series_pk": i // 5 + 1, "sop_instance_uid": f"1.2.826.0.1.3.{i}",
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax_uid": "1.2.840.10008.1.2.1",
            "instance_number": i % 5 + 1, "relpath": f"x/{i}.dcm", "file_size": 525_000,
            "checksum": "0" * 64, "version": 1, "source": "bench",
        } for i in range(instances)))
    with app.engine.begin() as connection:  # fresh statistics, as autovacuum / optimize would
        connection.exec_driver_sql("ANALYZE")
    return studies, patients


def _bulk(session, table, rows) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            session.execute(insert(table), batch)
            batch = []
    if batch:
        session.execute(insert(table), batch)


def scenarios(studies: int, patients: int) -> dict[str, Callable[[random.Random], Query]]:
    """Named study-level queries, each drawing fresh values per run."""
    def q(*conditions) -> Query:
        return Query(Level.STUDY, tuple(c for c in conditions if c), limit=100)

    return {
        "PatientID exact": lambda r: q(parse_condition("PatientID", f"P{r.randrange(patients):07d}")),
        "PatientName prefix*": lambda r: q(parse_condition("PatientName", r.choice(SURNAMES)[:3].lower() + "*")),
        "PatientName exact (any case)": lambda r: q(parse_condition("PatientName", f"{r.choice(SURNAMES)}^{r.choice(GIVEN)}".lower())),
        "StudyDate one month": lambda r: q(parse_condition("StudyDate", "20{0}0301-20{0}0331".format(r.randint(10, 24)))),
        "AccessionNumber exact": lambda r: q(parse_condition("AccessionNumber", f"A{r.randrange(studies):08d}")),
        "StudyInstanceUID exact": lambda r: q(parse_condition("StudyInstanceUID", f"1.2.826.0.1.1.{r.randrange(studies)}")),
        "ModalitiesInStudy=SM + date year": lambda r: q(parse_condition("ModalitiesInStudy", "SM"), parse_condition("StudyDate", "20{0}0101-20{0}1231".format(r.randint(10, 24)))),
        "newest 100 (universal)": lambda r: q(),
    }


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
            print(f"| query (study level, limit 100) | p50 ms | p99 ms | rows |")
            print(f"| --- | ---: | ---: | ---: |")
            for name, make in scenarios(studies, patients).items():
                p50, p99, rows = measure(service, make, args.runs)
                print(f"| {name} | {p50:.2f} | {p99:.2f} | {rows} |")
            app.close()
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
