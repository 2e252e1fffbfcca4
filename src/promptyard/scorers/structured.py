"""Structured-output checks: is-json / contains-json (optional JSON Schema), is-xml / contains-xml
(required elements), is-sql / contains-sql (dialect, allowed tables and columns)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from promptyard.core.types import GradingResult
from promptyard.scorers.base import CheckInput
from promptyard.scorers.values import json_stringify

# ---------------------------------------------------------------- JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse rejects NaN and Infinity


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(text: str) -> Any:
    """JSON.parse: the whole text (surrounding whitespace allowed) must be one JSON value."""
    return _DECODER.decode(text)


def extract_json_objects(text: str) -> list[Any]:
    """promptfoo's extractJsonObjects: every JSON object (starting at `{`) found in the text,
    left to right, skipping past each one found; works for prose and ```json fences."""
    found: list[Any] = []
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        found.append(obj)
        i = text.find("{", end)
    return found


class _Schema:
    __slots__ = ("validator",)

    def __init__(self, schema: Any) -> None:
        import jsonschema  # lazy: ~50 ms, only for schemas

        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        self.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def errors(self, instance: Any) -> str | None:
        errs = sorted(self.validator.iter_errors(instance), key=lambda e: list(e.path))
        if not errs:
            return None
        return ", ".join(f"{'/' + '/'.join(map(str, e.path)) if e.path else '/'}: {e.message}"
                         for e in errs[:5])  # fmt: skip


@lru_cache(maxsize=256)
def _schema_from_text(text: str) -> _Schema:
    import yaml  # promptfoo reads string schemas as YAML (a superset of JSON)

    return _Schema(yaml.safe_load(text))


_schema_by_id: dict[int, tuple[Any, _Schema]] = {}


def _schema_for(value: Any) -> _Schema:
    """Compiled validator for a schema value, cached by text or by object identity."""
    if isinstance(value, str):
        return _schema_from_text(value)
    hit = _schema_by_id.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    if not isinstance(value, (dict, bool)):
        raise ValueError("JSON schema must be an object, a boolean or a YAML/JSON string")
    compiled = _Schema(value)
    if len(_schema_by_id) > 1024:
        _schema_by_id.clear()
    _schema_by_id[id(value)] = (value, compiled)
    return compiled


def _has_schema(value: Any) -> bool:
    return value is not None and value != ""


def _compile_or_fail(inp: CheckInput) -> _Schema | GradingResult:
    try:
        return _schema_for(inp.value)
    except Exception as exc:  # jsonschema.SchemaError, yaml errors, ValueError
        return inp.result(False, f"Invalid JSON schema: {getattr(exc, 'message', exc)}")


def check_is_json(inp: CheckInput) -> GradingResult:
    try:
        parsed = parse_json(inp.text)
    except ValueError as exc:
        if inp.inverse:
            return inp.result(True, "Output is not valid JSON")
        return inp.result(False, f"Expected output to be valid JSON ({exc})")
    if not _has_schema(inp.value):
        if inp.inverse:
            return inp.result(False, "Expected output to not be valid JSON")
        return inp.result(True, "Output is valid JSON")
    schema = _compile_or_fail(inp)
    if isinstance(schema, GradingResult):
        return schema
    errors = schema.errors(parsed)
    if errors is None:
        if inp.inverse:
            return inp.result(False, "Output is JSON that conforms to the provided schema")
        return inp.result(True, "Output is valid JSON that conforms to the schema")
    if inp.inverse:
        return inp.result(True, f"Output JSON does not conform to the schema: {errors}")
    return inp.result(False, f"JSON does not conform to the provided schema. Errors: {errors}")


def check_contains_json(inp: CheckInput) -> GradingResult:
    objects = extract_json_objects(inp.text)
    if not objects:
        if inp.inverse:
            return inp.result(True, "Output contains no JSON object")
        return inp.result(False, "Expected output to contain valid JSON")
    if not _has_schema(inp.value):
        if inp.inverse:
            return inp.result(False, "Expected output to not contain JSON")
        return inp.result(True, f"Output contains JSON: {_short(objects[0])}")
    schema = _compile_or_fail(inp)
    if isinstance(schema, GradingResult):
        return schema
    last_errors = ""
    for obj in objects:
        errors = schema.errors(obj)
        if errors is None:
            if inp.inverse:
                return inp.result(False, "Output contains JSON conforming to the provided schema")
            return inp.result(True, f"Output contains JSON matching the schema: {_short(obj)}")
        last_errors = errors
    if inp.inverse:
        return inp.result(True, "Output contains no JSON conforming to the schema")
    return inp.result(False, f"JSON does not conform to the provided schema. Errors: {last_errors}")


def _short(obj: Any, limit: int = 120) -> str:
    text = json_stringify(obj)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- XML


def _required_elements(value: Any) -> list[str] | None:
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, str):  # even "": promptfoo then requires an element named ""
        return [part.strip() for part in value.split(",")]
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict) and isinstance(value.get("requiredElements"), list):
        return [str(v) for v in value["requiredElements"]]
    raise ValueError("xml assertion must contain a string, array value, or no value")


def _has_path(root: Any, path: list[str]) -> bool:
    """A dotted path as promptfoo resolves it on the parsed document: the first name is the root
    element, then child elements, `@_name` attributes, and list indices for repeated children."""
    if not path or root.tag != path[0]:
        return False
    current: list[Any] = [root]
    for key in path[1:]:
        if key.startswith("@_"):
            return len(current) == 1 and key[2:] in current[0].attrib and key is path[-1]
        if key.isdigit():
            index = int(key)
            if len(current) < 2 or index >= len(current):
                return False
            current = [current[index]]
            continue
        if len(current) != 1:
            return False
        children = [child for child in current[0] if child.tag == key]
        if not children:
            return False
        current = children
    return True


def _parse_xml(text: str) -> Any:
    """A well-formed XML document, parsed safely (no entity expansion, no external DTDs)."""
    import defusedxml.ElementTree as SafeET  # lazy: only for XML checks

    return SafeET.fromstring(text.strip())


def _validate_xml(text: str, required: list[str] | None) -> tuple[bool, bool, str]:
    """(valid, well_formed, reason)."""
    try:
        root = _parse_xml(text)
    except Exception as exc:  # ParseError, defusedxml's DTD/entity refusals
        return False, False, f"XML parsing failed: {exc}"
    missing = [r for r in required or [] if not _has_path(root, r.split("."))]
    if missing:
        return False, True, f"XML is missing required elements: {', '.join(missing)}"
    return True, True, "XML is valid and contains all required elements"


_TAG = re.compile(r"<(/?)([A-Za-z_:][-\w:.]*)(?:\s[^<>]*?)?\s*(/?)>")


def _xml_candidates(text: str) -> list[tuple[int, int]]:
    """Balanced element spans in `text`, outermost first (what contains-xml tries to parse)."""
    stack: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    for m in _TAG.finditer(text):
        closing, name, self_closing = m.group(1), m.group(2), m.group(3)
        if closing:
            if stack and stack[-1][0] == name:
                _, start = stack.pop()
                spans.append((start, m.end()))
            else:
                stack.clear()
        elif self_closing:
            spans.append((m.start(), m.end()))
        else:
            stack.append((name, m.start()))
    spans.sort(key=lambda s: (s[0], -s[1]))
    return spans


def check_xml(inp: CheckInput, *, contains: bool = False) -> GradingResult:
    required = _required_elements(inp.value)
    if contains:
        valid, reason = False, "No XML content found in the output"
        good: list[tuple[int, int]] = []
        candidates = _xml_candidates(inp.text)
        if candidates:
            reason = "No valid XML content found matching the requirements"
        for start, end in candidates:
            if any(s <= start and end <= e for s, e in good):
                continue
            ok, well_formed, why = _validate_xml(inp.text[start:end], required)
            if ok:
                valid, reason = True, why
                break
            if well_formed:
                good.append((start, end))
                reason = why
    else:
        valid, _, reason = _validate_xml(inp.text, required)
    if valid != inp.inverse:
        return inp.result(True, reason if valid else f"Output is not valid XML ({reason})")
    return inp.result(False, reason)  # promptfoo's reason, also for not-is-xml


# ---------------------------------------------------------------- SQL

# node-sql-parser's database names -> sqlglot dialects.
_DIALECTS = {
    "mysql": "mysql", "mariadb": "mysql", "postgresql": "postgres", "postgres": "postgres",
    "sqlite": "sqlite", "bigquery": "bigquery", "transactsql": "tsql", "tsql": "tsql",
    "snowflake": "snowflake", "redshift": "redshift", "hive": "hive", "db2": "",
    "flinksql": "", "trino": "trino", "athena": "athena", "oracle": "oracle",
    "duckdb": "duckdb", "spark": "spark", "databricks": "databricks", "clickhouse": "clickhouse",
}  # fmt: skip
_SQL_FENCE = re.compile(r"```(?:sql)?([^`]+)```", re.IGNORECASE)


def _sql_options(value: Any) -> tuple[str, str, list[str] | None, list[str] | None]:
    if value is None or value == "":
        return "MySQL", "mysql", None, None
    if not isinstance(value, dict):
        raise ValueError("is-sql assertion must have an object value")
    database = str(value.get("databaseType") or "MySQL")
    dialect = _DIALECTS.get(database.lower())
    if dialect is None:
        raise ValueError(
            f"unknown databaseType {database!r}; known: {', '.join(sorted(_DIALECTS))}"
        )
    tables, columns = value.get("allowedTables"), value.get("allowedColumns")
    return database, dialect, tables, columns


@lru_cache(maxsize=512)
def _authority_pattern(entry: str) -> re.Pattern[str]:
    """node-sql-parser's whitelist entry, e.g. "(select|update)::null::users", is a
    case-insensitive regex over "statement::db::table" or "statement::table::column". A bare
    name ("users") means that table or column in any statement."""
    if "::" not in entry:
        entry = rf"[^:]+::[^:]*::{entry}"
    return re.compile(entry, re.IGNORECASE)


def _sql_authorities(statements: list[Any]) -> tuple[set[str], set[str]]:
    from sqlglot import exp

    tables: set[str] = set()
    columns: set[str] = set()
    for stmt in statements:
        if stmt is None:
            continue
        kind = stmt.key.lower()
        kind = {"union": "select", "intersect": "select", "except": "select"}.get(kind, kind)
        ctes = {cte.alias_or_name for cte in stmt.find_all(exp.CTE)}
        aliases: dict[str, str] = {}
        for table in stmt.find_all(exp.Table):
            if table.name in ctes:
                continue
            tables.add(f"{kind}::{table.db or 'null'}::{table.name}")
            if table.alias:
                aliases[table.alias] = table.name
        for column in stmt.find_all(exp.Column):
            owner = aliases.get(column.table, column.table) or "null"
            name = "(.*)" if isinstance(column.this, exp.Star) else column.name
            columns.add(f"{kind}::{owner}::{name}")
        if any(isinstance(s.parent, exp.Select) for s in stmt.find_all(exp.Star)):
            columns.add(f"{kind}::null::(.*)")
    return tables, columns


# sqlglot parses a bare expression ("hello world" as a column alias) without complaint; a SQL
# statement must be a query, DML, DDL or one of these.
_STATEMENT_NAMES = frozenset(
    ["Drop", "Alter", "Show", "TruncateTable", "Transaction", "Commit", "Rollback", "Describe",
     "Use", "Set", "Grant", "Revoke", "Analyze", "Pragma", "Cache", "Uncache", "Refresh"]
)  # fmt: skip


def _is_statement(node: Any) -> bool:
    from sqlglot import exp

    return isinstance(node, (exp.Query, exp.DML, exp.DDL)) or type(node).__name__ in (
        _STATEMENT_NAMES
    )


def check_sql(inp: CheckInput, *, contains: bool = False) -> GradingResult:
    database, dialect, allowed_tables, allowed_columns = _sql_options(inp.value)
    sql = inp.text
    if contains:
        fence = _SQL_FENCE.search(sql)
        if fence:
            sql = fence.group(1).strip()
    import sqlglot  # lazy: ~150 ms
    from sqlglot.errors import ParseError, TokenError

    failures: list[str] = []
    statements: list[Any] = []
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect or None) if s is not None]
        if not statements or not all(_is_statement(s) for s in statements):
            raise ParseError("not a SQL statement")
    except (ParseError, TokenError):
        statements = []
        failures.append(f"SQL statement does not conform to the provided {database} syntax.")
    if statements and (allowed_tables is not None or allowed_columns is not None):
        tables, columns = _sql_authorities(statements)
        for allowed, seen, what in (
            (allowed_tables, tables, "table"),
            (allowed_columns, columns, "column"),
        ):
            if allowed is None:
                continue
            patterns = [_authority_pattern(str(a)) for a in allowed]
            for authority in sorted(seen):
                if not any(p.fullmatch(authority) for p in patterns):
                    failures.append(f"SQL validation failed: authority = '{authority}' is required"
                                    f" in {what} whiteList to execute SQL = '{sql}'.")  # fmt: skip
                    break
    valid = not failures
    if valid != inp.inverse:
        if valid:
            return inp.result(True, f"Output is valid {database} SQL")
        return inp.result(True, f"Output is not valid SQL: {' '.join(failures)}")
    if inp.inverse:
        return inp.result(False, "The output SQL statement is valid")
    return inp.result(False, " ".join(failures))
