"""How error messages name things: field paths, value types, and "did you mean" hints.

Shared by everything that checks user input (the config loader, KPI expressions), so that one
kind of mistake reads the same wherever it is made.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def format_path(path: tuple[str | int, ...]) -> str:
    """("tests", 3, "assert", 0) -> "tests[3].assert[0]"."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif out:
            out.append(f".{part}")
        else:
            out.append(part)
    return "".join(out)


def type_name(value: Any) -> str:
    """How a YAML/JSON user calls the type of `value`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def suggest(name: str, known: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a close known name exists, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
