"""The store against real databases: SQLite files in tmp dirs and, where reachable, PostgreSQL.

Every test runs on both backends. The PostgreSQL variant uses a fresh schema per test (set
through the connection's search_path) and drops it afterwards, so parallel runs never clash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.pgtools import pg_schema_url

from promptyard.core.types import Assertion, GradingResult, TokenUsage, TrialResult
from promptyard.errors import StoreError
from promptyard.store import Store, default_database_url, normalize_url
from promptyard.store.common import HEAD_REVISION
from promptyard.store.schema import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        # A nested path: open() must create the missing parent directory.
        yield f"sqlite:///{tmp_path / 'nested' / 'dir' / 'store.db'}"
        return
    with pg_schema_url("store") as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    try:
        yield s
    finally:
        s.close()


def new_run(store: Store, run_id: str | None = None, *, created_at: str = "") -> str:
    rid = run_id or str(uuid.uuid4())
    store.create_run(
        run_id=rid,
        description="a run",
        config={"prompts": ["p"], "providers": ["echo"], "tests": [{"vars": {"x": 1}}]},
        created_at=created_at or "2025-01-02T03:04:05.000006+00:00",
        prompts=[{"id": "p1", "label": "Prompt 1"}],
        providers=[{"id": "echo"}],
        project="demo",
    )
    return rid


def grading(*parts: tuple[str, bool, float, str | None]) -> GradingResult:
    comps = [
        GradingResult(
            passed=ok,
            score=score,
            reason=f"{kind} said {ok}",
            assertion=Assertion(type=kind, value="x", metric=metric),
        )
        for kind, ok, score, metric in [(p[0], p[1], p[2], p[3]) for p in parts]
    ]
    total = sum(c.score for c in comps) / len(comps) if comps else 1.0
    return GradingResult(
        passed=all(c.passed for c in comps),
        score=total,
        reason="all passed" if all(c.passed for c in comps) else "some failed",
        component_results=comps,
        named_scores={"acc": total},
    )


def trial(run_id: str, i: int, **kw: Any) -> TrialResult:
    base: dict[str, Any] = {
        "run_id": run_id,
        "index": i,
        "case_index": i // 2,
        "case_id": f"case{i // 2:04d}",
        "prompt_id": "p1",
        "prompt_label": "Prompt 1",
        "provider_id": "openai:gpt-4.1-mini",
        "provider_label": "mini",
        "sample": i % 2,
        "description": f"case {i}",
        "vars": {"q": f"question {i}"},
        "prompt": f"Answer: question {i}",
        "output": f"answer {i}",
        "grading": grading(("contains", True, 1.0, None), ("equals", False, 0.0, "exact")),
        "success": False,
        "score": 0.5,
        "latency_ms": 12.25,
        "cost": 0.000123,
        "usage": TokenUsage(10, 5, 15, 2),
        "raw": {"id": f"cmpl-{i}"},
        "created_at": "2025-01-02T03:04:06.000001+00:00",
    }
    base.update(kw)
    return TrialResult(**base)


def score_rows(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    q = sa.text(
        "SELECT trial_index, position, assertion_type, passed, score, reason, metric "
        "FROM scores WHERE run_id = :r ORDER BY trial_index, position"
    )
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q, {"r": run_id})]


# -- schema -----------------------------------------------------------------------------------


def test_migrations_create_schema_from_empty_and_reopen_is_idempotent(db_url: str) -> None:
    s = Store.open(db_url)
    with s.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert {"runs", "trials", "scores", "cache", "alembic_version"} <= names
    assert version == HEAD_REVISION
    if s.engine.dialect.name == "sqlite":
        with s.engine.connect() as conn:
            pragmas = [
                conn.exec_driver_sql(f"PRAGMA {p}").scalar_one()
                for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        assert pragmas[:3] == ["wal", 1, 1]  # synchronous 1 = NORMAL
        assert pragmas[3] > 0
    rid = new_run(s)
    s.add_trials([trial(rid, 0)])
    s.close()

    for _ in range(2):  # reopening neither fails nor loses data nor adds revisions
        with Store.open(db_url) as again:
            assert again.count_trials(rid) == 1
            with again.engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            assert [r[0] for r in rows] == [HEAD_REVISION]


def test_head_revision_constant_matches_migrations_and_tables_match_schema(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from promptyard.store.migrate import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_concurrent_first_open_migrates_once(db_url: str) -> None:
    errors: list[BaseException] = []
    stores: list[Store] = []
    lock = threading.Lock()

    def opener() -> None:
        try:
            s = Store.open(db_url)
            with lock:
                stores.append(s)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(stores) == 4
    rid = new_run(stores[0])
    assert stores[3].get_run(rid).status == "running"
    for s in stores:
        s.close()


def test_newer_schema_revision_is_refused(db_url: str) -> None:
    with Store.open(db_url) as s, s.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match=r"9999_future.*unknown"):
        Store.open(db_url)


def test_open_reports_an_unusable_url() -> None:
    with pytest.raises(StoreError, match="nosuchdb"):
        Store.open("nosuchdb://whatever")
    with pytest.raises(StoreError, match="cannot open"):
        # Nothing listens on port 1.
        Store.open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


# -- runs -------------------------------------------------------------------------------------


def test_run_lifecycle(store: Store) -> None:
    rid = new_run(store)
    run = store.get_run(rid)
    assert run.status == "running"
    assert run.finished_at is None and run.summary is None
    assert run.trial_count == 0
    assert run.project == "demo"
    assert run.description == "a run"
    assert run.config == {"prompts": ["p"], "providers": ["echo"], "tests": [{"vars": {"x": 1}}]}
    assert run.prompts == [{"id": "p1", "label": "Prompt 1"}]
    assert run.providers == [{"id": "echo"}]
    assert run.created_at == "2025-01-02T03:04:05.000006+00:00"

    store.add_trials([trial(rid, i) for i in range(3)])
    assert store.get_run(rid).trial_count == 3

    summary = {"passed": 1, "failed": 2, "score": {"mean": 0.5, "ci": [0.1, 0.9]}}
    store.finish_run(rid, status="succeeded", summary=summary, finished_at="2025-01-02T04:00:00Z")
    run = store.get_run(rid)
    assert (run.status, run.summary, run.finished_at, run.trial_count) == (
        "succeeded",
        summary,
        "2025-01-02T04:00:00Z",
        3,
    )
    assert run.to_dict()["summary"] == summary

    # Trials written after the finish (a resume) are counted again.
    store.add_trials([trial(rid, 3)])
    assert store.get_run(rid).trial_count == 4
    assert store.list_runs()[0].trial_count == 4


def test_run_lifecycle_errors_name_the_run(store: Store) -> None:
    rid = new_run(store)
    with pytest.raises(StoreError, match=f"run {rid} already exists"):
        new_run(store, rid)
    with pytest.raises(ValueError, match="'done' is not one of"):
        store.finish_run(rid, status="done", summary={}, finished_at="x")
    missing = str(uuid.uuid4())
    with pytest.raises(StoreError, match=f"cannot finish run {missing}: no such run"):
        store.finish_run(missing, status="failed", summary={}, finished_at="x")
    with pytest.raises(StoreError, match=f"run {missing}"):
        store.add_trials([trial(missing, 0)])
    assert store.count_trials(missing) == 0
    assert store.get_run(rid).status == "running"


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled", "interrupted"])
def test_every_finish_status_is_stored(store: Store, status: str) -> None:
    rid = new_run(store)
    store.finish_run(rid, status=status, summary={"s": status}, finished_at="t")
    assert store.get_run(rid).status == status


def test_get_run_by_unique_prefix_ambiguous_or_unknown(store: Store) -> None:
    a = new_run(store, "aaaa1111-0000-4000-8000-000000000001")
    b = new_run(store, "aaaa2222-0000-4000-8000-000000000002")
    c = new_run(store, "b_c%0000-0000-4000-8000-000000000003")
    assert store.get_run(a).id == a
    assert store.get_run("aaaa1").id == a
    assert store.get_run("aaaa2").id == b
    assert store.get_run("b_c%").id == c
    with pytest.raises(StoreError, match="'aaaa' is ambiguous") as info:
        store.get_run("aaaa")
    assert a in str(info.value) and b in str(info.value)
    with pytest.raises(StoreError, match="no run matches 'cccc'"):
        store.get_run("cccc")
    # LIKE wildcards in a prefix are literal characters, not patterns.
    with pytest.raises(StoreError, match="no run matches '%'"):
        store.get_run("%")
    with pytest.raises(StoreError, match="no run matches 'a_aa'"):
        store.get_run("a_aa")
    with pytest.raises(StoreError, match="empty"):
        store.get_run("  ")


def test_list_runs_newest_first_with_pagination(store: Store) -> None:
    assert store.list_runs() == []
    ids = [new_run(store, created_at=f"2025-01-0{d}T00:00:00+00:00") for d in range(1, 8)]
    newest_first = ids[::-1]
    assert [r.id for r in store.list_runs()] == newest_first
    assert [r.id for r in store.list_runs(limit=3)] == newest_first[:3]
    assert [r.id for r in store.list_runs(limit=3, offset=3)] == newest_first[3:6]
    assert [r.id for r in store.list_runs(limit=3, offset=6)] == newest_first[6:]
    assert store.list_runs(limit=3, offset=7) == []
    store.add_trials([trial(ids[0], 0), trial(ids[0], 1)])
    assert store.list_runs()[-1].trial_count == 2


# -- trials -----------------------------------------------------------------------------------

AWKWARD_OUTPUT: dict[str, Any] = {
    "zeta": "first key stays first",
    "text": 'héllo wörld — 你好, мир 🎉 \u200b tab\t newline\n quote" backslash\\',
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🧪👩‍🔬",
    "nul": "before\x00after",
    "nested": {"list": [1, 2.5, -0.0, None, True, False, [], {}], "deep": {"a": {"b": {"c": [1]}}}},
    "big": 2**62,
    "float": 0.1 + 0.2,
    "tiny": 5e-324,
    "empty": "",
    "alpha": [{"k": "v"}, "s", 3],
}


@pytest.mark.parametrize(
    "output", [AWKWARD_OUTPUT, "plain string ✓", ["a", {"b": None}], 42, 3.5, True, None]
)
def test_trials_round_trip_exactly(store: Store, output: Any) -> None:
    rid = new_run(store)
    written = [
        trial(rid, 0, output=output, vars={"ünï": "cødé", "nested": {"x": [1, {"y": "z"}]}}),
        trial(
            rid,
            1,
            output=output,
            grading=None,
            error="provider: boom (HTTP 500)",
            cost=None,
            raw=None,
            description=None,
            cached=True,
            success=True,
            score=1.0,
        ),
        trial(rid, 2, output=output, raw={"choices": [{"message": {"content": "Ω"}}]}),
    ]
    store.add_trials(written)
    read = list(store.iter_trials(rid))
    assert read == written
    if isinstance(output, dict):
        assert list(read[0].output) == list(output)  # key order is kept
        assert read[0].output["nul"] == "before\x00after"


def test_unencodable_values_do_not_lose_the_trial(store: Store) -> None:
    rid = new_run(store)
    weird = {"nan": float("nan"), "inf": [float("inf")], "when": time.gmtime(0)[:3], "set": {1}}
    store.add_trials([trial(rid, 0, output=weird, raw={"obj": object()})])
    (got,) = store.iter_trials(rid)
    # NaN/Infinity become null (as JSON.stringify does); unknown objects their str().
    assert got.output == {"nan": None, "inf": [None], "when": [1970, 1, 1], "set": "{1}"}
    assert got.raw["obj"].startswith("<object object at")


def test_text_fields_round_trip_unicode(store: Store) -> None:
    rid = new_run(store)
    t = trial(
        rid,
        0,
        prompt="Réponds: 日本語 🎌\n«guillemets»",
        description="ünïcode ✓",
        error="provider said «non»",
        prompt_label="Prompt é",
        provider_label="モデル",
    )
    store.add_trials([t])
    assert list(store.iter_trials(rid)) == [t]


def test_nul_in_text_fields(store: Store) -> None:
    rid = new_run(store)
    store.add_trials([trial(rid, 0, prompt="a\x00b", error="e\x00", output="o\x00")])
    (got,) = store.iter_trials(rid)
    assert got.output == "o\x00"  # JSON keeps it everywhere
    if store.engine.dialect.name == "sqlite":
        assert (got.prompt, got.error) == ("a\x00b", "e\x00")
    else:  # PostgreSQL text cannot hold NUL: replaced rather than losing the trial
        assert (got.prompt, got.error) == ("a\ufffdb", "e\ufffd")


def test_scores_get_one_row_per_component(store: Store) -> None:
    rid = new_run(store)
    store.add_trials(
        [
            trial(rid, 0),
            trial(rid, 1, grading=grading(("icontains", True, 1.0, "m1"))),
            trial(rid, 2, grading=None),
            trial(rid, 3, grading=GradingResult(True, 1.0, "no assertions")),
        ]
    )
    rows = score_rows(store, rid)
    assert [(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6]) for r in rows] == [
        (0, 0, "contains", True, 1.0, "contains said True", None),
        (0, 1, "equals", False, 0.0, "equals said False", "exact"),
        (1, 0, "icontains", True, 1.0, "icontains said True", "m1"),
    ]


def test_repeat_index_replaces_trial_and_its_scores(store: Store) -> None:
    rid = new_run(store)
    store.add_trials([trial(rid, 0), trial(rid, 1)])
    again = trial(
        rid,
        0,
        output="second try",
        success=True,
        score=1.0,
        grading=grading(("regex", True, 1.0, None)),
    )
    store.add_trials([again])
    assert store.count_trials(rid) == 2
    got = list(store.iter_trials(rid))
    assert got[0] == again
    assert got[1] == trial(rid, 1)
    assert [(r[0], r[2]) for r in score_rows(store, rid)] == [
        (0, "regex"),
        (1, "contains"),
        (1, "equals"),
    ]
    # The same index twice in one batch: the last one wins.
    store.add_trials([trial(rid, 5, output="old"), trial(rid, 5, output="new")])
    assert [t.output for t in store.iter_trials(rid) if t.index == 5] == ["new"]
    assert store.finished_indexes(rid) == {0, 1, 5}


def test_trials_of_several_runs_in_one_batch(store: Store) -> None:
    r1, r2 = new_run(store), new_run(store)
    store.add_trials([trial(r1, 0), trial(r2, 0), trial(r2, 1)])
    assert (store.count_trials(r1), store.count_trials(r2)) == (1, 2)
    assert store.finished_indexes(r2) == {0, 1}
    assert store.finished_indexes(str(uuid.uuid4())) == set()
    store.add_trials([])  # nothing to do, no error


def test_iter_trials_streams_in_batches(store: Store) -> None:
    rid = new_run(store)
    n = 20_000
    for start in range(0, n, 2_000):
        store.add_trials(
            [
                trial(rid, i, output={"i": i}, grading=None, raw=None)
                for i in range(start, start + 2_000)
            ]
        )
    selects: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM trials" in statement:
            selects.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        it = store.iter_trials(rid, batch_size=1_000)
        first = next(it)
        assert first.index == 0
        assert len(selects) == 1  # only the first batch was read
        # A trial stored while iterating still shows up: the rest was not preloaded.
        store.add_trials([trial(rid, n, output={"i": n}, grading=None, raw=None)])
        seen = [first.index] + [t.index for t in it]
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    assert seen == list(range(n + 1))
    assert len(selects) == 21  # 20 full batches and one of a single row
    assert store.count_trials(rid) == n + 1


def test_committed_trials_are_visible_to_a_second_store(db_url: str) -> None:
    with Store.open(db_url) as writer:
        rid = new_run(writer)
        writer.add_trials([trial(rid, 0)])
        with Store.open(db_url) as reader:
            assert [t.index for t in reader.iter_trials(rid)] == [0]
            writer.add_trials([trial(rid, 1)])
            assert reader.count_trials(rid) == 2
            assert reader.get_run(rid[:8]).trial_count == 2


CHILD = textwrap.dedent(
    """
    import sys, time
    from promptyard.store import Store
    from promptyard.core.types import TrialResult

    store = Store.open(sys.argv[1])
    rid = sys.argv[2]
    i = 0
    while True:
        t = TrialResult(run_id=rid, index=i, case_index=i, case_id="c", prompt_id="p",
                        prompt_label="p", provider_id="echo", provider_label="echo", sample=0,
                        description=None, vars={"i": i}, prompt="p", output={"i": i})
        store.add_trials([t])
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_commits_survive_sigkill_of_the_writer(db_url: str) -> None:
    with Store.open(db_url) as s:
        rid = new_run(s)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, rid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked = -1
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while acked < 200 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    assert acked >= 200, f"writer acknowledged only {acked + 1} commits; stderr: {err[-2000:]}"
    with Store.open(db_url) as s:
        got = list(s.iter_trials(rid))
        # Every acknowledged commit is there, without gaps (maybe one more, killed after commit).
        assert len(got) >= acked + 1
        assert [t.index for t in got] == list(range(len(got)))
        assert all(t.output == {"i": t.index} for t in got)
        if s.engine.dialect.name == "sqlite":
            with s.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"


