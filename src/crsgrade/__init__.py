"""crsgrade: ASTCT 2019 grading of CRS and ICANS from daily observations."""

__version__ = "0.1.0"

from .errors import CrsgradeError, EngineError, ObservationError, RuleFileError, SettingsError
from .grading import Grader, grade, grade_table
from .observations import Observation
from .results import FiredRule, GradedDay, GradedPatient, GradingResult, Peak, SyndromeGrade
from .ruleset import Rule, RuleSet, load_ruleset

__all__ = [
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
    "grade",
    "grade_table",
    "load_ruleset",
]
