"""crsgrade: ASTCT 2019 grading of CRS and ICANS from daily observations, and regrading under
the older systems (Lee 2014, CTCAE v5.0, Penn, MSKCC, CARTOX).

The public names are imported when first used, so that the command line starts without the
modules a command does not need."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .comparison import Comparison, compare
    from .errors import CrsgradeError, EngineError, ObservationError, RuleFileError, SettingsError
    from .grading import Grader, grade, grade_table
    from .observations import Observation
    from .results import FiredRule, GradedDay, GradedPatient, GradingResult, Peak, SyndromeGrade
    from .ruleset import Rule, RuleSet, load_ruleset, shipped_systems

_MODULES = {
    "comparison": ("Comparison", "compare"),
    "errors": ("CrsgradeError", "EngineError", "ObservationError", "RuleFileError", "SettingsError"),
    "grading": ("Grader", "grade", "grade_table"),
    "observations": ("Observation",),
    "results": ("FiredRule", "GradedDay", "GradedPatient", "GradingResult", "Peak", "SyndromeGrade"),
    "ruleset": ("Rule", "RuleSet", "load_ruleset", "shipped_systems"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "Comparison",
    "CrsgradeError",
    "EngineError",
    "FiredRule",
    "GradedDay",
    "GradedPatient",
    "Grader",
    "GradingResult",
    "Observation",
    "ObservationError",
    "Peak",
    "Rule",
    "RuleFileError",
    "RuleSet",
    "SettingsError",
    "SyndromeGrade",
    "__version__",
    "compare",
    "grade",
    "grade_table",
    "load_ruleset",
    "shipped_systems",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'crsgrade' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
