"""Test cases and assertions as written in YAML/JSON, and how defaultTest and vars combine.

`parse_test` builds a TestCase exactly as written; `finish_case` merges defaultTest into it
the way promptfoo's evaluator does and expands array-valued and `file://` vars into one
case per combination (a cartesian product, first var varying slowest).
"""

from __future__ import annotations

from typing import Any

from promptyard.core.types import Assertion, TestCase
from promptyard.project.files import FILE_PREFIX, LoadContext
from promptyard.project.source import Path, Source, type_name

SPLITS = frozenset({"train", "val", "test"})

TEST_KEYS = (
    "description", "vars", "assert", "options", "threshold", "metadata", "split",
    "assertScoringFunction", "providerOutput",
)  # fmt: skip
TEST_UNSUPPORTED = {
    "provider": "per-test providers are not supported yet; use a separate config",
    "providers": "filtering tests by provider is not supported yet",
    "prompts": "filtering tests by prompt is not supported yet",
}
ASSERT_KEYS = (
    "type", "value", "threshold", "weight", "metric", "transform", "provider", "config",
    "assert", "rubricPrompt", "contextTransform",
)  # fmt: skip
_STRING_OPTIONS = ("prefix", "suffix", "transform", "postprocess", "storeOutputAs")
_BOOL_OPTIONS = ("disableVarExpansion", "disableDefaultAsserts", "disableConversationVar")


def parse_assertion(data: Any, src: Source, path: Path) -> Assertion:
    """One `assert` entry. Types are not validated here: the scorer registry does that."""
    if not isinstance(data, dict):
        src.fail(f"an assertion must be a mapping with a `type`, got {type_name(data)}", path)
    src.check_keys(data, path, ASSERT_KEYS)
    kind = data.get("type")
    if not isinstance(kind, str) or not kind.strip():
        src.fail(
            "assertion is missing its `type`"
            if kind is None
            else f"assertion `type` must be a string, got {type_name(kind)}",
            (*path, "type"),
        )
    where = src.where(path)
    threshold = data.get("threshold")
    weight = data.get("weight", 1.0)
    metric = data.get("metric")
    transform = data.get("transform")
    config = data.get("config") or {}
    if threshold is not None:
        threshold = src.number(threshold, (*path, "threshold"))
    weight = src.number(weight, (*path, "weight")) if weight is not None else 1.0
    if metric is not None:
        src.expect(metric, str, "a string", (*path, "metric"))
    if transform is not None:
        src.expect(transform, str, "a string (code or file://)", (*path, "transform"))
    src.expect(config, dict, "a mapping", (*path, "config"))
    provider = data.get("provider")
    if provider is not None:
        src.expect(provider, (str, dict), "a provider id or mapping", (*path, "provider"))
    # Keys promptfoo allows that Assertion has no field for travel in `config`.
    extra = {k: data[k] for k in ("rubricPrompt", "contextTransform") if k in data}
    if extra:
        config = {**config, **extra}
    children: list[Assertion] = []
    if "assert" in data:
        if kind != "assert-set":
            src.fail('nested `assert` is only allowed in an "assert-set"', (*path, "assert"))
        items = src.expect(data["assert"], list, "a list of assertions", (*path, "assert"))
        children = [parse_assertion(a, src, (*path, "assert", i)) for i, a in enumerate(items)]
    elif kind == "assert-set":
        src.fail('an "assert-set" needs a nested `assert` list', path)
    return Assertion(
        type=kind,
        value=data.get("value"),
        threshold=threshold,
        weight=weight,
        metric=metric,
        transform=transform,
        provider=provider,
        config=config,
        assertions=children,
        where=where,
    )


def parse_assertions(data: Any, src: Source, path: Path) -> list[Assertion]:
    if data is None:
        return []
    items = src.expect(data, list, "a list of assertions", path)
    return [parse_assertion(item, src, (*path, i)) for i, item in enumerate(items)]


