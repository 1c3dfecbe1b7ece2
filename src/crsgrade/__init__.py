"""crsgrade: ASTCT 2019 grading of CRS and ICANS from daily observations, and regrading under
the older systems (Lee 2014, CTCAE v5.0, Penn, MSKCC, CARTOX)."""

__version__ = "0.1.0"

from .compare import Comparison, compare
from .errors import CrsgradeError, EngineError, ObservationError, RuleFileError, SettingsError
from .grading import Grader, grade, grade_table
from .observations import Observation
from .results import FiredRule, GradedDay, GradedPatient, GradingResult, Peak, SyndromeGrade
from .ruleset import Rule, RuleSet, load_ruleset, shipped_systems

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
