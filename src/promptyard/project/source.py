"""Where a piece of config came from: a file's display name, its line map, and field paths.

Every error and every `where` the loader produces goes through a Source, so messages name the
file, the line when we know it, and a field path such as `tests[3].assert[0].threshold`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from promptyard.core.naming import format_path, suggest, type_name
from promptyard.errors import ConfigError

Path = tuple[str | int, ...]
__all__ = ["Path", "Source", "format_path", "suggest", "type_name"]


@dataclass(slots=True)
class Source:
    """A file (or one row/line of it) that config values came from.

    `lines` maps field paths to 1-based line numbers (from the YAML node tree); `label` and
    `line` describe one record of a dataset ("row 3", line 4) when the source is a row.
    """

    name: str
    lines: dict[Path, int] | None = None
    label: str | None = None
    line: int | None = None

    def row(self, label: str, line: int | None) -> Source:
        """A source for one record of this file, e.g. `row 3` of a CSV."""
        return Source(self.name, None, label, line)

    def line_of(self, path: Path) -> int | None:
        if self.lines:
            for end in range(len(path), -1, -1):
                found = self.lines.get(path[:end])
                if found is not None:
                    return found
        return self.line

    def field(self, path: Path) -> str | None:
        text = format_path(path)
        if self.label:
            return f"{self.label}: {text}" if text else self.label
        return text or None

    def where(self, path: Path = ()) -> str:
        located = self.field(path)
        return f"{self.name}: {located}" if located else self.name

    def error(self, message: str, path: Path = ()) -> ConfigError:
        return ConfigError(message, file=self.name, line=self.line_of(path), field=self.field(path))

    def fail(self, message: str, path: Path = ()) -> NoReturn:
        raise self.error(message, path)

    # -- typed getters: each fails with the field path and the type it found

    def expect(self, value: Any, kind: type | tuple[type, ...], what: str, path: Path) -> Any:
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            self.fail(f"expected {what}, got {type_name(value)}", path)
        if not isinstance(value, kind):
            self.fail(f"expected {what}, got {type_name(value)}", path)
        return value

    def number(self, value: Any, path: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"expected a number, got {type_name(value)} {value!r}", path)
        return float(value)

    def check_keys(
        self,
        data: dict[str, Any],
        path: Path,
        known: Iterable[str],
        unsupported: dict[str, str] | None = None,
    ) -> None:
        """Fail on the first key that is unsupported (with why) or unknown (with a suggestion)."""
        known_set = set(known)
        for key in data:
            if key in known_set:
                continue
            if unsupported and key in unsupported:
                self.fail(f'"{key}" is not supported: {unsupported[key]}', (*path, str(key)))
            where = format_path(path) or "the top level"
            self.fail(
                f'unknown key "{key}" in {where}{suggest(str(key), known_set)}', (*path, str(key))
            )


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
