"""The providers that need no network: echo, scripted, python files."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from pathlib import Path

import pytest

from promptyard.core.types import Completion, CompletionRequest, ProviderSpec
from promptyard.errors import ConfigError, ProviderError, ProviderRateLimitError
from promptyard.providers import check_credentials, create_provider
from promptyard.providers.scripted import ScriptedProvider
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


def req(text: str = "say hi", **vars: object) -> CompletionRequest:
    return CompletionRequest(prompt=text, messages=[], vars=dict(vars))


async def test_echo_returns_the_prompt_for_free() -> None:
    p = create_provider(ProviderSpec(id="echo"), trust=LOCAL_TRUST)
    check_credentials(ProviderSpec(id="echo"))  # needs none
    c = await p.complete(req("one two three"))
    assert c.output == "one two three"
    assert c.cost == 0.0
    assert (c.usage.prompt, c.usage.completion, c.usage.total) == (3, 3, 6)


# -- scripted -------------------------------------------------------------------------------


async def test_scripted_queue_first_then_config_list_cycles() -> None:
    p = create_provider(
        ProviderSpec(id="scripted", config={"responses": ["a", "b"]}), trust=LOCAL_TRUST
    )
    assert isinstance(p, ScriptedProvider)
    p.queue(
        "queued", {"output": {"json": 1}, "tokenUsage": {"prompt": 4, "completion": 2}, "cost": 0.5}
    )
    outs = [await p.complete(req()) for _ in range(5)]
    assert [c.output for c in outs] == ["queued", {"json": 1}, "a", "b", "a"]
    assert (outs[1].usage.total, outs[1].cost) == (6, 0.5)
    assert len(p.calls) == 5


async def test_scripted_by_var_is_order_independent() -> None:
    p = create_provider(
        ProviderSpec(
            id="scripted",
            config={
                "var": "q",
                "responses": {"2+2": "4", "capital of France": "Paris"},
                "default": "?",
            },
        ),
        trust=LOCAL_TRUST,
    )
    results = await asyncio.gather(
        p.complete(req(q="capital of France")), p.complete(req(q="2+2")), p.complete(req(q="x"))
    )
    assert [r.output for r in results] == ["Paris", "4", "?"]


async def test_scripted_var_without_default_fails_naming_the_value() -> None:
    p = create_provider(
        ProviderSpec(id="scripted", config={"var": "q", "responses": {}}), trust=LOCAL_TRUST
    )
    with pytest.raises(ProviderError, match="q='nope'"):
        await p.complete(req(q="nope"))


async def test_scripted_errors_and_exceptions() -> None:
    p = create_provider(ProviderSpec(id="scripted:judge"), trust=LOCAL_TRUST)
    assert isinstance(p, ScriptedProvider)
    done = Completion(output="prebuilt")
    p.queue({"error": "slow down", "status": 429}, RuntimeError("boom"), done)
    with pytest.raises(ProviderRateLimitError, match="slow down"):
        await p.complete(req())
    with pytest.raises(RuntimeError, match="boom"):
        await p.complete(req())
    assert await p.complete(req()) is done
    assert (await p.complete(req("echoed when empty"))).output == "echoed when empty"


def test_scripted_bad_config_names_where() -> None:
    with pytest.raises(ConfigError, match=r"t\.yaml.*config\.responses"):
        create_provider(
            ProviderSpec(id="scripted", config={"responses": "x"}, where="t.yaml"),
            trust=LOCAL_TRUST,
        )


def test_two_scripted_providers_never_share_a_cache_identity() -> None:
    a = create_provider(ProviderSpec(id="scripted"), trust=LOCAL_TRUST)
    b = create_provider(ProviderSpec(id="scripted"), trust=LOCAL_TRUST)
    assert a.cache_identity() != b.cache_identity()
    assert a.cache_identity() == a.cache_identity()


# -- python ---------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


async def test_python_sync_function_runs_off_the_loop(tmp_path: Path) -> None:
    write(tmp_path, "helper.py", "PREFIX = 'got: '\n")
    write(
        tmp_path,
        "prov.py",
        """
        import threading
        from helper import PREFIX

        def call_api(prompt, options, context):
            return {
                "output": PREFIX + prompt + " / " + context["vars"]["name"]
                          + " / " + str(options["config"]["tone"]),
                "tokenUsage": {"prompt": 3, "completion": 4},
                "thread": threading.current_thread().name,
            }
    """,
    )
    p = create_provider(
        ProviderSpec(id="python:prov.py", config={"tone": "dry"}),
        base_dir=str(tmp_path),
        trust=LOCAL_TRUST,
    )
    c = await p.complete(req("hello", name="Ada"))
    assert c.output == "got: hello / Ada / dry"
    assert (c.usage.prompt, c.usage.completion, c.usage.total) == (3, 4, 7)
    assert c.cost == 0.0
    assert c.raw["thread"] != threading.current_thread().name


async def test_python_async_named_function_and_string_result(tmp_path: Path) -> None:
    write(
        tmp_path,
        "aprov.py",
        """
        import asyncio

        async def answer(prompt, options, context):
            await asyncio.sleep(0)
            return prompt.upper()
    """,
    )
    p = create_provider(
        ProviderSpec(id=f"file://{tmp_path / 'aprov.py'}:answer"), trust=LOCAL_TRUST
    )
    c = await p.complete(req("quiet words"))
    assert c.output == "QUIET WORDS"
    assert c.usage.completion == 2


async def test_python_errors_become_provider_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bad.py",
        """
        def call_api(prompt, options, context):
            raise ValueError("no luck for " + prompt)

        def returns_error(prompt, options, context):
            return {"error": "upstream refused"}

        def returns_number(prompt, options, context):
            return 42
    """,
    )
    base = str(tmp_path)
    with pytest.raises(ProviderError, match="ValueError: no luck for x"):
        await create_provider(
            ProviderSpec(id="python:bad.py"), base_dir=base, trust=LOCAL_TRUST
        ).complete(req("x"))
    with pytest.raises(ProviderError, match="upstream refused"):
        await create_provider(
            ProviderSpec(id="python:bad.py:returns_error"), base_dir=base, trust=LOCAL_TRUST
        ).complete(req())
    with pytest.raises(ProviderError, match="returned int"):
        await create_provider(
            ProviderSpec(id="python:bad.py:returns_number"), base_dir=base, trust=LOCAL_TRUST
        ).complete(req())


def test_python_config_errors_name_where(tmp_path: Path) -> None:
    write(tmp_path, "p.py", "def call_api(prompt, options, context):\n    return prompt\n")
    with pytest.raises(ConfigError, match=r"cfg\.yaml.*not found"):
        create_provider(
            ProviderSpec(id="python:missing.py", where="cfg.yaml"),
            base_dir=str(tmp_path),
            trust=LOCAL_TRUST,
        )
    with pytest.raises(ConfigError, match=r"cfg\.yaml.*no function nope"):
        create_provider(
            ProviderSpec(id="python:p.py:nope", where="cfg.yaml"),
            base_dir=str(tmp_path),
            trust=LOCAL_TRUST,
        )
    write(tmp_path, "broken.py", "import not_a_module_anywhere\n")
    with pytest.raises(ConfigError, match="ModuleNotFoundError"):
        create_provider(
            ProviderSpec(id="python:broken.py"), base_dir=str(tmp_path), trust=LOCAL_TRUST
        )


def test_python_file_is_loaded_once(tmp_path: Path) -> None:
    log = tmp_path / "loads.txt"
    write(
        tmp_path,
        "counted.py",
        f"""
        with open({str(log)!r}, "a") as f:
            f.write("loaded\\n")
        def call_api(prompt, options, context):
            return prompt
    """,
    )
    for _ in range(3):
        create_provider(
            ProviderSpec(id="python:counted.py"), base_dir=str(tmp_path), trust=LOCAL_TRUST
        )
    assert log.read_text().splitlines() == ["loaded"]
