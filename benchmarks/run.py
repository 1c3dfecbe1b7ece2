"""Throughput, memory and cold start of `crsgrade grade`, measured in one run.

    python benchmarks/run.py [--sizes 1000 10000 100000 1000000] [--reference-limit 100000]

For each cohort size (patient-days of a seeded synthetic cohort, crsgrade.synthetic) and each
evaluation path, times `crsgrade grade FILE --format csv -o OUT --engine E` end to end (read,
validate, grade, write) in a fresh process, with that process's peak memory, and gives each
path's speed as a ratio to the durable-rules path measured in the same run. The reference paths
(durable-rules, python) are run up to --reference-limit patient-days; above it the row says so.
Then regrading: one cohort of --compare-size patient-days carrying every system's inputs, graded
under each system and compared under all of them, each as a ratio to ASTCT 2019 on the same file
and reference engine. Then the CLI's cold start on the shipped example against `python -c "import
pydantic, typer, rich"`, the floor its dependencies set. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("vector", "python", "durable")
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "elapsed = time.perf_counter() - start\n"
    "print(code, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def crsgrade_command() -> list[str]:
    found = shutil.which("crsgrade")
    return [found] if found else [sys.executable, "-m", "crsgrade"]


def measure(command: list[str]) -> tuple[int, float, float]:
    """Exit code, wall seconds and peak memory (MB) of a command run in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True)
    code, seconds, kilobytes = out.stdout.split()
    return int(code), float(seconds), int(kilobytes) / 1024


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--reference-limit", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="cold start runs (median)")
    parser.add_argument("--compare-size", type=int, default=10_000, help="patient-days of the regrading cohort")
    args = parser.parse_args()

    from crsgrade import __version__
    from crsgrade.evaluators import durable_available
    from crsgrade.synthetic import write_cohort

    engines = [e for e in ENGINES if e != "durable" or durable_available()]
    print(f"crsgrade {__version__} on {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="crsgrade-bench-"))
    command = crsgrade_command()
    print(f"\n{'patient-days':>12} {'rows':>9} {'engine':>8} {'seconds':>9} {'patient-days/s':>15} "
          f"{'peak MB':>8} {'vs durable':>10}")
    for size in args.sizes:
        path = folder / f"cohort-{size}.csv"
        rows = write_cohort(path, size, seed=size)
        baseline = None
        results = {}
        for engine in reversed(engines):  # durable first: the baseline
            if engine != "vector" and size > args.reference_limit:
                results[engine] = None
                continue
            code, seconds, peak = measure([*command, "grade", str(path), "--format", "csv",
                                           "-o", str(folder / "out.csv"), "--engine", engine, "--quiet"])
            if code != 0:
                raise SystemExit(f"{engine} failed on {path} (exit {code})")
            results[engine] = (seconds, peak)
            if engine == "durable":
                baseline = seconds
        for engine in engines:
            if results[engine] is None:
                print(f"{size:>12,} {rows:>9,} {engine:>8} {'not run (above --reference-limit)':>45}")
                continue
            seconds, peak = results[engine]
            ratio = f"{baseline / seconds:.1f}x" if baseline else "–"
            print(f"{size:>12,} {rows:>9,} {engine:>8} {seconds:>9.2f} {size / seconds:>15,.0f} {peak:>8.0f} {ratio:>10}")
        path.unlink()

    regrading(command, folder, args.compare_size, "durable" if "durable" in engines else "python")

    example = ROOT / "examples" / "dasatinib_case.csv"
    floor = statistics.median(measure([sys.executable, "-c", "import pydantic, typer, rich"])[1]
                              for _ in range(args.repeat))
    print(f"\ncold start, median of {args.repeat} (seconds):")
    print(f"  python -c 'import pydantic, typer, rich'   {floor:.3f}   1.00x (floor)")
    for extra in ([], ["--format", "csv"]):
        seconds = statistics.median(measure([*command, "grade", str(example), *extra, "--quiet"])[1]
                                    for _ in range(args.repeat))
        label = " ".join(["crsgrade grade example", *extra])
        print(f"  {label:<42} {seconds:.3f}   {seconds / floor:.2f}x")
    shutil.rmtree(folder, ignore_errors=True)


def regrading(command: list[str], folder: Path, size: int, engine: str) -> None:
    """Each system, and `compare` under all of them, against ASTCT 2019 on the same file and
    the same reference engine (the vectorized path runs ASTCT only)."""
    from crsgrade import shipped_systems
    from crsgrade.synthetic import write_cohort

    path = folder / "regrading.csv"
    write_cohort(path, size, seed=size, older_systems=True)
    print(f"\nregrading {size:,} patient-days with every system's columns (engine: {engine}):")
    print(f"  {'command':<34} {'seconds':>8} {'peak MB':>8} {'vs astct2019':>13}")
    baseline = None
    runs = [(f"grade --system {s}", ["grade", str(path), "--system", s, "--format", "csv"]) for s in shipped_systems()]
    runs.append(("compare (all systems)", ["compare", str(path), "--format", "csv"]))
    for label, arguments in runs:
        code, seconds, peak = measure([*command, *arguments, "-o", str(folder / "out.csv"), "--engine", engine, "--quiet"])
        if code != 0:
            raise SystemExit(f"{label} failed (exit {code})")
        baseline = baseline or seconds
        print(f"  {label:<34} {seconds:>8.2f} {peak:>8.0f} {seconds / baseline:>12.2f}x")
    path.unlink()


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
