"""The syndromes crsgrade grades, declared once.

Results, outputs, episodes, comparisons, views and the report iterate over `SYNDROMES`, so a
further syndrome is added here, with its rule files and its input columns, and nowhere else in
the code.
"""

from __future__ import annotations

from typing import Literal, get_args

Syndrome = Literal["crs", "icans"]
SYNDROMES: tuple[Syndrome, ...] = get_args(Syndrome)

# What a syndrome is called where no grading system's own name for it is at hand; and, where
# systems that call it differently (ICANS, CRES) are compared, the word that fits them all.
NAMES: dict[str, str] = {"crs": "CRS", "icans": "ICANS"}
ACROSS_SYSTEMS: dict[str, str] = {"crs": "CRS", "icans": "neurotoxicity"}
