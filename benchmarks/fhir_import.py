"""FHIR import speed, measured in one run:

    python benchmarks/fhir_import.py [--observations 1000000]

Writes a synthetic Bulk Data export (vital-sign Observations of patients with a CAR T-cell
infusion, hourly temperatures and blood pressure panels), then times, each as a fresh process
from start to exit: `crsgrade import fhir EXPORT -o observations.csv`, and `crsgrade grade
observations.csv --format csv` on the file it wrote; prints the ratio. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RXNORM, LOINC = "http://www.nlm.nih.gov/research/umls/rxnorm", "http://loinc.org"


def write_export(folder: Path, observations: int) -> int:
    """About `observations` Observations: 24 a day per patient for 30 days (temperature, and a
    blood pressure panel every other hour)."""
    folder.mkdir(parents=True, exist_ok=True)
    patients = max(1, observations // (30 * 24))
    written = 0
    with (folder / "Observation.ndjson").open("w", encoding="utf-8") as out, \
            (folder / "MedicationAdministration.ndjson").open("w", encoding="utf-8") as given:
        for p in range(patients):
            given.write(json.dumps({
                "resourceType": "MedicationAdministration", "id": f"car-t-{p}", "status": "completed",
                "subject": {"reference": f"Patient/p{p}"}, "effectiveDateTime": "2024-01-01T08:00:00Z",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1999573"}]}}) + "\n")
            for n in range(30 * 24):
                if written >= observations:
                    break
                day, hour = divmod(n, 24)
                when = f"2024-01-{day + 1:02d}T{hour:02d}:00:00Z"
                if hour % 2:
                    resource = {"resourceType": "Observation", "id": f"o{written}", "status": "final",
                                "subject": {"reference": f"Patient/p{p}"}, "effectiveDateTime": when,
                                "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
                                "component": [
                                    {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                                     "valueQuantity": {"value": 100 + (n % 30), "code": "mm[Hg]"}},
                                    {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                                     "valueQuantity": {"value": 60 + (n % 20), "code": "mm[Hg]"}}]}
                else:
                    resource = {"resourceType": "Observation", "id": f"o{written}", "status": "final",
                                "subject": {"reference": f"Patient/p{p}"}, "effectiveDateTime": when,
                                "code": {"coding": [{"system": LOINC, "code": "8310-5"}]},
                                "valueQuantity": {"value": 36.5 + (n % 7) * 0.4, "code": "Cel"}}
                out.write(json.dumps(resource) + "\n")
                written += 1
    return written


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    args = parser.parse_args()
    crsgrade = [shutil.which("crsgrade") or sys.executable, *([] if shutil.which("crsgrade") else ["-m", "crsgrade"])]
    with tempfile.TemporaryDirectory() as folder:
        export, observations = Path(folder) / "export", Path(folder) / "observations.csv"
        written = write_export(export, args.observations)
        size = sum(p.stat().st_size for p in export.iterdir()) / 1e6
        importing = timed([*crsgrade, "import", "fhir", str(export), "-o", str(observations), "-q"])
        rows = sum(1 for _ in observations.open()) - 1
        grading = timed([*crsgrade, "grade", str(observations), "--format", "csv", "-o",
                         str(Path(folder) / "grades.csv"), "-q"])
    print(f"{written:,} FHIR Observations ({size:,.0f} MB of NDJSON) -> {rows:,} readings")
    print(f"  import fhir            {importing:7.2f} s  ({written / importing:,.0f} Observations/s)")
    print(f"  grade --format csv     {grading:7.2f} s  on the file it wrote")
    print(f"  import / grade         {importing / grading:7.2f}x")


if __name__ == "__main__":
    main()
