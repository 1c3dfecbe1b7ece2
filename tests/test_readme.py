"""The examples and tables of the README and of every documentation page (docs/**/*.md) match what
crsgrade really does.

    python -m tests.test_readme

rewrites the output blocks (`<!-- output -->` followed by a `$ crsgrade ...` block) of the README
and of every page from the real commands, and the tables built from the code (`GENERATED_TABLES`).
The other tables marked `<!-- name -->` are written by hand and checked against the code.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crsgrade import load_ruleset
from crsgrade.cli import app

from .conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"


def pages() -> list[Path]:
    """The README and every page of the documentation."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def block_after(marker: str) -> str:
    """The block after `<!-- marker -->`, in the one page that has it."""
    found = [text(page) for page in pages() if f"<!-- {marker} -->" in text(page)]
    assert len(found) == 1, f"<!-- {marker} --> should be in exactly one page, is in {len(found)}"
    tail = found[0].split(f"<!-- {marker} -->", 1)[1]
    if tail.lstrip().startswith("```"):
        return tail.split("```", 2)[1].split("\n", 1)[1]
    return tail.strip().split("\n\n", 1)[0]


def table_rows(marker: str) -> list[list[str]]:
    lines = [line for line in block_after(marker).splitlines() if line.startswith("|")][2:]
    return [[cell.strip().strip("`") for cell in line.strip("|").split("|")] for line in lines]


def test_quick_start_commands():
    for page in (README, DOCS / "getting-started.md"):
        assert "pip install . && crsgrade grade examples/dasatinib_case.csv" in text(page), name(page)
        assert "pip install '.[test]' && pytest" in text(page), name(page)
    assert "pip install '.[test]' && pytest" in (ROOT / ".ci" / "run").read_text()


OUTPUT_BLOCK = re.compile(r"<!-- output -->\n```\n\$ (crsgrade [^\n]*)\n(.*?)```", re.S)


