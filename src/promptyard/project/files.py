"""`file://` references: resolving paths and globs, reading files, loading file-valued vars.

Relative paths resolve against the config's directory (promptfoo's basePath). A LoadContext
caches what it reads, so a var file named by 100,000 CSV rows is read once.
"""

from __future__ import annotations

import base64
import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from promptyard.core.templates import json_stringify
from promptyard.project.source import Path, Source
from promptyard.project.yamlio import load_structured, load_yaml
from promptyard.trust import TrustPolicy

FILE_PREFIX = "file://"
GLOB_CHARS = frozenset("*?[{")
_BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")


def _expand_braces(pattern: str) -> list[str]:
    """`a.{json,yaml}` -> [a.json, a.yaml]: the brace form promptfoo's glob accepts."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [p for alt in match.group(1).split(",") for p in _expand_braces(head + alt + tail)]


_BINARY_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ico", ".heic",
        ".mp4", ".webm", ".mov", ".avi", ".mkv", ".mp3", ".wav", ".ogg", ".flac", ".m4a",
    }
)  # fmt: skip
_CODE_EXTENSIONS = frozenset({".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".py", ".rb"})


@dataclass(slots=True)
class LoadContext:
    """Per-load state: the base directory and caches of what has been read."""

    base_dir: str
    config_name: str
    trust: TrustPolicy = field(default_factory=TrustPolicy)  # which files it may read
    _texts: dict[str, str] = field(default_factory=dict)
    _vars: dict[str, Any] = field(default_factory=dict)

    def display(self, path: str) -> str:
        """A path as messages show it: relative to the base directory when inside it."""
        rel = os.path.relpath(path, self.base_dir)
        return path if rel.startswith("..") else rel

    def resolve(self, ref: str, src: Source, path: Path, what: str) -> list[str]:
        """Absolute paths named by `ref` (with or without file://); globs sorted. Must exist."""
        spec = ref[len(FILE_PREFIX) :] if ref.startswith(FILE_PREFIX) else ref
        if not spec:
            src.fail(f"empty file reference for {what}", path)
        full = os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(spec)))
        if GLOB_CHARS.intersection(spec):
            found = {m for pat in _expand_braces(full) for m in glob.glob(pat, recursive=True)}
            matches = sorted(m for m in found if os.path.isfile(m))
            if not matches:
                src.fail(f"no files match {spec!r} for {what} (looked in {self.base_dir})", path)
            return matches
        if not os.path.isfile(full):
            src.fail(f"file not found for {what}: {spec} (resolved to {full})", path)
        return [full]

    def read_text(self, full: str, src: Source, path: Path) -> str:
        cached = self._texts.get(full)
        if cached is None:
            try:
                cached = FsPath(full).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                src.fail(f"cannot read {self.display(full)}: {exc}", path)
            self._texts[full] = cached
        return cached

    def read_structured(self, full: str, src: Source, path: Path) -> tuple[Any, Source]:
        """Parse a YAML or JSON file; the returned Source locates errors inside it."""
        name = self.display(full)
        data, lines = load_structured(self.read_text(full, src, path), name)
        return data, Source(name, lines)

    def var_value(self, ref: str, var: str, src: Source, path: Path) -> list[Any]:
        """The values of a `file://` var: one per matching file, loaded as promptfoo does.

        Text is read and trimmed; .yaml/.yml become their JSON text (promptfoo passes
        JSON.stringify of the parsed file); .json stays its trimmed text (use `| load` to
        parse); images, audio and video become base64.
        """
        values = []
        for full in self.resolve(ref, src, path, f'var "{var}"'):
            cached = self._vars.get(full, _MISSING)
            if cached is _MISSING:
                cached = self._load_var_file(full, var, src, path)
                self._vars[full] = cached
            values.append(cached)
        return values

    def _load_var_file(self, full: str, var: str, src: Source, path: Path) -> Any:
        ext = os.path.splitext(full)[1].lower()
        if ext in _BINARY_EXTENSIONS:
            try:
                return base64.b64encode(FsPath(full).read_bytes()).decode("ascii")
            except OSError as exc:
                src.fail(f"cannot read {self.display(full)}: {exc}", path)
        if ext in _CODE_EXTENSIONS:
            src.fail(
                f'var "{var}" names a script ({self.display(full)}); '
                "script-generated vars are not supported, use a data file",
                path,
            )
        if ext == ".pdf":
            src.fail(f'var "{var}": PDF text extraction is not supported', path)
        text = self.read_text(full, src, path)
        if ext in (".yaml", ".yml"):
            data, _ = load_yaml(text, self.display(full))
            return json_stringify(data)
        return text.strip()


_MISSING: Any = object()
