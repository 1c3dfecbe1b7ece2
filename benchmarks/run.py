"""Throughput, memory and cold start of the crsgrade pipeline, measured in one run.

    python benchmarks/run.py [--large 1000000 5000000] [--medium 100000] [--runs 3] [--repeat 5]

Every figure is a fresh `crsgrade` process timed from start to exit, with its peak memory. The
processes run as after `pip install`: Python's bytecode cache on (in a folder of the run's own,
since an editable checkout has none and PYTHONDONTWRITEBYTECODE may be set; written before any
timing by an untimed run with each evaluator, as `pip install` writes it), and the compiled
rule cache in a folder of the run's own, empty at the start. A command's first run is timed with
that cache empty, later runs with it holding what earlier runs met, as a user's repeat runs would.

1. Large cohorts (--large patient-days, seeded synthetic ASTCT cohorts): `grade --format csv -o
   OUT` with each evaluator (durable-rules where it can be imported, the plain Python one), as
   patient-days per second and peak MB.
2. A medium cohort (--medium patient-days carrying every system's inputs): every command and
   input form, as a ratio to `grade --format csv` on the same rows in the same run (the median of
   --runs runs of each, since one run of a few seconds on a shared machine varies by a third;
   run in rounds of every command in turn, so that the machine's speed drifting during the run
   touches every command alike).
3. Cold start of `grade` on the shipped example, as a ratio to `python -c "import pydantic,
   typer, rich"`, the floor its dependencies set.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
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


ENVIRONMENT = dict(os.environ)


def isolate(folder: Path) -> None:
    """Bytecode and compiled rule caches of the run's own, as an installed package has them."""
    ENVIRONMENT.pop("PYTHONDONTWRITEBYTECODE", None)
    ENVIRONMENT.pop("CRSGRADE_NO_CACHE", None)
    ENVIRONMENT["PYTHONPYCACHEPREFIX"] = str(folder / "bytecode")
    ENVIRONMENT["CRSGRADE_CACHE_DIR"] = str(folder / "compiled")