def parse_options(data: Any, src: Source, path: Path) -> dict[str, Any]:
    if data is None:
        return {}
    options = dict(src.expect(data, dict, "a mapping", path))
    for key in _STRING_OPTIONS:
        if options.get(key) is not None:
            src.expect(options[key], str, "a string", (*path, key))
    for key in _BOOL_OPTIONS:
        if options.get(key) is not None:
            src.expect(options[key], bool, "true or false", (*path, key))
    name = options.get("storeOutputAs")
    if name is not None and not name.isidentifier():
        # Later tests read it as {{name}}: a name a template cannot spell would never be read.
        src.fail(f"storeOutputAs must be a variable name, got {name!r}", (*path, "storeOutputAs"))
    if "postprocess" in options:  # promptfoo's deprecated name for transform
        options.setdefault("transform", options.pop("postprocess"))
    return options


def parse_vars(data: Any, src: Source, path: Path) -> dict[str, Any]:
    if data is None:
        return {}
    items = src.expect(data, dict, "a mapping of variable names to values", path)
    return {str(k): v for k, v in items.items()}


def parse_split(data: Any, src: Source, path: Path) -> str | None:
    if data is None or data == "":
        return None
    if data not in SPLITS:
        src.fail(f"split must be one of train, val, test; got {data!r}", path)
    return str(data)


def parse_test(data: Any, src: Source, path: Path) -> TestCase:
    """A test case exactly as written (defaultTest not merged, vars not expanded)."""
    if not isinstance(data, dict):
        src.fail(f"a test must be a mapping (vars, assert, ...), got {type_name(data)}", path)
    src.check_keys(data, path, TEST_KEYS, TEST_UNSUPPORTED)
    description = data.get("description")
    if description is not None:
        description = str(
            src.expect(description, (str, int, float), "a string", (*path, "description"))
        )
    threshold = data.get("threshold")
    metadata = data.get("metadata") or {}
    src.expect(metadata, dict, "a mapping", (*path, "metadata"))
    options = parse_options(data.get("options"), src, (*path, "options"))
    scoring = data.get("assertScoringFunction")
    if scoring is not None:
        # Kept with the options, so that defaultTest's applies to every test that sets none.
        src.expect(scoring, str, "a file:// reference (file://x.js[:fn] or file://x.py:fn)",
                   (*path, "assertScoringFunction"))  # fmt: skip
        if not scoring.startswith(FILE_PREFIX):
            src.fail("expected a file:// reference to a .js or .py function",
                     (*path, "assertScoringFunction"))  # fmt: skip
        options = {**options, "assertScoringFunction": scoring}
    return TestCase(
        vars=parse_vars(data.get("vars"), src, (*path, "vars")),
        assertions=parse_assertions(data.get("assert"), src, (*path, "assert")),
        description=description,
        threshold=None if threshold is None else src.number(threshold, (*path, "threshold")),
        options=options,
        metadata=dict(metadata),
        split=parse_split(data.get("split"), src, (*path, "split")),
        where=src.where(path),
        provider_output=data.get("providerOutput"),
    )


def _needs_expansion(vars: dict[str, Any]) -> bool:
    for value in vars.values():
        if type(value) is str:
            if value.startswith(FILE_PREFIX):
                return True
        elif type(value) is list and value and isinstance(value[0], str):
            return True
    return False


def _expand(
    vars: dict[str, Any], expand_arrays: bool, ctx: LoadContext, src: Source, path: Path
) -> list[dict[str, Any]]:
    combos: list[dict[str, Any]] = [{}]
    for key, value in vars.items():
        var_path = (*path, "vars", key)
        if isinstance(value, str) and value.startswith(FILE_PREFIX):
            values = ctx.var_value(value, key, src, var_path)
            if not expand_arrays and len(values) > 1:
                values = [values]
        elif expand_arrays and isinstance(value, list) and value and isinstance(value[0], str):
            # promptfoo expands only arrays of strings; other arrays are one value.
            values = []
            for item in value:
                if isinstance(item, str) and item.startswith(FILE_PREFIX):
                    values.extend(ctx.var_value(item, key, src, var_path))
                else:
                    values.append(item)
        else:
            values = [value]
        combos = [{**combo, key: v} for combo in combos for v in values]
    return combos


