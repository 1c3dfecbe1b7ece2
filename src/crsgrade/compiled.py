"""The compiled rule cache: a rule set's outcome for each distinct fact combination it has met,
kept on disk so that the next run of the same rules starts where the last one ended.

A cohort of a million patient-days holds a few thousand distinct combinations, and a registry
grades the same rules again and again, so most of a run's evaluation is one it has done before.
A cache file is data only (JSON of packed keys and outcomes: nothing in it is executed or
unpickled). Its name is a hash of all an outcome depends on: the rule files' digest, the
settings, the evaluator, and this package's own source. It therefore cannot be stale: change
any of them and another file is used. A file that cannot be read, or does not hold what it
should, is ignored and later replaced; a folder that cannot be written costs speed, never a grade.

The folder is `$CRSGRADE_CACHE_DIR`, else `$XDG_CACHE_HOME/crsgrade`, else `~/.cache/crsgrade`;
`CRSGRADE_NO_CACHE=1` turns the cache off. The folder keeps the KEPT files used last; deleting
it at any time is safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import orjson

from .evaluation import Outcome
from .syndromes import SYNDROMES

FORMAT = 1  # the layout of a cache file; part of its name
KEPT = 32  # cache files kept in the folder, the ones used last


def cache_dir() -> Path | None:
    """Where cache files go, or None when the cache is turned off."""
    if os.environ.get("CRSGRADE_NO_CACHE", "") not in ("", "0"):
        return None
    if os.environ.get("CRSGRADE_CACHE_DIR"):
        return Path(os.environ["CRSGRADE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "crsgrade"


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """A hash of this package's Python source: outcomes are computed by it as much as by the rules."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_file(folder: Path, rules_digest: str, settings: Mapping[str, Any], engine: str) -> Path:
    """The file for these rules, settings and evaluator."""
    identity = json.dumps([FORMAT, rules_digest, dict(settings), engine, _code_digest()], sort_keys=True,
                          default=repr)
    return folder / f"outcomes-{hashlib.sha256(identity.encode()).hexdigest()[:32]}.json"


Table = dict[tuple[int, ...], tuple[int, int]]


class Stored:
    """A cache file's key table, its outcomes decoded only when a run meets them: a file that
    has grown over many cohorts costs a small run little more than reading it."""

    def __init__(self, items: list[list[Any]] | None = None, texts: list[str] | None = None,
                 table: Table | None = None):
        self.items, self.texts, self.table = items or [], texts or [], table or {}
        self._decoded: dict[int, Outcome] = {}
        self._tuples: dict[int, tuple[str, ...]] = {}

    def outcome(self, number: int) -> Outcome:
        found = self._decoded.get(number)
        if found is None:
            found = self._decoded[number] = _outcome(self.items[number], self.texts, self._tuple)
        return found

    def _tuple(self, number: int) -> tuple[str, ...]:
        found = self._tuples.get(number)
        if found is None:
            text = self.texts[number]
            found = self._tuples[number] = tuple(text.split("\n")) if text else ()
        return found


def load(path: Path) -> Stored:
    """The key table and outcomes of a cache file (empty when there is none or it is unusable).
    Every outcome is checked here, so that decoding one later cannot fail."""
    try:
        data = orjson.loads(path.read_bytes())
        texts, items = data["texts"], data["outcomes"]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError("expected texts")
        if not isinstance(items, list) or not all(_well_formed(item, len(texts)) for item in items):
            raise ValueError("expected a part for each syndrome")
        width = data["width"]
        flat, pairs = data["keys"], data["pairs"]
        if not all(isinstance(k, int) for k in flat) or not all(isinstance(n, int) and 0 <= n < len(items)
                                                                 for n in pairs):
            raise ValueError("a key or an outcome number out of place")
        table = {tuple(flat[i * width:(i + 1) * width]): (pairs[2 * i], pairs[2 * i + 1])
                 for i in range(len(pairs) // 2)}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return Stored()
    with contextlib.suppress(OSError):  # marked as used, so that pruning keeps it
        os.utime(path)
    return Stored(items, texts, table)


def save(path: Path, outcomes: list[Outcome], table: Table) -> None:
    """Writes a cache file whole (another process reading it sees the old file or the new)."""
    texts: dict[str, int] = {}
    data = {
        "outcomes": [_plain(o, texts) for o in outcomes],
        "texts": list(texts),
        "width": len(next(iter(table))) if table else 1,
        "keys": [k for key in table for k in key],
        "pairs": [n for pair in table.values() for n in pair],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(orjson.dumps(data))
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return
    _prune(path.parent)


def _prune(folder: Path) -> None:
    """Removes all but the KEPT files used last: each new version of the rules, settings or
    crsgrade starts a file, and the old ones would otherwise stay for ever."""
    try:
        files = sorted(folder.glob("outcomes-*.json"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[KEPT:]:
            old.unlink(missing_ok=True)
    except OSError:  # another process pruning too, say: this costs nothing but space
        pass


# An outcome is kept as [fired, then for grade, top, not_recorded, no_grade and not_assessed one
# entry per syndrome]; every text, and every tuple of texts, as its number in `texts` (a tuple of
# texts joined by a newline).


def _plain(outcome: Outcome, texts: dict[str, int]) -> list[Any]:
    def number(text: str) -> int:
        return texts.setdefault(text, len(texts))

    return [number("\n".join(outcome.fired)),
            [outcome.grade[s] for s in SYNDROMES],
            [number("\n".join(outcome.top[s])) for s in SYNDROMES],
            [number("\n".join(outcome.not_recorded[s])) for s in SYNDROMES],
            [None if outcome.no_grade[s] is None else number(cast(str, outcome.no_grade[s])) for s in SYNDROMES],
            [outcome.not_assessed[s] for s in SYNDROMES]]


def _well_formed(item: Any, texts: int) -> bool:
    """Whether a stored outcome has its six parts, one entry per syndrome, integer grades and
    text numbers in range."""
    def text(n: Any) -> bool:
        return type(n) is int and 0 <= n < texts

    if not isinstance(item, list) or len(item) != 6 or not text(item[0]):
        return False
    _, grade, top, missing, no_grade, _ = item
    return all(isinstance(part, list) and len(part) == len(SYNDROMES) for part in item[1:]) and all(
        g is None or type(g) is int for g in grade) and all(map(text, top + missing)) and all(
        n is None or text(n) for n in no_grade)


def _outcome(item: list[Any], texts: list[str], tuple_of: Callable[[int], tuple[str, ...]]) -> Outcome:
    fired, grade, top, missing, no_grade, not_assessed = item
    return Outcome(fired=tuple_of(fired), grade=dict(zip(SYNDROMES, grade, strict=True)),
                   top={s: tuple_of(n) for s, n in zip(SYNDROMES, top, strict=True)},
                   not_recorded={s: tuple_of(n) for s, n in zip(SYNDROMES, missing, strict=True)},
                   no_grade={s: None if n is None else texts[n] for s, n in zip(SYNDROMES, no_grade, strict=True)},
                   not_assessed={s: bool(v) for s, v in zip(SYNDROMES, not_assessed, strict=True)})
