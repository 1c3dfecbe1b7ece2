"""'Did you mean' hints for misspelt names and values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, options: Iterable[str]) -> str | None:
    """The allowed option a user most likely meant: a close spelling, or the only option that
    starts with, or else contains, what they typed ("nasal" -> "nasal_cannula")."""
    options = list(options)
    word = word.strip().lower()
    match = difflib.get_close_matches(word, options, n=1)
    if match:
        return match[0]
    for fits in (str.startswith, str.__contains__):
        found = [option for option in options if word and fits(option, word)]
        if len(found) == 1:
            return found[0]
    return None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    match = closest(word, options)
    return f" (did you mean '{match}'?)" if match else ""
