"""The HTML report: its content, that it stands alone, and that a real browser renders it offline.

The browser test drives the system's Chromium (Debian's package: /usr/bin/chromium) with
playwright; no browser is downloaded. Where Chromium is not installed the browser tests are
skipped, unless CRSGRADE_REQUIRE_BROWSER is set (as the CI script does), when they fail.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from crsgrade import load_ruleset

from .conftest import EXAMPLE, ROOT
from .test_cli import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECTIONS = ("header", "inputs", "cohort", "cohort-figure", "registry", "discrepancies", "patients", "references")


def report(tmp_path: Path, source: Path, *options: str) -> tuple[Path, str]:
    out = tmp_path / "report.html"
    result = run("report", str(source), "-o", str(out), "-q", *options)
    assert result.exit_code == 0, result.output
    return out, out.read_text(encoding="utf-8")


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.fetching: list[str] = []  # attributes that would load something

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
            if name in ("src", "srcset", "data") or (tag == "link" and name == "href"):
                self.fetching.append(f"{tag} {name}={value}")


@pytest.fixture(scope="module")
def cohort_report(tmp_path_factory):
    return report(tmp_path_factory.mktemp("report"), ROOT / "examples" / "cohort.csv")


def test_header_records_what_produced_it(cohort_report):
    _, text = cohort_report
    source = ROOT / "examples" / "cohort.csv"
    ruleset = load_ruleset()
    assert hashlib.sha256(source.read_bytes()).hexdigest() in text
    assert ruleset.digest in text and len(ruleset.digest) == 64
    assert "crsgrade</th><td>0.1.0" in text
    for name, spec in ruleset.manifest.settings.items():
        default = spec.text(spec.default)
        assert re.search(rf"{name}</span></td><td>[^<]+</td><td>{re.escape(default)}</td>", text), name
    assert re.search(r"generated</th><td>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text)


def test_a_changed_setting_is_marked(tmp_path):
    _, text = report(tmp_path, EXAMPLE, "--set", "antipyretic_waives_fever=false")
    assert '<span class="changed">antipyretic_waives_fever</span></td><td>false</td><td>true' in text


def test_every_section_and_every_patient(cohort_report):
    _, text = cohort_report
    parser = _Ids()
    parser.feed(text)
    for section in SECTIONS:
        assert section in parser.ids, section
    for patient in ("P01", "P02", "P03", "P04"):
        assert f"patient-{patient}" in parser.ids
    assert len(parser.ids) == len(set(parser.ids)), "ids are unique across the inline figures"
    assert text.count("<svg") == 5  # the cohort figure and one course figure per patient


def test_it_stands_alone(cohort_report):
    _, text = cohort_report
    parser = _Ids()
    parser.feed(text)
    assert parser.fetching == []
    assert "@import" not in text and not re.search(r"url\((?!#)", text)


def test_discrepancies_with_reported_grades(cohort_report):
    _, text = cohort_report
    section = text.split('id="discrepancies"', 1)[1].split("</section>", 1)[0]
    assert "17 of 19 days agree (89.5 %)" in section
    assert "<td>P02</td><td>4</td><td>2</td><td>1</td>" in section


def test_daily_table_gives_reasons_and_rules(tmp_path):
    _, text = report(tmp_path, EXAMPLE)
    assert "fever 39.4 °C with hypotension needing one vasopressor" in text
    assert "ASTCT-CRS-3-ONE-VASOPRESSOR" in text and "dasatinib" in text
    assert "The input has no investigator-reported grades." in text


def test_rejected_rows_are_listed(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,day,temp_c\np,0,38.5\np,1,hot\np,2,37.0\n", encoding="utf-8")
    _, text = report(tmp_path, bad, "--skip-invalid")
    assert "<th>rows rejected</th><td>1</td>" in text
    assert "bad.csv:3:temp_c: value &#x27;hot&#x27;" in text


def test_report_under_another_system(tmp_path):
    _, text = report(tmp_path, ROOT / "examples" / "regrading.csv", "--system", "cartox")
    assert "CARTOX grading report" in text and "CRES" in text and "CARTOX-CRES-3-PARTIAL-SEIZURE" in text


def test_the_same_input_writes_the_same_report(tmp_path):
    """Byte for byte, but for the time it was generated."""
    first, _ = report(tmp_path, ROOT / "examples" / "cohort.csv")
    text = first.read_bytes()
    second, _ = report(tmp_path, ROOT / "examples" / "cohort.csv")
    generated = re.compile(rb"generated</th><td>[^<]+<")
    assert generated.sub(b"", text) == generated.sub(b"", second.read_bytes())


def test_a_cohort_report_stays_small(tmp_path):
    """Figures written from the model, not through a plotting library's SVG: at most 40 KB of
    HTML a patient (the course figure with a <title> on each grade tile, and the tables)."""
    from crsgrade.synthetic import write_cohort

    cohort = tmp_path / "cohort.csv"
    write_cohort(cohort, 1500, seed=4)
    path, text = report(tmp_path, cohort)
    patients = text.count('class="patient"')
    assert patients > 40  # the cohort figure is a heat map
    assert path.stat().st_size / patients < 40_000


def test_the_report_shows_progress_only_on_a_terminal(monkeypatch, tmp_path):
    import io

    from rich.console import Console
    from typer.testing import CliRunner

    import crsgrade.cli as cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "_err", Console(file=screen, force_terminal=True, width=100))
    monkeypatch.setattr(cli, "_PROGRESS_PATIENTS", 0)
    command = ["report", str(ROOT / "examples" / "cohort.csv"), "-o", str(tmp_path / "r.html")]
    assert CliRunner().invoke(cli.app, command).exit_code == 0
    assert "writing the report" in screen.getvalue()
    screen.truncate(0)
    assert CliRunner().invoke(cli.app, [*command, "-q"]).exit_code == 0
    assert screen.getvalue().strip("\x00") == ""


def test_report_needs_an_html_name(tmp_path):
    result = run("report", str(EXAMPLE), "-o", str(tmp_path / "report.pdf"))
    assert result.exit_code == 1 and "the report is HTML; use a name ending in .html" in result.stderr


# --- in a real browser ----------------------------------------------------------------------------------

needs_browser = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CRSGRADE_REQUIRE_BROWSER"),
    reason="Chromium is not installed (apt-get install chromium); CI sets CRSGRADE_REQUIRE_BROWSER",
)
_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync"]


def _open_offline(path: Path, check):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Chromium is not installed"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=_FLAGS)
        context = browser.new_context(offline=True)
        page = context.new_page()
        url = path.resolve().as_uri()
        leaving, errors = [], []
        page.route("**/*", lambda route: route.continue_() if route.request.url == url
                   else (leaving.append(route.request.url), route.abort()))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url, wait_until="load")
        result = check(page)
        browser.close()
    assert leaving == [], f"requests left the file: {leaving}"
    assert errors == [], f"console errors: {errors}"
    return result


@needs_browser
@pytest.mark.parametrize("source, patient_days", [("example", 0), ("synthetic", 400), ("heat map", 1500)])
def test_renders_offline_in_chromium(tmp_path, source, patient_days):
    if source == "example":
        path, text = report(tmp_path, EXAMPLE)
    else:
        from crsgrade.synthetic import write_cohort

        cohort = tmp_path / "cohort.csv"
        write_cohort(cohort, patient_days, seed=3)
        path, text = report(tmp_path, cohort)
    anchors = re.findall(r'<article class="patient" id="([^"]+)"', text)
    assert len(anchors) == (1 if source == "example" else len(set(re.findall(r"^(P\d+),", (tmp_path / "cohort.csv")
                                                                          .read_text(), re.M))))

    def check(page):
        for section in SECTIONS:
            assert page.locator(f"#{section}").count() == 1, section
        # every patient present: in the contents, with an article, and a row of the cohort figure
        assert page.locator("article.patient").evaluate_all("els => els.map(e => e.id)") == anchors
        assert page.locator("#patient-index a").count() == len(anchors)
        rows = page.locator("#cohort-heatmap-crs > g" if source == "heat map"
                            else "#cohort-figure svg [id$='-crs-day0']")
        assert rows.count() == len(anchors)
        box = page.locator("#cohort-figure svg").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200
        for tile in (page.locator("article.patient svg [id$='crs-day0']").first,
                     page.locator("article.patient svg [id$='crs-day0']").last):
            tile.scroll_into_view_if_needed()  # a patient is laid out when it comes into view
            assert tile.is_visible()
        page.emulate_media(media="print")
        assert not page.locator("nav").is_visible()  # the contents are not printed
        assert page.locator("article.patient").evaluate_all(
            "els => els.every(e => getComputedStyle(e).breakBefore === 'page')")  # a patient a page
        return page.pdf(format="A4")

    pdf = _open_offline(path, check)
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert pages >= len(anchors) + 1  # each patient starts a page


def test_patient_anchors_are_valid_ids(tmp_path):
    source = tmp_path / "odd.csv"
    source.write_text('patient_id,day,temp_c\n"P 1",0,38.2\nP-1,0,37.0\n<b>,0,37.1\n', encoding="utf-8")
    _, text = report(tmp_path, source)
    parser = _Ids()
    parser.feed(text)
    assert {"patient-P-1", "patient-P-1-1", "patient--b-"} <= set(parser.ids)
    assert '<a href="#patient-P-1-1">P-1</a>' in text and "Patient &lt;b&gt;" in text


def test_hostile_ids_and_treatments_are_text_in_the_figures(tmp_path):
    source = tmp_path / "hostile.csv"
    source.write_text('patient_id,day,temp_c,other_treatment\n"<script>x</script>",0,38.2,"<img src=x onerror=y>"\n'
                      '"a""b\'&c",0,37.1,\n', encoding="utf-8")
    _, text = report(tmp_path, source)
    assert "<script" not in text and "<img" not in text
    assert "Patient &lt;script&gt;x&lt;/script&gt;, day 0: CRS grade 1" in text  # a tile's title
    assert "&lt;img src=x onerror=y&gt;, day 0" in text  # a treatment's dose
    parser = _Ids()
    parser.feed(text)
    assert parser.fetching == [] and len(parser.ids) == len(set(parser.ids))
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in parser.ids)


def test_the_report_does_not_load_the_plotting_library(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from crsgrade.cli import app\n"
            "app(['report', sys.argv[1], '-o', sys.argv[2], '-q'], standalone_mode=False)\n"
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(EXAMPLE), str(tmp_path / "r.html")], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
