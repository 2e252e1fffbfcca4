"""Read a project's config file (promptyard.yaml or a promptfoo config) into an EvalSpec.

The config is a superset of promptfoo's keys; docs/config.md is the reference. Every error
names the file, the line when known, and the field path.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterable
from pathlib import Path as FsPath
from typing import Any

from promptyard.core.template_filters import declared_filters, using_filters
from promptyard.core.types import EvalOptions, EvalSpec, TestCase
from promptyard.errors import ConfigError
from promptyard.project.cases import check_case_files, finish_case, parse_test
from promptyard.project.datasets import (
    is_generator_ref,
    iter_generated,
    iter_test_file,
    parse_or_error,
)
from promptyard.project.files import LoadContext
from promptyard.project.grading import apply_grading, judge_ref, load_metrics
from promptyard.project.prompts import load_prompts
from promptyard.project.providers import check_provider_prompts, load_profiles, load_providers
from promptyard.project.refs import resolve_refs
from promptyard.project.source import Path, Source, suggest, type_name
from promptyard.project.yamlio import load_structured
from promptyard.trust import TrustPolicy

_log = logging.getLogger(__name__)

CONFIG_NAMES = (
    "promptyard.yaml",
    "promptyard.yml",
    "promptfooconfig.yaml",
    "promptfooconfig.yml",
    "promptfooconfig.json",
    # evaluated by promptyard.library.load_spec in the V8 sandbox (plain data only)
    "promptfooconfig.js",
    "promptfooconfig.ts",
)

TOP_KEYS = (
    "description", "prompts", "providers", "targets", "profiles", "tests", "defaultTest",
    "scenarios", "evaluateOptions", "env",
    # ours: grading (project/grading.py) and KPIs (scorers/kpi.py)
    "judge_profile", "metrics", "kpis", "additional_kpis", "kpi_threshold",
    # promptfoo's derivedMetrics: checked by library.load_spec (scorers/derived.py)
    "derivedMetrics",
    # promptfoo's custom template filters: loaded by the composition root (scorers/nunjucks_filters)
    "nunjucksFilters",
    # harmless to us: kept in raw_config, otherwise ignored (docs/config.md says which)
    "outputPath", "tags", "metadata", "sharing", "writeLatestResults", "$schema",
    # promptfoo's conventional home for `$ref` targets (assertionTemplates) is data only
    "assertionTemplates",
)  # fmt: skip
TOP_UNSUPPORTED = {
    "redteam": "red teaming is not supported; run it with promptfoo",
    "extensions": "extension hooks (beforeAll/beforeEach/afterEach/afterAll scripts that"
    " change the suite and read results as it runs) are not supported; remove `extensions` to"
    " run without them",
    "commandLineOptions": "set these options on the promptyard command line instead",
    "tracing": "OpenTelemetry tracing is not supported yet",
}
EVAL_OPTION_KEYS = (
    "maxConcurrency",
    "repeat",
    "delay",
    "cache",
    "timeoutMs",
    "maxRetries",
    # display and bookkeeping settings that cannot change a verdict: accepted, ignored
    "showProgressBar",
    "silent",
    "eventSource",
    "generateSuggestions",
    "suggestionsCount",
    "interactiveProviders",  # removed from promptfoo in 2024; it ignores it too
)
EVAL_OPTION_UNSUPPORTED = {
    "maxEvalTimeMs": "a whole-eval time limit is not supported yet; use timeoutMs per call",
}
SCENARIO_KEYS = ("description", "config", "tests")
IGNORED_TOP_KEYS = ("outputPath", "sharing", "writeLatestResults")
_REMOTE_TESTS = ("huggingface://", "http://", "https://")
OVERRIDE_KEYS = ("max_concurrency", "repeat", "delay_ms", "cache", "timeout_s", "max_retries")


def find_config(directory: str | os.PathLike[str]) -> FsPath:
    """The config file in `directory`: the first of CONFIG_NAMES that exists."""
    folder = FsPath(directory)
    for name in CONFIG_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no config file in {folder} (looked for {', '.join(CONFIG_NAMES)})", file=str(folder)
    )


def is_promptfoo_config(path: str | os.PathLike[str] | None) -> bool:
    """Whether a config file is promptfoo's (promptfooconfig.*): such a config runs with its
    per-test problems recorded as errored tests; promptyard.yaml fails fast on them."""
    return path is not None and FsPath(path).name.startswith("promptfooconfig")


def load_config(
    path: str | os.PathLike[str],
    *,
    overrides: dict[str, Any] | None = None,
    trust: TrustPolicy | None = None,
    errored_tests: bool | None = None,
) -> EvalSpec:
    """Load a config file (or the config in a directory) into a validated EvalSpec.

    `overrides` sets EvalOptions fields (max_concurrency, repeat, delay_ms, cache, timeout_s,
    max_retries) over what the file says, e.g. from command-line flags. `errored_tests`: a
    problem confined to one test (an unknown assertion key, ...) marks that test errored
    (`TestCase.error`) instead of failing the load, as promptfoo runs such a config; None
    means "when the file is a promptfoo config" (is_promptfoo_config).
    """
    file = FsPath(path)
    if file.is_dir():
        file = find_config(file)
    if not file.is_file():
        raise ConfigError("config file not found", file=str(file))
    if file.suffix.lower() in (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts"):
        raise ConfigError(
            "a JavaScript config runs in the V8 sandbox: load it with promptyard.library"
            ".load_spec (as `promptyard eval` does)",
            file=file.name,
        )
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", file=str(file)) from None
    data, lines = load_structured(text, file.name)
    base_dir = str(file.resolve().parent)
    if errored_tests is None:
        errored_tests = is_promptfoo_config(file)
    spec = _build(
        data, Source(file.name, lines), base_dir, overrides, trust or TrustPolicy(), errored_tests
    )
    spec.config_path = str(file.resolve())
    return spec


def load_config_dict(
    data: dict[str, Any],
    *,
    base_dir: str | None,
    source: str = "<config>",
    overrides: dict[str, Any] | None = None,
    trust: TrustPolicy | None = None,
    errored_tests: bool = False,
) -> EvalSpec:
    """Build an EvalSpec from already-parsed config data (e.g. an API request body).

    File references (`file://` and bare paths) resolve against `base_dir`, and `trust`
    decides which they may reach (promptyard.trust.files). `base_dir` None is a config
    without a folder: under a confining policy it reads no files; otherwise its folder is the
    current directory. `source` names the data in messages.
    """
    policy = trust or TrustPolicy()
    if base_dir is not None:
        base: str | None = os.path.abspath(base_dir)
    else:
        base = None if policy.confine_files else os.getcwd()
    return _build(data, Source(source), base, overrides, policy, errored_tests)


def _build(
    data: Any,
    src: Source,
    base_dir: str | None,
    overrides: dict[str, Any] | None,
    trust: TrustPolicy,
    errored_tests: bool = False,
) -> EvalSpec:
    if data is None:
        src.fail("the config is empty: it needs at least `prompts` and `providers`")
    if not isinstance(data, dict):
        src.fail(f"the config must be a mapping of keys, got {type_name(data)}")
    src.check_keys(data, (), TOP_KEYS, TOP_UNSUPPORTED)
    data = resolve_refs(data, src)
    for key in IGNORED_TOP_KEYS:
        if data.get(key) not in (None, False):
            # output and sharing settings are promptfoo's bookkeeping: harmless, so say so only
            _log.info("%s: ignoring `%s` (a promptfoo output/sharing setting)", src.name, key)
    if "providers" in data and "targets" in data:
        src.fail(
            "give either `providers` or `targets` (its promptfoo alias), not both", ("targets",)
        )
    description = data.get("description") or ""
    src.expect(description, str, "a string", ("description",))
    env = data.get("env")
    if env is not None:
        src.expect(env, dict, "a mapping of names to values", ("env",))
    ctx = LoadContext(
        base_dir=base_dir, config_name=src.name, trust=trust, errored_tests=errored_tests
    )
    with using_filters(declared_filters(data.get("nunjucksFilters"))):  # names known to syntax
        prompts = load_prompts(data.get("prompts"), ctx, src, ("prompts",))
    profiles = load_profiles(data.get("profiles"), src, ("profiles",))
    provider_key = "targets" if "targets" in data else "providers"
    providers = load_providers(data.get(provider_key), profiles, ctx, src, (provider_key,))
    check_provider_prompts(providers, prompts, src, (provider_key,))
    default = _default_test(data.get("defaultTest"), ctx, src)
    tests = _load_tests(data, default, ctx, src)
    check_case_files(tests, ctx)  # files that grading reads later: refused now, not mid-run
    judge = judge_ref(data.get("judge_profile"), profiles, src, ("judge_profile",))
    metrics = load_metrics(data.get("metrics"), src, ("metrics",))
    apply_grading(tests, judge, metrics, profiles)
    options = _eval_options(data.get("evaluateOptions"), src, ("evaluateOptions",))
    if overrides:
        _apply_overrides(options, overrides)
    return EvalSpec(
        prompts=prompts,
        providers=providers,
        tests=tests,
        description=description,
        options=options,
        base_dir=base_dir or ".",
        raw_config=data,
        errored_tests=errored_tests,
    )


def _default_test(value: Any, ctx: LoadContext, src: Source) -> TestCase | None:
    if value is None:
        return None
    path: Path = ("defaultTest",)
    if isinstance(value, str):
        (full,) = ctx.resolve(value, src, path, "defaultTest")[:1]
        value, file_src = ctx.read_structured(full, src, path)
        return parse_test(value, file_src, ())
    return parse_test(value, src, path)


def _load_tests(
    data: dict[str, Any], default: TestCase | None, ctx: LoadContext, src: Source
) -> list[TestCase]:
    # Building 100k small objects triggers the cyclic GC over and over as the heap grows;
    # pausing it for the load cuts a large dataset's load time by about two thirds.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _collect_tests(data, default, ctx, src)
    finally:
        if paused:
            gc.enable()


def _collect_tests(
    data: dict[str, Any], default: TestCase | None, ctx: LoadContext, src: Source
) -> list[TestCase]:
    tests: list[TestCase] = []
    value = data.get("tests")
    if isinstance(value, dict) and "path" in value:
        value = [value]  # promptfoo's `tests: {path: file://gen.py:fn, config: ...}`
    if value is not None and not isinstance(value, (str, list)):
        src.fail(f"expected a list of tests or a file:// path, got {type_name(value)}", ("tests",))
    items = [value] if isinstance(value, str) else value or []
    for i, item in enumerate(items):
        at: Path = ("tests",) if isinstance(value, str) else ("tests", i)
        if isinstance(item, str) and is_generator_ref(item):
            for case, case_src, case_path in iter_generated(item, None, ctx, src, at):
                tests.extend(finish_case(case, default, ctx, case_src, case_path))
        elif isinstance(item, str):
            if item.startswith(_REMOTE_TESTS):
                src.fail(
                    f"{item}: remote datasets (Hugging Face, http(s), Google Sheets) are not"
                    " supported; download the rows to a CSV, JSONL or YAML file",
                    at,
                )
            for full in ctx.resolve(item, src, at, "tests"):
                for case, case_src, case_path in iter_test_file(full, ctx, src, at):
                    tests.extend(finish_case(case, default, ctx, case_src, case_path))
        elif isinstance(item, dict) and "path" in item:
            src.check_keys(item, at, ("path", "config"))
            ref = src.expect(item["path"], str, "a file:// path", (*at, "path"))
            if not is_generator_ref(ref):
                src.fail("`path` names a test generator script (file://gen.py:fn)", (*at, "path"))
            for case, case_src, case_path in iter_generated(ref, item.get("config"), ctx, src, at):
                tests.extend(finish_case(case, default, ctx, case_src, case_path))
        else:
            tests.extend(_inline_test(item, default, ctx, src, at))
    tests.extend(_scenario_tests(data.get("scenarios"), default, ctx, src))
    if not tests and value is None and data.get("scenarios") is None:
        # promptfoo runs one test (defaultTest alone) when a config has none.
        empty = TestCase(where=src.where(("defaultTest",) if default else ()))
        tests.extend(finish_case(empty, default, ctx, src, ("defaultTest",)))
    return tests


def _inline_test(
    item: Any, default: TestCase | None, ctx: LoadContext, src: Source, at: Path
) -> list[TestCase]:
    case = parse_or_error(item, ctx, src, at)
    if case.error is not None:
        return [case]
    return finish_case(case, default, ctx, src, at)


def _scenario_tests(
    value: Any, default: TestCase | None, ctx: LoadContext, src: Source
) -> Iterable[TestCase]:
    if value is None:
        return []
    scenarios = src.expect(value, list, "a list of scenarios", ("scenarios",))
    out: list[TestCase] = []
    for si, scenario in enumerate(scenarios):
        at: Path = ("scenarios", si)
        src.expect(scenario, dict, "a mapping with `config` and `tests`", at)
        src.check_keys(scenario, at, SCENARIO_KEYS)
        configs = src.expect(scenario.get("config") or [{}], list, "a list", (*at, "config"))
        cases = src.expect(scenario.get("tests") or [{}], list, "a list", (*at, "tests"))
        parsed_cases = [
            parse_or_error(t, ctx, src, (*at, "tests", ti)) for ti, t in enumerate(cases)
        ]
        for ci, raw in enumerate(configs):
            base = parse_test(raw, src, (*at, "config", ci))
            for ti, case in enumerate(parsed_cases):
                if case.error is not None:
                    out.append(case)
                    continue
                merged = TestCase(
                    vars={**base.vars, **case.vars},
                    assertions=[*base.assertions, *case.assertions],
                    description=case.description or base.description or scenario.get("description"),
                    threshold=case.threshold if case.threshold is not None else base.threshold,
                    options={**base.options, **case.options},
                    metadata={**base.metadata, **case.metadata},
                    split=case.split or base.split,
                    where=f"{src.where((*at, 'config', ci))} x tests[{ti}]",
                )
                out.extend(finish_case(merged, default, ctx, src, (*at, "tests", ti)))
    return out


def _positive_int(src: Source, value: Any, path: Path, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        src.fail(f"expected a whole number >= {minimum}, got {value!r}", path)
    return value


def _eval_options(value: Any, src: Source, path: Path) -> EvalOptions:
    options = EvalOptions()
    if value is None:
        return options
    src.expect(value, dict, "a mapping", path)
    src.check_keys(value, path, EVAL_OPTION_KEYS, EVAL_OPTION_UNSUPPORTED)
    if "maxConcurrency" in value:
        options.max_concurrency = _positive_int(
            src, value["maxConcurrency"], (*path, "maxConcurrency")
        )
    if "repeat" in value:
        options.repeat = _positive_int(src, value["repeat"], (*path, "repeat"))
    if "delay" in value:
        options.delay_ms = _positive_int(src, value["delay"], (*path, "delay"), minimum=0)
    if "maxRetries" in value:
        options.max_retries = _positive_int(src, value["maxRetries"], (*path, "maxRetries"), 0)
    if "cache" in value:
        options.cache = src.expect(value["cache"], bool, "true or false", (*path, "cache"))
    if "timeoutMs" in value:
        timeout = src.number(value["timeoutMs"], (*path, "timeoutMs"))
        if timeout <= 0:
            src.fail(
                f"expected a positive number of milliseconds, got {timeout:g}", (*path, "timeoutMs")
            )
        options.timeout_s = timeout / 1000.0
    return options


def _apply_overrides(options: EvalOptions, overrides: dict[str, Any]) -> None:
    src = Source("overrides")
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in OVERRIDE_KEYS:
            src.fail(f'unknown override "{key}"{suggest(key, OVERRIDE_KEYS)}', (key,))
        if key == "cache":
            value = src.expect(value, bool, "true or false", (key,))
        elif key == "timeout_s":
            value = src.number(value, (key,))
            if value <= 0:
                src.fail("expected a positive number of seconds", (key,))
        else:
            value = _positive_int(
                src, value, (key,), 1 if key in ("max_concurrency", "repeat") else 0
            )
        setattr(options, key, value)
