"""promptfoo's `eval` habits that act on the loaded config: dotenv files, `--var`,
`--vars/--tests FILE`, `--filter-providers`, `--filter-failing` and the exit-code variables.

Imported by the commands that use it (never at start-up); each function raises ConfigError
naming the flag, which the command prints as one line and exits 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from promptyard.core.types import EvalSpec
from promptyard.errors import ConfigError

DEFAULT_FAILED_TEST_EXIT_CODE = 100  # promptfoo's

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


# -- dotenv ------------------------------------------------------------------------------------


def parse_dotenv(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines as dotenv reads them: `export ` prefixes, `#` comments (whole-line,
    or after a space in an unquoted value), single quotes literal, double quotes with
    \\n-style escapes and spanning lines. Lines that are not assignments are skipped."""
    out: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            continue
        rest = rest.strip()
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body = rest[1:]
            while quote not in body and i < len(lines):  # a quoted value spanning lines
                body += "\n" + lines[i]
                i += 1
            value = body.split(quote, 1)[0]
            if quote == '"':
                value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)
        else:
            value = re.split(r"\s#", rest, maxsplit=1)[0].strip()
        out[key] = value
    return out


def load_dotenv(path: str | Path, *, override: bool) -> dict[str, str]:
    """Set the file's variables in os.environ (only unset ones unless `override`)."""
    file = Path(path)
    try:
        values = parse_dotenv(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {str(file)!r}: {exc}", field="--env-file") from None
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return values


def load_default_dotenv(directory: str | Path | None = None) -> None:
    """`.env` in the working folder, as promptfoo loads it: never over a variable already set,
    and quietly (a file that cannot be read is skipped)."""
    file = Path(directory or os.getcwd()) / ".env"
    if file.is_file():
        with contextlib.suppress(ConfigError):
            load_dotenv(file, override=False)


# -- vars --------------------------------------------------------------------------------------


def parse_var_flags(items: Iterable[str]) -> dict[str, str]:
    """`--var KEY=VALUE` (repeatable): values stay strings, as promptfoo passes them."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected KEY=VALUE, got {item!r}", field="--var")
        out[key.strip()] = value
    return out


def apply_vars(spec: EvalSpec, overrides: Mapping[str, Any]) -> None:
    """Set each `--var` in every test, over what the test says."""
    if overrides:
        for test in spec.tests:
            test.vars = {**test.vars, **overrides}


def config_with_tests(config: Path, tests_file: Path) -> tuple[dict[str, Any], Path]:
    """The config's data with its `tests` replaced by `tests_file` (promptfoo's `-t/--tests`
    and `-v/--vars`: `tests: cmd.tests || cmd.vars || config.tests`), and the config's path."""
    from promptyard.library import JS_CONFIG_SUFFIXES, _js_config_data
    from promptyard.project import find_config
    from promptyard.project.yamlio import load_structured

    path = find_config(config) if config.is_dir() else config
    if not path.is_file():
        raise ConfigError("config file not found", file=str(path))
    if not tests_file.is_file():
        raise ConfigError(f"file not found: {str(tests_file)!r}", field="--vars")
    data: Any
    if path.suffix.lower() in JS_CONFIG_SUFFIXES:
        data = _js_config_data(path)
    else:
        try:
            data, _ = load_structured(path.read_text(encoding="utf-8-sig"), path.name)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys", file=str(path))
    data = dict(data)
    data["tests"] = f"file://{tests_file.resolve()}"
    return data, path.resolve()


# -- providers ---------------------------------------------------------------------------------


