"""Errors crsgrade raises for problems a user can fix.

Every one of them derives from `CrsgradeError`, so a caller (and the CLI) can catch user errors
in one place and let programming errors surface as tracebacks.
"""

from __future__ import annotations


class CrsgradeError(Exception):
    """A problem with the user's input, rule files or settings."""


class RuleFileError(CrsgradeError):
    """A rule file is malformed: the message names the file, the rule id and what is wrong."""


class SettingsError(CrsgradeError):
    """A setting is unknown or has a value it does not allow."""


class ObservationError(CrsgradeError):
    """An observation file or record is invalid. Holds every problem found, not just the first."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the observations"
        super().__init__(head + ":\n" + "\n".join(problems))


class EngineError(CrsgradeError):
    """The rule engine failed (durable-rules reports errors from its C core as bare codes)."""