def real_output(command: str) -> str:
    """What a documented command prints on stdout, at the width the pages show."""
    result = CliRunner().invoke(app, shlex.split(command)[1:], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return "\n".join(line.rstrip() for line in result.stdout.splitlines()) + "\n"


def test_every_output_block_is_well_formed():
    """A block marked as output that the pattern misses would silently go unchecked."""
    for page in pages():
        marked = text(page).count("<!-- output -->")
        assert len(OUTPUT_BLOCK.findall(text(page))) == marked, f"{name(page)}: an output block is malformed"
    assert OUTPUT_BLOCK.findall(text(README)), "the README shows one tested example"
    assert sum(len(OUTPUT_BLOCK.findall(text(page))) for page in pages()) >= 5


@pytest.mark.parametrize("page", [p for p in pages() if OUTPUT_BLOCK.search(text(p))], ids=name)
def test_outputs_are_the_real_output(page, monkeypatch):
    monkeypatch.chdir(ROOT)
    for command, shown in OUTPUT_BLOCK.findall(text(page)):
        assert real_output(command) == shown, f"{name(page)}: {command} (python -m tests.test_readme rewrites it)"


def _table(header: tuple[str, ...], rows: dict[str, str]) -> str:
    """A markdown table: a row's value holds its cells after the first, joined by " | "."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
             *(f"| {key} | {value} |" for key, value in rows.items())]
    return "\n".join(lines) + "\n"


def header_aliases() -> str:
    from crsgrade.columns import ALIASES

    return _table(("column", "also accepted"), {
        f"`{column}`": ", ".join(f"`{alias}`" for alias in aliases) for column, aliases in ALIASES.items()})


def aggregation() -> str:
    from crsgrade.combining import how_readings_combine

    return _table(("field", "several readings of a day combine as"), how_readings_combine())


def columns() -> str:
    from crsgrade.columns import COLUMNS, EXTRA_COLUMNS

    rows = {f"`{name}`": spec.description for name, spec in COLUMNS.items()}
    rows.update({f"`{name}`": description for name, (description, _) in EXTRA_COLUMNS.items()})
    return _table(("column", "meaning"), rows)


def mapping() -> str:
    from crsgrade.importing import mapping_rows

    return _table(("fills", "codes", "how"), {fills: f"{codes} | {how}" for fills, codes, how in mapping_rows()})


# Tables built from the code, by marker: `python -m tests.test_readme` rewrites them.
GENERATED_TABLES = {"columns": columns, "header-aliases": header_aliases, "aggregation": aggregation,
                    "mapping": mapping}


def _marked_table(marker: str) -> re.Pattern:
    return re.compile(rf"(<!-- {re.escape(marker)} -->\n)((?:\|[^\n]*\n)+)")


def update_pages() -> None:
    """Rewrites the output blocks and the generated tables of the README and every page."""
    os.chdir(ROOT)
    tables = {marker: build() for marker, build in GENERATED_TABLES.items()}
    for page in pages():
        old = text(page)
        new = OUTPUT_BLOCK.sub(
            lambda m: f"<!-- output -->\n```\n$ {m.group(1)}\n{real_output(m.group(1))}```", old)
        for marker, table in tables.items():
            new = _marked_table(marker).sub(lambda m, table=table: m.group(1) + table, new)
        if new != old:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {name(page)}")


def test_settings_table_matches_the_rule_set():
    manifest = load_ruleset().manifest
    rows = {row[0]: row for row in table_rows("settings-table")}
    assert set(rows) == set(manifest.settings)
    for setting, spec in manifest.settings.items():
        default = spec.text(spec.default)
        assert rows[setting][1] == default, setting
        if spec.type == "choice":
            assert rows[setting][2] == ", ".join(spec.choices), setting


def test_rule_catalogue_lists_every_rule_with_its_grade():
    rows = {row[0]: int(row[1]) for row in table_rows("rule-catalogue")}
    assert rows == {rule.id: rule.grade for rule in load_ruleset().rules}


PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_python_examples_print_what_they_say(monkeypatch):
    """Every Python example runs, and prints the lines its `# ` comments show (the Spark
    examples in tests/test_spark.py, which has a Spark session)."""
    monkeypatch.chdir(ROOT)
    examples = [(page, code) for page in pages() for code in PYTHON_BLOCK.findall(text(page))
                if "pyspark" not in code]
    assert examples
    for page, code in examples:
        run_example(name(page), code)


def run_example(page: str, code: str) -> None:
    """Runs an example; it must print the lines its `# ` comments show."""
    expected = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, page, "exec"), {})
    assert out.getvalue().splitlines() == expected, page


@pytest.mark.parametrize("marker", GENERATED_TABLES)
def test_generated_tables_match_the_code(marker):
    """The header spellings (from the reader) and how a day's readings combine (from the code)."""
    found = [page for page in pages() if f"<!-- {marker} -->" in text(page)]
    assert len(found) == 1, f"<!-- {marker} --> should be in exactly one page"
    shown = _marked_table(marker).search(text(found[0]))
    assert shown and shown.group(2) == GENERATED_TABLES[marker](), \
        f"{name(found[0])}: the {marker} table is out of date (python -m tests.test_readme rewrites it)"


def test_grading_systems_page_lists_every_shipped_system():
    from crsgrade import shipped_systems

    page = text(DOCS / "grading-systems.md")
    for system in shipped_systems():
        assert page.count(f"| `{system}` |") == 2, system  # in the systems table and the unverified one


def test_readme_systems_table_lists_every_shipped_system():
    from crsgrade import shipped_systems
    from crsgrade.ruleset import default_rules_dir

    rows = {}
    for row in table_rows("systems-table"):
        link = re.fullmatch(r"\[`(\w+)`\]\(docs/reference/(\w+)\.md\)", row[0])
        assert link and link.group(1) == link.group(2), f"{row[0]} links to the system's reference page"
        rows[link.group(1)] = row
    assert list(rows) == list(shipped_systems())
    for system, row in rows.items():
        ruleset = load_ruleset(default_rules_dir(system))
        assert row[1] == ruleset.manifest.name, system
        assert row[2] == ", ".join(ruleset.label(s) for s in ruleset.syndromes), system


LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_links_and_images_lead_somewhere():
    for target in LINK.findall(text(README)):
        if re.match(r"[a-z]+:", target):
            continue
        path = target.split("#", 1)[0]
        assert (ROOT / path).exists(), f"README.md links to {target}, which does not exist"


if __name__ == "__main__":
    update_pages()


def test_committed_figures_come_out_of_the_documented_commands(tmp_path, monkeypatch):
    """The documented images are what their commands draw: an SVG byte for byte (crsgrade writes
    it, the same for the same input); a PNG the same file name and pixel size (pixels themselves
    may differ by a font hinting or a matplotlib release)."""
    import struct

    monkeypatch.chdir(ROOT)
    [page] = [p for p in pages() if "<!-- figure-commands -->" in text(p)]
    block = re.search(r"<!-- figure-commands -->\n```\n(.*?)```", text(page), re.S).group(1)
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert sorted(Path(c[c.index("-o") + 1]).suffix for c in commands) == [".png", ".png", ".svg", ".svg"]
    for command in commands:
        target = Path(command[command.index("-o") + 1])
        shown = Path(os.path.relpath(ROOT / target, page.parent)).as_posix()
        assert f"]({shown})" in text(page), f"{target} is shown in {name(page)}"
        fresh = tmp_path / target.name
        arguments = command[1:]
        arguments[arguments.index("-o") + 1] = str(fresh)
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output

        def size(path: Path) -> tuple[int, int]:
            return struct.unpack(">II", path.read_bytes()[16:24])

        if target.suffix == ".svg":
            assert fresh.read_bytes() == (ROOT / target).read_bytes(), \
                f"regenerate {target} with the documented command"
        else:
            assert size(fresh) == size(ROOT / target), f"regenerate {target} with the documented command"
