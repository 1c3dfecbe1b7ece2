"""Errors crsgrade raises for problems a user can fix.

Every one of them derives from `CrsgradeError`, so a caller (and the CLI) can catch user errors
in one place and let programming errors surface as tracebacks.
"""

from __future__ import annotations

import re

# C0 and C1 control characters (ESC starts terminal escape sequences) and DEL
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """User text as it may be shown: control characters, which could rewrite a terminal or
    break a one-line message, written as escapes (\\x1b, \\n)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def shortened(text: str, most: int = 60) -> str:
    """A long value as a message quotes it: cut short, saying how long it is."""
    return text if len(text) <= most else f"{text[:most]}… ({len(text):,} characters)"


def capped(items: list[str], most: int = 10) -> str:
    """Items in a message, the list capped so that one line stays readable: "a, b, c", or
    "a, b, ... (40 in all)"."""
    shown = ", ".join(items[:most])
    return shown if len(items) <= most else f"{shown}, ... ({len(items):,} in all)"


class CrsgradeError(Exception):
    """A problem with the user's input, rule files or settings."""


class RuleFileError(CrsgradeError):
    """A rule file is malformed: the message names the file, the rule id and what is wrong."""


class SettingsError(CrsgradeError):
    """A setting is unknown or has a value it does not allow."""


class ObservationError(CrsgradeError):
    """An observation file or record is invalid. Holds every problem found, not just the first."""

    def __init__(self, problems: list[str]):
        self.problems = [printable(problem) for problem in problems]
        problems = self.problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the observations"
        super().__init__(head + ":\n" + "\n".join(problems))


class EngineError(CrsgradeError):
    """The rule engine failed (durable-rules reports errors from its C core as bare codes)."""
