"""Records the outputs the regression test compares with: python -m tests.regression.record

Run it only to accept a change of output that is a documented fix: the recorded files are what
every shipped example and seeded synthetic cohort graded to, under every system and setting the
test names, before the change.
"""

from __future__ import annotations

import gzip
import shlex
from pathlib import Path

from typer.testing import CliRunner

from crsgrade.cli import app
from crsgrade.synthetic import write_cohort

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SYSTEMS = ("astct2019", "lee2014", "ctcae5", "penn", "mskcc", "cartox")
EXAMPLES = ("dasatinib_case", "cohort", "regrading", "synthetic_cohort")
COHORTS = {"older11": (1000, 11), "older12": (1000, 12)}  # name: (patient-days, seed), every system's inputs
SETTINGS = (
    "antipyretic_waives_fever=false", "waiver_ends=never", "vasopressin_alone_counts=false",
    "hfnc_at_low_flow=low_flow", "capd_below_age=13", "prophylaxis_waives_fever=true",
)


def write_cohorts(folder: Path) -> None:
    for name, (size, seed) in COHORTS.items():
        write_cohort(folder / f"{name}.csv", size, seed=seed, older_systems=True)


def commands(folder: Path) -> dict[str, str]:
    """Recorded file name -> the command whose output it holds (the synthetic cohorts are read
    from `folder`, where write_cohorts puts them)."""
    out = {}
    inputs = {name: ROOT / "examples" / f"{name}.csv" for name in EXAMPLES}
    inputs.update({name: folder / f"{name}.csv" for name in COHORTS})
    for name, path in inputs.items():
        for system in SYSTEMS:
            out[f"grade-{system}-{name}.csv"] = f"grade {path} --system {system} --format csv -q"
    for setting in SETTINGS:
        key = setting.replace("=", "-")
        out[f"grade-astct2019-older11-{key}.csv"] = f"grade {inputs['older11']} --set {setting} --format csv -q"
    for name in ("cohort", "older11"):
        out[f"summary-{name}.csv"] = f"summary {inputs[name]} --format csv -q"
        out[f"summary-{name}.json"] = f"summary {inputs[name]} --format json -q"
    for name in ("regrading", "older12"):
        out[f"compare-{name}.csv"] = f"compare {inputs[name]} --format csv -q"
    out["explain-dasatinib_case.json"] = f"explain {inputs['dasatinib_case']} --format json -q"
    return out


def run(command: str) -> str:
    result = CliRunner().invoke(app, shlex.split(command))
    assert result.exit_code == 0, (command, result.output)
    return result.stdout


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        write_cohorts(Path(folder))
        for name, command in commands(Path(folder)).items():
            (HERE / f"{name}.gz").write_bytes(gzip.compress(run(command).encode(), mtime=0))


if __name__ == "__main__":
    main()
