"""Assertion values as promptfoo reads them: templates, file:// references, comma lists.

Everything here runs once per assertion per trial, so the common case (a constant value with no
template tags) returns without rendering, and files are read once and cached.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from promptyard.errors import ConfigError

_TEMPLATE_MARKERS = ("{{", "{%", "{#")

_renderer: Callable[..., str] | None = None


def _get_renderer() -> Callable[..., str]:
    """core.templates.render_string, imported on first use (it pulls in Jinja2)."""
    global _renderer
    if _renderer is None:
        from promptyard.core.templates import render_string

        _renderer = render_string
    return _renderer


def is_template(value: str) -> bool:
    return any(marker in value for marker in _TEMPLATE_MARKERS)


def render(value: str, vars: dict[str, Any]) -> str:
    """Render a string with the test vars; strings without template tags come back as they are."""
    if not is_template(value):
        return value
    rendered: str = _get_renderer()(value, vars)
    return rendered


def coerce_string(output: Any) -> str:
    """promptfoo's coerceString: strings stay, everything else becomes its JSON text."""
    if isinstance(output, str):
        return output
    if output is None:
        # JSON.stringify(undefined) is undefined in JS; an empty string is the useful equivalent.
        return ""
    return json_stringify(output)


def json_stringify(value: Any) -> str:
    """JSON.stringify's compact form (no spaces after separators, unicode kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def is_script_file(ref: str) -> bool:
    """file://x.js / x.py(:fn) values are functions to call, not data to load."""
    path = ref[len("file://") :].split(":", 1)[0]
    return path.endswith((".js", ".cjs", ".mjs", ".ts", ".py"))


def load_file_value(ref: str, base_dir: str) -> Any:
    """promptfoo's processFileReference: .json/.yaml/.yml parsed, .txt trimmed, else an error."""
    path = os.path.normpath(os.path.join(base_dir, ref[len("file://") :]))
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"cannot read assertion value file {path}: {exc.strerror}") from exc
    return _load_file(path, mtime)


@lru_cache(maxsize=256)
def _load_file(path: str, _mtime: int) -> Any:
    ext = os.path.splitext(path)[1].lower()
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if ext == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc}", file=path, line=exc.lineno) from exc
    if ext in (".yaml", ".yml"):
        import yaml  # lazy: only configs that use YAML value files pay for it

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
    if ext == ".txt":
        return text.strip()
    raise ConfigError(
        "unsupported assertion value file type (use .json, .yaml, .yml or .txt)", file=path
    )


def parse_comma_separated(value: str) -> list[str]:
    """promptfoo's parseCommaSeparatedValues: CSV-like, quoted fields keep their commas.

    Whitespace around fields is dropped, repeated commas are ignored, and inside quotes a
    doubled quote or a backslash escapes a quote.
    """
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        if value[i] == '"':
            i += 1
            field: list[str] = []
            closed = False
            while i < n:
                ch = value[i]
                if ch == "\\" and i + 1 < n and value[i + 1] in '"\\':
                    field.append(value[i + 1])
                    i += 2
                elif ch == '"' and i + 1 < n and value[i + 1] == '"':
                    field.append('"')
                    i += 2
                elif ch == '"':
                    i += 1
                    closed = True
                    break
                else:
                    field.append(ch)
                    i += 1
            if not closed:
                raise ValueError(f"unterminated quoted field in {value!r}")
            while i < n and value[i].isspace():
                i += 1
            if i < n and value[i] != ",":
                raise ValueError(f"expected a comma after a quoted field in {value!r}")
            out.append("".join(field))
        else:
            j = value.find(",", i)
            j = n if j < 0 else j
            out.append(value[i:j].strip())
            i = j
    return out


def js_string(value: Any) -> str:
    """String(value) as JavaScript prints it (numbers without a trailing .0, true/false)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json_stringify(value)
    return str(value)
