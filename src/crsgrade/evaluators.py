"""The two ways of running resolved rule conditions over a fact: durable-rules, and plain Python.

Both take the same resolved conditions (see conditions.py) and must fire the same rules; the
test suite checks that on every rule example and every test case. durable-rules is the default
where it can be imported; Python 3.13 cannot import durable-rules 2.0.28, so there the Python
evaluator runs the same rule files.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from . import conditions as cond
from .errors import EngineError

ENGINES = ("auto", "durable", "python")
_RULESET = "crsgrade"
# Every fact carries this marker and every rule tests it, so no rule can match durable-rules'
# own state records (a rule made only of absence tests would).
_MARKER = {"crsgrade_kind": "patient_day"}


class Evaluator(Protocol):
    name: str

    def fired(self, fact: Mapping[str, Any]) -> list[str]:
        """The ids of the rules whose condition is true for this fact."""


class PythonEvaluator:
    """Evaluates the resolved conditions directly, with the same three-valued logic."""

    name = "python"

    def __init__(self, resolved: Mapping[str, cond.Node]):
        self._rules = [(rule_id, cond.compile_node(node)) for rule_id, node in resolved.items()]

    def fired(self, fact: Mapping[str, Any]) -> list[str]:
        return [rule_id for rule_id, test in self._rules if test(fact) is True]


def durable_available() -> bool:
    try:
        import durable.engine  # noqa: F401
    except ImportError:
        return False
    return True


class DurableEvaluator:
    """Runs the rules in durable-rules: each fact is asserted, every matching rule's action
    records its id, and the fact is retracted again (facts, not events, so that one fact can
    fire several rules)."""

    name = "durable-rules"

    def __init__(self, resolved: Mapping[str, cond.Node]):
        from durable import engine

        self._tested = set().union(*(cond.fields_of(node) for node in resolved.values()))

        fired: list[str] = []
        self._fired = fired
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._not_handled = engine.MessageNotHandledException

        class Host(engine.Host):  # type: ignore[misc]  # durable-rules publishes no types
            def _run(self) -> None:
                """Starts none of the host's dispatch threads. They serve queued events and
                timers, which these rules never use (a fact's rules fire within assert_fact), and
                each host would otherwise start two new threads every 0.2 s for the life of the
                process."""

            def get_action(self, action_name: str) -> Callable[[Any], None]:
                def record(context: Any) -> None:
                    fired.append(action_name)

                return record

        definition = {
            rule_id: {
                "all": [{"m": {"$and": [_MARKER, cond.to_durable(node)]}}],
                "run": rule_id,
            }
            for rule_id, node in resolved.items()
        }
        try:
            self._host = Host()
            # durable-rules deletes the "run" keys of what it is given.
            self._host.set_rulesets({_RULESET: copy.deepcopy(definition)})
        except Exception as exc:  # the C core reports errors as bare codes
            raise EngineError(f"durable-rules rejected the rule set: {exc!r}") from None

    def fired(self, fact: Mapping[str, Any]) -> list[str]:
        # Only the facts the conditions test are sent. durable-rules' JSON parser cannot read
        # exponent notation, which Python writes for floats below 1e-4 or from 1e16.
        record = {}
        for name in self._tested:
            value = fact.get(name)
            if isinstance(value, float) and "e" in repr(value):
                raise EngineError(
                    f"durable-rules cannot compare {name} = {value!r}; use --engine python"
                )
            if value is not None:
                record[name] = value
        record.update(_MARKER, crsgrade_id=next(self._ids))
        with self._lock:
            self._fired.clear()
            try:
                self._host.assert_fact(_RULESET, record)
            except self._not_handled:
                pass  # no criterion met: not an error
            except Exception as exc:
                raise EngineError(f"durable-rules failed on a fact: {exc!r}") from None
            # a rule whose condition has an `any` fires once per matching branch
            result = list(dict.fromkeys(self._fired))
            try:
                self._host.retract_fact(_RULESET, record)
            except self._not_handled:
                pass
            except Exception as exc:
                raise EngineError(f"durable-rules could not retract a fact: {exc!r}") from None
        return result


def make_evaluator(engine: str, resolved: Mapping[str, cond.Node]) -> Evaluator:
    """The evaluator by name; "auto" is durable-rules where it can be imported, else Python."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    if engine == "python" or (engine == "auto" and not durable_available()):
        return PythonEvaluator(resolved)
    if not durable_available():
        raise EngineError(
            "durable-rules cannot be imported on this Python; use --engine python or auto"
        )
    return DurableEvaluator(resolved)
