"""What openai-python users expect of the SDK (item 10), against a real `promptyard serve`:
an injected httpx client, default headers, a per-request timeout (`with_options`), the version
in `__version__` and the User-Agent, auto-paging, and rendering a fetched prompt version."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import REPO, ServerProcess, running_server
from promptyard_client import AsyncClient, Client, TemplateRenderError, __version__
from promptyard_client.models import PromptVersion
from tests.server.sdktools import unique


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("sdk-ergonomics")) as proc:
        yield proc


class Seen:
    """httpx event hook: the requests an injected client sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)


# -- version -------------------------------------------------------------------------------


def test_version_in_one_place_and_in_the_user_agent(server: ServerProcess) -> None:
    pyproject = tomllib.loads((REPO / "clients/python/pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "promptyard_client._version.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    seen = Seen()
    with (
        httpx.Client(event_hooks={"request": [seen]}) as http,
        Client(server.url, http_client=http) as c,
    ):
        assert c.health().status == "ok"
    assert seen.requests[0].headers["User-Agent"] == f"promptyard-client/{__version__}"


# -- http_client, default_headers, per-request timeout -------------------------------------


def test_injected_client_default_headers_and_with_options(server: ServerProcess) -> None:
    seen = Seen()
    http = httpx.Client(event_hooks={"request": [seen]})
    c = Client(server.url, http_client=http, default_headers={"X-Team": "search"}, timeout=30)
    name = unique("hdr")
    c.create_prompt(name, "Hi {{ who }}")
    assert seen.requests[-1].headers["X-Team"] == "search"
    assert seen.requests[-1].url.path == "/api/prompts"
    assert seen.requests[-1].extensions["timeout"]["read"] == 30

    quick = c.with_options(timeout=2.5, default_headers={"X-Trace": "t1"})
    assert quick.get_prompt(name).name == name
    sent = seen.requests[-1]
    assert sent.extensions["timeout"]["read"] == 2.5
    assert (sent.headers["X-Team"], sent.headers["X-Trace"]) == ("search", "t1")
    c.get_prompt(name)  # the original keeps its settings
    assert seen.requests[-1].extensions["timeout"]["read"] == 30
    assert "X-Trace" not in seen.requests[-1].headers

    quick.close()
    c.close()  # an injected client belongs to the caller: still open
    assert not http.is_closed
    http.close()


async def test_async_injected_client_and_with_options(server: ServerProcess) -> None:
    seen: list[httpx.Request] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
        async with AsyncClient(server.url, http_client=http, default_headers={"X-A": "1"}) as c:
            assert (await c.with_options(timeout=3).health()).status == "ok"
        assert not http.is_closed
    assert seen[-1].headers["X-A"] == "1"
    assert seen[-1].extensions["timeout"]["read"] == 3


# -- auto-paging ---------------------------------------------------------------------------


def test_paginate_walks_every_page(server: ServerProcess) -> None:
    tag = unique("page")
    seen = Seen()
    with (
        httpx.Client(event_hooks={"request": [seen]}) as http,
        Client(server.url, http_client=http) as c,
    ):
        names = {unique("p") for _ in range(5)}
        for name in names:
            c.create_prompt(name, "x", tags=[tag])
        before = len(seen.requests)
        got = [p.name for p in c.paginate(c.list_prompts, tag=tag, limit=2)]
        assert sorted(got) == sorted(names)
        assert len(seen.requests) - before == 3  # 2 + 2 + 1


async def test_async_paginate(server: ServerProcess) -> None:
    tag = unique("apage")
    async with AsyncClient(server.url) as c:
        names = {unique("ap") for _ in range(3)}
        for name in names:
            await c.create_prompt(name, "x", tags=[tag])
        got = [p.name async for p in c.paginate(c.list_prompts, tag=tag, limit=1)]
        assert sorted(got) == sorted(names)


# -- render --------------------------------------------------------------------------------


def test_render_a_fetched_text_and_chat_version(server: ServerProcess) -> None:
    with Client(server.url) as c:
        name = unique("render")
        c.create_prompt(name, "Hello {{ name }} from {{ place.city }} ({{ tags[1] }}){# x #}")
        version = c.get_prompt_version(name, 1)
        out = version.render(name="Ada", place={"city": "London"}, tags=["a", "b"])
        assert out == "Hello Ada from London (b)"
        with pytest.raises(TemplateRenderError, match="undefined variable `place`"):
            version.render(name="Ada")

        chat = unique("chat")
        c.create_prompt(chat, [
            {"role": "system", "content": "You answer in {{lang}}."},
            {"role": "user", "content": [{"type": "text", "text": "{{ q }}"}]},
        ])  # fmt: skip
        rendered = c.get_prompt_version(chat, 1).render(lang="French", q="Why?")
        assert rendered == [
            {"role": "system", "content": "You answer in French."},
            {"role": "user", "content": [{"type": "text", "text": "Why?"}]},
        ]


def _version(template: Any) -> PromptVersion:
    return PromptVersion(name="p", version=1, template=template, content_hash="h",
                         created_at="2026-01-01T00:00:00Z")  # fmt: skip


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ name | upper }}", "no filters"),
        ("{% if x %}y{% endif %}", "Jinja tag"),
        ("{{ a + b }}", "no filters or expressions"),
        ("{{ user.email }}", "`user` has no key 'email'"),
        ("{{ items[3] }}", "`items` has no item 3"),
    ],
)
def test_render_says_what_it_does_not_support(template: str, message: str) -> None:
    with pytest.raises(TemplateRenderError, match=re.escape(message)):
        _version(template).render(name="x", user={"name": "u"}, items=[1], a=1, b=2, x=1)


def test_render_literals_and_spacing() -> None:
    rendered = _version("{{'{{'}} {{x}} \n {{- y -}}  ! {{ 'a b' }}").render(x=1, y=None)
    assert rendered == "{{ 1None! a b"


def test_sdk_readme_documents_the_new_ergonomics() -> None:
    readme = Path(REPO / "clients/python/README.md").read_text()
    for needle in ("http_client=", "default_headers", "with_options(", "paginate(", ".render("):
        assert needle in readme, needle
