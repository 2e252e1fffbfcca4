"""Client and AsyncClient are twins: the same public methods, with the same signatures (the
async ones awaited, `stream_job` an async iterator), so code moves between them by adding
`await` and nothing else."""

from __future__ import annotations

import inspect
from typing import Any

from promptyard_client import AsyncClient, Client


def public(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    }


def normalized(annotation: Any) -> Any:
    """Return annotations as written, with the allowed differences folded away (an async
    iterator; the injected `http_client` is an httpx.AsyncClient)."""
    if isinstance(annotation, str):
        return annotation.replace("AsyncIterator[", "Iterator[").replace(
            "httpx.AsyncClient", "httpx.Client"
        )
    return annotation


def test_same_public_methods() -> None:
    assert sorted(public(Client)) == sorted(public(AsyncClient))


def test_same_signatures() -> None:
    sync, async_ = public(Client), public(AsyncClient)
    for name, method in sync.items():
        twin = async_[name]
        if isinstance(method, property):
            assert isinstance(twin, property), name
            continue
        a, b = inspect.signature(method), inspect.signature(twin)
        assert list(a.parameters) == list(b.parameters), name
        for param in a.parameters.values():
            other = b.parameters[param.name]
            assert (param.kind, param.default) == (other.kind, other.default), (name, param.name)
            assert normalized(param.annotation) == normalized(other.annotation), (name, param)
        assert normalized(a.return_annotation) == normalized(b.return_annotation), name


def test_async_where_the_sync_one_does_io() -> None:
    """Every sync method that talks to the server is a coroutine (or async generator) on the
    async client; the pure ones (clear_prompt_cache) stay plain on both."""
    for name, method in public(AsyncClient).items():
        if isinstance(method, property):
            continue
        if name in ("clear_prompt_cache", "with_options"):
            assert not inspect.iscoroutinefunction(method)
        elif name in ("stream_job", "paginate"):
            assert inspect.isasyncgenfunction(method)
        else:
            assert inspect.iscoroutinefunction(method), name
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name


def test_constructor_signature() -> None:
    a, b = inspect.signature(Client.__init__), inspect.signature(AsyncClient.__init__)
    assert normalized(str(a)) == normalized(str(b))
    assert list(a.parameters)[1:6] == ["base_url", "token", "timeout", "max_retries",
                                       "verify_ssl"]  # fmt: skip
    assert a.parameters["timeout"].default == 30 and a.parameters["max_retries"].default == 2
