"""Assertion values as promptfoo reads them: templates, file:// references, comma lists.

Everything here runs once per assertion per trial, so the common case (a constant value with no
template tags) returns without rendering, and files are read once and cached.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from promptyard.errors import ConfigError
from promptyard.trust import TrustPolicy
from promptyard.trust.files import resolve_one

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
    """JSON.stringify's compact form (no spaces after separators, unicode kept).

    Values with floats or integer-like object keys take a slower path, so that the text is
    JavaScript's: 1.0 prints as 1, 1e-7 as 1e-7, NaN as null, and keys such as "2" come
    first in ascending order, as a JavaScript object orders them.
    """
    if _needs_js_path(value):
        out: list[str] = []
        _js_dump(value, out)
        return "".join(out)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _is_index_key(key: Any) -> bool:
    return isinstance(key, str) and key.isdigit() and (key == "0" or key[0] != "0")


def _needs_js_path(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_is_index_key(k) or not isinstance(k, str) or _needs_js_path(v)
                   for k, v in value.items())  # fmt: skip
    if isinstance(value, (list, tuple)):
        return any(_needs_js_path(v) for v in value)
    return False


def _js_dump(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif value is None or value is True or value is False:
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(js_number(value) if math.isfinite(value) else "null")
    elif isinstance(value, dict):
        items = [(js_string(k), v) for k, v in value.items()]
        index = sorted((item for item in items if _is_index_key(item[0])),
                       key=lambda item: int(item[0]))  # fmt: skip
        rest = [item for item in items if not _is_index_key(item[0])]
        out.append("{")
        for n, (key, item) in enumerate(index + rest):
            if n:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _js_dump(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _js_dump(item, out)
        out.append("]")
    else:
        out.append(json.dumps(str(value), ensure_ascii=False))


def is_script_file(ref: str) -> bool:
    """file://x.js / x.py(:fn) values are functions to call, not data to load."""
    path = ref[len("file://") :].split(":", 1)[0]
    return path.endswith((".js", ".cjs", ".mjs", ".ts", ".py"))


def load_file_value(ref: str, base_dir: str | None, *, trust: TrustPolicy | None = None) -> Any:
    """promptfoo's processFileReference: .json/.yaml/.yml parsed, .txt trimmed, else an error.

    The file is found by the one resolver (promptyard.trust.files) under `trust` (default:
    the local user's policy, files anywhere); messages name `ref` as written, never the path
    it resolved to."""
    policy = trust or TrustPolicy()
    path = _resolve_value(policy.confine_files, ref, base_dir)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"cannot read assertion value file {ref}: {exc.strerror}") from None
    return _load_file(path, mtime, ref[len("file://") :] if ref.startswith("file://") else ref)


@lru_cache(maxsize=256)
def _resolve_value(confine: bool, ref: str, base_dir: str | None) -> str:
    return resolve_one(TrustPolicy(confine_files=confine), ref, base_dir, what="assertion value")


@lru_cache(maxsize=256)
def _load_file(path: str, _mtime: int, name: str) -> Any:
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"cannot read assertion value file {name}: {reason}") from None
    if ext == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc}", file=name, line=exc.lineno) from exc
    if ext in (".yaml", ".yml"):
        import yaml  # lazy: only configs that use YAML value files pay for it

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=name) from exc
    if ext == ".txt":
        return text.strip()
    raise ConfigError(
        "unsupported assertion value file type (use .json, .yaml, .yml or .txt)", file=name
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
    if isinstance(value, float):
        return js_number(value)
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json_stringify(value)
    return str(value)


def js_number(value: float) -> str:
    """Number.prototype.toString: shortest round-trip digits, plain notation for
    1e-7 < |x| < 1e21 and exponent form (`1e-7`, `1.5e+21`) outside it."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # decimal exponent of the first significant digit
    if exp_text:
        point = int(exp_text) + len(int_part)
    elif int_part != "0":
        point = len(int_part)
    else:
        point = -(len(frac_part) - len(frac_part.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    if -6 < point <= 21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if len(digits) <= point:
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    exp = point - 1
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{head}e{'+' if exp >= 0 else '-'}{abs(exp)}"


def js_to_precision(value: float, digits: int) -> str:
    """Number.prototype.toPrecision(digits), e.g. 0.5 -> "0.50", 123 -> "1.2e+2"."""
    if value != value or value in (float("inf"), float("-inf")):
        return js_number(value)
    mantissa, _, exp_text = f"{value:.{digits - 1}e}".partition("e")
    exp = int(exp_text)
    if value == 0:
        exp = 0
    if exp < -6 or exp >= digits:
        return f"{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    return f"{value:.{max(0, digits - 1 - exp)}f}"
