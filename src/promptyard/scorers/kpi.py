"""KPIs: weighted arithmetic over a trial's numbers (cost, latency, tokens, scores, metrics).
This module loads and checks them; scorers/kpi_eval.py evaluates them per trial, and the
engine's summary folds the results into a run's KPI score.

A config declares `kpis` (alias `additional_kpis`) and an optional `kpi_threshold`; see the
`kpis` section of docs/config.md for the user's view. Expressions are user input that runs once
per trial, so they are parsed and checked once at load time against an allowlist of node types,
operators, functions and names, and then evaluated per trial by simpleeval from the parsed tree
(never re-parsed). Length and nesting are capped before anything recursive runs, `**` goes
through floats (no giant integers), and only numbers flow through an expression, so no
expression can reach attributes, build big strings, loop, or run for long.

Choices (documented for users in docs/config.md):
- a value that is unknown on a trial (`cost` without a price, a named metric the trial lacks)
  is an error for that KPI on that trial, never a silent 0; `default(x, fallback)` opts out;
- a KPI that errors counts as 0 in the weighted score (its weight stays in the denominator),
  and its message is kept, so a broken KPI cannot lift a gate;
- `pass` (a Python keyword) is rewritten to `passed` before parsing;
- a named metric whose name is not an identifier is reachable as `metric("Tone-Check")` or by
  its name with every character other than ASCII letters, digits and `_` turned into `_`.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import re
import tokenize
import warnings
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, NoReturn

from promptyard.core.naming import format_path, suggest, type_name
from promptyard.errors import ConfigError

KPI_KEYS = ("name", "expression", "weight", "description")
CONFIG_KEYS = ("kpis", "additional_kpis", "kpi_threshold")

BASE_VARIABLES = (
    "cost", "judge_cost", "total_cost", "latency_ms", "prompt_tokens", "completion_tokens",
    "total_tokens", "output_length", "passed", "score", "cached", "error",
)  # fmt: skip
METRICS_KEY = "__metrics__"  # in a variable mapping: the named scores by their exact names

MAX_EXPRESSION_LENGTH = 2000  # characters; checked before the parser sees the text
MAX_DEPTH = 64  # nested nodes; keeps simpleeval's recursive walk far from the recursion limit
MAX_NAME_LENGTH = 64

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*\Z")
_NOT_IDENT_CHAR = re.compile(r"[^A-Za-z0-9_]")
_PASS_ALIAS = "_pas"  # same length as `pass`, so positions in messages stay right

ConfigLines = Mapping[tuple[str | int, ...], int]


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI as declared in a config: plain data, safe to keep in a spec or a store."""

    name: str
    expression: str
    weight: float = 1.0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "expression": self.expression}
        out["weight"] = self.weight
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class CompiledKpi:
    """A KPI parsed and checked once, ready to evaluate on every trial.

    `names` are the bare variables the expression reads, `metrics` the literal names given to
    `metric("...")`. Build with `compile_kpis`; the tree is trusted only because it was checked.
    """

    kpi: Kpi
    node: ast.expr
    names: frozenset[str]
    metrics: frozenset[str]

    @property
    def name(self) -> str:
        return self.kpi.name

    @property
    def weight(self) -> float:
        return self.kpi.weight


@dataclass(frozen=True, slots=True)
class KpiResult:
    """The KPIs of one trial: each value (None when it errored), the errors, the weighted score."""

    values: dict[str, float | None]
    errors: dict[str, str] = field(default_factory=dict)
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "values": dict(self.values), "errors": dict(self.errors)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KpiResult:
        return cls(
            values=dict(data.get("values") or {}),
            errors=dict(data.get("errors") or {}),
            score=data.get("score"),
        )


# -- loading -----------------------------------------------------------------------------------


def parse_kpi_config(
    config: Mapping[str, Any],
    *,
    where: str,
    known_metrics: Set[str] | None = None,
    lines: ConfigLines | None = None,
) -> tuple[list[Kpi], float | None]:
    """The KPIs and the threshold of a top-level config (`kpis` or `additional_kpis`, not both).

    `where` is the file's display name; `lines` optionally maps field paths to line numbers
    (the loader's Source.lines). A threshold needs at least one KPI with a weight above 0.
    """
    key = "kpis"
    if "kpis" in config and "additional_kpis" in config:
        _fail(
            "give either `kpis` or `additional_kpis` (its alias), not both",
            where,
            ("additional_kpis",),
            lines,
        )
    if "additional_kpis" in config:
        key = "additional_kpis"
    kpis = parse_kpis(
        config.get(key), where=where, key=key, known_metrics=known_metrics, lines=lines
    )
    threshold = config.get("kpi_threshold")
    if threshold is None:
        return kpis, None
    path: tuple[str | int, ...] = ("kpi_threshold",)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        _fail(f"expected a number, got {type_name(threshold)} {threshold!r}", where, path, lines)
    if not math.isfinite(threshold):
        _fail(f"expected a finite number, got {threshold!r}", where, path, lines)
    if not any(k.weight > 0 for k in kpis):
        _fail(
            "`kpi_threshold` needs at least one KPI with a weight above 0 under `kpis`",
            where,
            path,
            lines,
        )
    return kpis, float(threshold)


