"""Run every benchmark in one go and print the tables (``make bench``).

Import throughput of slidepacs against Orthanc and a ``cp -r`` + ``sync`` ceiling on two
generated data sets (2,000 CT slices of ~525 KB; one ~1 GB multi-frame instance): each peer
imports each data set ``--runs`` times into an empty archive, alternating peers, and the
medians are reported. Then one slidepacs import per data set is profiled with cProfile.

Results go to ``bench/out/results.{json,md}``; a full run also rewrites the generated block
of ``bench/RESULTS.md`` (a ``--quick`` smoke run does not, unless ``--update-results``).

    .venv/bin/python bench/run_all.py            # full: about 10 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick    # 300 files and 256 MiB, 1 run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report  # noqa: E402
from bench.datasets import DataSet, ct_series, large_multiframe  # noqa: E402
from bench.import_bench import PEERS, UPLOAD_THREADS, Peer  # noqa: E402
from bench.measure import (  # noqa: E402
    Measurement,
    summarise,
    wait_for_quiet,
)
from bench.profile_import import ImportProfile, merge, profile_import  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RETRIES = 2           # repeats of a disturbed run
WAIT_LIMIT = 300.0    # longest wait for an idle machine before one run


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 300 CT files, 256 MiB instance, 1 run")
    parser.add_argument("--runs", type=int, help="runs per peer and data set (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="cache and work folder")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite the tables from the last run's results.json and "
                             "profiles (after changing the report's format)")
    parser.add_argument("--patience", type=float, default=20.0,
                        help="minutes, in all, to wait for an idle machine and repeat "
                             "disturbed runs (default 20)")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="run the working tree's slidepacs/ live instead of a copy")
    parser.add_argument("--update-results", action=argparse.BooleanOptionalAction, default=None,
                        help="rewrite bench/RESULTS.md (default: yes, except with --quick)")
    return parser.parse_args(argv)


def snapshot_code(out: Path) -> str:
    """Copy ``slidepacs/`` as it is now and make every child process import that copy.

    The working tree may change while the benchmark runs (others edit and test it); the
    snapshot keeps every run on the same code. Returns a hash of the copied sources.
    """
    target = out / "snapshot"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(REPO / "slidepacs", target / "slidepacs",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = hashlib.sha256()
    for path in sorted((target / "slidepacs").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(target).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    diff = subprocess.run(["git", "diff", "HEAD", "--", "slidepacs"], cwd=REPO,
                          capture_output=True, text=True, check=False).stdout
    (target / "uncommitted.diff").write_text(diff)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(target), os.environ.get("PYTHONPATH", "")]))
    probe = subprocess.run([sys.executable, "-c", "import slidepacs; print(slidepacs.__file__)"],
                           cwd=out, capture_output=True, text=True, check=True).stdout.strip()
    if not probe.startswith(str(target)):
        raise RuntimeError(f"child processes import slidepacs from {probe}, not the snapshot")
    return digest.hexdigest()[:12]


def _datasets(cache: Path, quick: bool) -> list[DataSet]:
    return [
        ct_series(cache, 300 if quick else 2000, size=512),
        large_multiframe(cache, (256 << 20) if quick else (1 << 30)),
    ]


def _warm(dataset: DataSet) -> None:
    """Read every file once so that every peer, the first one included, reads from cache."""
    for path in sorted(dataset.folder.iterdir()):
        with path.open("rb", buffering=0) as handle:
            while handle.read(1 << 22):
                pass


def _command_line(argv: list[str] | None) -> str:
    python = Path(sys.executable)
    try:
        python = python.relative_to(REPO)
    except ValueError:
        pass
    script = Path(__file__).resolve().relative_to(REPO)
    return shlex.join([str(python), str(script), *(sys.argv[1:] if argv is None else argv)])


@dataclass
class Patience:
    """How long, in all, the run may still wait for an idle machine or repeat runs."""

    seconds: float

    def wait_for_quiet(self) -> None:
        """Wait for an idle machine within what is left of the budget."""
        started = time.monotonic()
        wait_for_quiet(timeout=max(0.0, min(WAIT_LIMIT, self.seconds)))
        self.seconds -= time.monotonic() - started


def disturbed(result: Measurement) -> bool:
    """True when other programs used notable CPU during the run.

    Counts user-space CPU only (the machine's minus the measured processes'): kernel work
    such as writeback and loopback networking belongs to the peer being measured.
    """
    return result.other_cpu > 0.5 + 0.1 * result.wall


def measure_quietly(peer: Peer, dataset: DataSet, work: Path, run: int,
                    patience: Patience) -> Measurement:
    """Measure once on an idle machine; repeat a disturbed run while patience lasts."""
    attempts: list[Measurement] = []
    for _attempt in range(1 + RETRIES):
        patience.wait_for_quiet()
        started = time.monotonic()
        attempts.append(peer.measure(dataset, work, run))
        if not disturbed(attempts[-1]) or patience.seconds <= 0:
            break
        patience.seconds -= time.monotonic() - started
        print(f"      {peer.key} on {dataset.key} was disturbed ({attempts[-1].other_cpu:.1f} s "
              "of other programs' CPU); measuring again", flush=True)
    best = min(attempts, key=lambda m: m.other_cpu)
    return replace(best, extra={**best.extra, "attempts": float(len(attempts))})


def measure_all(datasets: list[DataSet], runs: int, work: Path,
                patience: Patience) -> list[Measurement]:
    """Every peer on every data set, ``runs`` times, peers alternating in a rotating order."""
    measurements: list[Measurement] = []
    for run in range(1, runs + 1):
        order = PEERS[(run - 1) % len(PEERS):] + PEERS[:(run - 1) % len(PEERS)]
        for dataset in datasets:
            for peer in order:
                result = measure_quietly(peer, dataset, work, run, patience)
                measurements.append(result)
                print(f"run {run} {dataset.key:10} {peer.key:14} {result.seconds:7.2f} s "
                      f"{result.files_per_second:8.1f} files/s {result.mb_per_second:7.1f} MB/s"
                      f"  (other programs {result.other_cpu:4.1f} CPU s)", flush=True)
    return measurements


@dataclass(frozen=True)
class RunResults:
    """Everything one run produced, as saved in ``results.json``."""

    command: str
    machine: report.Machine
    runs: int
    datasets: list[DataSet]
    measurements: list[Measurement]
    profiles: list[ImportProfile]

    def save(self, path: Path) -> None:
        """Write the results as JSON (the profiles' .pstats files stay beside it)."""
        path.write_text(json.dumps({
            "command": self.command,
            "machine": [list(fact) for fact in self.machine.facts],
            "runs": self.runs,
            "upload_threads": UPLOAD_THREADS,
            "datasets": [{**asdict(d), "folder": str(d.folder)} for d in self.datasets],
            "measurements": [asdict(m) for m in self.measurements],
            "profiles": [{"dataset": p.dataset, "wall_seconds": p.wall_seconds,
                          "cpu_seconds": p.cpu_seconds} for p in self.profiles],
        }, indent=1))

    @classmethod
    def load(cls, out: Path) -> RunResults:
        """Read ``results.json`` of an earlier run and re-read its profiles."""
        saved = json.loads((out / "results.json").read_text())
        profiles = [merge(p["dataset"], out / "profile" / f"{p['dataset']}-wall",
                          out / "profile" / f"{p['dataset']}-cpu", p["wall_seconds"],
                          p["cpu_seconds"]) for p in saved.get("profiles", [])]
        return cls(
            command=saved["command"],
            machine=report.Machine(tuple((name, value) for name, value in saved["machine"])),
            runs=saved["runs"],
            datasets=[DataSet(**{**d, "folder": Path(d["folder"])}) for d in saved["datasets"]],
            measurements=[Measurement(**m) for m in saved["measurements"]],
            profiles=profiles,
        )


def publish(results: RunResults, out: Path, update: bool) -> None:
    """Print the tables and write results.md (and the generated block of RESULTS.md)."""
    summaries = summarise(results.measurements)
    for dataset in results.datasets:
        rows = [report.summary_cells(s) for s in summaries if s.dataset == dataset.key]
        print(f"\n{dataset.title}: {report.files_text(dataset.files)}, "
              f"{dataset.megabytes:,.0f} MB "
              f"(medians of {results.runs})")
        print(report.text_table(report.SUMMARY_HEADER, rows))
    print()
    print(report.text_table(report.ratio_header(results.datasets),
                            report.ratio_rows(summaries, results.datasets)))
    print("\n".join(report.target_lines(summaries, results.datasets)))
    generated = report.results_markdown(
        results.machine, results.command, results.runs, UPLOAD_THREADS, results.datasets,
        results.measurements, summaries, results.profiles,
    )
    (out / "results.md").write_text(generated)
    if update:
        report.update_results_file(BENCH / "RESULTS.md", generated)
    print(f"\nwrote {'bench/RESULTS.md and ' if update else ''}{out / 'results.md'}")


def run(args: argparse.Namespace, out: Path, command: str) -> RunResults:
    """Generate the data, measure every peer, profile slidepacs."""
    runs = args.runs or (1 if args.quick else 3)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    code = "working tree (live)" if args.no_snapshot else f"snapshot {snapshot_code(out)}"
    machine = report.describe_machine(out, 256 if args.quick else 1024, code)
    datasets = _datasets(out / "cache", args.quick)
    for dataset in datasets:
        _warm(dataset)
    patience = Patience(args.patience * 60)
    measurements = measure_all(datasets, runs, work, patience)
    profiles: list[ImportProfile] = []
    if not args.no_profile:
        for dataset in datasets:
            print(f"profiling a slidepacs import of {dataset.key} ...", flush=True)
            patience.wait_for_quiet()
            profiles.append(profile_import(dataset, work, out / "profile"))
    return RunResults(command, machine, runs, datasets, measurements, profiles)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (or re-read the last run), print the tables, write the results."""
    args = _arguments(argv)
    out: Path = args.out.resolve()
    started = time.perf_counter()
    if args.render_only:
        results = RunResults.load(out)
    else:
        results = run(args, out, _command_line(argv))
        results.save(out / "results.json")
    update = args.update_results if args.update_results is not None else not args.quick
    publish(results, out, update)
    print(f"done in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
