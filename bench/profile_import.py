"""Profile one in-process slidepacs import and summarise where its time goes.

Two cProfile runs per data set (see ``ingest_inprocess.py``): one timed by each thread's
wall clock (where threads wait: disk, GIL, locks) and one by each thread's CPU time (where
the CPU goes). Statistics are kept separately for the calling thread ("main": discovery
order, index transactions, publishing) and the ingest worker threads ("workers": header
parsing and staging), whose times are summed over the threads.

By hand::

    .venv/bin/python bench/profile_import.py --dataset ct --quick
"""

from __future__ import annotations

import argparse
import json
import pstats
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import DataSet  # noqa: E402
from bench.measure import check_child, run_child  # noqa: E402

BENCH = Path(__file__).resolve().parent
GROUPS = ("main", "workers")
_BUILTIN_METHOD = re.compile(r"method '(?P<name>\w+)' of '(?P<owner>[\w.]+)' objects")
FunctionKey = tuple[str, int, str]


@dataclass(frozen=True)
class ProfileRow:
    """One function of one thread group, under both clocks (seconds)."""

    group: str
    function: str
    calls: int
    wall_self: float
    wall_cumulative: float
    cpu_self: float
    cpu_cumulative: float


@dataclass(frozen=True)
class ImportProfile:
    """The two profiles of one data set, merged per function."""

    dataset: str
    wall_seconds: float
    cpu_seconds: float
    totals: dict[str, dict[str, float]]
    rows: tuple[ProfileRow, ...]

    def top_self(self, count: int) -> list[ProfileRow]:
        """The functions with the most self time under the wall clock."""
        return sorted(self.rows, key=lambda r: r.wall_self, reverse=True)[:count]

    def top_slidepacs(self, count: int) -> list[ProfileRow]:
        """The slidepacs functions with the most cumulative wall time."""
        ours = [r for r in self.rows if r.function.startswith("slidepacs/")]
        return sorted(ours, key=lambda r: r.wall_cumulative, reverse=True)[:count]


def label(key: FunctionKey) -> str:
    """A short, stable name for a profiled function."""
    filename, line, name = key
    if filename == "~":
        method = _BUILTIN_METHOD.search(name)
        if method:
            return f"{method['owner']}.{method['name']} (C)"
        return name.strip("<>{}").replace("built-in method ", "") + " (C)"
    if "/slidepacs/" in filename:  # the working tree or the benchmark's snapshot of it
        return f"slidepacs/{filename.rsplit('/slidepacs/', 1)[1]}:{line} {name}"
    for marker in ("/site-packages/", "/lib/python3.", str(BENCH.parent) + "/"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            if marker == "/lib/python3.":
                tail = "stdlib/" + tail.split("/", 1)[1]
            return f"{tail}:{line} {name}"
    return f"{filename}:{line} {name}"


def _stats(path: Path) -> dict[FunctionKey, tuple[int, float, float]]:
    if not path.exists():
        return {}
    raw = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    return {key: (value[1], value[2], value[3]) for key, value in raw.items()}


def _total(stats: dict[FunctionKey, tuple[int, float, float]]) -> float:
    return sum(self_time for _calls, self_time, _cumulative in stats.values())


def merge(dataset: str, prefix_wall: Path, prefix_cpu: Path, wall_seconds: float,
          cpu_seconds: float) -> ImportProfile:
    """Join the wall-clock and CPU profiles of one data set function by function."""
    rows: list[ProfileRow] = []
    totals: dict[str, dict[str, float]] = {}
    for group in GROUPS:
        wall = _stats(Path(f"{prefix_wall}.{group}.pstats"))
        cpu = _stats(Path(f"{prefix_cpu}.{group}.pstats"))
        totals[group] = {"wall": _total(wall), "cpu": _total(cpu)}
        for key in wall.keys() | cpu.keys():
            calls, wall_self, wall_cumulative = wall.get(key, (0, 0.0, 0.0))
            cpu_calls, cpu_self, cpu_cumulative = cpu.get(key, (0, 0.0, 0.0))
            rows.append(ProfileRow(group, label(key), calls or cpu_calls, wall_self,
                                   wall_cumulative, cpu_self, cpu_cumulative))
    return ImportProfile(dataset, wall_seconds, cpu_seconds, totals, tuple(rows))


def _profile_once(dataset: DataSet, work: Path, prefix: Path, cpu: bool) -> float:
    home = work / f"profile-{dataset.key}-{'cpu' if cpu else 'wall'}"
    shutil.rmtree(home, ignore_errors=True)
    command: list[str | Path] = [sys.executable, BENCH / "ingest_inprocess.py",
                                 "--data", home / "data", "--profile", prefix]
    if cpu:
        command.append("--cpu")
    child = run_child([*command, dataset.folder], cwd=work)
    check_child(child, "profiled import")
    shutil.rmtree(home, ignore_errors=True)
    return float(json.loads(child.stdout.splitlines()[-1])["seconds"])


def profile_import(dataset: DataSet, work: Path, out: Path) -> ImportProfile:
    """Profile one import of ``dataset`` under both clocks; keep the .pstats files in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    prefix_wall = out / f"{dataset.key}-wall"
    prefix_cpu = out / f"{dataset.key}-cpu"
    wall_seconds = _profile_once(dataset, work, prefix_wall, cpu=False)
    cpu_seconds = _profile_once(dataset, work, prefix_cpu, cpu=True)
    profile = merge(dataset.key, prefix_wall, prefix_cpu, wall_seconds, cpu_seconds)
    (out / f"{dataset.key}.txt").write_text(render_text(profile, 40))
    return profile


def render_text(profile: ImportProfile, count: int) -> str:
    """A plain-text listing of the top functions (self time and slidepacs cumulative)."""
    lines = [f"profile of {profile.dataset}: run {profile.wall_seconds:.2f} s (wall clock "
             f"profile), {profile.cpu_seconds:.2f} s (CPU clock profile)"]
    for group, total in profile.totals.items():
        lines.append(f"  {group}: {total['wall']:.2f} thread-seconds wall, {total['cpu']:.2f} CPU")
    lines.append("")
    lines.append(f"{'group':8} {'calls':>8} {'wall self':>10} {'CPU self':>9} "
                 f"{'wall cum':>9} {'CPU cum':>8}  function")
    for title, rows in (("top self time", profile.top_self(count)),
                        ("slidepacs, cumulative", profile.top_slidepacs(count))):
        lines.append(f"-- {title}")
        for row in rows:
            lines.append(f"{row.group:8} {row.calls:8d} {row.wall_self:10.3f} {row.cpu_self:9.3f} "
                         f"{row.wall_cumulative:9.3f} {row.cpu_cumulative:8.3f}  {row.function}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Profile one data set and print the summary."""
    from bench.datasets import ct_series, large_multiframe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["ct", "large"], required=True)
    parser.add_argument("--quick", action="store_true", help="300 files / 256 MiB")
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    args = parser.parse_args(argv)
    cache = args.out / "cache"
    if args.dataset == "ct":
        dataset = ct_series(cache, 300 if args.quick else 2000)
    else:
        dataset = large_multiframe(cache, (256 << 20) if args.quick else (1 << 30))
    profile = profile_import(dataset, args.out / "work", args.out / "profile")
    print(render_text(profile, 30))
    return 0


if __name__ == "__main__":
    sys.exit(main())
