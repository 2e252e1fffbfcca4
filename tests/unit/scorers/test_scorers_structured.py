"""JSON, XML and SQL checks."""

from __future__ import annotations

import pytest
from tests.unit.scorers.helpers import grade_one

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
}

# ---------------------------------------------------------------- is-json


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ('{"a": 1}', True),
        ("  [1, 2, 3]\n", True),
        ("42", True),  # any JSON value, as JSON.parse
        ('"text"', True),
        ("null", True),
        ("", False),
        ("{'a': 1}", False),  # single quotes are not JSON
        ('{"a": NaN}', False),  # JSON.parse rejects NaN
        ('```json\n{"a": 1}\n```', False),  # is-json wants the whole output to be JSON
        ('Here you go: {"a": 1}', False),
    ],
)
async def test_is_json(output: str, passed: bool) -> None:
    assert (await grade_one("is-json", None, output)).passed is passed
    assert (await grade_one("not-is-json", None, output)).passed is not passed


async def test_is_json_object_output_is_stringified() -> None:
    assert (await grade_one("is-json", None, {"a": [1, 2]})).passed


@pytest.mark.parametrize(
    ("schema", "output", "passed"),
    [
        (SCHEMA, '{"name": "Ann", "age": 3}', True),
        (SCHEMA, '{"age": 3}', False),
        (SCHEMA, '{"name": "Ann", "age": "3"}', False),
        # A string value is a YAML (or JSON) schema, as in promptfoo.
        ("type: object\nrequired: [name]", '{"name": 1}', True),
        ('{"type": "array", "minItems": 2}', "[1]", False),
    ],
)
async def test_is_json_schema(schema: object, output: str, passed: bool) -> None:
    result = await grade_one("is-json", schema, output)
    assert result.passed is passed, result.reason
    if not passed:
        assert "does not conform to the provided schema" in result.reason


async def test_is_json_schema_errors_name_the_field() -> None:
    result = await grade_one("is-json", SCHEMA, '{"name": 5}')
    assert "/name" in result.reason


async def test_not_is_json_with_schema() -> None:
    assert not (await grade_one("not-is-json", SCHEMA, '{"name": "x"}')).passed
    assert (await grade_one("not-is-json", SCHEMA, '{"x": 1}')).passed


async def test_is_json_invalid_schema_fails_with_reason() -> None:
    result = await grade_one("is-json", {"type": "no-such-type"}, "{}")
    assert not result.passed
    assert result.reason.startswith("Invalid JSON schema")


# ---------------------------------------------------------------- contains-json


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ('Sure! Here it is: {"name": "Ann"} Hope that helps.', True),
        ('```json\n{\n  "name": "Ann"\n}\n```', True),
        ("Text with {braces} but no JSON", False),
        ("no json at all", False),
        ("", False),
        ("[1, 2, 3]", False),  # promptfoo only looks for objects
        ('{"outer": {"inner": [1, {"x": 2}]}}', True),
    ],
)
async def test_contains_json(output: str, passed: bool) -> None:
    assert (await grade_one("contains-json", None, output)).passed is passed
    assert (await grade_one("not-contains-json", None, output)).passed is not passed


async def test_contains_json_schema_checks_every_object() -> None:
    output = 'first {"age": 1} then ```json\n{"name": "Ann"}\n```'
    assert (await grade_one("contains-json", SCHEMA, output)).passed
    bad = await grade_one("contains-json", SCHEMA, 'only {"age": 1}')
    assert not bad.passed
    assert "does not conform" in bad.reason
    assert not (await grade_one("not-contains-json", SCHEMA, output)).passed
    assert (await grade_one("not-contains-json", SCHEMA, 'only {"age": 1}')).passed


async def test_json_schema_from_file(tmp_path: object) -> None:
    import json
    from pathlib import Path

    base = Path(str(tmp_path))
    (base / "schema.json").write_text(json.dumps(SCHEMA))
    ok = await grade_one("is-json", "file://schema.json", '{"name": "x"}', base_dir=str(base))
    assert ok.passed
    bad = await grade_one("is-json", "file://schema.json", "{}", base_dir=str(base))
    assert not bad.passed


# ---------------------------------------------------------------- XML


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ("<root><a>1</a></root>", True),
        ('<?xml version="1.0"?>\n<root a="1"/>', True),
        ("<root><a>1</root>", False),
        ("<root>", False),
        ("text <root/>", False),  # is-xml wants the whole output
        ("", False),
        ("<r>Grüße 😀</r>", True),
        ('<!DOCTYPE r [<!ENTITY x "boom">]><r>&x;</r>', False),  # no entity expansion
    ],
)
async def test_is_xml(output: str, passed: bool) -> None:
    assert (await grade_one("is-xml", None, output)).passed is passed
    assert (await grade_one("not-is-xml", None, output)).passed is not passed


