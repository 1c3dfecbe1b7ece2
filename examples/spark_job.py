"""Grades observations on a Spark cluster and writes the graded days and the registry fields:

    spark-submit spark_job.py OBSERVATIONS OUTPUT [BUCKETS]

OBSERVATIONS is a CSV file or folder (a header row, the columns of the observation contract) or
a Parquet folder; OUTPUT gets `days/` and `patients/` as Parquet. BUCKETS (default: the
session's spark.sql.shuffle.partitions) is how many groups the patients are hashed into.
"""

import sys

from pyspark.sql import SparkSession

import crsgrade.spark


def main(source: str, output: str, buckets: int | None = None) -> None:
    spark = SparkSession.builder.appName("crsgrade").getOrCreate()
    reader = spark.read.option("header", True)
    observations = reader.parquet(source) if source.endswith(".parquet") else reader.csv(source)
    days = crsgrade.spark.grade(observations, buckets=buckets)  # raises on a bad row, naming every one
    days.write.mode("overwrite").parquet(f"{output}/days")
    crsgrade.spark.summary(observations, buckets=buckets).write.mode("overwrite").parquet(f"{output}/patients")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
