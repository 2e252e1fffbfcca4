"""The source of user code, before it runs: `file://path[:function]` references, promptfoo's
function body for a one-line JavaScript assertion, and ES module exports as CommonJS.
Pure text handling, used by scorers/code.py.
"""

from __future__ import annotations

import re

__all__ = ["build_function_body", "esm_to_commonjs", "parse_file_ref"]

JS_EXTS = (".js", ".cjs", ".mjs")
TS_EXTS = (".ts", ".cts", ".mts", ".tsx", ".jsx")
_SCRIPT_EXTS = (*JS_EXTS, *TS_EXTS, ".py")
_DECLARATION = re.compile(r"^(const|let|var)\s")
_TRAILING_SEMIS = re.compile(r";+\s*$")


def parse_file_ref(value: str) -> tuple[str, str | None] | None:
    """`file://path[:function]` -> (path, function); None when `value` is inline code.

    The function name follows the last colon, and only when what precedes it is a script
    file, so Windows drives and folders with colons keep working."""
    if not value.startswith("file://"):
        return None
    ref = value[len("file://") :]
    colon = ref.rfind(":")
    if colon > 1 and ref[:colon].lower().endswith(_SCRIPT_EXTS):
        return ref[:colon], ref[colon + 1 :] or None
    return ref, None


def _last_statement_semicolon(code: str) -> int:
    """Index of the last `;` that separates top-level statements, or -1.

    A small lexer: skips strings, template literals (and their `${}`), comments and regex
    literals, and tracks bracket depth; enough for one-line assertions."""
    depth = 0
    last = -1
    i, n = 0, len(code)
    prev = ""  # last significant character, to tell a regex from a division
    templates: list[int] = []  # depth at which each open `${` started
    while i < n:
        c = code[i]
        if c in "'\"":
            i = _skip_quoted(code, i, c)
            prev = c
            continue
        if c == "`" or (c == "}" and templates and templates[-1] == depth):
            if c == "}":
                templates.pop()
            i, opened = _skip_template(code, i + 1)
            if opened:
                templates.append(depth)
            prev = "`"
            continue
        if c == "/" and code.startswith("//", i):
            break
        if c == "/" and code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c == "/" and (not prev or prev in "(,=:[!&|?{};+-*%<>~^"):
            i = _skip_regex(code, i + 1)
            prev = "/"
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ";" and depth == 0:
            last = i
        if not c.isspace():
            prev = c
        i += 1
    return last


def _skip_quoted(code: str, i: int, quote: str) -> int:
    i += 1
    while i < len(code) and code[i] != quote:
        i += 2 if code[i] == "\\" else 1
    return i + 1


def _skip_template(code: str, i: int) -> tuple[int, bool]:
    """Skip template text from i; return (index after it, whether a `${` opened)."""
    while i < len(code):
        if code[i] == "\\":
            i += 2
        elif code[i] == "`":
            return i + 1, False
        elif code.startswith("${", i):
            return i + 2, True
        else:
            i += 1
    return i, False


def _skip_regex(code: str, i: int) -> int:
    in_class = False
    while i < len(code):
        c = code[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            return i + 1
        i += 1
    return i


def build_function_body(code: str) -> str:
    """promptfoo's body for a one-line assertion: `return <expr>`, or, for code that starts
    with a declaration, `return` put before the last statement."""
    trimmed = _TRAILING_SEMIS.sub("", code.strip())
    if _DECLARATION.match(trimmed):
        semi = _last_statement_semicolon(trimmed)
        if semi != -1:
            expression = trimmed[semi + 1 :].strip()
            if expression:
                return f"{trimmed[: semi + 1]} return {expression}"
        return trimmed
    return f"return {trimmed}"


_EXPORT_DEFAULT = re.compile(r"^([ \t]*)export\s+default\s+", re.M)
_EXPORT_DECL = re.compile(
    r"^([ \t]*)export\s+((?:async\s+)?function\s*\*?\s*|class\s+|const\s+|let\s+|var\s+)"
    r"([A-Za-z_$][\w$]*)",
    re.M,
)
_EXPORT_LIST = re.compile(r"^([ \t]*)export\s*\{([^}]*)\}\s*;?", re.M)


def esm_to_commonjs(source: str) -> str:
    """Enough of ES module syntax for assertion files: `export default`, `export function`,
    `export const|let|var|class name`, `export { a, b as c }`. Imports stay unsupported."""
    if "export" not in source:
        return source
    tail: list[str] = []

    def decl(m: re.Match[str]) -> str:
        tail.append(f"module.exports.{m.group(3)} = {m.group(3)};")
        return f"{m.group(1)}{m.group(2)}{m.group(3)}"

    def listed(m: re.Match[str]) -> str:
        for part in m.group(2).split(","):
            names = part.split(" as ")
            local = names[0].strip()
            if local:
                tail.append(f"module.exports.{names[-1].strip()} = {local};")
        return m.group(1)

    out = _EXPORT_DEFAULT.sub(r"\1module.exports.default = ", source)
    out = _EXPORT_DECL.sub(decl, out)
    out = _EXPORT_LIST.sub(listed, out)
    return out + "\n" + "\n".join(tail) if tail else out
