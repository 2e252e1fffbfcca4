"""promptfoo's `nunjucksFilters`: a config's own template filters, loaded under the trust policy.

    nunjucksFilters:
      shout: file://filters/shout.js      module.exports = (value, ...args) => ...
      short: file://filters/short.py:fn   a Python function (value, *args) -> value

A JavaScript filter runs in the V8 sandbox child (js_sandbox.py), never in this process; a
Python one only where the policy allows Python, and its file (like a JS one) only inside the
project where the policy confines files (trust.files). Loading compiles nothing and starts
nothing: the sandbox child starts on the first JS filter call.

Renders are synchronous and happen on worker threads, while the sandbox is asynchronous: the
filters own a small event loop on a thread of their own, and a render thread blocks on its call
there (arguments and results travel as JSON). The composition root renders inside
`core.templates.using_filters(filters.templates)` and calls `close()` when the run ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from promptyard.core.template_filters import TemplateFilters
from promptyard.errors import ConfigError, TemplateError
from promptyard.trust import TrustPolicy
from promptyard.trust import files as trust_files

_JS_SUFFIXES = (".js", ".cjs", ".mjs")
_PY_SUFFIXES = (".py",)
_FIELD = "nunjucksFilters"


class NunjucksFilters:
    """The loaded filters of one config: `templates` for `using_filters`, `close()` after."""

    def __init__(self, templates: TemplateFilters, host: _JsHost | None) -> None:
        self.templates = templates
        self._host = host

    @property
    def names(self) -> frozenset[str]:
        return self.templates.names

    def close(self) -> None:
        if self._host is not None:
            self._host.close()


def load_nunjucks_filters(
    spec: Any,
    *,
    base_dir: str | None,
    trust: TrustPolicy,
    js_timeout_ms: int | None = None,
    js_max_memory_bytes: int | None = None,
) -> NunjucksFilters | None:
    """The filters a config's `nunjucksFilters` mapping names (None for none); ConfigError
    naming the filter for a bad entry, a missing file, or one the policy refuses."""
    if spec is None or spec == {}:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(
            "nunjucksFilters must map filter names to files (name: file://filter.js)",
            field=_FIELD,
        )
    host: _JsHost | None = None
    filters: dict[str, Callable[..., Any]] = {}
    for name, ref in spec.items():
        where = f"{_FIELD}.{name}"
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"a filter name must be an identifier, got {name!r}", field=_FIELD)
        if not isinstance(ref, str) or not ref.strip():
            raise ConfigError("a filter is a file reference like file://filter.js", field=where)
        path, function = trust_files.split_function(ref.strip())
        suffix = os.path.splitext(path)[1].lower()
        if suffix in _PY_SUFFIXES:
            filters[name] = _python_filter(name, path, function, base_dir, trust, where)
            continue
        if suffix not in _JS_SUFFIXES:
            raise ConfigError(
                f"{ref!r}: a filter is a JavaScript (.js) or Python (.py) file", field=where
            )
        full = trust_files.resolve_one(trust, path, base_dir, what=f"filter {name!r}")
        source = _read(full, where)
        if host is None:
            host = _JsHost(*_js_limits(js_timeout_ms, js_max_memory_bytes))
        fn_id = host.sandbox.compile_module(source, function, label=f"filter {name}")
        filters[name] = host.filter(name, fn_id)
    return NunjucksFilters(TemplateFilters(filters), host)


# ---------------------------------------------------------------- Python


def _python_filter(
    name: str,
    path: str,
    function: str | None,
    base_dir: str | None,
    trust: TrustPolicy,
    where: str,
) -> Callable[..., Any]:
    if not trust.allow_python:
        raise ConfigError(
            f"filter {name!r} is Python, which this server's policy does not run; write it in "
            "JavaScript (it runs in the sandbox)",
            field=where,
        )
    from promptyard.scorers.py_exec import PythonRunner, PythonScriptError

    full = trust_files.resolve_one(trust, path, base_dir, what=f"filter {name!r}")
    try:
        fn = PythonRunner(os.path.dirname(full)).from_file(full, function or name)
    except PythonScriptError as exc:
        raise ConfigError(str(exc), field=where) from None

    def call(value: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(value, *args, **kwargs)
        except Exception as exc:
            raise TemplateError(f"filter {name!r} failed: {type(exc).__name__}: {exc}") from None

    return call


# ---------------------------------------------------------------- JavaScript


def _read(full: str, where: str) -> str:
    try:
        with open(full, encoding="utf-8-sig") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the filter file: {exc}", field=where) from None


def _js_limits(timeout_ms: int | None, max_memory: int | None) -> tuple[int, int]:
    if timeout_ms is None or max_memory is None:
        from promptyard.settings import load_settings

        settings = load_settings()
        timeout_ms = timeout_ms or settings.js_timeout_ms
        max_memory = max_memory or settings.js_max_memory_mb * 2**20
    return timeout_ms, max_memory


class _JsHost:
    """The sandbox of a config's JS filters and the event loop its calls run on (a daemon
    thread, started on the first call), so that synchronous renders can call into it."""

    def __init__(self, timeout_ms: int, max_memory_bytes: int) -> None:
        from promptyard.scorers.js_sandbox import JsSandbox

        self.sandbox = JsSandbox(timeout_ms=timeout_ms, max_memory_bytes=max_memory_bytes)
        # A call's hard bound: the sandbox kills a child that overruns its own limit.
        self._wait_s = 2 * timeout_ms / 1000 + 5.0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="promptyard-js-filters", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def filter(self, name: str, fn_id: int) -> Callable[..., Any]:
        def call(value: Any, *args: Any) -> Any:
            return self.call(name, fn_id, [value, *args])

        return call

    def call(self, name: str, fn_id: int, args: list[Any]) -> Any:
        from promptyard.scorers.js_sandbox import JsError

        loop = self._running_loop()
        try:
            payload = json.dumps(args, default=str)
        except ValueError as exc:  # a circular structure
            raise TemplateError(f"filter {name!r}: cannot pass its arguments: {exc}") from None
        future = asyncio.run_coroutine_threadsafe(self.sandbox.call(fn_id, payload), loop)
        try:
            result = future.result(timeout=self._wait_s)
        except JsError as exc:
            raise TemplateError(f"filter {name!r} failed: {exc}") from None
        except TimeoutError:
            future.cancel()
            raise TemplateError(f"filter {name!r} did not return in time") from None
        return None if result.type == "undefined" else result.value

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            self.sandbox.close()
            return
        loop.call_soon_threadsafe(self.sandbox.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5.0)
        if not thread.is_alive():
            loop.close()
