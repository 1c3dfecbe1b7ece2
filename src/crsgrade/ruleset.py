"""Loading rule files: a strict pydantic schema over YAML, so a rule file is data, never code.

A rule set is a directory: `ruleset.yaml` (references, settings, definitions) and one YAML file
per syndrome holding its rules. Any problem is reported as `FILE:LINE: rule ID: what is wrong`.
A `cases.yaml` beside them holds the system's clinical cases (observations and the grades they
must get, run by the tests): it is not a rule file, so loading and the digest leave it out.

Rule files may come from anyone, so loading stays bounded: only regular files of at most
MAX_FILE_BYTES are read (a symlink could lead anywhere, and an error message would show what it
found there), YAML aliases are refused (a few lines of them expand to gigabytes), YAML nests at
most MAX_NESTING levels, numbers are finite and ones both evaluators read, and conditions are
bounded in depth and size (see conditions.py).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import reprlib
import stat
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)

from . import conditions as cond
from .errors import RuleFileError, SettingsError
from .facts import MESSAGE_ONLY_FACTS, fact_vocabulary
from .observations import VASOPRESSOR_DOSES, O2Device, Observation
from .syndromes import SYNDROMES, Syndrome

MANIFEST = "ruleset.yaml"
CASES = "cases.yaml"
WAIVER_ENDS = ("episode_resolved", "never")
# libyaml's safe loader where PyYAML was built with it (ten times faster), else the Python one:
# both construct plain data only, never objects.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FILE_BYTES = 1_000_000
# A level of a condition is a mapping and a list; the rest of a rule file nests a few levels.
MAX_NESTING = 2 * cond.MAX_DEPTH + 10
# What both evaluators read: durable-rules cannot parse the exponent notation Python writes
# below 1e-4 and from 1e16, nor inf or nan.
NUMBERS = "numbers in rule files are finite: 0, or from 0.0001 up to 1e16 in size"
# A fact shown in a rule's message: a name in braces, nothing more (no format expressions).
PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _one_line(problem: str) -> str:
    """A problem as one line: control characters from a rule file's names written as escapes,
    so each line of an error is one problem that names its file."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], problem)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Citation(_Strict):
    ref: str
    where: str


class Reference(_Strict):
    short: str
    citation: str
    doi: str | None = None


class SettingRef(_Strict):
    setting: str

    def value(self, settings: Mapping[str, Any]) -> Any:
        return settings[self.setting]


class Constant(BaseModel):
    """A definition value given directly, with the same `value()` as a setting reference."""

    model_config = ConfigDict(frozen=True)
    fixed: Any

    def value(self, settings: Mapping[str, Any]) -> Any:
        return self.fixed


def _wrap(value: Any) -> Any:
    return value if isinstance(value, dict) else {"fixed": value}


# A definition value: given directly (`class: high_flow`) or taken from a setting
# (`at_or_below: {setting: hfnc_at_low_flow}`); either way read with `.value(settings)`.
Resolvable = Annotated[Constant | SettingRef, BeforeValidator(_wrap)]


# A name a setting of type `names` may hold: a therapy as other_treatment records it.
_NAME = re.compile(r"^[a-z0-9][a-z0-9 ._+-]*$")


def _names(raw: Any) -> tuple[str, ...]:
    """Names given as a list, or as text separated by ';' or ','; lower-cased and trimmed."""
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", ";").split(";")
    return tuple(dict.fromkeys(" ".join(str(item).lower().split()) for item in items if str(item).strip()))


