"""The HTML report and the figures at cohort scale, measured in one run.

    python benchmarks/report.py [--patients 1000 2000] [--repeat 3]

Every time is a fresh `crsgrade` process from start to exit, the best of --repeat runs (the
least disturbed by whatever else the machine is doing; each command's runs alternate with those
of the baseline), given as a ratio to `grade FILE --format csv` on the same file in the same run
(seeded synthetic ASTCT cohorts of up to 30 days a patient). For each cohort size:

1. `report FILE -o report.html`: seconds, ratio, and the HTML's size per patient.
2. `plot FILE --cohort -o cohort.svg` (and .png): seconds and ratio.
3. The report opened in headless Chromium (the system's, driven by playwright; network off):
   time to first paint and to the load event, and the number of elements on the page.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from run import crsgrade_command, machine, measure

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def best_seconds(commands: list[list[str]], repeat: int) -> list[float]:
    """The least time of each command over `repeat` rounds, the commands run in turn each round."""
    times = [[measure(command)[0] for command in commands] for _ in range(repeat)]
    return [min(round_[i] for round_ in times) for i in range(len(commands))]


def in_chromium(path: Path) -> str:
    """First paint, load and element count of a page opened from a file, with the network off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(offline=True).new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=600_000)
        loaded = time.perf_counter() - started
        paint = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
        elements = page.evaluate("document.getElementsByTagName('*').length")
        browser.close()
    paint_text = "n/a" if paint is None else f"{paint / 1000:.2f} s"
    return (f"first paint {paint_text}, loaded {loaded:.2f} s, {elements:,} elements"
            f"{'' if not errors else f', {len(errors)} console errors'}")


def cohort(command: list[str], folder: Path, patients: int, repeat: int, browser: bool) -> None:
    from crsgrade.synthetic import write_cohort

    path = folder / f"cohort-{patients}.csv"
    write_cohort(path, patients * 30, seed=patients)
    html, svg, png = folder / "report.html", folder / "cohort.svg", folder / "cohort.png"
    baseline = [*command, "grade", str(path), "--format", "csv", "-o", str(folder / "out.csv"), "-q"]
    runs = [
        ("report -o report.html", ["report", str(path), "-o", str(html), "-q"]),
        ("plot --cohort -o cohort.svg", ["plot", str(path), "--cohort", "-o", str(svg), "-q"]),
        ("plot --cohort -o cohort.png", ["plot", str(path), "--cohort", "-o", str(png), "-q"]),
    ]
    count = len(set(line.split(",", 1)[0] for line in path.read_text().splitlines()[1:]))
    print(f"\n{count:,} patients ({patients * 30:,} patient-days), start to exit, best of {repeat}:\n"
          f"  {'command':<30} {'seconds':>8} {'vs grade --format csv':>22}")
    seconds = best_seconds([baseline] + [[*command, *arguments] for _, arguments in runs], repeat)
    print(f"  {'grade --format csv':<30} {seconds[0]:>8.2f} {1:>21.2f}x")
    for (label, _), taken in zip(runs, seconds[1:], strict=True):
        print(f"  {label:<30} {taken:>8.2f} {taken / seconds[0]:>21.2f}x")
    size = html.stat().st_size
    print(f"  report: {size / 1e6:.1f} MB, {size / count / 1000:.1f} KB of HTML per patient;"
          f" cohort.svg {svg.stat().st_size / 1e6:.1f} MB")
    if browser:
        print(f"  the report in headless Chromium: {in_chromium(html)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="*", default=[1000, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from crsgrade import __version__

    print(f"crsgrade {__version__} on {machine()}")
    if CHROMIUM is None:
        print("Chromium is not installed (apt-get install chromium): the browser figures are left out")
    folder = Path(tempfile.mkdtemp(prefix="crsgrade-bench-"))
    try:
        for patients in args.patients:
            cohort(crsgrade_command(), folder, patients, args.repeat, CHROMIUM is not None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
