"""JavaScript values in templates: String(value) as Nunjucks prints it, and JSON.stringify
/ JSON.parse (the `dump` and `load` filters). Pure (L0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import jinja2


def js_number(value: float) -> str:
    """A float the way JavaScript's String(number) prints it (shortest round-trip digits)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign = "-" if value < 0 else ""
    _, digit_tuple, exp = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exp, int)
    k = len(digits)
    n = exp + len("".join(map(str, digit_tuple)))  # position of the decimal point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_str(value: Any) -> str:
    """String(value) in JavaScript: how Nunjucks prints `{{ value }}`."""
    if isinstance(value, str):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, jinja2.Undefined):
        return str(value)  # StrictUndefined raises here, naming the variable
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, (list, tuple)):
        return ",".join("" if v is None else js_str(v) for v in value)
    if callable(value) and not isinstance(value, Mapping):
        return "[function]"  # never leak a repr with addresses or qualified names
    return "[object Object]"


def _finalize(value: Any) -> Any:
    # Fast path first: most printed values are strings.
    if type(value) is str:
        return value
    return js_str(value)


# ---------------------------------------------------------------- JSON.stringify


def _json_dump(value: Any, indent: str, level: int) -> str | None:
    """JSON.stringify(value, null, indent); None means `undefined` (omitted)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "null" if math.isnan(value) or math.isinf(value) else js_number(value)
    if isinstance(value, jinja2.Undefined) or (callable(value) and not isinstance(value, Mapping)):
        return None
    inner = "\n" + indent * (level + 1) if indent else ""
    outer = "\n" + indent * level if indent else ""
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [_json_dump(v, indent, level + 1) or "null" for v in value]
        return "[" + inner + ("," + inner).join(items) + outer + "]"
    if isinstance(value, Mapping):
        sep = ": " if indent else ":"
        parts = []
        for k, v in value.items():
            dumped = _json_dump(v, indent, level + 1)
            if dumped is not None:
                parts.append(json.dumps(js_str(k), ensure_ascii=False) + sep + dumped)
        if not parts:
            return "{}"
        return "{" + inner + ("," + inner).join(parts) + outer + "}"
    return json.dumps(js_str(value), ensure_ascii=False)


def json_stringify(value: Any, spaces: Any = None) -> str:
    """JavaScript's JSON.stringify(value, null, spaces): no spaces unless indented, 1.0 -> 1.
    Also the `dump` filter."""
    if isinstance(spaces, bool) or spaces is None:
        indent = ""
    elif isinstance(spaces, (int, float)):
        indent = " " * max(0, min(10, int(spaces)))
    else:
        indent = str(spaces)[:10]
    return _json_dump(value, indent, 0) or ""


def _f_load(value: Any) -> Any:
    return json.loads(js_str(value))
