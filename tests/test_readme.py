"""The README's examples and tables match what crsgrade really does."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from crsgrade import load_ruleset
from crsgrade.cli import app

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def block_after(marker: str) -> str:
    tail = README.split(f"<!-- {marker} -->", 1)[1]
    if tail.lstrip().startswith("```"):
        return tail.split("```", 2)[1].split("\n", 1)[1]
    return tail.strip().split("\n\n", 1)[0]


def table_rows(marker: str) -> list[list[str]]:
    lines = [line for line in block_after(marker).splitlines() if line.startswith("|")][2:]
    return [[cell.strip().strip("`") for cell in line.strip("|").split("|")] for line in lines]


def test_quick_start_commands():
    assert "pip install . && crsgrade grade examples/dasatinib_case.csv" in README
    assert "pip install '.[test]' && pytest" in README
    assert "pip install '.[test]' && pytest" in (ROOT / ".ci" / "run").read_text()


OUTPUT_BLOCK = re.compile(r"<!-- output -->\n```\n\$ (crsgrade [^\n]*)\n(.*?)```", re.S)


def real_output(command: str) -> str:
    """What a README command prints on stdout, at the width the README shows."""
    result = CliRunner().invoke(app, shlex.split(command)[1:], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return "\n".join(line.rstrip() for line in result.stdout.splitlines()) + "\n"


def test_readme_outputs_are_the_real_output(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = OUTPUT_BLOCK.findall(README)
    assert len(blocks) >= 4
    for command, shown in blocks:
        assert real_output(command) == shown, command


def update_readme() -> None:
    """Rewrites the README's output blocks from the real commands: python -m tests.test_readme"""
    import os

    os.chdir(ROOT)
    text = OUTPUT_BLOCK.sub(
        lambda m: f"<!-- output -->\n```\n$ {m.group(1)}\n{real_output(m.group(1))}```", README)
    (ROOT / "README.md").write_text(text, encoding="utf-8")


def test_settings_table_matches_the_rule_set():
    manifest = load_ruleset().manifest
    rows = {row[0]: row for row in table_rows("settings-table")}
    assert set(rows) == set(manifest.settings)
    for name, spec in manifest.settings.items():
        default = spec.text(spec.default)
        assert rows[name][1] == default, name
        if spec.type == "choice":
            assert rows[name][2] == ", ".join(spec.choices), name


def test_rule_catalogue_lists_every_rule_with_its_grade():
    rows = {row[0]: int(row[1]) for row in table_rows("rule-catalogue")}
    assert rows == {rule.id: rule.grade for rule in load_ruleset().rules}


def test_library_example_prints_what_it_says(monkeypatch):
    monkeypatch.chdir(ROOT)
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    expected = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().splitlines() == expected


def test_header_alias_table_matches_the_reader():
    from crsgrade.columns import ALIASES

    rows = {row[0]: [a.strip().strip("`") for a in row[1].split(",")] for row in table_rows("header-aliases")}
    assert rows == {column: list(aliases) for column, aliases in ALIASES.items()}


def test_aggregation_table_matches_the_code():
    from crsgrade.combining import HOW

    assert {row[0]: row[1] for row in table_rows("aggregation")} == HOW


def test_grading_systems_section_lists_every_shipped_system():
    from crsgrade import shipped_systems

    section = README.split("## Grading systems", 1)[1].split("\n## ", 1)[0]
    for system in shipped_systems():
        assert section.count(f"| `{system}` |") == 2, system  # in the systems table and the unverified one


if __name__ == "__main__":
    update_readme()


def test_committed_figures_come_out_of_the_documented_commands(tmp_path, monkeypatch):
    """The README's images are what its commands draw: same file names, same pixel size (pixels
    themselves may differ by a font hinting or a matplotlib release)."""
    import struct

    monkeypatch.chdir(ROOT)
    block = re.search(r"<!-- figure-commands -->\n```\n(.*?)```", README, re.S).group(1)
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert len(commands) == 2
    for command in commands:
        target = Path(command[command.index("-o") + 1])
        assert f"]({target})" in README, f"{target} is shown in the README"
        fresh = tmp_path / target.name
        arguments = command[1:]
        arguments[arguments.index("-o") + 1] = str(fresh)
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output

        def size(path: Path) -> tuple[int, int]:
            return struct.unpack(">II", path.read_bytes()[16:24])

        assert size(fresh) == size(ROOT / target), f"regenerate {target} with the README's command"
