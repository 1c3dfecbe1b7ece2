"""Hematotoxicity per patient: CAR-HEMATOTOX before lymphodepletion, ICAHT after infusion, and
EASIX, by the rule files of rules/hematotoxicity/.

The rule files hold every cut-off, window and grade, in the condition language of the grading
rules; this module only computes the facts they test — a patient's baseline values, the days of
neutropenia, the second-lowest late ANC — and adds up points or takes the highest grade.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from . import conditions as cond
from .errors import RuleFileError
from .ruleset import Citation, Examples, Reference, SettingDef, _example_problem, _parse, _read_bytes, shipped

MANIFEST = "scores.yaml"
HEMATOTOX_FILE = "car_hematotox.yaml"
ICAHT_FILE = "icaht.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EasixDef(_Strict):
    statement: str
    citation: Citation


class ScoresManifest(_Strict):
    name: str
    title: str
    version: str
    references: dict[str, Reference]
    settings: dict[str, SettingDef] = {}
    easix: EasixDef


class ItemDef(_Strict):
    id: str = Field(pattern=r"^HEMATOTOX(-[A-Z0-9]+)+$")
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    points: StrictInt = Field(ge=1, le=5)
    since: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    statement: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    citation: Citation
    when: dict[str, Any]
    examples: Examples


class RiskDef(_Strict):
    name: str
    statement: str
    when: dict[str, Any]


class HematotoxFile(_Strict):
    score: Literal["car_hematotox"]
    title: str
    citation: Citation
    items: list[ItemDef] = Field(min_length=1)
    risk: list[RiskDef] = Field(min_length=1)


class GradeRuleDef(_Strict):
    id: str = Field(pattern=r"^ICAHT-(EARLY|LATE)-[0-4](-[A-Z0-9]+)+$")
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    phase: Literal["early", "late"]
    grade: StrictInt = Field(ge=1, le=4)
    since: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    # "verify": read from reproductions of the consensus table, not yet from the table itself
    evidence: Literal["confirmed", "verify"] = "confirmed"
    statement: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    citation: Citation
    when: dict[str, Any]
    examples: Examples


class Counting(_Strict):
    early_window: tuple[int, int]
    recovery_days: StrictInt = Field(ge=1, le=30)
    early_thresholds: dict[Literal["early_days_anc_500", "early_days_anc_100"], float]
    late_after_day: int
    late_values: StrictInt = Field(ge=1, le=10)


class IcahtFile(_Strict):
    grade: Literal["icaht"]
    title: str
    citation: Citation
    counting: Counting
    rules: list[GradeRuleDef] = Field(min_length=1)


def _number(label: str) -> cond.FactSpec:
    return cond.FactSpec("number", label=label)


HEMATOTOX_FACTS = {
    "anc": _number("baseline ANC"), "hemoglobin": _number("baseline hemoglobin"),
    "platelets": _number("baseline platelets"), "crp": _number("baseline CRP"),
    "ferritin": _number("baseline ferritin"),
}
RISK_FACTS = {"score": _number("CAR-HEMATOTOX score")}
ICAHT_FACTS = {
    "early_days_anc_500": _number("days of ANC at or below 500/µL in days 0-30"),
    "early_days_anc_100": _number("days of ANC at or below 100/µL in days 0-30"),
    "early_anc_not_recovered": cond.FactSpec("bool", label="ANC not recovered above 500/µL by day 30",
                                             words=("not recovered by day 30", "recovered by day 30")),
    "late_anc_second_lowest": _number("second-lowest ANC after day 30"),
}


@dataclass(frozen=True)
class Criterion:
    """One item or grade rule, parsed: its id, points or grade, statement, citation, condition
    and examples."""

    id: str
    value: int  # points (CAR-HEMATOTOX) or grade (ICAHT)
    statement: str
    citation: Citation
    condition: cond.Node
    examples: Examples
    phase: str = ""
    evidence: str = "confirmed"


class HematotoxSummary(BaseModel):
    """A patient's hematotoxicity. CAR-HEMATOTOX is a lower bound when baseline values are
    missing (`car_hematotox_missing`); its risk group is given only when the missing values
    could not change it. A grade is None when no ANC was recorded in its window."""

    model_config = ConfigDict(frozen=True)

    car_hematotox_score: int | None
    car_hematotox_max: int | None
    car_hematotox_risk: str | None
    car_hematotox_rules: tuple[str, ...]
    car_hematotox_missing: tuple[str, ...]
    icaht_early_grade: int | None
    # the last day of days 0-30 with an ANC; when the record ends earlier the grade could be higher
    icaht_early_last_day: int | None
    icaht_early_could_be_higher: bool
    icaht_early_rules: tuple[str, ...]
    icaht_late_grade: int | None
    icaht_late_rules: tuple[str, ...]
    gcsf_days: int
    easix_baseline: float | None
    m_easix_baseline: float | None
    easix_by_day: dict[int, float] = {}

    def recorded(self) -> bool:
        """Whether the record held anything these scores could use."""
        return (self.car_hematotox_score is not None or self.icaht_early_grade is not None
                or self.icaht_late_grade is not None or self.easix_baseline is not None or self.gcsf_days > 0)

    def early_text(self) -> str:
        """Early ICAHT as tables show it: "2", "2+ (ANC to day 11)", "–"."""
        if self.icaht_early_grade is None:
            return "–"
        if self.icaht_early_could_be_higher:
            return f"{self.icaht_early_grade}+ (ANC to day {self.icaht_early_last_day})"
        return str(self.icaht_early_grade)

    def score_text(self) -> str:
        """CAR-HEMATOTOX as tables show it: "2 to 6, high", "0, low", "–"."""
        if self.car_hematotox_score is None:
            return "–"
        score = (f"{self.car_hematotox_score}" if self.car_hematotox_max == self.car_hematotox_score
                 else f"{self.car_hematotox_score} to {self.car_hematotox_max}")
        return f"{score}, {self.car_hematotox_risk or 'risk not known'}"


class _Resolved(NamedTuple):
    items: tuple[tuple[Criterion, cond.Node], ...]
    risk: tuple[tuple[str, cond.Node], ...]
    grades: tuple[tuple[Criterion, cond.Node], ...]
    most: dict[str, int]  # the most points an item testing each input can give


@dataclass(frozen=True)
class Hematotoxicity:
    """The scores' rule files, loaded and checked; `summary()` applies them to a patient."""

    manifest: ScoresManifest
    hematotox: HematotoxFile
    items: tuple[Criterion, ...]
    risk: tuple[tuple[str, cond.Node], ...]
    icaht: IcahtFile
    grades: tuple[Criterion, ...]
    directory: Path
    inputs: tuple[str, ...]  # the baseline values CAR-HEMATOTOX's items test
    # The conditions with settings folded in, by settings (a cohort's patients share them).
    _resolved: dict[tuple[tuple[str, Any], ...], _Resolved] = field(default_factory=dict, init=False, repr=False,
                                                                   compare=False)

    def settings(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every setting's value: its default unless overridden (names of other systems are
        left to them)."""
        declared = self.manifest.settings
        given = dict(overrides or {})
        return {name: spec.parse(name, given[name]) if name in given else spec.default
                for name, spec in declared.items()}

    def _resolve(self, settings: Mapping[str, Any]) -> _Resolved:
        key = tuple(sorted(settings.items()))
        if key not in self._resolved:
            def fold(node: cond.Node) -> cond.Node:
                return cond.resolve(node, {}, settings)

            self._resolved[key] = _Resolved(
                tuple((i, fold(i.condition)) for i in self.items),
                tuple((name, fold(node)) for name, node in self.risk),
                tuple((g, fold(g.condition)) for g in self.grades),
                {name: max((i.value for i in self.items if _tests(i, name)), default=0) for name in self.inputs})
        return self._resolved[key]

    def summary(self, days: Sequence[Any], settings: Mapping[str, Any]) -> HematotoxSummary:
        """A patient's hematotoxicity from their graded days (in day order), each with `day` and
        `blood`, the day's values of BLOOD."""
        resolved = self._resolve(settings)
        baseline = _baseline(days)
        fired = [item for item, node in resolved.items if _holds(node, baseline)]
        score = sum(item.value for item in fired)
        missing = tuple(name for name in self.inputs if baseline.get(name) is None)
        most = score + sum(resolved.most[name] for name in missing)
        recorded = len(missing) < len(self.inputs)
        risks = {name for value in (score, most) for name, node in resolved.risk if _holds(node, {"score": value})}
        counting = self.icaht.counting
        early_facts, early_to = _early_facts(days, counting, settings["icaht_early_duration"])
        late_fact = _late_second_lowest(days, counting)
        early = [g for g, node in resolved.grades if g.phase == "early" and _holds(node, early_facts)]
        late = [g for g, node in resolved.grades if g.phase == "late" and
                _holds(node, {"late_anc_second_lowest": late_fact})]
        easix = {d.day: value for d in days if (value := _easix(d.blood, "creatinine")) is not None}
        return HematotoxSummary(
            car_hematotox_score=score if recorded else None,
            car_hematotox_max=most if recorded else None,
            car_hematotox_risk=risks.pop() if recorded and len(risks) == 1 else None,
            car_hematotox_rules=tuple(item.id for item in fired),
            car_hematotox_missing=missing,
            icaht_early_grade=_grade(early, early_to is not None),
            icaht_early_last_day=early_to,
            icaht_early_could_be_higher=early_to is not None and early_to < counting.early_window[1]
            and (_grade(early, True) or 0) < 4,
            icaht_early_rules=_top(early),
            icaht_late_grade=_grade(late, late_fact is not None),
            icaht_late_rules=_top(late),
            gcsf_days=sum(1 for d in days if d.blood.get("gcsf")),
            easix_baseline=_easix(baseline, "creatinine"),
            m_easix_baseline=_easix(baseline, "crp"),
            easix_by_day={day: value for day, value in easix.items() if day >= 0},
        )


