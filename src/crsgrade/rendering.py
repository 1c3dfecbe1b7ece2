"""What a grade says: rule ids, reasons, "not recorded" and explanations, written once per
distinct combination of an outcome and the values its messages show, never once per day."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json

from .explain import Explainer, setting_effects
from .facts import ASIDE_FACTS, NOT_ASSESSABLE, SET_ASIDE, aside_reason, format_value, message_facts
from .observations import BLOOD, ICE_ITEMS
from .results import FiredRule, GradedDay, GradedPatient, SettingEffect, SyndromeGrade
from .ruleset import PLACEHOLDER, Rule, SettingRef
from .syndromes import SYNDROMES, Syndrome

if TYPE_CHECKING:
    from .grading import Grader

AFTER_DEATH = "not graded: recorded after death on day {}"
_SETTINGS = "@@crsgrade:settings@@"  # where a day's settings go in its cached explanation JSON
_EXPLANATION = "@@crsgrade:explanation@@"  # where the explanation goes in a syndrome's JSON
# The settings' JSON kept for reuse, at most: settings can name a patient's day, so a large
# cohort keeps meeting new ones, and keeping them all would grow memory with the file.
_KEPT_PARTS = 16_384
# The grades and explanations kept for reuse, at most, for the same reason: they are written once
# per distinct outcome and values shown, and a large cohort keeps meeting new values.
_KEPT_GRADES = 16_384
_SETTING_EFFECTS = TypeAdapter(tuple[SettingEffect, ...])
_ASIDE_COLUMNS = tuple((name, f"s.{name}") for name in ASIDE_FACTS)
_Consulted = tuple[tuple[str, str, str], ...]  # settings consulted: (syndrome, setting, what it decided)


def render(template: str, fact: Mapping[str, Any]) -> str:
    """Fills `{fact}` placeholders; only names, never expressions, so a rule file cannot run code."""
    pieces = _pieces(template)
    return "".join(piece if literal else format_value(fact.get(piece)) for literal, piece in pieces).strip()


@lru_cache(maxsize=4096)
def _pieces(template: str) -> tuple[tuple[bool, str], ...]:
    """A template as its literal text and placeholder names, in order, split once."""
    pieces, last = [], 0
    for match in PLACEHOLDER.finditer(template):
        pieces += [(True, template[last:match.start()]), (False, match.group(1))]
        last = match.end()
    return tuple([*pieces, (True, template[last:])])


def join_messages(messages: list[str]) -> str:
    """Joins the messages of the rules that set a grade, sharing a common "... with" opening:
    "fever 39 °C with hypotension ..." and "fever 39 °C with low-flow oxygen" become
    "fever 39 °C with hypotension ... and low-flow oxygen"."""
    unique = list(dict.fromkeys(messages))
    heads = {m.partition(" with ")[0] for m in unique}
    if len(unique) > 1 and len(heads) == 1 and all(" with " in m for m in unique):
        head = heads.pop()
        return f"{head} with " + " and ".join(m.partition(" with ")[2] for m in unique)
    return "; ".join(unique)


def _indented(model: BaseModel, level: int) -> bytes:
    """JSON of a result model, indented by two as it would be `level` levels deep."""
    return model.__pydantic_serializer__.to_json(model, indent=2, warnings=False).replace(
        b"\n", b"\n" + b"  " * level)


def _reported(row: Mapping[str, Any]) -> dict[Syndrome, int | None]:
    """The investigator's grades of a day, by syndrome (None where the input has none)."""
    return {s: row.get(f"reported_{s}_grade") for s in SYNDROMES}


def _day_shell(fever_waived: bool, therapies: tuple[str, ...], reported: tuple[int | None, ...],
               blood: tuple[tuple[str, Any], ...], note: str | None, readings: int, notes: tuple[str, ...],
               set_aside: str | None, level: int) -> tuple[bytes, bytes, list[bytes]]:
    """A day's JSON as a GradedDay's, indented as `level` levels deep, but for its patient, its
    day and each syndrome's part, which go after the first piece, the second and each of the
    rest but the last."""
    day = {"patient_id": "", "day": 0, "grades": dict.fromkeys(SYNDROMES), "fever_waived": fever_waived,
           "therapies": therapies, "reported_grades": dict(zip(SYNDROMES, reported, strict=True)),
           "blood": dict(blood), "note": note, "readings": readings, "notes": notes,
           "set_aside": tuple(set_aside.split("\n")) if set_aside else ()}
    text = to_json(day, indent=2).replace(b"\n", b"\n" + b"  " * level)
    opening, rest = text.split(b'""', 1)
    between, rest = rest.split(b"0", 1)
    around = []
    for syndrome in SYNDROMES:
        before, rest = rest.split(b'"%s": null' % syndrome.encode(), 1)
        around.append(before + b'"%s": ' % syndrome.encode())
    return opening, between, [*around, rest]


