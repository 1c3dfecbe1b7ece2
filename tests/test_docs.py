"""The documentation site: its generated reference pages are current, every page is in the nav,
and it builds with `mkdocs build --strict`. (The pages' examples and tables are checked by
test_readme.py, over the README and every page.)"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest
import typer.main
import yaml

from crsgrade import docs, load_ruleset, shipped_systems
from crsgrade.cli import app
from crsgrade.ruleset import default_rules_dir

from .conftest import ROOT

DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"


def test_generated_reference_pages_are_up_to_date():
    stale = docs.out_of_date(REFERENCE)
    assert not stale, f"out of date: {', '.join(stale)}; regenerate with python -m crsgrade.docs docs/reference"


def _nav_pages(entries) -> list[str]:
    found = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                found += _nav_pages(value) if isinstance(value, list) else [value]
    return found


def test_every_page_is_in_the_nav_once():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = _nav_pages(config["nav"])
    assert len(listed) == len(set(listed)), "a page is listed twice"
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert set(listed) == pages


def test_every_shipped_system_has_a_page_with_every_rule_and_setting():
    for system in shipped_systems():
        page = (REFERENCE / f"{system}.md").read_text(encoding="utf-8")
        ruleset = load_ruleset(default_rules_dir(system))
        assert page.startswith(docs.HEADER)
        for rule in ruleset.rules:
            assert f"\n### {rule.id}\n" in page, rule.id
            assert f"[`{rule.id}`](#{rule.id.lower()})" in page, rule.id
        for setting in ruleset.manifest.settings:
            assert f"\n### {setting}\n" in page, setting
        for reference in ruleset.manifest.references.values():
            assert reference.short in page


def test_cli_reference_covers_every_command_and_option():
    page = (REFERENCE / "cli.md").read_text(encoding="utf-8")
    assert "\x1b" not in page
    group = typer.main.get_command(app)
    root = group.make_context("crsgrade", [], resilient_parsing=True)
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        section = page.split(f"\n## crsgrade {name}\n", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert max(param.opts, key=len) in section, f"{name} {param.opts}"


def test_the_generator_writes_pages_and_nav_and_removes_its_stale_pages(tmp_path):
    reference = tmp_path / "docs" / "reference"
    reference.mkdir(parents=True)
    (reference / "gone.md").write_text(docs.HEADER + "\n# A system no longer shipped\n", encoding="utf-8")
    (reference / "mine.md").write_text("# Written by hand\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text(
        f"nav:\n  - Reference:\n      {docs.NAV_BEGIN}\n      - old.md\n      {docs.NAV_END}\n", encoding="utf-8")
    docs.write(reference)
    assert sorted(p.name for p in reference.glob("*.md")) == sorted([*docs.pages(), "mine.md"])
    nav = yaml.safe_load((tmp_path / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    assert _nav_pages(nav) == ["reference/index.md", "reference/cli.md",
                               *(f"reference/{system}.md" for system in shipped_systems())]
    assert docs.out_of_date(reference) == []


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is not installed (pip install '.[docs]')")
def test_the_site_builds_strict(tmp_path):
    """Every link between pages and every anchor is valid, and every page is in the nav."""
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    shutil.rmtree(tmp_path / "site", ignore_errors=True)