def _file_refs(value: Any) -> list[str]:
    """Every `file://` string in `value` (a string, or lists and mappings of them)."""
    if isinstance(value, str):
        return [value] if value.startswith(FILE_PREFIX) else []
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _file_refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _file_refs(item)]
    return []


def check_case_files(tests: list[TestCase], ctx: LoadContext) -> None:
    """Refuse, before any call, the files that grading would read and the policy does not
    allow: assertion values (file://x.json, file://x.py:fn), transforms, judge prompts
    (rubricPrompt). The scorers read them later; this is where a config is checked whole.
    Only a confining policy has anything to refuse, so the CLI skips the walk."""
    if not ctx.trust.confine_files:
        return
    seen: set[int] = set()
    options_seen: set[int] = set()

    def walk(assertion: Assertion) -> None:
        if id(assertion) in seen:
            return
        seen.add(id(assertion))
        where = assertion.where or None
        for ref in _file_refs(assertion.value):
            ctx.check(ref, f"{assertion.type} value", where)
        for ref in _file_refs(assertion.transform):
            ctx.check(ref, "transform", where)
        for key in ("rubricPrompt", "contextTransform"):
            for ref in _file_refs(assertion.config.get(key)):
                ctx.check(ref, key, where)
        for child in assertion.assertions:
            walk(child)

    for test in tests:
        options = test.options
        if options and id(options) not in options_seen:
            options_seen.add(id(options))
            for key in ("rubricPrompt", "transform", "transformVars", "assertScoringFunction"):
                for ref in _file_refs(options.get(key)):
                    ctx.check(ref, f"options.{key}", test.where or None)
        for assertion in test.assertions:
            value = assertion.value
            if (
                type(value) is str
                and not value.startswith(FILE_PREFIX)
                and assertion.transform is None
                and not assertion.config
                and not assertion.assertions
            ):
                continue  # the common dataset row: a plain value, nothing that names a file
            walk(assertion)


def finish_case(
    case: TestCase,
    default: TestCase | None,
    ctx: LoadContext,
    src: Source,
    path: Path,
) -> list[TestCase]:
    """Merge defaultTest into `case` as promptfoo does, then expand its vars.

    vars, options and metadata: the test's keys win; assertions: defaultTest's first (unless
    the test sets options.disableDefaultAsserts); threshold and split: the test's if set.
    Assertion objects are shared between cases, not copied: treat them as read-only.
    """
    if default is None and not _needs_expansion(case.vars):
        return [case]  # nothing to merge or expand: the common dataset-row case
    if default is not None:
        own_options = case.options
        vars = {**default.vars, **case.vars} if default.vars else case.vars
        options = {**default.options, **own_options} if default.options else own_options
        metadata = {**default.metadata, **case.metadata} if default.metadata else case.metadata
        if default.assertions and own_options.get("disableDefaultAsserts") is not True:
            assertions = [*default.assertions, *case.assertions]
        else:
            assertions = case.assertions
        threshold = case.threshold if case.threshold is not None else default.threshold
        split = case.split if case.split is not None else default.split
        output = case.provider_output
        if output is None:
            output = default.provider_output
    else:
        vars, options, metadata = case.vars, case.options, case.metadata
        assertions, threshold, split = case.assertions, case.threshold, case.split
        output = case.provider_output
    if not _needs_expansion(vars):
        combos = [vars]
    else:
        expand_arrays = options.get("disableVarExpansion") is not True
        combos = _expand(vars, expand_arrays, ctx, src, path)
    return [
        TestCase(
            vars=combo,
            assertions=assertions,
            description=case.description,
            threshold=threshold,
            options=options,
            metadata=metadata,
            split=split,
            where=case.where,
            provider_output=output,
        )
        for combo in combos
    ]