def parse_kpis(
    raw: Any,
    *,
    where: str,
    key: str = "kpis",
    known_metrics: Set[str] | None = None,
    lines: ConfigLines | None = None,
) -> list[Kpi]:
    """Validate the YAML list under `key` and check every expression; ConfigError names the field.

    With `known_metrics` (the run's named-metric names) an unknown name in an expression is a
    load error with a suggestion; with None, names that are not base variables are taken to be
    metrics and fail per trial when missing.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        _fail(
            f"expected a list of KPIs (each with `name` and `expression`), got {type_name(raw)}",
            where,
            (key,),
            lines,
        )
    kpis: list[Kpi] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        path: tuple[str | int, ...] = (key, index)
        if not isinstance(item, dict):
            _fail(
                f"a KPI must be a mapping with `name` and `expression`, got {type_name(item)}",
                where,
                path,
                lines,
            )
        for item_key in item:
            if item_key not in KPI_KEYS:
                _fail(
                    f'unknown key "{item_key}" in a KPI{suggest(str(item_key), KPI_KEYS)}',
                    where,
                    (*path, str(item_key)),
                    lines,
                )
        name = _kpi_name(item.get("name"), where, (*path, "name"), lines)
        if name in seen:
            _fail(
                f'duplicate KPI name "{name}" (also {key}[{seen[name]}])',
                where,
                (*path, "name"),
                lines,
            )
        seen[name] = index
        expression = item.get("expression")
        epath = (*path, "expression")
        if expression is None:
            _fail(f'KPI "{name}" is missing its `expression`', where, epath, lines)
        if not isinstance(expression, str):
            _fail(
                f"expected an expression as a string (quote it), got {type_name(expression)}",
                where,
                epath,
                lines,
            )
        if not expression.strip():
            _fail(f'KPI "{name}" has an empty `expression`', where, epath, lines)
        weight = _weight(item.get("weight", 1.0), where, (*path, "weight"), lines)
        description = item.get("description")
        if description is None:
            description = ""
        elif not isinstance(description, str):
            _fail(
                f"expected a string, got {type_name(description)}",
                where,
                (*path, "description"),
                lines,
            )
        kpis.append(Kpi(name, expression.strip(), weight, description))
    compile_kpis(kpis, known_metrics=known_metrics, where=where, key=key, lines=lines)
    return kpis


def compile_kpis(
    kpis: Sequence[Kpi],
    *,
    known_metrics: Set[str] | None = None,
    where: str = "<kpis>",
    key: str = "kpis",
    lines: ConfigLines | None = None,
) -> list[CompiledKpi]:
    """Parse and check each expression once; a ConfigError names `key[i].expression`."""
    known = None if known_metrics is None else _known_names(known_metrics)
    compiled = []
    for index, kpi in enumerate(kpis):
        try:
            compiled.append(_compile(kpi, known, known_metrics))
        except _Invalid as exc:
            _fail(f'KPI "{kpi.name}": {exc}', where, (key, index, "expression"), lines)
    return compiled


def metric_variable_name(metric: str) -> str | None:
    """The bare name a named metric is read by, or None when only `metric("...")` reaches it.

    An identifier stays as it is; otherwise every character other than ASCII letters, digits and
    `_` becomes `_` (`Tone-Check` -> `Tone_Check`), with `_` in front of a leading digit. Base
    variables and functions win over metrics of the same name; keywords cannot be bare names.
    """
    if metric.isidentifier():
        alias = metric
    else:
        alias = _NOT_IDENT_CHAR.sub("_", metric)
        if not alias:
            return None
        if alias[0].isdigit():
            alias = "_" + alias
    if keyword.iskeyword(alias) or alias.startswith("__"):
        return None
    if alias in BASE_VARIABLES or alias in _FUNCTION_ARITY:
        return None
    return alias


class _Invalid(Exception):
    """An expression refused at load time; the message says what and where."""


def _compile(kpi: Kpi, known: frozenset[str] | None, known_metrics: Set[str] | None) -> CompiledKpi:
    text = kpi.expression.strip()
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _Invalid(
            f"the expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_LENGTH}"
        )
    source, pass_at = _rewrite_pass(text)
    try:
        with warnings.catch_warnings():
            # the same text must mean the same thing whatever the warning filters say: a
            # warning while parsing (an invalid escape such as "\d") is a syntax error
            warnings.simplefilter("error")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise _Invalid(f"syntax error{_at(exc.lineno, exc.offset, text)}: {exc.msg}") from None
    except (MemoryError, RecursionError):
        raise _Invalid("the expression is too complex to parse") from None
    except ValueError as exc:  # e.g. a NUL character
        raise _Invalid(f"cannot parse the expression: {exc}") from None
    checker = _Checker(text, pass_at, known, known_metrics)
    checker.check(tree.body)
    return CompiledKpi(kpi, tree.body, frozenset(checker.names), frozenset(checker.metrics))


def _rewrite_pass(text: str) -> tuple[str, set[tuple[int, int]]]:
    """Replace the keyword `pass` (not inside a string) by a same-length name; note where."""
    if "pass" not in text:
        return text, set()
    found: set[tuple[int, int]] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string == "pass":
                found.add(tok.start)
    except (tokenize.TokenError, SyntaxError):
        return text, set()  # the parser will say what is wrong
    if not found:
        return text, set()
    rows = text.split("\n")
    for row, col in found:
        line = rows[row - 1]
        rows[row - 1] = line[:col] + _PASS_ALIAS + line[col + 4 :]
    return "\n".join(rows), found


def _at(line: int | None, column: int | None, text: str) -> str:
    """' at column 5' (or ' at line 2, column 5' for a multi-line expression)."""
    if not column:  # the parser reports 0 when the text ended too early
        return " at the end" if column == 0 else ""
    if "\n" in text and line is not None:
        return f" at line {line}, column {column}"
    return f" at column {column}"


_FUNCTION_ARITY: dict[str, tuple[int, int | None]] = {  # name -> (fewest, most) arguments
    "min": (1, None), "max": (1, None), "abs": (1, 1), "round": (1, 2), "clamp": (3, 3),
    "log": (1, 2), "exp": (1, 1), "sqrt": (1, 1), "if_else": (3, 3), "metric": (1, 2),
    "default": (2, 2),
}  # fmt: skip
FUNCTIONS = tuple(_FUNCTION_ARITY)

_BIN_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**",
}  # fmt: skip
_REFUSED_BIN_OPS = {
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
    ast.MatMult: "@",
}  # fmt: skip
_UNARY_OPS = (ast.USub, ast.UAdd, ast.Not)
_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Subscript: "indexing (`x[...]`) is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignment (`:=`) is not allowed",
    ast.Starred: "`*` unpacking is not allowed",
}


class _Checker:
    """Walks a parsed expression once and refuses anything outside the allowlist."""

    def __init__(
        self,
        text: str,
        pass_at: set[tuple[int, int]],
        known: frozenset[str] | None,
        known_metrics: Set[str] | None,
    ) -> None:
        self.rows = text.split("\n")
        self.text = text
        self.pass_at = pass_at
        self.known = known
        self.known_metrics = known_metrics
        self.names: set[str] = set()
        self.metrics: set[str] = set()

    def check(self, root: ast.expr) -> None:
        # iterative, so a deep tree is refused here rather than blowing the stack
        stack: list[tuple[ast.expr, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.fail(f"the expression nests deeper than {MAX_DEPTH} levels", node)
            stack.extend((child, depth + 1) for child in self.children(node))

    def children(self, node: ast.expr) -> list[ast.expr]:
        if isinstance(node, ast.Constant):
            self.constant(node)
            return []
        if isinstance(node, ast.Name):
            self.name(node)
            return []
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BIN_OPS:
                symbol = _REFUSED_BIN_OPS.get(type(node.op), type(node.op).__name__)
                self.fail(f"operator `{symbol}` is not supported", node)
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _UNARY_OPS):
                self.fail("operator `~` is not supported", node)
            return [node.operand]
        if isinstance(node, ast.BoolOp):
            return list(node.values)
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if not isinstance(op, _COMPARE_OPS):
                    word = {ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
                    self.fail(f"`{word.get(type(op), type(op).__name__)}` is not supported", node)
            return [node.left, *node.comparators]
        if isinstance(node, ast.IfExp):
            return [node.test, node.body, node.orelse]
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            self.fail(f"attribute access (`.{node.attr}`) is not allowed", node)
        message = _REFUSED_NODES.get(type(node))
        self.fail(message or f"{type(node).__name__} is not allowed in a KPI expression", node)

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str):
            self.fail('text is only allowed as the name in metric("...")', node)
        if value is None or not isinstance(value, (int, float)):  # bool is an int
            self.fail(f"{value!r} is not allowed: a KPI works with numbers", node)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail("the number is too large", node)

    def name(self, node: ast.Name) -> None:
        if node.id == _PASS_ALIAS and self.position(node) in self.pass_at:
            node.id = "passed"
        ident = node.id
        if ident in _FUNCTION_ARITY:
            self.fail(f"`{ident}` is a function: call it, e.g. {ident}(...)", node)
        if ident.startswith("__"):
            self.fail(f'"{ident}" is not allowed (names may not start with "__")', node)
        if self.known is not None and ident not in self.known:
            self.fail(f'unknown variable "{ident}"{suggest(ident, self.known)}', node)
        self.names.add(ident)

    def call(self, node: ast.Call) -> list[ast.expr]:
        func = node.func
        if not isinstance(func, ast.Name):
            self.fail(
                "only these functions can be called: "
                f"{', '.join(FUNCTIONS)} (methods and attributes are not allowed)",
                node,
            )
        name = func.id
        if name not in _FUNCTION_ARITY:
            if name in BASE_VARIABLES or (self.known and name in self.known):
                self.fail(f'"{name}" is a variable, not a function', node)
            self.fail(
                f'unknown function "{name}"{suggest(name, FUNCTIONS)}; '
                f"functions: {', '.join(FUNCTIONS)}",
                node,
            )
        if node.keywords:
            self.fail(f"{name}() takes no keyword arguments", node)
        low, high = _FUNCTION_ARITY[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = (
                f"{low} or more"
                if high is None
                else (str(low) if low == high else f"{low} to {high}")
            )
            self.fail(f"{name}() takes {wanted} arguments, got {count}", node)
        if name != "metric":
            return list(node.args)
        first = node.args[0]
        if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
            self.fail('metric() takes the metric\'s name as text: metric("Tone-Check")', node)
        metric = first.value
        if self.known_metrics is not None and metric not in self.known_metrics:
            self.fail(f'unknown metric "{metric}"{suggest(metric, self.known_metrics)}', first)
        self.metrics.add(metric)
        return list(node.args[1:])

    def position(self, node: ast.expr) -> tuple[int, int]:
        """(line, 0-based character column); ast columns count UTF-8 bytes."""
        row = self.rows[node.lineno - 1] if node.lineno <= len(self.rows) else ""
        prefix = row.encode("utf-8")[: node.col_offset]
        return node.lineno, len(prefix.decode("utf-8", errors="ignore"))

    def fail(self, message: str, node: ast.expr) -> NoReturn:
        line, column = self.position(node)
        raise _Invalid(f"{message}{_at(line, column + 1, self.text)}")


def _known_names(known_metrics: Set[str]) -> frozenset[str]:
    aliases = (metric_variable_name(m) for m in known_metrics)
    return frozenset(BASE_VARIABLES) | {a for a in aliases if a is not None}


def _kpi_name(
    value: Any, where: str, path: tuple[str | int, ...], lines: ConfigLines | None
) -> str:
    if value is None:
        _fail("a KPI needs a `name`", where, path, lines)
    if not isinstance(value, str):
        _fail(f"expected a string, got {type_name(value)}", where, path, lines)
    if len(value) > MAX_NAME_LENGTH or not _NAME_RE.match(value):
        _fail(
            f"bad KPI name {value!r}: start with a letter, then letters, digits, `_`, `-` or `.`"
            f" (at most {MAX_NAME_LENGTH} characters)",
            where,
            path,
            lines,
        )
    return value


def _weight(
    value: Any, where: str, path: tuple[str | int, ...], lines: ConfigLines | None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(f"expected a number, got {type_name(value)} {value!r}", where, path, lines)
    if not math.isfinite(value) or value < 0:
        _fail(f"a weight must be a finite number >= 0, got {value!r}", where, path, lines)
    return float(value)


def _fail(
    message: str, where: str, path: tuple[str | int, ...], lines: ConfigLines | None
) -> NoReturn:
    """Raise a ConfigError as the project loader does: file, line when known, field path."""
    line = None
    if lines:
        for end in range(len(path), -1, -1):
            line = lines.get(path[:end])
            if line is not None:
                break
    raise ConfigError(message, file=where, line=line, field=format_path(path))