def split_settings(settings: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings given together: those of the grading systems, and those of these scores."""
    own = load_hematotoxicity().manifest.settings
    given = dict(settings or {})
    return {k: v for k, v in given.items() if k not in own}, {k: v for k, v in given.items() if k in own}


def _holds(node: cond.Node, fact: Mapping[str, Any]) -> bool:
    return cond.evaluate(node, fact) is True


def _tests(item: Criterion, name: str) -> bool:
    return name in cond.fields_of(item.condition)


def _grade(fired: list[Criterion], known: bool) -> int | None:
    return max(g.value for g in fired) if fired else (0 if known else None)


def _top(fired: list[Criterion]) -> tuple[str, ...]:
    best = max((g.value for g in fired), default=None)
    return tuple(g.id for g in fired if g.value == best)


def _baseline(days: Sequence[Any]) -> dict[str, Any]:
    """Each baseline value from the latest draw marked baseline that records it."""
    values: dict[str, Any] = {}
    for day in days:
        if day.blood.get("baseline"):
            values.update({name: value for name, value in day.blood.items() if value is not None})
    return values


def _easix(values: Mapping[str, Any], numerator: str) -> float | None:
    """EASIX (numerator creatinine, mg/dL) or m-EASIX (CRP, taken in mg/dL from mg/L)."""
    ldh, platelets, other = values.get("ldh"), values.get("platelets"), values.get(numerator)
    if ldh is None or other is None or not platelets:
        return None
    return round(float(ldh * (other / 10 if numerator == "crp" else other) / platelets), 3)


def _episodes(anc: Sequence[tuple[int, float]], threshold: float,
              recovery_values: int) -> list[tuple[int, int, bool]]:
    """(first day, last day, whether it recovered) of each episode of ANC at or below
    `threshold`: a recovery is the ANC above it on `recovery_values` consecutive values (on
    different days); a shorter one stays inside the episode."""
    found: list[tuple[int, int, bool]] = []
    start = last = None
    above = 0
    for day, value in anc:
        if value <= threshold:
            start = day if start is None else start
            last, above = day, 0
            continue
        above += 1
        if start is not None and last is not None and above >= recovery_values:
            found.append((start, last, True))
            start = last = None
    if start is not None and last is not None:
        found.append((start, last, False))
    return found


def _early_facts(days: Sequence[Any], counting: Counting, duration: str) -> tuple[dict[str, Any], int | None]:
    """The early-ICAHT facts, and the last day of the window with an ANC (None: none there).

    Episodes are found on the whole record, so that one begun before day 0 counts from day 0;
    each is clipped to the window."""
    first, end = counting.early_window
    anc = [(d.day, d.blood["anc"]) for d in days if d.blood.get("anc") is not None]
    window = [day for day, _ in anc if first <= day <= end]
    facts: dict[str, Any] = {}
    for name, threshold in counting.early_thresholds.items():
        spans = [(max(a, first), min(b, end), recovered) for a, b, recovered
                 in _episodes(anc, threshold, counting.recovery_days) if a <= end and b >= first]
        lengths = [b - a + 1 for a, b, _ in spans]
        facts[name] = (sum(lengths) if duration == "cumulative" else max(lengths)) if lengths else 0
        if name == "early_days_anc_500":
            facts["early_anc_not_recovered"] = _not_recovered(spans, first, end, window)
    return facts, max(window) if window else None


def _not_recovered(spans: list[tuple[int, int, bool]], first: int, end: int, window: list[int]) -> bool | None:
    """Whether the ANC stayed at or below 500 from the first day of the window to its last: True
    for an episode covering it; not known when one covering it so far stops with the record
    before its end; False otherwise (and None with no ANC in the window)."""
    if not window:
        return None
    covering = [(b, recovered) for a, b, recovered in spans if a <= first]
    if any(b >= end for b, _ in covering):
        return True
    return None if any(not recovered for _, recovered in covering) else False


def _late_second_lowest(days: Sequence[Any], counting: Counting) -> float | None:
    """The `late_values`-th lowest ANC after the early window (None with fewer values)."""
    late = sorted(d.blood["anc"] for d in days if d.day > counting.late_after_day and d.blood.get("anc") is not None)
    return late[counting.late_values - 1] if len(late) >= counting.late_values else None


def _settings_specs(manifest: ScoresManifest) -> dict[str, cond.SettingSpec]:
    return {name: cond.SettingSpec(s.type, tuple(s.choices)) for name, s in manifest.settings.items()}


def _criteria(path: Path, entries: Iterable[Any], facts: Mapping[str, cond.FactSpec],
              parser: cond.Parser, value: str) -> tuple[Criterion, ...]:
    """Each item or rule of a file, its condition parsed and its examples checked."""
    problems, parsed, seen = [], [], set()
    for entry in entries:
        if entry.id in seen:
            problems.append(f"{path}: rule {entry.id}: duplicate id")
        seen.add(entry.id)
        try:
            node = parser.parse(entry.when, f"rule {entry.id}: when")
        except cond.ConditionError as exc:
            problems.append(f"{path}: {exc}")
            continue
        for kind in ("matches", "does_not_match"):
            for number, example in enumerate(getattr(entry.examples, kind)):
                problem = _example_problem(example, facts)
                if problem:
                    problems.append(f"{path}: rule {entry.id}: examples.{kind}[{number}]: {problem}")
        parsed.append(Criterion(entry.id, getattr(entry, value), " ".join(entry.statement.split()), entry.citation,
                                node, entry.examples, getattr(entry, "phase", ""),
                                getattr(entry, "evidence", "confirmed")))
    if problems:
        raise RuleFileError("\n".join(problems))
    return tuple(parsed)


def load_hematotoxicity(directory: Path | str | None = None) -> Hematotoxicity:
    """The scores' rule files (the shipped ones by default), read as data and checked."""
    directory = Path(directory) if directory is not None else shipped("rules", "hematotoxicity")
    names = (MANIFEST, HEMATOTOX_FILE, ICAHT_FILE)
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise RuleFileError(f"{directory}: not a hematotoxicity rule directory (no {', '.join(missing)})")
    return _load(directory, tuple((name, _read_bytes(directory / name)) for name in names))


@lru_cache(maxsize=4)
def _load(directory: Path, files: tuple[tuple[str, bytes], ...]) -> Hematotoxicity:
    raw = dict(files)
    manifest, _, _ = _parse(ScoresManifest, directory / MANIFEST, raw[MANIFEST])
    hematotox, _, _ = _parse(HematotoxFile, directory / HEMATOTOX_FILE, raw[HEMATOTOX_FILE])
    icaht, _, _ = _parse(IcahtFile, directory / ICAHT_FILE, raw[ICAHT_FILE])
    cited = [(MANIFEST, manifest.easix.citation), (HEMATOTOX_FILE, hematotox.citation),
             (ICAHT_FILE, icaht.citation), *((MANIFEST, s.citation) for s in manifest.settings.values()),
             *((HEMATOTOX_FILE, i.citation) for i in hematotox.items), *((ICAHT_FILE, r.citation) for r in icaht.rules)]
    unknown = [f"{directory / name}: unknown reference '{c.ref}'"
               for name, c in cited if c.ref not in manifest.references]
    if unknown:
        raise RuleFileError("\n".join(unknown))
    specs = _settings_specs(manifest)
    items = _criteria(directory / HEMATOTOX_FILE, hematotox.items, HEMATOTOX_FACTS,
                      cond.Parser(HEMATOTOX_FACTS, specs, set()), "points")
    risk_parser = cond.Parser(RISK_FACTS, specs, set())
    try:
        risk = tuple((r.name, risk_parser.parse(r.when, f"risk {r.name}: when")) for r in hematotox.risk)
    except cond.ConditionError as exc:
        raise RuleFileError(f"{directory / HEMATOTOX_FILE}: {exc}") from None
    grades = _criteria(directory / ICAHT_FILE, icaht.rules, ICAHT_FACTS, cond.Parser(ICAHT_FACTS, specs, set()),
                       "grade")
    if "icaht_early_duration" not in manifest.settings:
        raise RuleFileError(f"{directory / MANIFEST}: the setting icaht_early_duration is needed by {ICAHT_FILE}")
    inputs = tuple(name for name in HEMATOTOX_FACTS if any(_tests(item, name) for item in items))
    return Hematotoxicity(manifest, hematotox, items, risk, icaht, grades, directory, inputs)