class SettingDef(_Strict):
    type: Literal["bool", "choice", "number", "names"]
    default: bool | float | str | tuple[str, ...]
    choices: tuple[str, ...] = ()
    # The range a number setting allows, both ends included: without one, `--set
    # capd_below_age=inf` would make every adult a child.
    min: float | None = None
    max: float | None = None
    statement: str
    rationale: str
    citation: Citation

    @model_validator(mode="after")
    def _default_fits(self) -> SettingDef:
        if self.type == "choice" and self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of choices {list(self.choices)}")
        if self.type != "choice" and self.choices:
            raise ValueError("only a choice setting has choices")
        if self.type == "bool" and not isinstance(self.default, bool):
            raise ValueError("a bool setting needs a default of true or false")
        if self.type == "number":
            if isinstance(self.default, bool | str | tuple):
                raise ValueError("a number setting needs a number default")
            if self.min is None or self.max is None:
                raise ValueError("a number setting needs its allowed range: min and max")
            if not self.min <= self.default <= self.max:
                raise ValueError(f"default {self.default:g} is outside the allowed range, {self.range}")
        if self.type != "number" and (self.min is not None or self.max is not None):
            raise ValueError("only a number setting has min and max")
        if self.type == "names" and (not isinstance(self.default, tuple)
                                     or not all(_NAME.match(name) for name in self.default)):
            raise ValueError("a names setting needs a list of lower-case names as its default")
        if self.type != "names" and isinstance(self.default, tuple):
            raise ValueError("only a names setting has a list as its default")
        return self

    @property
    def range(self) -> str:
        """A number setting's allowed range in words: "0 to 18"."""
        return f"{self.min:g} to {self.max:g}"

    def text(self, value: Any) -> str:
        """A value of this setting as the CLI takes it and the outputs show it: true, 12, high_flow."""
        if self.type == "bool":
            return str(value).lower()
        if self.type == "names":
            return "; ".join(value) or "none"
        return f"{value:g}" if self.type == "number" else str(value)

    def parse(self, name: str, raw: Any) -> Any:
        """A setting value from the library (typed) or the CLI (text). A value of any other type
        is a SettingsError quoting it briefly, never a TypeError."""
        text = str(raw).strip().lower()
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise SettingsError(f"setting {name}: {reprlib.repr(raw)} is not true or false")
        if self.type == "number":
            try:
                number = float(raw) if not isinstance(raw, bool) else math.nan
            except (TypeError, ValueError, OverflowError):
                number = math.nan
            # a number setting always has both ends: _default_fits refuses one without them
            assert self.min is not None and self.max is not None
            if not self.min <= number <= self.max:  # nan fails every comparison
                raise SettingsError(
                    f"setting {name}: {reprlib.repr(raw)} is not a number in the allowed range, {self.range}")
            return number
        if self.type == "names":
            names = () if text in ("", "none") else _names(raw)
            bad = [n for n in names if not _NAME.match(n)]
            if bad:
                raise SettingsError(f"setting {name}: {reprlib.repr(bad[0])} is not a name"
                                    " (letters, digits, spaces, . _ + -); separate names with ';'")
            return names
        if text not in self.choices:
            raise SettingsError(
                f"setting {name}: {reprlib.repr(raw)} is not allowed; choose one of {', '.join(self.choices)}"
            )
        return text


class FeverDef(_Strict):
    threshold_c: float


class DeviceDef(_Strict):
    class_: Resolvable | None = Field(None, alias="class")
    at_or_below: Resolvable | None = None
    above: Resolvable | None = None

    @model_validator(mode="after")
    def _complete(self) -> DeviceDef:
        by_flow = [v is not None for v in (self.at_or_below, self.above)]
        if (self.class_ is not None and any(by_flow)) or (self.class_ is None and not all(by_flow)):
            raise ValueError("give either class, or both at_or_below and above")
        return self

    @property
    def by_flow(self) -> bool:
        return self.class_ is None

    def outcomes(self) -> list[Resolvable]:
        return [v for v in (self.class_, self.at_or_below, self.above) if v]


class OxygenDef(_Strict):
    flow_boundary_lpm: float | None = None
    classes: tuple[str, ...]
    devices: dict[str, DeviceDef]

    @model_validator(mode="after")
    def _boundary_when_by_flow(self) -> OxygenDef:
        if self.flow_boundary_lpm is None and any(d.by_flow for d in self.devices.values()):
            raise ValueError("flow_boundary_lpm is required when a device is classed by flow")
        return self


class Fio2EstimateDef(_Strict):
    """FiO2 (%) of a device when FiO2 is not recorded: `percent`, or `base` + `per_lpm` x flow
    up to `max`."""

    percent: float | None = None
    base: float | None = None
    per_lpm: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _complete(self) -> Fio2EstimateDef:
        by_flow = [v is not None for v in (self.base, self.per_lpm, self.max)]
        if (self.percent is not None and any(by_flow)) or (self.percent is None and not all(by_flow)):
            raise ValueError("give either percent, or base, per_lpm and max")
        return self


class Fio2EstimatesDef(_Strict):
    """How FiO2 is estimated when it is not recorded, and how sure we are of the table."""

    evidence: Literal["confirmed", "verify"]
    source: str
    devices: dict[str, Fio2EstimateDef]


class VasopressorAgentDef(_Strict):
    column: str
    monotherapy_high_dose: float  # the agent given alone; combinations go by their equivalent
    ne_factor: float


