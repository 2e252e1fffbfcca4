"""`python:path/file.py[:function]` (or promptfoo's `file://path/file.py[:function]`).

The function (default `call_api`, as in promptfoo) is called as fn(prompt, options, context)
with options={"config": ..., "id": ...} and context={"vars": ...}. It may be sync (run in a
thread so the loop keeps going) or async, and return a string or a dict with `output`,
`tokenUsage`, `cost`, `error`. The file is imported once, when the provider is created.

User Python runs only where the trust policy allows it; under a confining policy (the
server's) the file must be a real .py file inside the project folder, found by the one file
resolver (trust/files.py): no absolute paths, no `..`, no symlink out, and never a module
looked up by name on sys.path (`python:os.py` is the project's os.py or nothing).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from promptyard.core.types import Completion, CompletionRequest, ProviderSpec
from promptyard.errors import ConfigError, ProviderError, ProviderResponseError
from promptyard.providers.common import BaseProvider, estimate_usage, usage_from_token_usage
from promptyard.trust import TrustPolicy

DEFAULT_FUNCTION = "call_api"
_modules: dict[str, ModuleType] = {}
_load_lock = threading.Lock()


def parse_python_id(provider_id: str) -> tuple[str, str]:
    """("path/file.py", "function") from "python:path/file.py:fn" or "file://path/file.py"."""
    if provider_id.startswith("file://"):
        rest = provider_id[len("file://") :]
    else:
        rest = provider_id.partition(":")[2]
    path, sep, fn = rest.rpartition(":")
    # Only a trailing ":identifier" after a .py path names a function ("C:\x.py" stays whole).
    if sep and path.endswith(".py") and fn.isidentifier():
        return path, fn
    return rest, DEFAULT_FUNCTION


def python_file(spec: ProviderSpec, base_dir: str, trust: TrustPolicy | None = None) -> Path:
    """The .py file a python:/file:// provider names, checked by `trust` (None: the local
    user's rules, as before policies). ConfigError names spec.where and its `id`."""
    where = spec.where or None
    if trust is not None:
        trust.check_python("Python providers", file=where, field="id")
    rel, _ = parse_python_id(spec.id)
    if not rel.endswith(".py"):
        raise ConfigError(
            f"{spec.id!r}: only Python files (.py) can be file providers", file=where, field="id"
        )
    if trust is not None and trust.confine_files:
        from promptyard.trust.files import resolve_one

        try:
            full = Path(resolve_one(trust, rel, base_dir, what="python provider"))
        except ConfigError as exc:
            raise ConfigError(str(exc), file=where, field="id") from None
        if not full.is_file():  # errors name the file as written, never a server path
            raise ConfigError(f"python provider file not found: {rel}", file=where, field="id")
        return full
    path = Path(rel)
    if not path.is_absolute():
        path = Path(base_dir) / path
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"python provider file not found: {path}", file=where, field="id")
    return path


def check_python_provider(spec: ProviderSpec, *, base_dir: str, trust: TrustPolicy) -> None:
    """Refuse a python:/file:// provider that `trust` does not allow, before it is built
    (composition roots call it ahead of create_provider; nothing is imported)."""
    python_file(spec, base_dir, trust)


def load_module(path: Path) -> ModuleType:
    key = str(path)
    with _load_lock:
        module = _modules.get(key)
        if module is not None:
            return module
        name = "promptyard_user_" + hashlib.sha1(key.encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {path} as Python", file=key)
        module = importlib.util.module_from_spec(spec)
        # Let the file import its neighbours, as it would when run as a script.
        folder = str(path.parent)
        added = folder not in sys.path
        if added:
            sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(
                f"importing it failed: {type(exc).__name__}: {exc}", file=key
            ) from exc
        finally:
            if added:
                sys.path.remove(folder)
        _modules[key] = module
        return module


class PythonProvider(BaseProvider):
    def __init__(
        self, spec: ProviderSpec, *, base_dir: str = ".", trust: TrustPolicy | None = None
    ) -> None:
        rel, fn_name = parse_python_id(spec.id)
        super().__init__(spec, prefix="python", model=f"{rel}:{fn_name}")
        path = python_file(spec, base_dir, trust)
        module = load_module(path)
        fn = getattr(module, fn_name, None)
        if not callable(fn):
            raise ConfigError(
                f"{rel} defines no function {fn_name}(prompt, options, context)",
                file=spec.where or None,
                field="id",
            )
        self.path = path
        # Hashed once: the code that runs is the code imported now.
        self._file_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self._fn: Callable[..., Any] = fn
        self._is_async = inspect.iscoroutinefunction(fn)
        self._options = {"config": self.config, "id": self.id}

    def cache_identity(self) -> dict[str, Any]:
        ident = super().cache_identity()
        ident["file_hash"] = self._file_hash  # editing the file changes the answers
        return ident

    async def complete(self, request: CompletionRequest) -> Completion:
        context = {"vars": request.vars, "messages": request.messages, "sample": request.sample}
        try:
            if self._is_async:
                result = await self._fn(request.prompt, self._options, context)
            else:
                result = await asyncio.to_thread(self._fn, request.prompt, self._options, context)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(
                f"{self.model} raised {type(exc).__name__}: {exc}", provider=self.id
            ) from exc
        return self._completion(result, request)

    def _completion(self, result: Any, request: CompletionRequest) -> Completion:
        if isinstance(result, str):
            usage = estimate_usage(request.prompt, result)
            return Completion(
                output=result, usage=usage, cost=self.pricer(usage), finish_reason="stop"
            )
        if not isinstance(result, dict):
            raise ProviderResponseError(
                f"{self.model} returned {type(result).__name__}; return a string or a dict "
                "with `output`",
                provider=self.id,
            )
        if result.get("error"):
            raise ProviderError(str(result["error"]), provider=self.id)
        if "output" not in result:
            raise ProviderResponseError(
                f"{self.model} returned a dict without `output` or `error` "
                f"(keys: {sorted(result)})",
                provider=self.id,
            )
        usage = usage_from_token_usage(result.get("tokenUsage") or {})
        cost = result.get("cost")
        return Completion(
            output=result["output"],
            usage=usage,
            cost=float(cost) if cost is not None else self.pricer(usage),
            finish_reason=result.get("finish_reason", "stop"),
            logprobs=result.get("logprobs"),
            raw=result,
        )
