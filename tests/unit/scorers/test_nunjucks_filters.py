"""promptfoo's nunjucksFilters loaded under the trust policy (scorers/nunjucks_filters.py):
JavaScript in the V8 sandbox child, called synchronously from render threads; Python only
where the policy allows it; files only inside the project where the policy confines them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptyard.core.templates import render_string, using_filters
from promptyard.errors import ConfigError, TemplateError
from promptyard.scorers.nunjucks_filters import NunjucksFilters, load_nunjucks_filters
from promptyard.trust import TrustPolicy

LOCAL = TrustPolicy()
SERVER = TrustPolicy(allow_python=False, confine_files=True)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "shout.js").write_text(
        "module.exports = (s, n) => String(s).toUpperCase() + '!'.repeat(n || 1);\n"
    )
    (tmp_path / "bad.js").write_text("module.exports = () => { throw new Error('nope'); };\n")
    (tmp_path / "short.py").write_text("def short(value, n=3):\n    return str(value)[:n]\n")
    return tmp_path


@pytest.fixture
def loaded(folder: Path) -> Iterator[NunjucksFilters]:
    spec = {"shout": "file://shout.js", "bad": "file://bad.js", "short": "file://short.py"}
    filters = load_nunjucks_filters(spec, base_dir=str(folder), trust=LOCAL)
    assert filters is not None
    yield filters
    filters.close()


def test_js_and_python_filters_render(loaded: NunjucksFilters) -> None:
    assert loaded.names == {"shout", "bad", "short"}
    with using_filters(loaded.templates):
        assert render_string("{{ x | shout }} {{ x | shout(2) }}", {"x": "hi"}) == "HI! HI!!"
        assert render_string("{{ x | short }}", {"x": "abcdef"}) == "abc"
        with pytest.raises(TemplateError, match="nope"):
            render_string("{{ x | bad }}", {"x": "hi"})


async def test_js_filters_render_on_worker_threads_of_a_running_loop(
    loaded: NunjucksFilters,
) -> None:
    """As the engine renders: batches on worker threads while the run's loop is busy."""
    with using_filters(loaded.templates):
        outs = await asyncio.gather(
            *(asyncio.to_thread(render_string, "{{ x | shout }}", {"x": f"t{i}"}) for i in range(8))
        )
    assert outs == [f"T{i}!" for i in range(8)]


def test_no_filters_loads_nothing() -> None:
    assert load_nunjucks_filters(None, base_dir=".", trust=LOCAL) is None
    assert load_nunjucks_filters({}, base_dir=".", trust=LOCAL) is None


def test_python_is_refused_where_the_policy_runs_none(folder: Path) -> None:
    with pytest.raises(ConfigError, match="does not run"):
        load_nunjucks_filters({"short": "file://short.py"}, base_dir=str(folder), trust=SERVER)


def test_js_files_stay_inside_a_confined_project(folder: Path) -> None:
    project = folder / "proj"
    project.mkdir()
    with pytest.raises(ConfigError, match="shout"):
        load_nunjucks_filters({"shout": "file://../shout.js"}, base_dir=str(project), trust=SERVER)
    filters = load_nunjucks_filters(
        {"shout": "file://shout.js"}, base_dir=str(folder), trust=SERVER
    )
    assert filters is not None
    try:
        with using_filters(filters.templates):
            assert render_string("{{ 'a' | shout }}", {}) == "A!"
    finally:
        filters.close()


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("file://x.js", "must map filter names"),
        ({"shout": 3}, "file reference"),
        ({"shout": "file://x.rb"}, "JavaScript"),
        ({"shout": "file://missing.js"}, "missing.js"),
    ],
)
def test_bad_entries_name_the_filter(folder: Path, spec: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_nunjucks_filters(spec, base_dir=str(folder), trust=LOCAL)