# -- cache ------------------------------------------------------------------------------------


def test_cache_round_trip(store: Store) -> None:
    assert store.cache_get_many([]) == {}
    assert store.cache_get_many(["missing"]) == {}
    value = {"output": "Bonjour 🌍", "usage": {"prompt": 3}, "raw": {"n": [1, None]}}
    store.cache_put_many({"k1": value, "k2": {"output": None}})
    assert store.cache_get_many(["k1", "k2", "k3", "k1"]) == {"k1": value, "k2": {"output": None}}
    store.cache_put_many({"k1": {"output": "replaced"}})
    assert store.cache_get_many(["k1"]) == {"k1": {"output": "replaced"}}
    many = {f"sha256:{i:064x}": {"i": i} for i in range(1_200)}  # more than one IN list
    store.cache_put_many(many)
    assert store.cache_get_many(list(many)) == many


# -- urls -------------------------------------------------------------------------------------


def test_default_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PROMPTYARD_DATABASE_URL", raising=False)
    url = default_database_url(str(tmp_path))
    assert url == f"sqlite:///{tmp_path.resolve()}/.promptyard/promptyard.db"
    with Store.open(url) as s:
        new_run(s)
    assert (tmp_path / ".promptyard" / "promptyard.db").is_file()
    monkeypatch.setenv("PROMPTYARD_DATABASE_URL", "postgresql://u@db:5432/py")
    assert default_database_url(str(tmp_path)) == "postgresql+psycopg://u@db:5432/py"