def measure(command: list[str], output: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of a command run in a fresh process (`output`, the file
    it writes, removed first: replacing a large file left by the run before would be timed too).
    What earlier runs wrote is flushed to disk first, untimed: otherwise a command can be held
    up by the disk still taking the output of the one before it (0.75 GB of CSV for the 5 x 10^6
    cohort, 1.3 GB of JSON for explain on 10^5), and the figure would depend on the order of
    the runs."""
    if output is not None:
        output.unlink(missing_ok=True)
    os.sync()
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True,
                         env=ENVIRONMENT)
    code, seconds, kilobytes = out.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"failed (exit {code}): {' '.join(command)}")
    return float(seconds), int(kilobytes) / 1024


def machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def large(command: list[str], folder: Path, sizes: list[int], engines: list[str]) -> None:
    from crsgrade.synthetic import write_cohort

    print(f"\n`grade FILE --format csv -o OUT`, start to exit (compiled rule cache empty, then warm):\n"
          f"{'patient-days':>12} {'rows':>10} {'MB':>6} {'engine':>8} {'cache':>6} {'seconds':>8}"
          f" {'patient-days/s':>15} {'peak MB':>8}")
    for size in sizes:
        path = folder / f"cohort-{size}.csv"
        rows = write_cohort(path, size, seed=size)
        megabytes = path.stat().st_size / 1e6
        for engine in engines:
            shutil.rmtree(folder / "compiled", ignore_errors=True)
            for cache in ("empty", "warm"):
                out = folder / "out.csv"
                seconds, peak = measure([*command, "grade", str(path), "--format", "csv", "-o", str(out),
                                         "--engine", engine, "--quiet"], out)
                print(f"{size:>12,} {rows:>10,} {megabytes:>6.0f} {engine:>8} {cache:>6} {seconds:>8.2f}"
                      f" {size / seconds:>15,.0f} {peak:>8.0f}")
        path.unlink()


def forms(path: Path, folder: Path) -> dict[str, Path]:
    """The same rows given with dates and an infusion date, and as JSON Lines."""
    import polars as pl

    frame = pl.read_csv(path, infer_schema=False)
    dated = frame.with_columns(
        (pl.date(2024, 3, 14) + pl.duration(days=pl.col("day").cast(pl.Int64))).cast(pl.String).alias("date"),
        pl.lit("2024-03-14").alias("infusion_date")).drop("day")
    dates = folder / "dated.csv"
    dated.write_csv(dates)
    lines = folder / "cohort.jsonl"
    with lines.open("w") as handle:
        for row in frame.iter_rows(named=True):
            handle.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
    return {"dates": dates, "jsonl": lines}


def medium(command: list[str], folder: Path, size: int, engine: str, repeat: int) -> None:
    from crsgrade.synthetic import write_cohort

    path = folder / "medium.csv"
    write_cohort(path, size, seed=size, older_systems=True)
    other = forms(path, folder)
    out = folder / "out"
    runs = [
        ("grade --format csv", ["grade", str(path), "--format", "csv"]),
        ("summary --format csv", ["summary", str(path), "--format", "csv"]),
        ("compare --format csv (every system)", ["compare", str(path), "--format", "csv"]),
        ("grade --system lee2014 --format csv", ["grade", str(path), "--system", "lee2014", "--format", "csv"]),
        ("grade --system cartox --format csv", ["grade", str(path), "--system", "cartox", "--format", "csv"]),
        ("the rows with date + infusion_date", ["grade", str(other["dates"]), "--format", "csv"]),
        ("the rows as JSON Lines", ["grade", str(other["jsonl"]), "--format", "csv"]),
        ("grade --format json", ["grade", str(path), "--format", "json"]),
        ("explain --format json (every day)", ["explain", str(path), "--format", "json"]),
    ]
    for _, arguments in runs:  # the compiled rule cache warm for every command, as on a repeat run
        measure([*command, *arguments, "-o", str(out), "--engine", engine, "--quiet"], out)
    print(f"\n{size:,} patient-days with every system's columns (engine: {engine}, compiled rule cache warm),"
          f" start to exit, median of {repeat} rounds of every command in turn:\n"
          f"  {'command':<38} {'seconds':>8} {'peak MB':>8} {'vs grade --format csv':>22}")
    # in rounds, so that a change in the shared machine's speed touches every command alike
    timed: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in runs}
    for _ in range(repeat):
        for label, arguments in runs:
            timed[label].append(measure([*command, *arguments, "-o", str(out), "--engine", engine, "--quiet"], out))
    baseline = None
    for label, _ in runs:
        seconds, peak = statistics.median(t for t, _ in timed[label]), max(p for _, p in timed[label])
        baseline = baseline or seconds
        print(f"  {label:<38} {seconds:>8.2f} {peak:>8.0f} {seconds / baseline:>21.2f}x")


def cold_start(command: list[str], repeat: int) -> None:
    example = ROOT / "examples" / "dasatinib_case.csv"
    floor = statistics.median(measure([sys.executable, "-c", "import pydantic, typer, rich"])[0]
                              for _ in range(repeat))
    print(f"\ncold start, median of {repeat} (seconds; the compiled rule cache as the runs above left it):")
    label = "python -c 'import pydantic, typer, rich'"
    print(f"  {label:<52} {floor:.3f}   1.00x (floor)")
    for extra in (["--format", "csv"], []):
        seconds = statistics.median(measure([*command, "grade", str(example), *extra])[0] for _ in range(repeat))
        label = " ".join(["crsgrade grade examples/dasatinib_case.csv", *extra])
        print(f"  {label:<52} {seconds:.3f}   {seconds / floor:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", type=int, nargs="*", default=[1_000_000, 5_000_000])
    parser.add_argument("--medium", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each command on the medium cohort (median)")
    parser.add_argument("--repeat", type=int, default=5, help="cold start runs (median)")
    args = parser.parse_args()

    import crsgrade
    from crsgrade.evaluators import durable_available

    engines = ["durable", "python"] if durable_available() else ["python"]
    print(f"crsgrade {crsgrade.__version__} on {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="crsgrade-bench-"))
    isolate(folder)
    command = crsgrade_command()
    # Bytecode for crsgrade and for everything a run imports (the folder also holds the
    # dependencies' and the standard library's); otherwise the first timed process writes it.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(crsgrade.__file__).parent)], check=True,
                   env=ENVIRONMENT)
    for engine in engines:
        measure([*command, "grade", str(ROOT / "examples" / "dasatinib_case.csv"), "--engine", engine])
    try:
        large(command, folder, args.large, engines)
        medium(command, folder, args.medium, engines[0], args.runs)
        cold_start(command, args.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