@pytest.mark.parametrize(
    ("value", "passed"),
    [
        ("root.a", True),
        ("root.a, root.b", True),
        (["root.b.c"], True),
        ({"requiredElements": ["root.a"]}, True),
        ("root.missing", False),
        ("other.a", False),
        ("root.b.@_id", True),  # attributes as fast-xml-parser names them
        ("root.a.0", True),  # repeated children are a list
        ("root.a.5", False),
    ],
)
async def test_xml_required_elements(value: object, passed: bool) -> None:
    output = '<root><a>1</a><a>2</a><b id="7"><c/></b></root>'
    result = await grade_one("is-xml", value, output)
    assert result.passed is passed, result.reason
    if not passed:
        assert "missing required elements" in result.reason


@pytest.mark.parametrize(
    ("output", "value", "passed"),
    [
        ("Here is the data: <item><name>x</name></item> Thanks!", None, True),
        ("```xml\n<item><name>x</name></item>\n```", "item.name", True),
        ("prefix <item><name>x</name></item>", "item.price", False),
        ("no xml here", None, False),
        ("a < b and c > d", None, False),
        ("<a><b>unclosed</a>", None, False),
        ("<x/> and <item><name>n</name></item>", "item.name", True),
    ],
)
async def test_contains_xml(output: str, value: object, passed: bool) -> None:
    result = await grade_one("contains-xml", value, output)
    assert result.passed is passed, result.reason


async def test_not_contains_xml() -> None:
    assert (await grade_one("not-contains-xml", None, "plain text")).passed
    assert not (await grade_one("not-contains-xml", None, "x <a>1</a>")).passed


# ---------------------------------------------------------------- SQL


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ("SELECT id, name FROM users WHERE id = 1", True),
        ("select * from orders o join users u on o.user_id = u.id", True),
        ("UPDATE users SET name = 'x' WHERE id = 2", True),
        ("INSERT INTO t (a) VALUES (1)", True),
        ("DELETE FROM t WHERE a = 1", True),
        ("SELECT * FORM users", False),
        ("SELECT FROM", False),
        ("hello world", False),  # a bare expression is not a statement
        ("The answer is 42", False),
        ("", False),
    ],
)
async def test_is_sql(output: str, passed: bool) -> None:
    result = await grade_one("is-sql", None, output)
    assert result.passed is passed, result.reason
    assert (await grade_one("not-is-sql", None, output)).passed is not passed


async def test_is_sql_database_type() -> None:
    # Backtick identifiers are MySQL; PostgreSQL quotes with double quotes.
    assert (await grade_one("is-sql", {"databaseType": "MySQL"}, "SELECT `a` FROM `t`")).passed
    pg = await grade_one("is-sql", {"databaseType": "PostgreSQL"}, 'SELECT "a" FROM "t"')
    assert pg.passed


async def test_is_sql_unknown_database_type_is_an_error() -> None:
    result = await grade_one("is-sql", {"databaseType": "NoSuchDB"}, "SELECT 1")
    assert not result.passed
    assert result.error is not None
    assert "NoSuchDB" in result.reason


@pytest.mark.parametrize(
    ("value", "sql", "passed"),
    [
        ({"allowedTables": ["users"]}, "SELECT id FROM users", True),
        ({"allowedTables": ["users"]}, "SELECT id FROM orders", False),
        ({"allowedTables": ["select::null::users"]}, "SELECT id FROM users", True),
        ({"allowedTables": ["select::null::users"]}, "DELETE FROM users", False),
        ({"allowedTables": ["(select|delete)::null::users"]}, "DELETE FROM users", True),
        ({"allowedColumns": ["select::null::id"]}, "SELECT id FROM users", True),
        ({"allowedColumns": ["select::null::id"]}, "SELECT id, password FROM users", False),
        ({"allowedColumns": ["select::users::id"]}, "SELECT u.id FROM users u", True),
        ({"allowedColumns": ["id"]}, "SELECT * FROM users", False),  # * needs (.*)
        ({"allowedColumns": ["select::null::(.*)"]}, "SELECT * FROM users", True),
    ],
)
async def test_is_sql_allow_lists(value: object, sql: str, passed: bool) -> None:
    result = await grade_one("is-sql", value, sql)
    assert result.passed is passed, result.reason
    if not passed:
        assert "SQL validation failed" in result.reason


async def test_contains_sql() -> None:
    fenced = "Use this query:\n```sql\nSELECT name FROM users\n```\nIt lists names."
    assert (await grade_one("contains-sql", None, fenced)).passed
    assert (await grade_one("contains-sql", None, "SELECT 1")).passed
    assert not (await grade_one("contains-sql", None, "No query, sorry.")).passed
    assert (await grade_one("not-contains-sql", None, "No query, sorry.")).passed