class VasopressorDoseDef(_Strict):
    """When vasopressors count as high-dose, and the norepinephrine-equivalent factors."""

    evidence: Literal["confirmed", "verify"]
    citation: Citation
    agents: dict[str, VasopressorAgentDef]
    with_vasopressin_ne: float
    combination_ne: float
    min_hours: float


class WaiverDef(_Strict):
    therapies: tuple[str, ...]
    therapies_by_setting: dict[str, str] = {}
    # Other therapies that waive fever, by the name other_treatment records; a names setting
    # lets a centre add its own.
    other_therapies: tuple[str, ...] = ()
    more_other_therapies: SettingRef | None = None
    prophylaxis: Resolvable
    ends: Resolvable

    def named(self, settings: Mapping[str, Any]) -> frozenset[str]:
        """The therapy names (in other_treatment) that waive fever under these settings."""
        more = self.more_other_therapies.value(settings) if self.more_other_therapies else ()
        return frozenset(self.other_therapies) | frozenset(more)


class NotAssessableDef(_Strict):
    """What a day recorded as neuro_not_assessable sets aside."""

    sets_aside: tuple[str, ...]


class EncephalopathyDef(_Strict):
    capd_below_age: Resolvable
    tools: tuple[str, ...] = ()


class Definitions(_Strict):
    fever: FeverDef
    oxygen: OxygenDef
    fever_waiver: WaiverDef | None = None
    event_facts: tuple[str, ...] = ()
    # An event fact that is expected once another is recorded: {seizure_kind: seizure} means a
    # seizure recorded without its kind leaves the kind not recorded.
    event_details: dict[str, str] = {}
    encephalopathy: EncephalopathyDef | None = None
    fio2_estimate: Fio2EstimatesDef | None = None
    vasopressor_dose: VasopressorDoseDef | None = None
    not_assessable: NotAssessableDef | None = None


class Manifest(_Strict):
    system: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    # Every rule id reads PREFIX-SYNDROME-GRADE-..., e.g. LEE2014-CRS-3-FIO2-40.
    rule_prefix: str = Field(pattern=r"^[A-Z0-9]+$")
    title: str
    version: str
    # The syndromes this system grades, each with the name it gives it (CARTOX calls its
    # neurotoxicity CRES).
    syndromes: dict[Syndrome, str] = Field(min_length=1)
    references: dict[str, Reference]
    settings: dict[str, SettingDef] = {}
    # The domains of a syndrome (ICE/CAPD, consciousness, seizure, ...), each with its name in
    # words; an explanation shows the grade each domain reached.
    domains: dict[Syndrome, dict[str, str]] = {}
    definitions: Definitions


class Examples(_Strict):
    matches: list[dict[str, Any]] = Field(min_length=1)
    does_not_match: list[dict[str, Any]] = Field(min_length=1)


class RuleDef(_Strict):
    id: str = Field(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)+$")
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    grade: StrictInt = Field(ge=0, le=5)
    since: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    evidence: Literal["confirmed", "verify"] = "confirmed"
    statement: str = Field(min_length=1)
    message: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    citation: Citation
    domain: str | None = None
    when: dict[str, Any]
    examples: Examples


class NamedConditionDef(_Strict):
    statement: str
    # Said once in an explanation when this condition is not met, instead of its tests on
    # every rule that needs it.
    unmet: str | None = None
    when: dict[str, Any]


class RuleFileDef(_Strict):
    syndrome: Syndrome
    conditions: dict[str, NamedConditionDef] = {}
    rules: list[RuleDef] = Field(min_length=1)


@dataclass(frozen=True)
class Rule:
    """One grading criterion, as loaded from its rule file."""

    id: str
    name: str
    syndrome: str
    grade: int
    since: str
    evidence: str
    statement: str
    message: str
    rationale: str
    citation: Citation
    condition: cond.Node
    named: Mapping[str, cond.Node] = field(repr=False)
    examples: Examples = field(repr=False)
    source: str = ""
    domain: str | None = None
    # The named conditions of the rule's file that say, once, why they are not met.
    unmet_texts: Mapping[str, str] = field(default_factory=dict, repr=False)

    @cached_property
    def settings_used(self) -> frozenset[str]:
        return frozenset(cond.settings_of(self.condition, self.named))


