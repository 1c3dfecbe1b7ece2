"""The `crsgrade` command line: thin commands that hand off to the library."""

from __future__ import annotations

import datetime
import functools
import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.padding import Padding

from . import __version__
from .errors import CrsgradeError, SettingsError
from .evaluators import durable_available
from .grading import Grader
from .results import InputSummary
from .output import timeline, to_csv, to_json
from .ruleset import load_ruleset

app = typer.Typer(
    name="crsgrade",
    help="Grade CRS and ICANS after immune effector cell therapy by the ASTCT 2019 consensus.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Engine(StrEnum):
    auto = "auto"
    durable = "durable"
    python = "python"


def _user_errors(command):
    """Shows a user error as red lines on stderr and exits 1, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CrsgradeError as exc:
            for line in str(exc).splitlines():
                _err.print(f"[red]error:[/red] {line}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _engine_in_use() -> str:
    return "durable-rules" if durable_available() else "python (durable-rules not importable here)"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crsgrade {__version__} (engine: {_engine_in_use()}; Python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and engine.")
    ] = False,
) -> None:
    """Grade CRS and ICANS after immune effector cell therapy by the ASTCT 2019 consensus."""


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"--set {pair!r}: expected NAME=VALUE, e.g. antipyretic_waives_fever=false")
        settings[name.strip()] = value.strip()
    return settings


RulesOption = Annotated[
    Optional[Path],
    typer.Option("--rules", help="Rule set directory (default: the shipped ASTCT 2019 rules)."),
]


FileArgument = Annotated[
    Path,
    typer.Argument(help="Observations: CSV (, ; or tab), JSON or JSON Lines; - for standard input."),
]
InfusionDateOption = Annotated[
    Optional[datetime.datetime],
    typer.Option(
        "--infusion-date", formats=["%Y-%m-%d"],
        help="Day 0 for a file with a date column and no infusion_date column (YYYY-MM-DD).",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No warnings or summary on stderr.")]


def _report(summary_line: str, warnings: tuple[str, ...], skipped: tuple[str, ...], quiet: bool) -> None:
    if quiet:
        return
    for warning in warnings:
        _err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    for problem in skipped:
        _err.print(f"[yellow]skipped:[/yellow] {problem}", highlight=False, soft_wrap=True)
    _err.print(summary_line, style="dim", highlight=False, soft_wrap=True)


@app.command()
@_user_errors
def grade(
    file: FileArgument,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file.")] = None,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="Change an [open] setting: NAME=VALUE (repeatable; see `crsgrade settings`)."),
    ] = [],
    rules: RulesOption = None,
    engine: Annotated[Engine, typer.Option("--engine", help="Rule evaluator.")] = Engine.auto,
    infusion_date: InfusionDateOption = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Grade the valid rows of a file with errors; list the rows left out."),
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Grade every patient-day of FILE: a timeline of CRS and ICANS grades with the criterion
    that set each one."""
    grader = Grader(rules, _parse_sets(set_), engine.value)
    result = grader.grade(
        file, infusion_date=infusion_date.date() if infusion_date else None, skip_invalid=skip_invalid,
    )
    _report(result.input.line(), result.warnings, result.input.skipped, quiet)
    if format is Format.table and output is None:
        Console().print(timeline(result))  # colours, at the terminal's width
        return
    if format is Format.table:
        text = _plain_text(timeline(result))
    else:
        text = to_csv(result) if format is Format.csv else to_json(result)
    if output is None:
        sys.stdout.write(text)
        return
    with _open_output(output) as handle:
        handle.write(text)


@app.command()
@_user_errors
def check(
    file: FileArgument,
    rules: RulesOption = None,
    infusion_date: InfusionDateOption = None,
) -> None:
    """Validate FILE without grading it: report every problem and warning; exit 1 if any
    row is invalid."""
    grader = Grader(rules, engine="python")
    read, days = grader.read(file, infusion_date=infusion_date.date() if infusion_date else None)
    summary = InputSummary.of(read, days)
    _report(f"{summary.line()}; no problems found", tuple(read.warnings), (), quiet=False)


def _plain_text(renderable) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def _open_output(path: Path):
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise CrsgradeError(f"{path}: cannot write: {exc.strerror or exc}") from None


@app.command()
@_user_errors
def settings(rules: RulesOption = None) -> None:
    """List the [open] settings of the rule set, with their defaults and what they mean."""
    ruleset = load_ruleset(rules)
    console = Console()
    console.print(f"[bold]Settings of {ruleset.manifest.system}[/bold] (change with --set NAME=VALUE)\n")
    for name, spec in ruleset.manifest.settings.items():
        allowed = " | ".join(spec.choices) if spec.type == "choice" else spec.type
        default = str(spec.default).lower() if spec.type == "bool" else (
            f"{spec.default:g}" if spec.type == "number" else spec.default
        )
        console.print(f"[bold cyan]{name}[/bold cyan] = {default}  [dim]({allowed})[/dim]", highlight=False)
        console.print(Padding(spec.statement.strip(), (0, 0, 1, 4)), highlight=False)


def main() -> None:
    app()