def _placeholders(rules: list[Rule]) -> tuple[str, ...]:
    return tuple(sorted({name for rule in rules for name in PLACEHOLDER.findall(rule.message)}))


class Renderer:
    """The texts of a grader's outcomes."""

    def __init__(self, grader: Grader):
        self.grader = grader
        self.evaluation = grader.evaluation
        self.written = message_facts(grader.ruleset.definitions, grader.settings)
        self.explainer = Explainer(grader.ruleset, grader.resolved, grader.settings)
        self._grades: dict[tuple[Any, ...], SyndromeGrade] = {}
        self._explanations: dict[tuple[Any, ...], Any] = {}
        self._json: dict[tuple[Any, ...], bytes] = {}
        # JSON around what goes inside a grade or an explanation, by its id and the depth of its day
        self._shells: dict[tuple[str, int, int], tuple[bytes, bytes]] = {}
        self._shown: dict[tuple[int, Syndrome], tuple[str, ...]] = {}
        self._tested_columns = {syndrome: tuple(f"f.{name}" for name in names)
                                for syndrome, names in self.evaluation.tested_by.items()}
        # what a day's grade is written from, and a syndrome's explanation but for its settings
        self._graded_from = ["_o", *self._sources(_placeholders(list(self.evaluation.rules.values())))]
        self._explained_from = {syndrome: ["_o", *self._tested_columns[syndrome], *(c for _, c in _ASIDE_COLUMNS),
                                           "f.age_years"] for syndrome in SYNDROMES}
        # what the settings behind a day's oxygen class and assessment tool are found from
        self._derived_from = ["o2_device", "o2_flow_lpm", "f.o2_class", "f.age_years", "ice_score", *ICE_ITEMS]
        # what a day's notes are written from
        self._noted_from = ["s.ice_total", "f.age_years", "ice_score", *ICE_ITEMS, *self._sources(("fio2_basis",))]
        # what a day's JSON shows but for its patient, day, parts, blood values and therapies
        self._shown_columns = ["fever_waived", *(f"reported_{s}_grade" for s in SYNDROMES), "note", "readings",
                               "set_aside", *self._noted_from]

    def _top(self, number: int, syndrome: Syndrome) -> list[Rule]:
        outcome = self.evaluation.outcomes.items[number]
        return [self.evaluation.rules[rule_id] for rule_id in outcome.top[syndrome]]

    def reason(self, number: int, syndrome: Syndrome, values: Mapping[str, Any]) -> str:
        outcome = self.evaluation.outcomes.items[number]
        if outcome.grade[syndrome] is None:
            return outcome.no_grade[syndrome] or ""
        text = join_messages([render(rule.message, values) for rule in self._top(number, syndrome)])
        return f"{text}; score and consciousness {NOT_ASSESSABLE}" if outcome.not_assessed[syndrome] else text

    def _sources(self, names: tuple[str, ...]) -> list[str]:
        """The columns placeholders are written from: a fact's `f.` column, or the columns of a
        fact that only messages show."""
        columns: list[str] = []
        for name in names:
            columns += self.written[name][0] if name in self.written else [f"f.{name}"]
        return list(dict.fromkeys(columns))

    def values(self, names: tuple[str, ...], row: Mapping[str, Any]) -> dict[str, Any]:
        """The values placeholders show, from a row's columns."""
        out = {}
        for name in names:
            if name in self.written:
                columns, say = self.written[name]
                out[name] = say(*(row.get(c) for c in columns))
            else:
                out[name] = row.get(f"f.{name}")
        return out

    def _reasons(self, days: pl.DataFrame, syndrome: Syndrome) -> pl.Series:
        """Each day's reason, written once per distinct outcome and the values it shows."""
        numbers = days["_o"].unique().to_list()
        needs = {number: _placeholders(self._top(number, syndrome)) for number in numbers}
        sources = {number: set(self._sources(names)) for number, names in needs.items()}
        columns = [c for c in dict.fromkeys(c for n in numbers for c in sorted(sources[n])) if c in days.columns]
        masked = days.select(pl.col("_o"), *[
            pl.when(pl.col("_o").is_in([n for n in numbers if c in sources[n]])).then(pl.col(c)).alias(c)
            for c in columns])
        reason_of, distinct = _numbered(masked, masked.columns)
        said = [self.reason(row["_o"], syndrome, self.values(needs[row["_o"]], row)) for row in distinct]
        return pl.Series(said, dtype=pl.String).gather(reason_of)

    def columns(self, days: pl.DataFrame, reasons: bool = True) -> pl.DataFrame:
        """The grade columns of `crsgrade grade --format csv`, for days carrying `_o` (the
        reasons only when asked)."""
        outcomes = self.evaluation.outcomes
        number = days["_o"]
        late = pl.col("_after_death")
        died = pl.when(pl.col("_died")).then(pl.col("day")).forward_fill().over("_p")
        columns = []
        for syndrome in SYNDROMES:
            columns += [
                pl.when(~late).then(outcomes.series("grade", syndrome).gather(number)).alias(f"{syndrome}_grade"),
                pl.when(~late).then(outcomes.series("top", syndrome).gather(number)).alias(f"{syndrome}_rules"),
                pl.when(~late).then(self._reasons(days, syndrome) if reasons else None).otherwise(
                    pl.format(AFTER_DEATH, died)).alias(f"{syndrome}_reason"),
                pl.when(~late).then(outcomes.series("missing", syndrome).gather(number))
                .alias(f"{syndrome}_not_recorded"),
            ]
        return days.with_columns(columns).with_columns(
            (pl.col("f.fever_waived") & ~late).alias("fever_waived"))

    # -- typed results ----------------------------------------------------------------------

    def _grade_key(self, number: int, syndrome: Syndrome, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """What a day's grade of a syndrome is written from: its outcome and the values its
        rules' messages show."""
        names = self._shown.get((number, syndrome))
        if names is None:
            names = self._shown[(number, syndrome)] = _placeholders(self.evaluation.rules_of(number, syndrome))
        return (number, syndrome, *self.values(names, row).values())

    def _syndrome_grade(self, number: int, syndrome: Syndrome, row: Mapping[str, Any]) -> SyndromeGrade:
        key = self._grade_key(number, syndrome, row)
        grade = self._grades.get(key)
        if grade is None:
            outcome = self.evaluation.outcomes.items[number]
            fired = self.evaluation.rules_of(number, syndrome)
            values = self.values(self._shown[(number, syndrome)], row)
            grade = SyndromeGrade(
                grade=outcome.grade[syndrome], reason=self.reason(number, syndrome, values),
                rules=tuple(FiredRule(id=r.id, grade=r.grade, message=render(r.message, values)) for r in fired),
                not_recorded=outcome.not_recorded[syndrome])
            self._grades[key] = grade
        return grade

    def patients(self, frame: pl.DataFrame, explain_days: bool) -> Iterator[GradedPatient]:
        """The graded days of a frame as typed results, patient by patient. A day's grades and
        notes are each made once per distinct set of what they are written from."""
        from .grading import day_blood, day_therapies

        self._forget_if_many()
        parts = self._parts(frame, explain_days)
        made: dict[tuple[Syndrome, int, int], SyndromeGrade] = {}  # a grade with its explanation

        def graded(syndrome: Syndrome, index: int) -> SyndromeGrade:
            part = parts[syndrome]
            grade: SyndromeGrade = part.grades[part.grade_of[index]]
            if not part.explained_of:
                return grade
            key = (syndrome, part.grade_of[index], part.explained_of[index])
            found = made.get(key)
            if found is None:
                core, consulted = part.explained[key[2]]
                found = made[key] = grade.model_copy(update={"explanation": self._with_settings(core, consulted)})
            return found

        therapies, blood = day_therapies(frame), day_blood(frame)
        noted_of, noted = _numbered(frame, [*(c for c in self._noted_from if c in frame.columns),
                                            *_negative(frame, self._noted_from)])
        notes = [self._notes(row) for row in noted]
        columns = ("patient_id", "day", "_after_death", "crs_reason", "fever_waived", "note", "readings", "set_aside",
                   *(f"reported_{s}_grade" for s in SYNDROMES))
        current: list[GradedDay] = []
        patient: str | None = None
        for index, (patient_id, day, late, reason, waived, note, readings, aside, *reported) in enumerate(zip(
                *(frame[c].to_list() if c in frame.columns else [None] * frame.height for c in columns),
                strict=True)):
            if patient is not None and patient_id != patient:
                yield GradedPatient(patient_id=patient, days=tuple(current))
                current = []
            patient = patient_id
            grades = {s: SyndromeGrade(grade=None, reason=reason) for s in SYNDROMES} if late else \
                {s: graded(s, index) for s in SYNDROMES}
            current.append(GradedDay.model_construct(
                patient_id=patient_id, day=day, grades=grades, fever_waived=bool(waived), therapies=therapies[index],
                reported_grades=dict(zip(SYNDROMES, reported, strict=True)), blood=blood[index], note=note,
                readings=readings, notes=notes[noted_of[index]], set_aside=tuple(aside.split("\n")) if aside else ()))
        if patient is not None:
            yield GradedPatient(patient_id=patient, days=tuple(current))

    def explained_json(self, frame: pl.DataFrame, patient: str | None = None,
                       day: int | None = None) -> Iterator[bytes]:
        """Each day of a graded frame (or those of a patient, a day), with its explanations, as
        the JSON of `crsgrade explain --format json` lists it (UTF-8, indented as an item of its
        `days`)."""
        return (text for _, text in self._days_json(frame, True, 2, patient, day))

    def patients_json(self, frame: pl.DataFrame) -> Iterator[bytes]:
        """Each patient of a graded frame as the JSON of `crsgrade grade --format json` lists it
        (UTF-8, indented as an item of its `patients`): the same bytes as its GradedPatient's."""
        for patient, days in groupby(self._days_json(frame, False, 4), key=itemgetter(0)):
            yield b"".join([b'{\n      "patient_id": ', to_json(patient), b',\n      "days": [\n        ',
                            b",\n        ".join(text for _, text in days), b"\n      ]\n    }"])

    def _days_json(self, frame: pl.DataFrame, explained: bool, level: int, patient: str | None = None,
                   day: int | None = None) -> Iterator[tuple[str, bytes]]:
        """Each day of a graded frame (or those of a patient, a day) with its patient, and its
        JSON as a GradedDay's, indented as `level` levels deep. A day is put together from
        pieces each written once: per distinct grade, per distinct explanation and settings, and
        per distinct rest of a day (all but its patient and number), found on columns."""
        self._forget_if_many()
        parts = self._parts(frame, explained)
        if explained:
            grade_json = {s: [self._grade_json(grade, level) for grade in part.grades] for s, part in parts.items()}
            explanation_json = {s: [self._explanation_json(core, consulted, level) for core, consulted
                                    in part.explained] for s, part in parts.items()}
        else:
            whole_json = {s: [self._whole_grade_json(grade, level) for grade in part.grades]
                          for s, part in parts.items()}
        shell_of, shells = self._day_shells(frame, level)
        chosen = pl.lit(True)
        if patient is not None:
            chosen &= pl.col("patient_id") == patient
        if day is not None:
            chosen &= pl.col("day") == day
        rows = frame.select(pl.int_range(pl.len()).filter(chosen)).to_series().to_list() \
            if patient is not None or day is not None else range(frame.height)
        patients, days, late, reasons = (frame[c].to_list()
                                         for c in ("patient_id", "day", "_after_death", "crs_reason"))
        last, patient_json = None, b""
        for index in rows:
            if patients[index] != last:
                last, patient_json = patients[index], to_json(patients[index])
            opening, between, around = shells[shell_of[index]]
            pieces = [opening, patient_json, between, b"%d" % days[index]]
            for before, syndrome in zip(around, SYNDROMES, strict=False):
                pieces.append(before)
                part = parts[syndrome]
                if late[index]:
                    pieces.append(self._after_death_json(reasons[index], level))
                elif explained:
                    grade_opening, grade_closing = grade_json[syndrome][part.grade_of[index]]
                    pieces.append(grade_opening)
                    pieces += explanation_json[syndrome][part.explained_of[index]]
                    pieces.append(grade_closing)
                else:
                    pieces.append(whole_json[syndrome][part.grade_of[index]])
            pieces.append(around[-1])
            yield patients[index], b"".join(pieces)

    def _forget_if_many(self) -> None:
        """Before a batch, the grades, explanations and JSON pieces kept so far forgotten when
        there are many. All at once, and never within a batch: the JSON pieces are keyed by the
        ids of the grades and explanations they were written from, which must stay alive. So a
        renderer writes one batch at a time: a batch begun before another ends could add pieces
        keyed by grades already forgotten."""
        if len(self._grades) + len(self._explanations) > _KEPT_GRADES:
            self._grades.clear()
            self._explanations.clear()
            self._shells.clear()
            self._json.clear()

    def _parts(self, frame: pl.DataFrame, explained: bool = True) -> dict[Syndrome, _Parts]:
        """Each syndrome's grades of the days of a frame and, when `explained`, their
        explanations but for the settings, with the settings the days' derived facts and the
        fever waiver consulted. A grade and an explanation are each made once per distinct set
        of the columns they are written from."""
        consulted = self._consulted(frame) if explained else None
        parts = {}
        for syndrome in SYNDROMES:
            grade_of, grades = _each_distinct(frame, self._graded_from, partial(self._grade_from, syndrome))
            if consulted is None:
                parts[syndrome] = _Parts(grade_of.to_list(), grades, [], [])
                continue
            core_of, cores = _each_distinct(frame, self._explained_from[syndrome],
                                            partial(self._explanation_from, syndrome))
            consulted_of, settings = consulted[syndrome]
            numbers = pl.DataFrame([core_of.alias("c"), consulted_of.alias("k")])
            explained_of, distinct = _numbered(numbers, ["c", "k"], pl.col("c").is_not_null())
            parts[syndrome] = _Parts(grade_of.to_list(), grades, explained_of.to_list(),
                                     [(cores[key["c"]], settings[key["k"]]) for key in distinct])
        return parts

    def _grade_from(self, syndrome: Syndrome, key: Mapping[str, Any]) -> SyndromeGrade:
        return self._syndrome_grade(key["_o"], syndrome, key)

    def _explanation_from(self, syndrome: Syndrome, key: Mapping[str, Any]) -> Any:
        return self._explanation(key, syndrome, self.evaluation.outcomes.items[key["_o"]].grade[syndrome])

    def _consulted(self, frame: pl.DataFrame) -> dict[Syndrome, tuple[pl.Series, list[_Consulted]]]:
        """The settings each day (before a death) rests on but for its explanations' own, by
        syndrome: each day's number among the frame's distinct ones, and those. The fever
        waiver's are found by following each patient's days, the oxygen class's and the
        assessment tool's once per distinct set of the columns they are read from."""
        waiver = _waiver_consulted(self.grader, frame)
        known: dict[_Consulted, int] = {}
        waiver_of = pl.Series([known.setdefault(used, len(known)) for used in waiver], dtype=pl.UInt32)
        waivers = list(known)
        derived_of, derived = _each_distinct(frame, self._derived_from, self._derived, zeros_apart=True)
        numbers = pl.DataFrame([waiver_of.alias("w"), derived_of.alias("d")])
        both_of, both = _numbered(numbers, ["w", "d"], pl.col("d").is_not_null())
        consulted = {}
        for syndrome in SYNDROMES:
            # numbered again by what the syndrome's own settings are: most days share them
            own: dict[_Consulted, int] = {}
            renumbered = pl.Series([own.setdefault(tuple(e for e in (*waivers[key["w"]], *derived[key["d"]])
                                                         if e[0] == syndrome), len(own)) for key in both],
                                   dtype=pl.UInt32)
            consulted[syndrome] = (renumbered.gather(both_of), list(own))
        return consulted

    def _derived(self, row: Mapping[str, Any]) -> _Consulted:
        """The settings behind a day's oxygen class and assessment tool."""
        definitions, used = self.grader.ruleset.definitions, []
        device = row.get("o2_device")
        if device is not None:
            entry = definitions.oxygen.devices[device]
            flow = row.get("o2_flow_lpm")
            chosen = entry.class_ if not entry.by_flow else (
                entry.at_or_below if flow is None or flow <= definitions.oxygen.flow_boundary_lpm else entry.above)
            if isinstance(chosen, SettingRef):
                support = self.written["o2_support"][1](device, flow)
                used.append(("crs", chosen.setting, f"{support} classed as {row['f.o2_class']}"))
        encephalopathy = definitions.encephalopathy
        below = encephalopathy.capd_below_age if encephalopathy is not None else None
        age = row["f.age_years"]
        if isinstance(below, SettingRef) and age is not None and _ice_recorded(row):
            tool = "CAPD, so ICE is not used" if age < below.value(self.grader.settings) else "ICE"
            used.append(("icans", below.setting, f"age {age:g}: assessed with {tool}"))
        return tuple(used)

    def _day_shells(self, frame: pl.DataFrame, level: int) -> tuple[list[int], list[tuple[bytes, bytes, list[bytes]]]]:
        """Each day's JSON but for its patient, its day and its parts, as its number among the
        frame's distinct ones, and those: written once per distinct set of the columns they show."""
        from .grading import censored_blood, joined_therapies, split_therapies

        blood = [name for name in BLOOD if name in frame.columns]
        therapies = joined_therapies(frame)
        shown = [c for c in self._shown_columns if c in frame.columns]
        key = [*shown, *censored_blood(frame), *_negative(frame, [*shown, *blood]),
               *([therapies.alias("_therapies")] if therapies is not None else [])]

        def shell(row: Mapping[str, Any]) -> tuple[bytes, bytes, list[bytes]]:
            return _day_shell(
                bool(row["fever_waived"]), split_therapies(row.get("_therapies")), tuple(_reported(row).values()),
                tuple((n, row[n]) for n in blood if row[n] is not None), row.get("note"), row["readings"],
                self._notes(row), row["set_aside"], level)

        shell_of, distinct = _numbered(frame, key)
        return shell_of.to_list(), [shell(row) for row in distinct]

    def _after_death_json(self, reason: str, level: int) -> bytes:
        key = ("after death", reason, level)
        part = self._json.get(key)
        if part is None:
            part = self._json[key] = _indented(SyndromeGrade(grade=None, reason=reason), level + 2)
        return part

    def _whole_grade_json(self, grade: SyndromeGrade, level: int) -> bytes:
        """A grade's JSON as it sits in a day `level` levels deep, written once per grade."""
        key = ("grade", id(grade), level)
        found = self._json.get(key)
        if found is None:
            found = self._json[key] = _indented(grade, level + 2)
        return found

    def _grade_json(self, grade: SyndromeGrade, level: int) -> tuple[bytes, bytes]:
        """A grade's JSON before and after its explanation, written once per grade."""
        key = ("grade", id(grade), level)
        found = self._shells.get(key)
        if found is None:
            found = self._shells[key] = _around(grade.model_copy(update={"explanation": _EXPLANATION}), level + 2,
                                                _EXPLANATION)
        return found

    def _explanation_json(self, core: Any, consulted: _Consulted, level: int) -> tuple[bytes, bytes, bytes]:
        """An explanation's JSON: before its settings, the settings (its own and those its
        derived facts and the fever waiver consulted), and after. What surrounds the settings is
        written once per explanation."""
        key = ("explanation", id(core), level)
        found = self._shells.get(key)
        if found is None:
            shell = core.model_construct(**{**dict(core), "settings": _SETTINGS})
            found = self._shells[key] = _around(shell, level + 3, _SETTINGS)
        return found[0], self._settings_json(core, consulted, level), found[1]

    def _settings_json(self, core: Any, derived: _Consulted, level: int) -> bytes:
        """The settings an explanation rests on, its own and those the day's derived facts
        consulted, as they sit in a syndrome's part of a day `level` levels deep."""
        key = (id(core), derived, level)
        found = self._json.get(key)
        if found is None:
            if len(self._json) >= _KEPT_PARTS:
                self._json.clear()
            effects = setting_effects([(e.name, e.effect) for e in core.settings] + [(n, e) for _, n, e in derived],
                                      self.grader.settings)
            found = self._json[key] = _SETTING_EFFECTS.dump_json(effects, indent=2).replace(
                b"\n", b"\n" + b"  " * (level + 4))
        return found

    def _notes(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """The day's notes: an ICE set aside, an FiO2 estimated."""
        definitions = self.grader.ruleset.definitions
        notes = []
        aside = row.get("s.ice_total")
        if aside is not None and definitions.encephalopathy and _ice_recorded(row):
            notes.append("ICE not used: " + aside_reason(aside, row["f.age_years"], definitions, self.grader.settings))
        if row.get("fio2") is None and row.get("f.fio2") is not None and self.grader.tests_fio2:
            notes.append(self.values(("fio2_basis",), row)["fio2_basis"])
        return tuple(notes)

    def _explanation_key(self, row: Mapping[str, Any], syndrome: Syndrome) -> tuple[Any, ...]:
        """What a day's explanation of a syndrome is written from, but for the settings its
        derived facts consulted: the outcome, the facts the syndrome's rules test, and the facts
        set aside (with the age that set them aside)."""
        values = tuple(map(row.get, self._tested_columns[syndrome]))
        aside = tuple((name, code) for name, column in _ASIDE_COLUMNS if (code := row.get(column)) is not None)
        return (row["_o"], syndrome, values, aside, row["f.age_years"] if aside else None)

    def _explanation(self, row: Mapping[str, Any], syndrome: Syndrome, grade: int | None) -> Any:
        """A day's explanation of a syndrome without the settings its derived facts consulted,
        written once per distinct outcome and facts."""
        key = self._explanation_key(row, syndrome)
        found = self._explanations.get(key)
        if found is not None:
            return found
        _, _, values, aside, _ = key
        tested = self.evaluation.tested_by[syndrome]
        fact = {name: value for name, value in zip(tested, values, strict=False) if value is not None}
        if aside:
            definitions = self.grader.ruleset.definitions
            fact[SET_ASIDE] = {name: aside_reason(code, row["f.age_years"], definitions, self.grader.settings)
                               for name, code in aside}
        found = self.explainer.explain(syndrome, grade, fact, self.evaluation.rules_of(row["_o"]))
        self._explanations[key] = found
        return found

    def _with_settings(self, core: Any, derived: tuple[tuple[str, str, str], ...]) -> Any:
        """An explanation with every setting it rests on: its own, and those its derived facts
        consulted."""
        if not derived:
            return core
        effects = [(e.name, e.effect) for e in core.settings] + [(n, e) for _, n, e in derived]
        return core.model_copy(update={"settings": setting_effects(effects, self.grader.settings)})


def _numbered(frame: pl.DataFrame, key: list[Any], where: pl.Expr | None = None) -> tuple[pl.Series, list[
        dict[str, Any]]]:
    """Each row's number among the distinct values of the `key` columns, in order of first
    appearance (null where the row is not `where`), and those values, row by row."""
    rows = frame.lazy().with_row_index("_row")
    if where is not None:
        rows = rows.filter(where)
    groups = rows.group_by(key, maintain_order=True).agg(pl.col("_row")).collect()
    rows_of = groups.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_number"), "_row").explode("_row")
    numbers = pl.repeat(None, frame.height, dtype=pl.UInt32, eager=True).scatter(rows_of["_row"], rows_of["_number"])
    return numbers, list(groups.drop("_row").iter_rows(named=True))


def _each_distinct(frame: pl.DataFrame, columns: list[str], make: Callable[[dict[str, Any]], Any],
                   zeros_apart: bool = False) -> tuple[pl.Series, list[Any]]:
    """Each day's number among the distinct sets of values of its `columns` (None after a death),
    and `make(values)` of each set, in order; with `zeros_apart`, -0.0 and 0.0 are distinct."""
    key = [c for c in columns if c in frame.columns]
    numbers, distinct = _numbered(frame, [*key, *_negative(frame, key)] if zeros_apart else key,
                                  ~pl.col("_after_death"))
    return numbers, [make(values) for values in distinct]


def _negative(frame: pl.DataFrame, columns: list[str]) -> list[pl.Expr]:
    """For each float column, whether its value is negative: polars groups -0.0 with 0.0, but
    a day's notes and settings write them apart ("age -0"), as does its JSON."""
    return [(1 / pl.col(c) < 0).alias(f"_negative:{c}") for c in columns
            if c in frame.columns and frame.schema[c].is_float()]


@dataclass
class _Parts:
    """A syndrome's grades and explanations of a frame's days: each day's number among the
    distinct ones (None after a death), and those. An explanation comes with the settings
    consulted that are not its own; without explanations, `explained_of` is empty."""

    grade_of: list[Any]  # int, None after a death
    grades: list[SyndromeGrade]
    explained_of: list[Any]
    explained: list[tuple[Any, _Consulted]]


def _around(model: BaseModel, level: int, placeholder: str) -> tuple[bytes, bytes]:
    """A model's JSON, indented as `level` levels deep, before and after the placeholder of
    what goes inside it."""
    before, after = _indented(model, level).split(b'"%s"' % placeholder.encode(), 1)
    return before, after


def _ice_recorded(row: Mapping[str, Any]) -> bool:
    return row.get("ice_score") is not None or all(row.get(item) is not None for item in ICE_ITEMS)


def _waiver_consulted(grader: Grader, frame: pl.DataFrame) -> list[_Consulted]:
    """The fever waiver's [open] settings each day rests on (none after a death), found by
    following each patient's days in order: those of the waiver a day is under, or the setting
    that kept a therapy from waiving fever, with the day of that therapy, on the days after it
    where fever would have been waived."""
    waiver, settings = grader.ruleset.definitions.fever_waiver, grader.settings
    if waiver is None:
        return [()] * frame.height
    prophylaxis = getattr(waiver.prophylaxis, "setting", None)
    ends = waiver.ends
    resolved = ends.setting if isinstance(ends, SettingRef) and ends.value(settings) == "episode_resolved" else None
    blocked = [(therapy, frame[therapy].to_list(), setting) for therapy, setting in waiver.therapies_by_setting.items()
               if not settings[setting] and therapy in frame.columns]
    columns = ("patient_id", "day", "_after_death", "f.fever_waived", "_therapy", "f.fever", "f.fever_other_cause",
               "crs_grade", "_waiver_therapy", "_waiver_day", "_prophylactic")
    used: list[_Consulted] = []
    patient, in_episode, note = None, False, None
    for index, (patient_id, day, late, waived, therapy, fever, other_cause, grade, waiving, given_on, prophylactic) \
            in enumerate(zip(*(frame[c].to_list() for c in columns), strict=True)):
        if patient_id != patient:
            patient, in_episode, note = patient_id, False, None
        if late:
            used.append(())
            continue
        if therapy and not waived and not in_episode and prophylaxis:
            note = (prophylaxis, f"no waiver: {therapy} on day {day} was before any CRS")
        for name, given, setting in blocked:
            if given[index] and not waived:
                note = (setting, f"no waiver: the {name} of day {day} does not waive fever")
        if waived:
            used.append(tuple(("crs", name, f"fever waived after {waiving} on day {given_on}")
                              for name in _waiver_settings(waiver, settings, waiving, prophylactic)))
        elif note is not None and not (fever and not other_cause):
            used.append((("crs", *note),))
        else:
            used.append(())
        if grade is not None and grade >= 1:
            in_episode = True
        elif grade == 0 and in_episode:
            in_episode = False
            if waived and resolved:
                note = (resolved, f"no waiver: the {waiving} of day {given_on} was given in an episode that"
                                  f" resolved on day {day}")
    return used


def _waiver_settings(waiver: Any, settings: Mapping[str, Any], therapy: str, prophylactic: bool) -> list[str]:
    """The settings a waived day's waiver rests on."""
    used = [waiver.therapies_by_setting[therapy]] if therapy in waiver.therapies_by_setting else []
    more = waiver.more_other_therapies
    if more is not None and therapy in more.value(settings) and therapy not in waiver.other_therapies:
        used.append(more.setting)
    if prophylactic and isinstance(waiver.prophylaxis, SettingRef):
        used.append(waiver.prophylaxis.setting)
    return used