def filter_providers(spec: EvalSpec, pattern: str) -> None:
    """Keep the providers whose id or label matches the regular expression (re.search)."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"{pattern!r} is not a valid regex: {exc}", field="--filter-providers"
        ) from None
    kept = [p for p in spec.providers if regex.search(p.id) or (p.label and regex.search(p.label))]
    if not kept:
        names = ", ".join(p.name for p in spec.providers)
        raise ConfigError(f"no provider matches {pattern!r} (providers: {names})",
                          field="--filter-providers")  # fmt: skip
    spec.providers = kept


# -- failing tests -----------------------------------------------------------------------------


def failing_vars(source: str, *, database_url: str | None, base_dir: str) -> list[dict[str, Any]]:
    """The vars of every failed (or errored) result in `source`: a promptfoo JSON output file
    (`results.results[]`, ours included), a JSONL export, or a run id (or prefix) of ours."""
    path = Path(source)
    if path.is_file():
        return _failing_from_file(path)
    if path.suffix.lower() in (".json", ".jsonl") or os.sep in source:
        raise ConfigError(f"file not found: {source!r}", field="--filter-failing")
    return _failing_from_store(source, database_url, base_dir)


def _failing_from_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}", field="--filter-failing") from None
    try:
        if path.suffix.lower() == ".jsonl":
            rows: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            doc = json.loads(text)
            rows = doc.get("results") if isinstance(doc, dict) else None
            if isinstance(rows, dict):  # promptfoo v2+: {"results": {"results": [...]}}
                rows = rows.get("results")
    except ValueError as exc:
        raise ConfigError(f"{str(path)!r} is not JSON: {exc}", field="--filter-failing") from None
    if not isinstance(rows, list):
        raise ConfigError(f"{str(path)!r} has no `results.results` list (a promptfoo output file)",
                          field="--filter-failing")  # fmt: skip
    return [
        dict(row.get("vars") or {})
        for row in rows
        if isinstance(row, dict) and not row.get("success", False)
    ]


def _failing_from_store(
    run_id: str, database_url: str | None, base_dir: str
) -> list[dict[str, Any]]:
    from promptyard.errors import PromptyardError
    from promptyard.store import Store, default_database_url

    url = database_url or default_database_url(base_dir)
    try:
        store = Store.open(url)
    except PromptyardError as exc:
        raise ConfigError(f"cannot open the store: {exc}", field="--filter-failing") from None
    try:
        run = store.get_run(run_id)
        return [dict(t.vars) for t in store.iter_trials(run.id) if not t.success]
    except PromptyardError as exc:
        raise ConfigError(f"{run_id!r} is neither a results file nor a run: {exc}",
                          field="--filter-failing") from None  # fmt: skip
    finally:
        store.close()


def keep_failing(spec: EvalSpec, failed: list[dict[str, Any]]) -> None:
    """Keep the tests whose vars equal a failed result's vars (promptfoo's match)."""
    wanted = {_canonical(v) for v in failed}
    spec.tests = [t for t in spec.tests if _canonical(t.vars) in wanted]


def _canonical(vars: Mapping[str, Any]) -> str:
    return json.dumps(vars, sort_keys=True, ensure_ascii=False, default=str)


# -- exit codes --------------------------------------------------------------------------------


def env_pass_rate_threshold() -> float | None:
    """PROMPTYARD_PASS_RATE_THRESHOLD, else PROMPTFOO_PASS_RATE_THRESHOLD (a percent)."""
    return _env_number("PASS_RATE_THRESHOLD", float, 100, "a number (a percent)")


def env_failed_test_exit_code() -> int:
    """PROMPTYARD_FAILED_TEST_EXIT_CODE, else PROMPTFOO_FAILED_TEST_EXIT_CODE, else 100."""
    value = _env_number("FAILED_TEST_EXIT_CODE", int, 255, "an integer")
    return DEFAULT_FAILED_TEST_EXIT_CODE if value is None else int(value)


def _env_number(suffix: str, kind: type[float] | type[int], high: int, what: str) -> float | None:
    """The first of PROMPTYARD_<suffix> and PROMPTFOO_<suffix> that is set, between 0 and
    `high`; ConfigError naming the variable otherwise."""
    for name in (f"PROMPTYARD_{suffix}", f"PROMPTFOO_{suffix}"):
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
            if not 0 <= value <= high:
                raise ConfigError(f"{name} must be between 0 and {high}, got {raw!r}")
            return value
    return None
