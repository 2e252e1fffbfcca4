"""The registry (prompts, labels, datasets, profiles, projects) on SQLite and PostgreSQL.

One database per module and backend: a SQLite file, or a fresh PostgreSQL schema (set through
the connection's search_path) dropped at the end, so other suites on the same server never
see these rows. Each test starts from empty registry tables.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from promptyard.core.hashing import content_hash
from promptyard.errors import Conflict, NotFound, PromptyardError
from promptyard.store import Store
from promptyard.store.registry import RegistryStore, RowErrors, parse_ref

TABLES = [
    "prompt_labels",
    "prompt_versions",
    "prompts",
    "dataset_rows",
    "dataset_versions",
    "datasets",
    "profiles",
    "projects",
]


@pytest.fixture
def store(opened: Store) -> Store:
    with opened.engine.begin() as conn:
        for t in TABLES:
            conn.execute(sa.text(f"DELETE FROM {t}"))
    return opened


@pytest.fixture
def reg(store: Store) -> RegistryStore:
    return store.registry


def raw(store: Store, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}]


# -- prompts: versions ------------------------------------------------------------------------


def test_versions_are_numbered_from_one_and_deduplicated_by_content(reg: RegistryStore) -> None:
    p = reg.create_prompt(
        "support.greet",
        template="Hello {{name}}",
        config={"temperature": 0},
        description="greets",
        tags=["Greeting", "greeting", "v1"],
        group="onboarding",
        author="ann",
        message="first",
    )
    assert (p.name, p.team, p.group, p.latest_version, p.labels) == (
        "support.greet",
        "support",
        "onboarding",
        1,
        {},
    )
    assert p.tags == ("greeting", "v1")  # lower-cased, duplicates dropped

    same, created = reg.add_prompt_version(
        "support.greet", template="Hello {{name}}", config={"temperature": 0}
    )
    assert (same.version, created) == (1, False)
    assert same.message == "first" and same.author == "ann"

    v2, created = reg.add_prompt_version(
        "support.greet", template="Hi {{name}}", config={"temperature": 0}, author="bob"
    )
    assert (v2.version, created, v2.author) == (2, True, "bob")
    v3, created = reg.add_prompt_version(
        "support.greet", template="Hi {{name}}", config={"temperature": 0.5}
    )
    assert (v3.version, created) == (3, True)  # config is part of the content
    # Only the latest version is compared: going back to v2's content is a new version.
    v4, created = reg.add_prompt_version(
        "support.greet", template="Hi {{name}}", config={"temperature": 0}
    )
    assert (v4.version, created) == (4, True)
    assert (
        v4.content_hash
        == v2.content_hash
        == content_hash({"template": "Hi {{name}}", "config": {"temperature": 0}})
    )
    chat, created = reg.add_prompt_version("support.greet", template=CHAT)
    assert (chat.version, created, chat.config) == (5, True, {})
    assert reg.get_prompt_version("support.greet", 5).template == CHAT

    versions = reg.list_prompt_versions("support.greet")
    assert isinstance(versions, list) and versions.total == 5
    assert [v.version for v in versions] == [5, 4, 3, 2, 1]
    page = reg.list_prompt_versions("support.greet", limit=2, offset=2)
    assert ([v.version for v in page], page.total) == ([3, 2], 5)
    assert reg.get_prompt("support.greet").latest_version == 5
    assert reg.get_prompt_version("support.greet", 1).template == "Hello {{name}}"


def test_concurrent_new_versions_get_consecutive_numbers(reg: RegistryStore) -> None:
    reg.create_prompt("busy", template="v0")
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(5):
                reg.add_prompt_version("busy", template=f"t{t}-{i}")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    versions = reg.list_prompt_versions("busy", limit=100)
    assert versions.total == 21
    assert sorted(v.version for v in versions) == list(range(1, 22))


def test_prompt_conflicts_and_not_found(reg: RegistryStore) -> None:
    reg.create_prompt("p", template="a")
    with pytest.raises(Conflict, match="prompt 'p' already exists"):
        reg.create_prompt("p", template="b")
    # NULL project counts as one namespace on both backends (partial unique indexes).
    reg.create_prompt("p", project="demo", template="b")
    with pytest.raises(Conflict, match="'p' in project 'demo' already exists"):
        reg.create_prompt("p", project="demo", template="c")
    reg.create_prompt("p", project="other", template="c")
    assert reg.get_prompt("p").id != reg.get_prompt("p", project="demo").id
    assert reg.get_prompt_version("p", 1, project="other").template == "c"

    with pytest.raises(NotFound, match="no prompt named 'q'"):
        reg.get_prompt("q")
    with pytest.raises(NotFound, match="no prompt named 'q' in project 'demo'"):
        reg.add_prompt_version("q", project="demo", template="x")
    with pytest.raises(NotFound, match="prompt 'p' has no version 9"):
        reg.get_prompt_version("p", 9)
    with pytest.raises(NotFound):
        reg.list_prompt_versions("nope")
    assert issubclass(NotFound, PromptyardError) and issubclass(Conflict, PromptyardError)


@pytest.mark.parametrize("name", ["", " ", "a/b", "a@b", "a:b", ".a", "a.", "a b", "x" * 201])
def test_bad_prompt_names_are_refused(reg: RegistryStore, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        reg.create_prompt(name, template="t")


def test_bad_templates_and_configs_are_refused(reg: RegistryStore) -> None:
    with pytest.raises(ValueError, match="template"):
        reg.create_prompt("p", template=42)
    with pytest.raises(ValueError, match="template"):
        reg.create_prompt("p", template=[{"content": "no role"}])
    with pytest.raises(ValueError, match="config"):
        reg.create_prompt("p", template="t", config=["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tags"):
        reg.create_prompt("p", template="t", tags="one-string")
    with pytest.raises(NotFound):
        reg.get_prompt("p")  # nothing was stored


# -- prompts: labels and refs -----------------------------------------------------------------


def test_labels_move_and_refs_resolve(store: Store, reg: RegistryStore) -> None:
    reg.create_prompt("team.answer", template="v1")
    reg.add_prompt_version("team.answer", template="v2")
    reg.add_prompt_version("team.answer", template="v3")

    p = reg.set_label("team.answer", "production", 1, by="ann")
    assert p.labels == {"production": 1}
    reg.set_label("team.answer", "staging", 3)
    assert reg.get_prompt("team.answer").labels == {"production": 1, "staging": 3}

    assert reg.resolve_prompt("team.answer").template == "v3"
    assert reg.resolve_prompt("team.answer:latest").version == 3
    assert reg.resolve_prompt("team.answer@2").template == "v2"
    assert reg.resolve_prompt("team.answer:production").template == "v1"
    assert reg.resolve_prompt("team.answer:staging").version == 3

    # Deploying = moving the label.
    p = reg.set_label("team.answer", "production", 3, by="bob")
    assert p.labels == {"production": 3, "staging": 3}
    assert reg.resolve_prompt("team.answer:production").version == 3
    assert raw(
        store, "SELECT version, updated_by FROM prompt_labels WHERE label = 'production'"
    ) == [(3, "bob")]

    with pytest.raises(NotFound, match="no label 'canary'"):
        reg.resolve_prompt("team.answer:canary")
    with pytest.raises(NotFound, match="no version 7"):
        reg.resolve_prompt("team.answer@7")
    with pytest.raises(NotFound, match="no version 9"):
        reg.set_label("team.answer", "production", 9)
    with pytest.raises(NotFound, match="no prompt named 'missing'"):
        reg.set_label("missing", "production", 1)
    with pytest.raises(ValueError, match="'latest' is implicit"):
        reg.set_label("team.answer", "latest", 1)
    for bad in ("Prod", "-x", "a b", "x" * 41, ""):
        with pytest.raises(ValueError, match="label"):
            reg.set_label("team.answer", bad, 1)
    with pytest.raises(ValueError, match="version after '@'"):
        reg.resolve_prompt("team.answer@x")
    with pytest.raises(ValueError, match="version after '@'"):
        reg.resolve_prompt("team.answer@0")

    reg.delete_label("team.answer", "staging")
    assert reg.get_prompt("team.answer").labels == {"production": 3}
    with pytest.raises(NotFound, match="no label 'staging'"):
        reg.delete_label("team.answer", "staging")
    with pytest.raises(NotFound, match="no label 'staging'"):
        reg.resolve_prompt("team.answer:staging")


def test_parse_ref() -> None:
    assert parse_ref("a.b") == ("a.b", None, None)
    assert parse_ref("a.b@12") == ("a.b", 12, None)
    assert parse_ref("a.b:prod-1") == ("a.b", None, "prod-1")
    with pytest.raises(ValueError):
        parse_ref("a:Bad Label")


# -- prompts: listing -------------------------------------------------------------------------


def test_list_prompts_filters_and_totals(reg: RegistryStore) -> None:
    specs = [
        ("search.rank", None, ["ranking", "prod"], "retrieval", "Ranks 100% of results"),
        ("search.snippet", None, ["prod"], "retrieval", "Snippet maker"),
        ("support.greet", None, ["greeting"], None, "Say hello"),
        ("support.close", "demo", ["prod", "greeting"], None, "Say goodbye"),
        ("standalone", "demo", ["café"], "misc", "a_b literal underscore"),
        ("other", "demo", ["produce"], None, "nothing"),
    ]
    for name, project, tags, group, desc in specs:
        reg.create_prompt(
            name, project=project, template="t", tags=tags, group=group, description=desc
        )

    def names(**kw: Any) -> tuple[list[str], int]:
        items, total = reg.list_prompts(**kw)
        return [p.name for p in items], total

    newest_first = [s[0] for s in specs][::-1]
    assert names() == (newest_first, 6)
    assert names(limit=2) == (newest_first[:2], 6)
    assert names(limit=2, offset=4) == (newest_first[4:], 6)
    assert names(limit=2, offset=6) == ([], 6)
    assert names(project="demo") == (["other", "standalone", "support.close"], 3)
    assert names(team="search") == (["search.snippet", "search.rank"], 2)
    assert names(team="support", project="demo") == (["support.close"], 1)
    assert names(group="retrieval") == (["search.snippet", "search.rank"], 2)
    # A tag matches whole tags only ("prod" is not inside "produce"), case-insensitively.
    assert names(tag="prod") == (["support.close", "search.snippet", "search.rank"], 3)
    assert names(tag="PROD", limit=1) == (["support.close"], 3)
    assert names(tag="café") == (["standalone"], 1)
    assert names(tag="caf") == ([], 0)
    assert names(search="SAY") == (["support.close", "support.greet"], 2)
    assert names(search="rank") == (["search.rank"], 1)
    # LIKE wildcards in a search are literal characters.
    assert names(search="100%") == (["search.rank"], 1)
    assert names(search="a_b") == (["standalone"], 1)
    assert names(search="%") == (["search.rank"], 1)
    assert names(tag="prod", team="search", group="retrieval", search="snip") == (
        ["search.snippet"],
        1,
    )
    items, _ = reg.list_prompts(team="search")
    assert all(p.latest_version == 1 and p.labels == {} for p in items)


def test_set_prompt_tags(reg: RegistryStore) -> None:
    reg.create_prompt("p", template="t", tags=["a"])
    p = reg.set_prompt_tags("p", ["B", " c ", "b"])
    assert p.tags == ("b", "c")
    assert reg.list_prompts(tag="a") == ([], 0)
    assert [x.name for x in reg.list_prompts(tag="c")[0]] == ["p"]
    assert reg.set_prompt_tags("p", []).tags == ()
    with pytest.raises(ValueError, match="tag"):
        reg.set_prompt_tags("p", [""])
    with pytest.raises(NotFound):
        reg.set_prompt_tags("nope", ["a"])


def test_records_are_json_ready(reg: RegistryStore) -> None:
    p = reg.create_prompt("p", template=CHAT, config={"max_tokens": 5}, tags=["x"])
    reg.set_label("p", "production", 1)
    d = reg.get_prompt("p").to_dict()
    assert d["tags"] == ["x"] and d["labels"] == {"production": 1}
    assert d["group"] is None and d["created_at"].endswith("+00:00")
    v = reg.resolve_prompt("p:production").to_dict()
    assert v["template"] == CHAT and v["config"] == {"max_tokens": 5} and v["version"] == 1
    assert json.loads(json.dumps([d, v])) == [d, v]
    assert p.id == d["id"]


# -- datasets ---------------------------------------------------------------------------------

ROWS: list[dict[str, Any]] = [
    {"vars": {"q": "2+2"}, "assert": [{"type": "equals", "value": "4"}], "split": "train"},
    {
        "vars": {"q": "capital of France"},
        "expected": "Paris",
        "split": "test",
        "metadata": {"lang": "en", "hard": True},
        "description": "Geography",
    },
    {"vars": {"q": "Hauptstadt"}, "split": "val", "metadata": {"lang": "de"}},
    {"vars": {"q": "no split"}, "metadata": {"lang": "en"}},
]


def test_dataset_versions_rows_and_dedupe(store: Store, reg: RegistryStore) -> None:
    d = reg.create_dataset("qa", ROWS, description="questions", tags=["Eval"], author="ann")
    assert (d.name, d.latest_version, d.row_count, d.tags) == ("qa", 1, 4, ("eval",))
    rows, total = reg.dataset_rows("qa")
    assert total == 4
    assert [r.idx for r in rows] == [0, 1, 2, 3]
    assert rows[0].to_dict() == {
        "idx": 0,
        "vars": {"q": "2+2"},
        "assert": [{"type": "equals", "value": "4"}],
        "expected": None,
        "split": "train",
        "metadata": {},
        "description": None,
    }
    assert rows[1].expected == "Paris" and rows[1].metadata == {"lang": "en", "hard": True}
    assert rows[1].description == "Geography"

    same, created = reg.add_dataset_version("qa", [dict(r) for r in ROWS])
    assert (same.version, created, same.author) == (1, False, "ann")
    v2, created = reg.add_dataset_version("qa", ROWS[:2], author="bob", message="trim")
    assert (v2.version, v2.row_count, created, v2.message) == (2, 2, True, "trim")
    assert reg.get_dataset("qa").latest_version == 2
    assert reg.get_dataset("qa").row_count == 2
    assert reg.dataset_rows("qa")[1] == 2
    assert reg.dataset_rows("qa", version=1)[1] == 4  # old versions stay as they were

    assert [r.idx for r in reg.dataset_rows("qa", version=1, split="test")[0]] == [1]
    got, total = reg.dataset_rows("qa", version=1, limit=2, offset=1)
    assert ([r.idx for r in got], total) == ([1, 2], 4)
    versions = reg.list_dataset_versions("qa")
    assert ([v.version for v in versions], versions.total) == ([2, 1], 2)

    with pytest.raises(NotFound, match="dataset 'qa' has no version 5"):
        reg.dataset_rows("qa", version=5)
    with pytest.raises(ValueError, match="split"):
        reg.dataset_rows("qa", split="dev")
    with pytest.raises(Conflict, match="dataset 'qa' already exists"):
        reg.create_dataset("qa", [])
    empty = reg.create_dataset("empty", [])
    assert (empty.row_count, reg.dataset_rows("empty")) == (0, ([], 0))


def test_dataset_row_errors_list_every_bad_row(reg: RegistryStore) -> None:
    bad: list[Any] = [
        {"vars": {"ok": 1}},  # fine
        {"vars": ["not", "a", "mapping"], "split": "dev"},
        "not a row",
        {"vars": {}, "assert": [{"type": "contains"}, {"value": "no type"}, 3]},
        {"vars": {}, "assert": {"type": "equals"}, "metadata": "x", "options": {}},
        {"vars": {}, "description": 5},
    ]
    with pytest.raises(RowErrors) as info:
        reg.create_dataset("broken", bad)
    errors = info.value.errors
    assert {e["row"] for e in errors} == {1, 2, 3, 4, 5}
    fields = [(e["row"], e["field"]) for e in errors]
    assert fields == [
        (1, "vars"),
        (1, "split"),
        (2, "row"),
        (3, "assert[1].type"),
        (3, "assert[2]"),
        (4, "options"),
        (4, "metadata"),
        (4, "assert"),
        (5, "description"),
    ]
    assert all(isinstance(e["message"], str) and e["message"] for e in errors)
    assert isinstance(info.value, ValueError)
    assert "5 invalid dataset row(s)" in str(info.value)
    with pytest.raises(NotFound):
        reg.get_dataset("broken")  # nothing stored
    reg.create_dataset("ok", ROWS)
    with pytest.raises(RowErrors) as info:
        reg.add_dataset_version("ok", [{"split": "nope"}])
    assert info.value.errors == [
        {"row": 0, "field": "split", "message": "'nope' is not one of train, val, test (or empty)"}
    ]
    with pytest.raises(ValueError, match="list of objects"):
        reg.create_dataset("x", {"vars": {}})  # type: ignore[arg-type]


def test_derive_dataset_copies_matching_rows_and_records_the_filter(reg: RegistryStore) -> None:
    reg.create_dataset("qa", ROWS, tags=["eval"])
    reg.add_dataset_version("qa", [*ROWS, {"vars": {"q": "paris again"}, "split": "test"}])

    d = reg.derive_dataset("qa", "qa-en-test", split="test", metadata={"lang": "en"})
    assert (d.latest_version, d.row_count, d.tags) == (1, 1, ("eval",))
    rows, _ = reg.dataset_rows("qa-en-test")
    assert [r.vars for r in rows] == [{"q": "capital of France"}]
    assert rows[0].expected == "Paris" and rows[0].description == "Geography"
    (v,) = reg.list_dataset_versions("qa-en-test")
    src = reg.get_dataset("qa")
    assert v.derived_from == {
        "dataset": "qa",
        "dataset_id": src.id,
        "version": 2,
        "filter": {"split": "test", "metadata": {"lang": "en"}, "search": None},
    }
    assert v.message == "derived from qa v2"

    d = reg.derive_dataset("qa", "qa-paris", search="PARIS")  # vars and expected searched
    assert [r.vars["q"] for r in reg.dataset_rows("qa-paris")[0]] == [
        "capital of France",
        "paris again",
    ]
    assert reg.derive_dataset("qa", "qa-all").row_count == 5
    assert reg.derive_dataset("qa", "qa-none", metadata={"lang": "fr"}).row_count == 0
    assert reg.get_dataset("qa").row_count == 5  # the source is untouched

    with pytest.raises(Conflict):
        reg.derive_dataset("qa", "qa-all")
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        reg.derive_dataset("nope", "x")
    with pytest.raises(ValueError, match="split"):
        reg.derive_dataset("qa", "x", split="dev")


def test_list_and_delete_datasets(store: Store, reg: RegistryStore) -> None:
    reg.create_dataset("a", ROWS, tags=["smoke"], description="Smoke tests")
    reg.create_dataset("b", ROWS[:1], project="demo", tags=["full"])
    reg.create_dataset("a", ROWS[:2], project="demo")
    items, total = reg.list_datasets()
    assert ([(x.name, x.project, x.row_count) for x in items], total) == (
        [("a", "demo", 2), ("b", "demo", 1), ("a", None, 4)],
        3,
    )
    assert [x.name for x in reg.list_datasets(project="demo")[0]] == ["a", "b"]
    assert reg.list_datasets(tag="smoke")[1] == 1
    assert reg.list_datasets(search="SMOKE")[1] == 1
    assert reg.list_datasets(limit=1, offset=1)[0][0].name == "b"

    reg.delete_dataset("a")
    with pytest.raises(NotFound):
        reg.get_dataset("a")
    assert reg.get_dataset("a", project="demo").row_count == 2
    with pytest.raises(NotFound):
        reg.delete_dataset("a")
    rows = raw(store, "SELECT COUNT(*) FROM dataset_rows")[0][0]
    versions = raw(store, "SELECT COUNT(*) FROM dataset_versions")[0][0]
    assert (rows, versions) == (3, 2)


# -- profiles and projects --------------------------------------------------------------------


def test_profiles(reg: RegistryStore) -> None:
    cfg = {"api_key_env": "OPENAI_API_KEY", "temperature": 0.2, "max_tokens": 64}
    p = reg.create_profile("mini", "openai:gpt-4.1-mini", config=cfg, label="Mini")
    assert reg.get_profile("mini") == p
    assert p.to_dict()["config"] == cfg
    reg.create_profile("local", "ollama:llama3.2", project="demo")
    with pytest.raises(Conflict, match="profile 'mini' already exists"):
        reg.create_profile("mini", "echo")
    items = reg.list_profiles()
    assert ([x.name for x in items], items.total) == (["local", "mini"], 2)
    assert [x.name for x in reg.list_profiles(project="demo")] == ["local"]
    page = reg.list_profiles(limit=1, offset=1)
    assert ([x.name for x in page], page.total) == (["mini"], 2)
    with pytest.raises(NotFound):
        reg.get_profile("local")  # it lives in project demo
    with pytest.raises(ValueError, match="provider id"):
        reg.create_profile("x", " ")


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"api_key": "sk-123"}, "api_key"),
        ({"apiKey": "sk-123"}, "apiKey"),
        ({"API_KEY": "sk-123"}, "API_KEY"),
        ({"token": "t"}, "token"),
        ({"access_token": "t"}, "access_token"),
        ({"password": "p"}, "password"),
        ({"secret": "s"}, "secret"),
        ({"client_secret": "s"}, "client_secret"),
        ({"headers": {"Authorization": "Bearer x"}}, "headers.Authorization"),
        ({"tools": [{"ok": 1}, {"x-api-key": "k"}]}, "tools[1].x-api-key"),
    ],
)
def test_profiles_refuse_secret_values(
    reg: RegistryStore, config: dict[str, Any], key: str
) -> None:
    with pytest.raises(ValueError, match="looks like a secret") as info:
        reg.create_profile("p", "openai:gpt-4.1-mini", config=config)
    assert repr(key) in str(info.value)
    assert "sk-123" not in str(info.value)
    assert reg.list_profiles() == []


def test_profiles_accept_env_var_names_and_token_limits(reg: RegistryStore) -> None:
    cfg = {
        "api_key_env": "OPENAI_API_KEY",
        "apiKeyEnv": "X",
        "token_env": "T",
        "max_tokens": 5,
        "max_completion_tokens": 9,
        "token_limit": 3,
        "cache_key": "c",
        "tokenizer": "cl100k",
        "headers": {"Accept": "application/json"},
    }
    assert reg.create_profile("p", "openai:gpt-4.1-mini", config=cfg).config == cfg
    # Any other header's value could be a credential (docs/security.md, Redaction): refused.
    with pytest.raises(ValueError, match=r"headers\.X-Trace"):
        reg.create_profile("q", "openai:gpt-4.1-mini", config={"headers": {"X-Trace": "1"}})


def test_projects_upsert_and_list(reg: RegistryStore) -> None:
    a = reg.upsert_project("alpha", description="first", root="/srv/alpha")
    reg.upsert_project("beta")
    again = reg.upsert_project("alpha", description="changed", root=None)
    assert (again.description, again.root, again.created_at) == ("changed", None, a.created_at)
    items = reg.list_projects()
    assert ([p.name for p in items], items.total) == (["beta", "alpha"], 2)
    page = reg.list_projects(limit=1, offset=1)
    assert ([p.to_dict() for p in page], page.total) == ([again.to_dict()], 2)
    with pytest.raises(ValueError):
        reg.upsert_project(" ")
    # The lists docs/server.md gives as plain lists are complete unless given a limit.
    for i in range(60):
        reg.upsert_project(f"p{i:02d}")
    everything = reg.list_projects()
    assert (len(everything), everything.total) == (62, 62)


def test_registry_is_built_once_on_the_store_engine(store: Store) -> None:
    assert store.registry is store.registry
    assert store.registry.engine is store.engine