@dataclass(frozen=True, eq=False)
class RuleSet:
    """A loaded, validated rule set: its manifest and its rules in file order. Loading returns
    the same object while the files are unchanged, so it can key a cache."""

    manifest: Manifest
    rules: tuple[Rule, ...]
    directory: Path
    # SHA-256 over the names and contents of the YAML files it was loaded from, so a report
    # names exactly the rules that graded it.
    digest: str

    @property
    def definitions(self) -> Definitions:
        return self.manifest.definitions

    @property
    def syndromes(self) -> tuple[str, ...]:
        """The syndromes this system grades."""
        return tuple(self.manifest.syndromes)

    def label(self, syndrome: str) -> str:
        """What this system calls a syndrome (CRS, ICANS, CRES)."""
        if syndrome in SYNDROMES:
            return self.manifest.syndromes.get(syndrome, syndrome.upper())
        return syndrome.upper()

    @cached_property
    def facts(self) -> dict[str, cond.FactSpec]:
        return fact_vocabulary(self.definitions.oxygen.classes)

    @property
    def unverified_tables(self) -> list[str]:
        """The definition tables (high-dose vasopressors, FiO2 estimate) marked `evidence: verify`."""
        defs = self.definitions
        return [name for name in ("vasopressor_dose", "fio2_estimate")
                if getattr(defs, name) is not None and getattr(defs, name).evidence == "verify"]

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.id == rule_id)

    def cite(self, citation: Citation) -> str:
        """A citation as a reader sees it: "Lee et al. 2019, CRS grading table, grade 3"."""
        return f"{self.manifest.references[citation.ref].short}, {citation.where}"

    def settings(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every setting's value: its default unless overridden. Unknown names are errors."""
        declared = self.manifest.settings
        if overrides is not None and not isinstance(overrides, Mapping):
            raise SettingsError(
                f"settings are a mapping of setting names to values, not a {type(overrides).__name__}")
        overrides = dict(overrides or {})
        unknown = sorted(map(str, set(overrides) - set(declared)))
        if unknown:
            raise SettingsError(
                f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)};"
                f" known settings: {', '.join(declared)}"
            )
        return {
            name: spec.parse(name, overrides[name]) if name in overrides else spec.default
            for name, spec in declared.items()
        }

    def resolved(self, settings: Mapping[str, Any]) -> dict[str, cond.Node]:
        """Each rule's condition with refs expanded and settings folded in. A rule that the
        settings switch off entirely is left out."""
        out: dict[str, cond.Node] = {}
        for rule in self.rules:
            node = cond.resolve(rule.condition, rule.named, settings)
            if isinstance(node, cond.Const):
                if node.value:
                    raise RuleFileError(
                        f"{rule.source}: rule {rule.id}: with these settings the condition is"
                        " always true; a rule must test at least one fact"
                    )
                continue
            out[rule.id] = node
        return out


DEFAULT_SYSTEM = "astct2019"


def shipped(*parts: str) -> Path:
    """A file or directory shipped with crsgrade: inside the installed package (a wheel carries
    `rules/` and the example), or the repository's own when run from a checkout."""
    package = Path(str(resources.files("crsgrade")))
    root = package if (package / "rules").is_dir() else Path(__file__).resolve().parents[2]
    return root.joinpath(*parts)


def default_rules_dir(system: str = DEFAULT_SYSTEM) -> Path:
    """The shipped rule set of a grading system (ASTCT 2019 by default). Only a shipped name is
    taken: a name is never a path."""
    if system not in shipped_systems():
        raise RuleFileError(f"no grading system '{system}'; shipped: {', '.join(shipped_systems())}")
    return shipped("rules", system)


def shipped_systems() -> tuple[str, ...]:
    """The grading systems shipped with crsgrade: ASTCT 2019 first, then the others by name."""
    found = sorted(p.name for p in shipped("rules").iterdir() if (p / MANIFEST).is_file())
    return tuple(sorted(found, key=lambda name: name != DEFAULT_SYSTEM))


