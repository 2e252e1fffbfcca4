"""`file://` references: resolving paths and globs, reading files, loading file-valued vars.

Relative paths resolve against the config's directory (promptfoo's basePath). Every reference
goes through the one resolver, promptyard.trust.files, which the context's policy confines to
that directory on the server. A LoadContext caches what it reads, so a var file named by
100,000 CSV rows is read once.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from promptyard.core.template_js import json_stringify
from promptyard.errors import ConfigError
from promptyard.project.source import Path, Source
from promptyard.project.yamlio import load_structured, load_yaml
from promptyard.trust import TrustPolicy
from promptyard.trust.files import (
    FILE_PREFIX,
    GLOB_CHARS,
    FileRefError,
    display,
    resolve,
    split_function,
)

__all__ = ["FILE_PREFIX", "GLOB_CHARS", "LoadContext", "python_function"]

_BINARY_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ico", ".heic",
        ".mp4", ".webm", ".mov", ".avi", ".mkv", ".mp3", ".wav", ".ogg", ".flac", ".m4a",
    }
)  # fmt: skip
# promptfoo sends an image var as a data URL (`data:image/png;base64,...`), which vision
# models take as an image_url as is; audio and video stay bare base64, as in promptfoo.
_IMAGE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".bmp": "image/bmp", ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".ico": "image/x-icon", ".heic": "image/heic",
}  # fmt: skip
_CODE_EXTENSIONS = frozenset({".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".py", ".rb"})


def why(exc: BaseException) -> str:
    """An I/O error's reason without the path it names (str(OSError) shows the full path)."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


@dataclass(slots=True)
class LoadContext:
    """Per-load state: the base directory, the trust policy and caches of what has been read.

    `base_dir` None is a config without a folder: it reads no files under a confining policy.
    """

    base_dir: str | None
    config_name: str
    trust: TrustPolicy = field(default_factory=TrustPolicy)  # which files it may read
    errored_tests: bool = False  # a promptfoo config: per-test problems error that test
    _texts: dict[str, str] = field(default_factory=dict)
    _vars: dict[str, Any] = field(default_factory=dict)

    def display(self, path: str) -> str:
        """A path as messages show it: relative to the base directory when inside it (and
        never a server path under a confining policy)."""
        return display(self.trust, path, self.base_dir)

    def relative(self, path: str) -> str:
        """A resolved file's path relative to the base directory, with `/` separators (the
        form promptfoo puts in prompt labels)."""
        if self.base_dir is None:
            return os.path.basename(path)
        base = os.path.realpath(self.base_dir) if self.trust.confine_files else self.base_dir
        return os.path.relpath(path, base).replace(os.sep, "/")

    def resolve(self, ref: str, src: Source, path: Path, what: str) -> list[str]:
        """The files named by `ref` (with or without file://); globs sorted. Must exist."""
        try:
            return resolve(self.trust, ref, self.base_dir, what=what)
        except FileRefError as exc:
            raise src.error(exc.reason, path) from None

    def vars_files(
        self, value: str | list[Any], src: Source, path: Path, base_dir: str | None = None
    ) -> dict[str, Any]:
        """A test's `vars` given as files (a path or glob, or a list of them), as promptfoo
        reads them: every matching YAML/JSON file's mapping merged in order, later files
        winning. Relative to `base_dir` (a test file's folder), else the config's."""
        refs = [value] if isinstance(value, str) else value
        merged: dict[str, Any] = {}
        for i, ref in enumerate(refs):
            at = path if isinstance(value, str) else (*path, i)
            if not isinstance(ref, str):
                src.fail("expected a mapping of variable names to values, or file paths", at)
            try:
                found = resolve(self.trust, ref, base_dir or self.base_dir, what="vars")
            except FileRefError as exc:
                raise src.error(exc.reason, at) from None
            for full in found:
                data, file_src = self.read_structured(full, src, at)
                if not isinstance(data, dict):
                    file_src.fail("a vars file must hold a mapping of variable names to values")
                merged.update(data)
        return merged

    def check(self, ref: str, what: str, where: str | None) -> None:
        """Refuse a reference read later (an assertion value, a judge prompt, code: file://
        x.py:fn) that the policy does not allow; it need not exist yet."""
        name, _ = split_function(ref)
        try:
            resolve(self.trust, name, self.base_dir, what=what, must_exist=False)
        except FileRefError as exc:
            if exc.outside:
                raise ConfigError(exc.reason, field=where) from None

    def read_text(self, full: str, src: Source, path: Path) -> str:
        cached = self._texts.get(full)
        if cached is None:
            try:
                cached = FsPath(full).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                src.fail(f"cannot read {self.display(full)}: {why(exc)}", path)
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
        parse); images become `data:image/<type>;base64,...` URLs, audio and video base64.
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
                encoded = base64.b64encode(FsPath(full).read_bytes()).decode("ascii")
            except OSError as exc:
                src.fail(f"cannot read {self.display(full)}: {why(exc)}", path)
            kind = _IMAGE_TYPES.get(ext)
            return f"data:{kind};base64,{encoded}" if kind else encoded
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


def python_function(full: str, function: str, label: str, src: Source, at: Path) -> Any:
    """`function` (a name, or `Class.method`) from the Python file `full`, imported with its
    folder importable, as promptfoo runs it. The caller has checked the trust policy."""
    import importlib.util
    import sys

    module_name = "promptyard_user_" + format(abs(hash(full)), "x")
    spec = importlib.util.spec_from_file_location(module_name, full)
    if spec is None or spec.loader is None:
        src.fail(f"cannot load {label} as Python", at)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(full)  # the script may import its neighbours, as promptfoo's
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        src.fail(f"importing {label} failed: {type(exc).__name__}: {exc}", at)
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    fn: Any = module
    for part in function.split("."):
        fn = getattr(fn, part, None)
    if isinstance(fn, type):
        fn = None
    if not callable(fn):
        src.fail(f"{label}: the script defines no function {function}()", at)
    return fn
