"""durable-rules and the Python evaluator fire the same rules on any fact (differential test)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crsgrade import load_ruleset
from crsgrade.evaluators import durable_available
from crsgrade.ruleset import default_rules_dir, shipped_systems

from .conftest import grader_for

pytestmark = pytest.mark.skipif(not durable_available(), reason="durable-rules cannot be imported on this Python")

SYSTEMS = shipped_systems()


def _value(spec):
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "number":
        # Number facts are counts and scores; decimals as a chart records them.
        return st.one_of(st.integers(0, 40), st.floats(0, 45).map(lambda x: round(x, 2)))
    return st.sampled_from(spec.values)


def _facts(system: str):
    vocabulary = load_ruleset(default_rules_dir(system)).facts
    return st.fixed_dictionaries(
        {}, optional={name: st.one_of(st.none(), _value(spec)) for name, spec in vocabulary.items()})


@pytest.mark.parametrize("system", SYSTEMS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_rules_fire(system, data):
    from crsgrade.facts import complete

    fact = complete(data.draw(_facts(system)))
    durable = sorted(r.id for r in grader_for("durable", system).fired(fact))
    python = sorted(r.id for r in grader_for("python", system).fired(fact))
    assert durable == python


@pytest.mark.parametrize("system", SYSTEMS)
def test_same_grades_of_a_synthetic_cohort(system, tmp_path):
    """Whole files, with every system's inputs: both engines write the same grades and reasons."""
    from crsgrade.output import to_csv
    from crsgrade.synthetic import write_cohort

    path = tmp_path / "cohort.csv"
    write_cohort(path, 600, seed=7, older_systems=True)
    durable = grader_for("durable", system).grade(path)
    python = grader_for("python", system).grade(path)
    assert durable.warnings == python.warnings == ()
    assert to_csv(durable) == to_csv(python)


def test_durable_refuses_a_number_it_cannot_parse():
    from crsgrade import EngineError
    from crsgrade.facts import complete

    with pytest.raises(EngineError, match="use --engine python"):
        grader_for("durable").fired(complete({"vasopressors": 1e-05}))


def test_a_durable_grader_starts_no_threads():
    """A durable-rules host would start two dispatch threads every 0.2 s for the life of the
    process; these rules need neither, and a cohort of graders would slow everything else."""
    import threading
    import time

    from crsgrade import Grader

    before = threading.active_count()
    grader = Grader(engine="durable", cache=False)
    grader.grade([{"patient_id": "P1", "day": 0, "temp_c": 39.2, "hypotension": True}])
    time.sleep(0.5)  # long enough for a host's timers to have fired twice
    assert threading.active_count() == before
