"""durable-rules and the Python evaluator fire the same rules on any fact (differential test)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crsgrade import load_ruleset
from crsgrade.evaluators import durable_available

from .conftest import grader_for

pytestmark = pytest.mark.skipif(not durable_available(), reason="durable-rules cannot be imported on this Python")

RULESET = load_ruleset()


def _value(spec):
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "number":
        # Number facts are counts and scores; decimals as a chart records them.
        return st.one_of(st.integers(0, 40), st.floats(0, 45).map(lambda x: round(x, 2)))
    return st.sampled_from(spec.values)


facts = st.fixed_dictionaries(
    {},
    optional={name: st.one_of(st.none(), _value(spec)) for name, spec in RULESET.facts.items()},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fact=facts)
def test_same_rules_fire(fact):
    from crsgrade.facts import complete

    fact = complete(fact)
    durable = sorted(r.id for r in grader_for("durable").fired(fact))
    python = sorted(r.id for r in grader_for("python").fired(fact))
    assert durable == python


def test_durable_refuses_a_number_it_cannot_parse():
    from crsgrade import EngineError
    from crsgrade.facts import complete

    with pytest.raises(EngineError, match="use --engine python"):
        grader_for("durable").fired(complete({"vasopressors": 1e-05}))
