"""Episodes, registry fields, cohort figures and concordance."""

from __future__ import annotations

from crsgrade.episodes import episodes, summarise

from .conftest import ROOT, grader_for

COHORT = ROOT / "examples" / "cohort.csv"


def graded(rows):
    return grader_for("python").grade([{"patient_id": "p", **r} for r in rows])


def crs_days(temps_and_signs):
    return graded([{"day": d, **obs} for d, obs in temps_and_signs])


def test_episode_onset_peak_resolution_and_duration():
    result = crs_days([
        (0, {"temp_c": 37.0}), (1, {"temp_c": 38.4}), (2, {"temp_c": 38.9, "hypotension": True}),
        (3, {"temp_c": 38.2}), (4, {"temp_c": 37.1}), (5, {"temp_c": 36.9}),
    ])
    (episode,) = episodes(result.patients[0].days, "crs")
    assert episode.model_dump() == {
        "onset_day": 1, "peak_grade": 2, "peak_day": 2, "last_day": 3, "resolution_day": 4,
        "duration_days": 3, "days_at_grade": {1: 2, 2: 1}, "ungraded_days": 0,
    }


def test_gaps_and_ungraded_days_do_not_end_an_episode():
    result = crs_days([
        (0, {"temp_c": 38.4}), (1, {"hypotension": True}), (4, {"temp_c": 38.1}), (5, {"temp_c": 37.0}),
    ])
    (episode,) = episodes(result.patients[0].days, "crs")
    assert (episode.onset_day, episode.last_day, episode.resolution_day) == (0, 4, 5)
    assert episode.duration_days == 5 and episode.ungraded_days == 1


def test_a_second_episode_after_resolution():
    result = crs_days([(0, {"temp_c": 38.4}), (1, {"temp_c": 37.0}), (6, {"temp_c": 38.8}), (7, {"temp_c": 38.0})])
    found = episodes(result.patients[0].days, "crs")
    assert [(e.onset_day, e.resolution_day) for e in found] == [(0, 1), (6, None)]


def test_registry_fields_of_the_example():
    from .conftest import EXAMPLE

    summary = summarise(grader_for("python").grade(EXAMPLE))
    crs, icans = summary.patients[0].crs, summary.patients[0].icans
    assert (crs.occurred, crs.highest_grade, crs.highest_grade_day, crs.onset_day, crs.resolution_day) == (
        True, 3, 3, 0, None)
    assert crs.tocilizumab and crs.steroids and crs.other_therapies == ("siltuximab", "dasatinib")
    assert (icans.highest_grade, icans.highest_grade_day, icans.onset_day, icans.resolution_day,
            icans.duration_days) == (4, 7, 5, 13, 8)
    assert not icans.tocilizumab  # tocilizumab ended on day 4, before ICANS began


def test_cohort_figures():
    summary = summarise(grader_for("python").grade(COHORT))
    crs, icans = summary.cohort["crs"], summary.cohort["icans"]
    assert (crs.patients, crs.any_grade, crs.grade_3_or_more) == (4, 3, 1)
    assert (crs.any_grade_percent, crs.grade_3_or_more_percent) == (75.0, 25.0)
    assert (crs.median_onset_day, crs.median_duration_days) == (0, 2)
    assert (icans.any_grade, icans.grade_3_or_more, icans.median_onset_day, icans.median_duration_days) == (
        2, 1, 1, 3.5)


def test_never_gradable_patient_is_counted_apart():
    summary = summarise(graded([{"day": 0, "hypotension": True}]))
    assert summary.patients[0].crs.occurred is None and summary.cohort["crs"].not_gradable == 1


def test_concordance_with_reported_grades():
    summary = summarise(grader_for("python").grade(COHORT))
    crs = summary.concordance["crs"]
    assert (crs.days_compared, crs.days_agreeing, crs.percent_agreeing) == (19, 17, 89.5)
    assert [(d.patient_id, d.day, d.computed, d.reported) for d in crs.discrepancies] == [
        ("P02", 4, 2, 1), ("P03", 2, 0, 1)]
    assert crs.table["2"] == {"1": 1, "2": 3}
    assert summary.concordance["icans"].percent_agreeing == 100.0


def test_no_reported_grades_no_concordance():
    assert summarise(graded([{"day": 0, "temp_c": 38.0}])).concordance == {}