@lru_cache(maxsize=4)
def _compose(text: str) -> yaml.Node | None:
    """A rule file's YAML nodes, composed once however many problems it has."""
    try:
        return yaml.compose(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError:
        return None


def _line_of(text: str, loc: tuple[object, ...]) -> int | None:
    """The line in a YAML text of the node at a pydantic error location."""
    node = _compose(text)
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            break
        node, line = match, match.start_mark.line + 1
    return line


def _read_bytes(path: Path) -> bytes:
    """A rule file's bytes, read only from a regular file (never through a symlink) of at most
    MAX_FILE_BYTES."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise RuleFileError(f"{path}: not a regular file; a rule set directory holds only regular"
                                " *.yaml files (no symlinks, directories or devices)")
        # O_NOFOLLOW: the file cannot be swapped for a symlink after the check
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with open(descriptor, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RuleFileError(f"{path}: cannot read rule file: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise RuleFileError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes, the most a rule file may hold")
    return data


def _check_events(text: str, path: Path) -> None:
    """Refuses aliases, deep nesting and keys given twice before anything is built from a
    rule file: an alias can make a few lines expand to gigabytes, deep nesting exhausts the
    stack of the code that walks the result, and YAML keeps only the last of two equal keys
    (a criterion's second `grade:` would silently replace the first). Parser events are cheap:
    no objects are built."""
    # per open collection: whether it is a mapping, its keys so far, whether a key comes next
    open_: list[tuple[bool, set[str], list[bool]]] = []
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise RuleFileError(f"{path}:{line}: YAML aliases (*{event.anchor})"
                                " are not allowed in rule files; write the value out")
        if open_ and open_[-1][0] and isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            _, keys, key_next = open_[-1]
            if key_next[0] and isinstance(event, yaml.ScalarEvent):
                if event.value in keys:
                    raise RuleFileError(f"{path}:{line}: key '{event.value}' given twice in one mapping;"
                                        " YAML would keep only the last")
                keys.add(event.value)
            key_next[0] = not key_next[0]
        if isinstance(event, yaml.CollectionStartEvent):
            open_.append((isinstance(event, yaml.MappingStartEvent), set(), [True]))
            if len(open_) > MAX_NESTING:
                raise RuleFileError(f"{path}:{line}: YAML nests more than"
                                    f" {MAX_NESTING} levels deep, the most a rule file may")
        elif isinstance(event, yaml.CollectionEndEvent):
            open_.pop()


def _read_yaml(path: Path, raw: bytes) -> tuple[Any, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleFileError(f"{path}: not UTF-8 text (byte {exc.start}); rule files are UTF-8") from None
    try:
        _check_events(text, path)
        return yaml.load(text, Loader=_SAFE_LOADER), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise RuleFileError(f"{where}: YAML syntax error: {problem}") from None
    except (ValueError, KeyError, OverflowError) as exc:  # PyYAML's constructors': !!int x, 2024-13-45
        raise RuleFileError(f"{path}: YAML value that cannot be read: {exc}") from None


def _bad_number(data: Any) -> tuple[tuple[object, ...], Any] | None:
    """The location and value of the first number that is not one of NUMBERS."""
    stack: list[tuple[tuple[object, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed([((*loc, key), item) for key, item in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([((*loc, index), item) for index, item in enumerate(value)]))
        elif isinstance(value, int | float) and not isinstance(value, bool) \
                and not (value == 0 or 1e-4 <= abs(value) < 1e16):  # nan fails both
            return loc, value
    return None


def _validation_problems(path: Path, text: str, data: Any, exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = _line_of(text, loc)
        where = f"{path}:{line}" if line else str(path)
        rule, field_loc = "", loc
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            try:
                rule = f" rule {data['rules'][loc[1]].get('id', f'#{loc[1] + 1}')}:"
                field_loc = loc[2:] or loc
            except (AttributeError, IndexError, KeyError, TypeError):
                rule = ""
        field_path = ".".join(str(part) for part in field_loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field missing"
        problems.append(_one_line(f"{where}:{rule} {field_path}: {message}"))
    return problems


def _parse(model: type[BaseModel], path: Path, raw: bytes) -> tuple[Any, str, Any]:
    data, text = _read_yaml(path, raw)
    bad = _bad_number(data)
    if bad:
        loc, value = bad
        line = _line_of(text, loc)
        where = f"{path}:{line}" if line else str(path)
        shown = repr(value) if isinstance(value, float) or abs(value) < 10**24 else "an integer of over 24 digits"
        raise RuleFileError(_one_line(f"{where}: {'.'.join(map(str, loc))}: {shown} is not allowed; {NUMBERS}"))
    try:
        return model.model_validate(data), text, data
    except ValidationError as exc:
        raise RuleFileError("\n".join(_validation_problems(path, text, data, exc))) from None


def _check_manifest(manifest: Manifest, path: Path) -> None:
    problems = []
    settings = manifest.settings
    for name, spec in settings.items():
        if spec.citation.ref not in manifest.references:
            problems.append(f"setting {name}: unknown reference '{spec.citation.ref}'")
    defs = manifest.definitions
    problems += _oxygen_problems(defs, settings)
    if defs.fever_waiver is not None:
        problems += _waiver_problems(defs.fever_waiver, settings)
    if defs.vasopressor_dose is not None:
        if defs.vasopressor_dose.citation.ref not in manifest.references:
            problems.append(f"vasopressor_dose: unknown reference '{defs.vasopressor_dose.citation.ref}'")
        for agent, agent_def in defs.vasopressor_dose.agents.items():
            if agent_def.column not in VASOPRESSOR_DOSES:
                problems.append(f"vasopressor_dose: {agent}: '{agent_def.column}' is not a dose column"
                                f" ({', '.join(VASOPRESSOR_DOSES)})")
    problems += _fact_name_problems(defs)
    age = defs.encephalopathy.capd_below_age if defs.encephalopathy else None
    if isinstance(age, SettingRef) and (
        settings.get(age.setting) is None or settings[age.setting].type != "number"
    ):
        problems.append(f"encephalopathy: '{age.setting}' is not a number setting")
    elif isinstance(age, Constant) and (isinstance(age.fixed, bool) or not isinstance(age.fixed, int | float)):
        problems.append("encephalopathy.capd_below_age: a number of years, or {setting: NAME}")
    if problems:
        raise RuleFileError("\n".join(_one_line(f"{path}: {problem}") for problem in problems))


def _oxygen_problems(defs: Definitions, settings: Mapping[str, SettingDef]) -> list[str]:
    """Every o2_device value classed, each into an oxygen class or by a choice setting of them."""
    problems = []
    oxygen = defs.oxygen
    devices = set(oxygen.devices)
    expected = {device.value for device in O2Device}
    if devices != expected:
        missing, extra = sorted(expected - devices), sorted(devices - expected)
        problems.append(
            f"definitions.oxygen.devices must classify every o2_device value"
            f" (missing: {missing or 'none'}; unknown: {extra or 'none'})"
        )
    for device_name, device in oxygen.devices.items():
        for outcome in device.outcomes():
            if isinstance(outcome, SettingRef):
                spec = settings.get(outcome.setting)
                if spec is None or spec.type != "choice":
                    problems.append(f"device {device_name}: '{outcome.setting}' is not a choice setting")
                elif not set(spec.choices) <= set(oxygen.classes):
                    problems.append(f"setting {outcome.setting}: choices must be oxygen classes")
            elif outcome.fixed not in oxygen.classes:
                problems.append(
                    f"device {device_name}: '{outcome.fixed}' is not one of the oxygen classes"
                    f" {list(oxygen.classes)}"
                )
    for device_name in (defs.fio2_estimate.devices if defs.fio2_estimate else {}):
        if device_name not in expected:
            problems.append(f"fio2_estimate: '{device_name}' is not an o2_device value")
    return problems


def _fact_name_problems(defs: Definitions) -> list[str]:
    """The facts the definitions name are facts."""
    vocabulary = fact_vocabulary(defs.oxygen.classes)
    named = (("event_facts", defs.event_facts),
             ("event_details", [*defs.event_details, *defs.event_details.values()]),
             ("encephalopathy.tools", defs.encephalopathy.tools if defs.encephalopathy else ()),
             ("not_assessable.sets_aside", defs.not_assessable.sets_aside if defs.not_assessable else ()))
    return [f"{label}: '{name}' is not a fact" for label, names in named for name in names if name not in vocabulary]


def _waiver_problems(waiver: WaiverDef, settings: Mapping[str, SettingDef]) -> list[str]:
    problems = []
    therapies = list(waiver.therapies) + list(waiver.therapies_by_setting)
    for therapy in therapies:
        if Observation.model_fields.get(therapy) is None or therapy in ("day", "patient_id"):
            problems.append(f"fever_waiver: '{therapy}' is not an observation column")
    for therapy, setting in waiver.therapies_by_setting.items():
        if settings.get(setting) is None or settings[setting].type != "bool":
            problems.append(f"fever_waiver: '{setting}' for {therapy} is not a bool setting")
    for name in waiver.other_therapies:
        if not _NAME.match(name):
            problems.append(f"fever_waiver.other_therapies: '{name}' is not a lower-case name")
    more = waiver.more_other_therapies
    if more is not None and (settings.get(more.setting) is None or settings[more.setting].type != "names"):
        problems.append(f"fever_waiver.more_other_therapies: '{more.setting}' is not a names setting")
    for label, ref, kind in (
        ("fever_waiver.prophylaxis", waiver.prophylaxis, "bool"),
        ("fever_waiver.ends", waiver.ends, "choice"),
    ):
        if isinstance(ref, SettingRef) and (
            settings.get(ref.setting) is None or settings[ref.setting].type != kind
        ):
            problems.append(f"{label}: '{ref.setting}' is not a {kind} setting")
    ends = waiver.ends
    if isinstance(ends, SettingRef):
        possible = settings[ends.setting].choices if ends.setting in settings else ()
    else:
        possible = (ends.fixed,)
    if not all(value in WAIVER_ENDS for value in possible):
        problems.append(f"fever_waiver.ends: values must be among {', '.join(WAIVER_ENDS)}")
    return problems


def _dependency_order(named: Mapping[str, cond.Node]) -> tuple[list[str], list[str] | None]:
    """The named conditions, each after those it refers to, and the first cycle of references
    found (or None). Iterative and visiting each condition once: chains of references may be
    as long as a rule file allows."""
    order: list[str] = []
    done: set[str] = set()
    for root in named:
        if root in done:
            continue
        trail, on_trail, stack = [root], {root}, [iter(cond.refs_of(named[root]))]
        while stack:
            target = next(stack[-1], None)
            if target is None:
                stack.pop()
                done.add(trail[-1])
                on_trail.discard(trail[-1])
                order.append(trail.pop())
            elif target in on_trail:
                return order, [*trail[trail.index(target):], target]
            elif target not in done:
                trail.append(target)
                on_trail.add(target)
                stack.append(iter(cond.refs_of(named[target])))
    return order, None


def _load_rule_file(path: Path, raw: bytes, manifest: Manifest,
                    facts: Mapping[str, cond.FactSpec]) -> list[Rule]:
    spec, text, _data = _parse(RuleFileDef, path, raw)
    settings = {
        name: cond.SettingSpec(s.type, tuple(s.choices)) for name, s in manifest.settings.items()
    }
    parser = cond.Parser(facts, settings, set(spec.conditions))
    problems: list[str] = []

    def fail(loc: tuple[str | int, ...], rule_id: str | None, message: str) -> None:
        line = _line_of(text, loc)
        where = f"{path}:{line}" if line else str(path)
        problems.append(_one_line(f"{where}:{f' rule {rule_id}:' if rule_id else ''} {message}"))

    named, extents = _named_conditions(spec, parser, fail)
    unmet_texts = {name: c.unmet for name, c in spec.conditions.items() if c.unmet}
    rules, seen = [], set()
    for index, rule in enumerate(spec.rules):
        loc = ("rules", index)
        if rule.id in seen:
            fail((*loc, "id"), rule.id, "duplicate rule id")
        seen.add(rule.id)
        for key, message in _rule_def_problems(rule, spec.syndrome, manifest, facts):
            fail((*loc, key), rule.id, message)
        try:
            node = parser.parse(rule.when, "when")
        except cond.ConditionError as exc:
            fail((*loc, "when"), rule.id, str(exc))
            continue
        problem = _bounds_problem(*cond.extent(node, extents)) if extents is not None else None
        if problem:
            fail((*loc, "when"), rule.id, f"when: {problem}")
        for kind in ("matches", "does_not_match"):
            for number, example in enumerate(getattr(rule.examples, kind)):
                problem = _example_problem(example, facts)
                if problem:
                    fail((*loc, "examples", kind, number), rule.id, f"examples.{kind}[{number}]: {problem}")
        rules.append(Rule(
            id=rule.id, name=rule.name, syndrome=spec.syndrome, grade=rule.grade,
            since=rule.since, evidence=rule.evidence, statement=rule.statement.strip(),
            message=rule.message, rationale=rule.rationale.strip(), citation=rule.citation,
            condition=node, named=named, examples=rule.examples, source=str(path), domain=rule.domain,
            unmet_texts=unmet_texts,
        ))
    if problems:
        raise RuleFileError("\n".join(problems))
    return rules


def _named_conditions(spec: RuleFileDef, parser: cond.Parser, fail: Callable[..., None],
                      ) -> tuple[dict[str, cond.Node], dict[str, tuple[int, int]] | None]:
    """A rule file's named conditions, and the depth and tests of each with its references
    expanded (None when one is out of bounds or they refer to each other)."""
    named: dict[str, cond.Node] = {}
    for name, named_def in spec.conditions.items():
        try:
            named[name] = parser.parse(named_def.when, f"conditions.{name}")
        except cond.ConditionError as exc:
            fail(("conditions", name), None, str(exc))
    if len(named) < len(spec.conditions):
        return named, None
    order, cycle = _dependency_order(named)
    if cycle:
        fail(("conditions", cycle[0]), None, f"named conditions refer to each other: {' -> '.join(cycle)}")
        return named, None
    extents: dict[str, tuple[int, int]] = {}
    for name in order:
        extents[name] = cond.extent(named[name], extents)
        problem = _bounds_problem(*extents[name])
        if problem:
            fail(("conditions", name), None, f"conditions.{name}: {problem}")
            return named, None
    return named, extents


def _rule_def_problems(rule: RuleDef, syndrome: Syndrome, manifest: Manifest,
                       facts: Mapping[str, cond.FactSpec]) -> list[tuple[str, str]]:
    """What is wrong with a rule's id, domain, citation and message, each with its key."""
    problems = []
    expected_id = f"{manifest.rule_prefix}-{manifest.syndromes.get(syndrome, '?')}-{rule.grade}-"
    if not rule.id.startswith(expected_id):
        problems.append(("id", f"id must start with {expected_id} (prefix, syndrome, grade)"))
    domains = manifest.domains.get(syndrome, {})
    if rule.domain is not None and rule.domain not in domains:
        problems.append(("domain", f"domain: unknown domain '{rule.domain}'; {MANIFEST} declares:"
                                   f" {', '.join(domains) or 'none'}"))
    if rule.citation.ref not in manifest.references:
        problems.append(("citation", f"citation: unknown reference '{rule.citation.ref}';"
                                     f" known: {', '.join(manifest.references)}"))
    problems += [("message", f"message: unknown fact '{{{placeholder}}}'")
                 for placeholder in PLACEHOLDER.findall(rule.message)
                 if placeholder not in facts and placeholder not in MESSAGE_ONLY_FACTS]
    return problems


def _bounds_problem(depth: int, tests: int) -> str | None:
    if depth > cond.MAX_DEPTH:
        return cond.TOO_DEEP
    return cond.TOO_MANY if tests > cond.MAX_TESTS else None


def _example_problem(example: Mapping[str, Any], facts: Mapping[str, cond.FactSpec]) -> str | None:
    for name, value in example.items():
        spec = facts.get(name)
        if name in MESSAGE_ONLY_FACTS and name != "fever_basis":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"'{name}' is a number, got {value!r}"
            continue
        if spec is None:
            return f"unknown fact '{name}'"
        try:
            cond.Parser._value(name, spec, value, name)
        except cond.ConditionError as exc:
            return str(exc)
    return None


def load_ruleset(directory: Path | str | None = None) -> RuleSet:
    """Loads and validates a rule set directory (the shipped ASTCT 2019 set by default).

    The files are read first and the rule set is remembered by their names and contents: the
    same files give the same RuleSet without parsing them again, and an edited file is read anew.
    """
    directory = Path(directory) if directory is not None else default_rules_dir()
    files = tuple((path.name, _read_bytes(path)) for path in sorted(directory.glob("*.yaml"))
                  if path.name != CASES)
    if MANIFEST not in dict(files):
        raise RuleFileError(f"{directory}: not a rule set directory (no {MANIFEST})")
    return _load(directory, files)


@lru_cache(maxsize=16)
def _load(directory: Path, files: tuple[tuple[str, bytes], ...]) -> RuleSet:
    manifest_path = directory / MANIFEST
    manifest, _, _ = _parse(Manifest, manifest_path, dict(files)[MANIFEST])
    _check_manifest(manifest, manifest_path)
    facts = fact_vocabulary(manifest.definitions.oxygen.classes)
    rules: list[Rule] = []
    for name, raw in files:
        if name != MANIFEST:
            rules.extend(_load_rule_file(directory / name, raw, manifest, facts))
    counts = Counter(rule.id for rule in rules)
    duplicates = sorted(rule_id for rule_id, count in counts.items() if count > 1)
    if duplicates:
        raise RuleFileError(f"{directory}: duplicate rule ids across files: {', '.join(duplicates)}")
    declared = manifest.syndromes
    missing = [s for s in declared if not any(r.syndrome == s for r in rules)]
    if missing:
        raise RuleFileError(f"{directory}: no rules for {', '.join(missing)}")
    undeclared = sorted({r.syndrome for r in rules} - set(declared))
    if undeclared:
        raise RuleFileError(
            f"{directory}: rules for {', '.join(undeclared)}, which {MANIFEST} does not list under syndromes")
    digest = hashlib.sha256()
    for name, raw in files:
        digest.update(os.fsencode(name) + b"\0" + raw + b"\0")
    return RuleSet(manifest=manifest, rules=tuple(rules), directory=directory, digest=digest.hexdigest())
