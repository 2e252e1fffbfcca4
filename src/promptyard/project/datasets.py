"""Test datasets in files: CSV/TSV with promptfoo's special columns, JSONL, JSON and YAML.

Files are streamed row by row (the csv module, one JSON line at a time) and each row becomes
a TestCase directly, so a 100,000-row file loads without holding its text or a table in memory.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from promptyard.core.types import Assertion, TestCase
from promptyard.errors import ConfigError
from promptyard.project.cases import SPLITS, parse_test
from promptyard.project.files import LoadContext, python_function, why
from promptyard.project.source import Path, Source, suggest, type_name
from promptyard.trust.files import split_function, strip_prefix

# promptfoo's base assertion types, in its order: `__expected` values are matched against them.
_BASE_TYPES = (
    "answer-relevance", "bleu", "classifier", "contains", "contains-all", "contains-any",
    "contains-html", "contains-json", "contains-sql", "contains-xml", "context-faithfulness",
    "context-recall", "context-relevance", "conversation-relevance", "cost", "equals",
    "factuality", "finish-reason", "g-eval", "gleu", "guardrails", "icontains", "icontains-all",
    "icontains-any", "is-html", "is-json", "is-refusal", "is-sql", "is-valid-function-call",
    "is-valid-openai-function-call", "is-valid-openai-tools-call", "is-xml", "javascript",
    "latency", "levenshtein", "llm-rubric", "pi", "meteor", "model-graded-closedqa",
    "model-graded-factuality", "moderation", "perplexity", "perplexity-score", "python", "regex",
    "rouge-n", "ruby", "similar", "similar:cosine", "similar:dot", "similar:euclidean",
    "starts-with", "tool-call-f1", "skill-used", "trajectory:goal-success",
    "trajectory:tool-args-match", "trajectory:step-count", "trajectory:tool-sequence",
    "trajectory:tool-used", "trace-error-spans", "trace-span-count", "trace-span-duration",
    "search-rubric", "webhook", "word-count",
)  # fmt: skip
_ASSERTION_RE = re.compile(
    r"^(not-)?(" + "|".join(re.escape(t) for t in _BASE_TYPES) + r")"
    r"(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)
_LIST_TYPES = frozenset({"contains-all", "contains-any", "icontains-all", "icontains-any"})
_THRESHOLD_TYPES = frozenset(
    {
        "answer-relevance", "classifier", "context-faithfulness", "context-recall",
        "context-relevance", "cost", "latency", "levenshtein", "perplexity-score", "perplexity",
        "rouge-n", "similar", "starts-with",
    }
)  # fmt: skip
_JS_FILE_RE = re.compile(r"\.(?:js|cjs|mjs|ts|cts|mts)(?::|$)")


_PARSED: dict[str, tuple[str, Any, float | None]] = {}
_PARSED_MAX = 4096


def assertion_from_string(expected: str, where: str = "") -> Assertion:
    """An `__expected` cell as promptfoo reads it (see _parse_expected)."""
    parsed = _PARSED.get(expected)
    if parsed is None:
        a = _parse_expected(expected)
        parsed = (a.type, a.value, a.threshold)
        if len(_PARSED) < _PARSED_MAX:  # rows often repeat the same checks
            _PARSED[expected] = parsed
    kind, value, threshold = parsed
    if isinstance(value, list):
        value = list(value)
    return Assertion(kind, value, threshold=threshold, where=where)


def _parse_expected(expected: str, where: str = "") -> Assertion:
    """An `__expected` cell as promptfoo reads it: `contains: x`, `not-icontains:x`,
    `similar(0.9): x`, `javascript: ...`/`fn:`, `grade:`/`llm-rubric:`, `python:`,
    `file://check.py`; anything else is `equals` with the whole text."""
    if expected.startswith(("javascript:", "fn:", "eval:")):
        return Assertion("javascript", expected.split(":", 1)[1].strip(), where=where)
    if expected.startswith("file://") and _JS_FILE_RE.search(expected):
        return Assertion("javascript", expected[len("file://") :].strip(), where=where)
    if expected.startswith("grade:"):
        return Assertion("llm-rubric", expected[len("grade:") :], where=where)
    if expected.startswith("llm-rubric:"):
        return Assertion("llm-rubric", expected[len("llm-rubric:") :], where=where)
    if expected.startswith("python:"):
        return Assertion("python", expected[len("python:") :].strip(), where=where)
    if expected.startswith("file://") and (expected.endswith(".py") or ".py:" in expected):
        return Assertion("python", expected[len("file://") :].strip(), where=where)
    match = _ASSERTION_RE.match(expected)
    if match is None:
        return Assertion("equals", expected, where=where)
    negated, base, threshold_text, value = match.groups()
    kind = f"not-{base}" if negated else base
    if base in _LIST_TYPES:
        items = [s.strip() for s in value.split(",")] if value else value
        return Assertion(kind, items, where=where)
    if base in ("contains-json", "is-json"):
        return Assertion(kind, value, where=where)
    stripped = value.strip() if value is not None else None
    if base in _THRESHOLD_TYPES:
        threshold = float(threshold_text) if threshold_text else None
        if threshold is None:
            threshold = 0.8 if base == "similar" else 0.75
        return Assertion(kind, stripped, threshold=threshold, where=where)
    return Assertion(kind, stripped, where=where)


# ---------------------------------------------------------------- CSV

_VAR, _EXPECTED, _PREFIX, _SUFFIX, _DESCRIPTION, _METRIC, _THRESHOLD = range(7)
_META, _META_LIST, _CONFIG, _SPLIT, _SKIP = range(7, 12)
_SPECIAL = {
    "__prefix": _PREFIX,
    "__suffix": _SUFFIX,
    "__description": _DESCRIPTION,
    "__metric": _METRIC,
    "__threshold": _THRESHOLD,
    "__split": _SPLIT,
    "__metadata": _SKIP,  # promptfoo ignores a __metadata column without a key
}
_KNOWN_COLUMNS = (*_SPECIAL, "__expected", "__metadata:<key>", "__config:__expected:threshold")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def _column_plan(header: list[str], src: Source) -> list[tuple[int, str, int]]:
    """Classify each column once per file: (kind, key, assertion index for __config)."""
    plan = []
    for raw in header:
        key = raw.strip()
        kind, arg, target = _VAR, key, -1
        if key.startswith("__expected"):
            kind = _EXPECTED
        elif key in _SPECIAL:
            kind = _SPECIAL[key]
        elif key.startswith("__metadata:"):
            arg = key[len("__metadata:") :]
            kind = _META_LIST if arg.endswith("[]") else _META
            arg = arg[:-2] if kind == _META_LIST else arg
        elif key.startswith("__config:"):
            kind = _CONFIG
            parts = key[len("__config:") :].split(":")
            found = re.fullmatch(r"__expected(\d*)", parts[0]) if len(parts) == 2 else None
            if found is None or parts[1] != "threshold" or found.group(1) == "0":
                src.fail(
                    f'bad column "{key}": expected __config:__expected:threshold '
                    "or __config:__expected<N>:threshold"
                )
            target = int(found.group(1)) - 1 if found.group(1) else 0
            arg = parts[1]
        elif key == "__providerOutput":
            src.fail('column "__providerOutput" is not supported (canned outputs)')
        elif key.startswith("__"):
            src.fail(f'unknown special column "{key}"{suggest(key, _KNOWN_COLUMNS)}')
        plan.append((kind, arg, target))
    return plan


def _csv_number(value: str, column: str, row: Source) -> float | None:
    if value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        row.fail(f"column {column}: expected a number, got {value!r}")


def _case_from_row(values: list[str], plan: list[tuple[int, str, int]], row: Source) -> TestCase:
    vars: dict[str, Any] = {}
    asserts: list[Assertion] = []
    options: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    configs: list[tuple[int, float]] = []
    description = metric = split = None
    threshold: float | None = None
    where = row.where()
    for (kind, key, target), value in zip(plan, values, strict=True):
        if kind == _VAR:
            vars[key] = value
        elif kind == _EXPECTED:
            text = value.strip()
            if text:
                asserts.append(assertion_from_string(text, f"{where}, {key}"))
        elif kind == _DESCRIPTION:
            description = value or None
        elif kind == _PREFIX:
            options["prefix"] = value
        elif kind == _SUFFIX:
            options["suffix"] = value
        elif kind == _METRIC:
            metric = value or None
        elif kind == _THRESHOLD:
            threshold = _csv_number(value, key, row) or None  # promptfoo drops 0 here too
        elif kind == _META:
            if value.strip():
                metadata[key] = value
        elif kind == _META_LIST:
            if value.strip():
                items = _UNESCAPED_COMMA.split(value)
                metadata[key] = [v.strip().replace("\\,", ",") for v in items]
        elif kind == _CONFIG:
            number = _csv_number(value, f"__config:{key}", row)
            if number is not None:
                configs.append((target, number))
        elif kind == _SPLIT:
            split = value.strip() or None
            if split is not None and split not in SPLITS:
                row.fail(f"column __split must be train, val or test; got {value!r}")
    if metric is not None:
        for assertion in asserts:
            assertion.metric = metric
    for target, number in configs:
        if target < len(asserts):
            asserts[target].threshold = number
    return TestCase(
        vars=vars,
        assertions=asserts,
        description=description,
        threshold=threshold,
        options=options,
        metadata=metadata,
        split=split,
        where=where,
    )


def iter_csv(full: str, ctx: LoadContext) -> Iterator[tuple[TestCase, Source, Path]]:
    """Rows of a CSV (or .tsv) file; row numbers count the header as row 1, as spreadsheets do."""
    name = ctx.display(full)
    src = Source(name)
    delimiter = "\t" if full.lower().endswith(".tsv") else ","
    try:
        with open(full, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return
            plan = _column_plan(header, src.row("header", 1))
            width = len(plan)
            number = 1
            for values in reader:
                if not values or (len(values) == 1 and not values[0].strip() and width > 1):
                    continue  # blank line
                number += 1
                row = src.row(f"row {number}", reader.line_num)
                if len(values) != width:
                    row.fail(f"has {len(values)} fields but the header has {width}")
                yield _case_from_row(values, plan, row), row, ()
    except csv.Error as exc:
        raise ConfigError(f"bad CSV: {exc}", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {why(exc)}", file=name) from None


# ---------------------------------------------------------------- JSONL, JSON, YAML


def iter_jsonl(full: str, ctx: LoadContext) -> Iterator[tuple[TestCase, Source, Path]]:
    name = ctx.display(full)
    src = Source(name)
    try:
        with open(full, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                row = src.row(f"line {number}", number)
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    row.fail(f"invalid JSON: {exc.msg} (column {exc.colno})")
                yield parse_or_error(data, ctx, row, ()), row, ()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {why(exc)}", file=name) from None


def iter_structured(
    full: str, ctx: LoadContext, ref: Source, ref_path: Path
) -> Iterator[tuple[TestCase, Source, Path]]:
    """A YAML or JSON file holding a list of tests (or one test mapping)."""
    data, src = ctx.read_structured(full, ref, ref_path)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        src.fail(f"expected a list of tests, got {type_name(data)}")
    folder = os.path.dirname(full)
    for index, item in enumerate(data):
        yield parse_or_error(item, ctx, src, (index,), folder), src, (index,)


def parse_or_error(
    item: Any, ctx: LoadContext, src: Source, at: Path, folder: str | None = None
) -> TestCase:
    """parse_test, with `vars` given as files read first (relative to `folder`, a test
    file's, else the config's); under `ctx.errored_tests`, a problem confined to this test
    (one of its assertions, or a key we don't know) gives an errored TestCase instead."""
    item = with_vars_files(item, ctx, src, at, folder)
    try:
        return parse_test(item, src, at)
    except ConfigError as exc:
        if not ctx.errored_tests or not _confined(exc, src.field(at)):
            raise
        body = item if isinstance(item, dict) else {}
        vars = body.get("vars")
        description = body.get("description")
        return TestCase(
            vars=vars if isinstance(vars, dict) else {},
            description=description if isinstance(description, str) else None,
            where=src.where(at),
            error=str(exc),
        )


def _confined(exc: ConfigError, test_field: str | None) -> bool:
    """An unknown key in this test or one of its assertions: promptfoo runs the config and
    errors that test alone. (A value of the wrong type still stops the load, as a typo
    should; unknown assertion types and missing values are found by the grader's check.)"""
    field = exc.field or ""
    return bool(test_field) and field.startswith(test_field or "") and "unknown key" in str(exc)


def with_vars_files(
    item: Any, ctx: LoadContext, src: Source, at: Path, base_dir: str | None = None
) -> Any:
    """A test mapping whose `vars` names files (a path, glob or list of them) with those
    files' variables in their place; anything else unchanged."""
    if not isinstance(item, dict):
        return item
    value = item.get("vars")
    if isinstance(value, str) or (isinstance(value, list) and value):
        return {**item, "vars": ctx.vars_files(value, src, (*at, "vars"), base_dir)}
    return item


_READERS = {".csv": iter_csv, ".tsv": iter_csv, ".jsonl": iter_jsonl}
_STRUCTURED = frozenset({".json", ".yaml", ".yml"})


def iter_test_file(
    full: str, ctx: LoadContext, ref: Source, ref_path: Path
) -> Iterator[tuple[TestCase, Source, Path]]:
    """Tests from one dataset file, each with the Source that locates it."""
    ext = os.path.splitext(full)[1].lower()
    reader = _READERS.get(ext)
    if reader is not None:
        return reader(full, ctx)
    if ext in _STRUCTURED:
        return iter_structured(full, ctx, ref, ref_path)
    what = {
        ".xlsx": "Excel files are not supported; save the sheet as CSV",
        ".xls": "Excel files are not supported; save the sheet as CSV",
        ".py": "test generator scripts are not supported; write the tests to a data file",
        ".js": "test generator scripts are not supported; write the tests to a data file",
        ".ts": "test generator scripts are not supported; write the tests to a data file",
    }.get(ext, f"unsupported test file type {ext or '(none)'}; use .csv, .jsonl, .json or .yaml")
    ref.fail(f"{ctx.display(full)}: {what}", ref_path)


def read_rows(path: str, *, display_name: str | None = None) -> list[dict[str, Any]]:
    """A dataset file (.csv, .jsonl, .json, .yaml) as registry rows: {description, vars,
    assert, split, metadata}, read with the same rules as a config's `tests: file://...`
    (promptfoo's __expected columns become assertions). Errors name the file and the row."""
    base = os.path.dirname(os.path.abspath(path))
    name = display_name or os.path.basename(path)
    ctx = LoadContext(base_dir=base, config_name=name)
    src = Source(name)
    rows: list[dict[str, Any]] = []
    for case, _, _ in iter_test_file(os.path.abspath(path), ctx, src, ()):
        rows.append(
            {
                "description": case.description,
                "vars": case.vars,
                "assert": [a.to_dict() for a in case.assertions],
                "split": case.split,
                "metadata": case.metadata,
            }
        )
    return rows


_GENERATOR_EXTENSIONS = (".py", ".js", ".cjs", ".mjs", ".ts", ".cts", ".mts")


def is_generator_ref(ref: str) -> bool:
    """Whether a `tests` entry names a test generator script (`file://gen.py[:fn]`)."""
    name, _ = split_function(ref)
    return strip_prefix(name).lower().endswith(_GENERATOR_EXTENSIONS)


def iter_generated(
    ref: str, config: Any, ctx: LoadContext, src: Source, at: Path
) -> Iterator[tuple[TestCase, Source, Path]]:
    """The tests a generator script returns, as promptfoo runs it: a Python function (only
    where the trust policy allows Python) called with the entry's `config` when it has one;
    the result is a list of test mappings (or one)."""
    name, function = split_function(ref)
    if not strip_prefix(name).lower().endswith(".py"):
        src.fail(
            "JavaScript test generators are not supported yet; write a Python generator"
            " (file://gen.py:fn) or a data file",
            at,
        )
    ctx.trust.check_python("Python test generators", file=src.name, field=src.field(at))
    (full,) = ctx.resolve(name, src, at, "tests")[:1]
    function = function or "generate_tests"  # promptfoo's default function name
    label = f"{ctx.display(full)}:{function}"
    fn = python_function(full, function, label, src, at)
    try:
        data = fn(config) if config is not None else fn()
    except Exception as exc:
        src.fail(f"{label} failed: {type(exc).__name__}: {exc}", at)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        src.fail(f"{label} must return a list of tests, got {type_name(data)}", at)
    gen_src = Source(label)
    for index, item in enumerate(data):
        yield parse_or_error(item, ctx, gen_src, (index,)), gen_src, (index,)