def test_normalize_url() -> None:
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalize_url("/tmp/a b/x.db") == "sqlite:////tmp/a b/x.db"
    assert normalize_url(":memory:") == "sqlite://"


def test_in_memory_sqlite_works() -> None:
    with Store.open("sqlite://") as s:
        rid = new_run(s)
        s.add_trials([trial(rid, 0)])
        assert [t.index for t in s.iter_trials(rid)] == [0]


# -- throughput -------------------------------------------------------------------------------


def test_add_trials_throughput_sqlite(tmp_path: Path) -> None:
    """Reports rows/s and CPU per trial (run with -s to see them); fails only if far off."""
    with Store.open(str(tmp_path / "bench.db")) as s:
        rid = new_run(s)
        n, start = 2_000, 0
        cpu_per_trial = {}
        for batch in (1, 64):
            ts = [trial(rid, start + i) for i in range(n)]
            start += n
            wall, cpu = time.perf_counter(), time.process_time()
            for j in range(0, n, batch):
                s.add_trials(ts[j : j + batch])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            cpu_per_trial[batch] = cpu / n
            print(
                f"add_trials batch={batch}: {n / wall:,.0f} trials/s, "
                f"{cpu / n * 1e6:.0f} us CPU per trial"
            )
        assert s.count_trials(rid) == 2 * n
    # Figures only (run with -s); speed is judged in bench/, not by a timed test.
    assert set(cpu_per_trial) == {1, 64}
