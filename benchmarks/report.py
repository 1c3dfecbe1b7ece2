"""The HTML report and the figures at cohort scale, measured in one run.

    python benchmarks/report.py [--patients 1000 2000] [--repeat 3]

Every time is a fresh `crsgrade` process from start to exit, the median of --repeat runs, given
as a ratio to `grade FILE --format csv` on the same file in the same run (seeded synthetic ASTCT
cohorts, 30 days a patient). For each cohort size:

1. `report FILE -o report.html`: seconds, ratio, and the HTML's size per patient.
2. `plot FILE --cohort -o cohort.svg` (and .png): seconds and ratio.
3. The report opened in headless Chromium (the system's, driven by playwright; network off):
   time to first paint and to the load event, and the number of elements on the page.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from run import crsgrade_command, machine, measure

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def median_seconds(command: list[str], repeat: int) -> float:
    return statistics.median(measure(command)[0] for _ in range(repeat))


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
    baseline = median_seconds([*command, "grade", str(path), "--format", "csv", "-o", str(folder / "out.csv"),
                               "-q"], repeat)
    runs = [
        ("report -o report.html", ["report", str(path), "-o", str(html), "-q"]),
        ("plot --cohort -o cohort.svg", ["plot", str(path), "--cohort", "-o", str(svg), "-q"]),
        ("plot --cohort -o cohort.png", ["plot", str(path), "--cohort", "-o", str(png), "-q"]),
    ]
    print(f"\n{patients:,} patients ({patients * 30:,} patient-days), start to exit, median of {repeat}:\n"
          f"  {'command':<30} {'seconds':>8} {'vs grade --format csv':>22}")
    print(f"  {'grade --format csv':<30} {baseline:>8.2f} {1:>21.2f}x")
    for label, arguments in runs:
        seconds = median_seconds([*command, *arguments], repeat)
        print(f"  {label:<30} {seconds:>8.2f} {seconds / baseline:>21.2f}x")
    size = html.stat().st_size
    print(f"  report: {size / 1e6:.1f} MB, {size / patients / 1000:.1f} KB of HTML per patient;"
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
