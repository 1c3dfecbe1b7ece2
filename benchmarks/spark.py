"""Spark local mode against the single-process command line, measured in one run:

    python benchmarks/spark.py [--rows 1000000] [--buckets 4]

Writes a seeded synthetic ASTCT cohort, then times, each as a fresh process from start to exit:
`crsgrade grade FILE --format csv -o OUT`, and a Python process that starts Spark
(`local[2]`), reads the same file, grades it with `crsgrade.spark.grade` and writes the days as
CSV. The Spark process also prints how long the grading itself took once its session had
started. Prints figures as ratios to the command line; asserts nothing. Needs PySpark and Java.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import crsgrade_command, machine, measure

SPARK_JOB = """
import sys, time, warnings
warnings.filterwarnings("ignore")
from pyspark.sql import SparkSession
source, out, buckets = sys.argv[1], sys.argv[2], int(sys.argv[3])
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.sql.shuffle.partitions", str(buckets))
         .config("spark.driver.memory", "2g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
import crsgrade.spark
started = time.perf_counter()
days = crsgrade.spark.grade(spark.read.csv(source, header=True), buckets=buckets)
days.write.mode("overwrite").csv(out, header=True)
print(f"{time.perf_counter() - started:.2f}", file=sys.stderr)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="patient-days of the cohort")
    parser.add_argument("--buckets", type=int, default=4, help="patient buckets (Spark groups)")
    args = parser.parse_args()

    from crsgrade import __version__
    from crsgrade.synthetic import write_cohort

    print(f"crsgrade {__version__} on {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="crsgrade-spark-"))
    try:
        path = folder / "cohort.csv"
        rows = write_cohort(path, args.rows, seed=args.rows)
        cli, _ = measure([*crsgrade_command(), "grade", str(path), "--format", "csv", "-o",
                                 str(folder / "out.csv"), "--quiet"])
        job = folder / "job.py"
        job.write_text(SPARK_JOB)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(job), str(path), str(folder / "spark-out"), str(args.buckets)],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "PYSPARK_PYTHON": sys.executable})
        spark = time.perf_counter() - started
        grading = float(done.stderr.strip().splitlines()[-1])
        print(f"\n{args.rows:,} patient-days ({rows:,} rows), start to exit:\n"
              f"  {'':<52} {'seconds':>8} {'vs command line':>16}\n"
              f"  {'crsgrade grade --format csv -o OUT':<52} {cli:>8.2f} {1:>15.2f}x\n"
              f"  {'Spark local[2]: start, read, grade, write CSV':<52} {spark:>8.2f} {spark / cli:>15.2f}x\n"
              f"  {'  of which grading and writing (session started)':<52} {grading:>8.2f} {grading / cli:>15.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
