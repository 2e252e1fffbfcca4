"""The lean SQLite run store (store/lite.py) writes exactly what the full Store writes, opens
only a current SQLite file, and spares `promptyard eval` SQLAlchemy's import."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_store import trial

from promptyard.core.types import TokenUsage
from promptyard.errors import StoreError
from promptyard.store import Store
from promptyard.store.lite import LiteStore
from promptyard.store.schema import metadata

RUN = "7f1c2d3e-0000-4000-8000-000000000001"


def fresh_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    Store.open(url).close()  # created and migrated, as after a project's first run
    return url


def write_a_run(store: Any) -> dict[str, dict[str, Any]]:
    """The engine's writes for one run, with awkward values; returns cache reads."""
    store.create_run(
        run_id=RUN,
        description="ünïcode run",
        config={"prompts": ["p"], "nan": float("nan"), "obj": object.__name__},
        created_at="2026-12-07T10:00:00+00:00",
        prompts=[{"id": "p1", "label": "Prompt 1"}],
        providers=[{"id": "openai:gpt-4.1-mini", "config": {"temperature": 0}}],
        project="demo",
    )
    store.add_trials([trial(RUN, 0), trial(RUN, 1, output={"json": ["out", 1.5]}, kpis={"k": 1})])
    # Index 1 again (a retry): replaces the trial and its scores; index 2 has no grading.
    store.add_trials(
        [
            trial(RUN, 1, output="second", error="boom\x00nul", usage=TokenUsage(1, 2, 3, 0)),
            trial(RUN, 2, grading=None, success=False, score=0.0, output=None, raw=None),
        ]
    )
    store.cache_put_many({"k1": {"output": "a", "n": [1, 2]}, "k2": {"output": "ß"}})
    store.cache_put_many({"k1": {"output": "replaced"}})
    store.finish_run(
        RUN, status="succeeded", summary={"pass_rate": 0.5}, finished_at="2026-12-07T10:01:00"
    )
    return store.cache_get_many(["k1", "k2", "missing", "k1"])  # type: ignore[no-any-return]


def table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in ("runs", "trials", "scores", "cache"):
            cols = [c.name for c in metadata.tables[table].c if c.name != "created_at"]
            if table != "cache":
                cols.append("created_at")  # the engine's times; the cache stamps its own
            names = ", ".join(f'"{c}"' for c in cols)
            rows = conn.execute(f"SELECT {names} FROM {table} ORDER BY 1, 2").fetchall()
            out[table] = [tuple(r) for r in rows]
        return out
    finally:
        conn.close()


def test_lite_store_writes_the_same_rows_as_the_full_store(tmp_path: Path) -> None:
    full_url = fresh_db(tmp_path / "full.db")
    lite_url = fresh_db(tmp_path / "lite.db")
    with Store.open(full_url) as full:
        full_hits = write_a_run(full)
    lite = LiteStore.open(lite_url)
    assert lite is not None
    try:
        lite_hits = write_a_run(lite)
    finally:
        lite.close()

    assert lite_hits == full_hits == {"k1": {"output": "replaced"}, "k2": {"output": "ß"}}
    full_rows, lite_rows = table_rows(tmp_path / "full.db"), table_rows(tmp_path / "lite.db")
    assert [len(full_rows[t]) for t in full_rows] == [1, 3, 4, 2]
    assert lite_rows == full_rows
    # ...and the full Store reads the lean store's run back as its own.
    with Store.open(lite_url) as reader:
        record = reader.get_run(RUN)
        assert (record.status, record.trial_count, record.summary) == (
            "succeeded",
            3,
            {"pass_rate": 0.5},
        )
        assert [t.output for t in reader.iter_trials(RUN)] == ["answer 0", "second", None]


def test_statements_cover_every_column_of_the_schema() -> None:
    from promptyard.store.lite import _Sql

    def columns(insert: str) -> list[str]:
        inside = insert.split("(", 1)[1].split(")", 1)[0]
        return [c.strip().strip('"') for c in inside.split(",")]

    assert columns(_Sql.upsert_trial) == [c.name for c in metadata.tables["trials"].c]
    assert columns(_Sql.insert_run) == [c.name for c in metadata.tables["runs"].c]
    score_columns = [c.name for c in metadata.tables["scores"].c]
    assert sorted(columns(_Sql.insert_score)) == sorted(score_columns)
    assert columns(_Sql.cache_put) == [c.name for c in metadata.tables["cache"].c]


def test_opens_only_a_current_sqlite_file(tmp_path: Path) -> None:
    assert LiteStore.open(f"sqlite:///{tmp_path / 'missing.db'}") is None  # the Store creates it
    assert LiteStore.open("sqlite://") is None  # in memory
    assert LiteStore.open("postgresql+psycopg://u@127.0.0.1/db") is None
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("not sqlite at all")
    assert LiteStore.open(f"sqlite:///{not_a_db}") is None
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert LiteStore.open(f"sqlite:///{empty}") is None

    older = tmp_path / "older.db"
    url = fresh_db(older)
    conn = sqlite3.connect(older)
    conn.execute("DROP TABLE iterations")  # as a database of the release before 0004 was
    conn.execute("UPDATE alembic_version SET version_num = '0003_registry_jobs'")
    conn.commit()
    conn.close()
    assert LiteStore.open(url) is None  # the full Store must migrate it first
    Store.open(url).close()
    current = LiteStore.open(url)
    assert current is not None
    current.close()


def test_errors_name_the_database_and_the_run(tmp_path: Path) -> None:
    url = fresh_db(tmp_path / "s.db")
    lite = LiteStore.open(url)
    assert lite is not None
    try:
        write_a_run(lite)
        with pytest.raises(StoreError, match=rf"{tmp_path}.*run {RUN} already exists"):
            write_a_run(lite)
        with pytest.raises(StoreError, match="cannot finish run nope: no such run"):
            lite.finish_run("nope", status="failed", summary={}, finished_at="x")
        with pytest.raises(ValueError, match="not one of"):
            lite.finish_run(RUN, status="done", summary={}, finished_at="x")
        # A trial of an unknown run breaks the foreign key: the batch is refused whole.
        with pytest.raises(StoreError, match=r"store 1 trial\(s\) of run other failed"):
            lite.add_trials([trial("other", 0)])
        lite.add_trials([trial(RUN, 5)])  # the connection is usable after the rollback
    finally:
        lite.close()


def test_resume_reads_go_through_the_full_store(tmp_path: Path) -> None:
    url = fresh_db(tmp_path / "s.db")
    lite = LiteStore.open(url)
    assert lite is not None
    try:
        write_a_run(lite)
        assert lite.finished_indexes(RUN) == {0, 1, 2}
        assert [t.index for t in lite.iter_trials(RUN)] == [0, 1, 2]
        lite.reopen_run(RUN)
        lite.add_trials([trial(RUN, 3)])
        lite.finish_run(RUN, status="succeeded", summary={}, finished_at="y")
    finally:
        lite.close()
    with Store.open(url) as reader:
        assert reader.get_run(RUN).trial_count == 4


def test_eval_on_a_current_store_never_imports_sqlalchemy(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    config = {
        "prompts": ["Say {{ word }}"],
        "providers": ["echo"],
        "tests": [
            {"vars": {"word": w}, "assert": [{"type": "contains", "value": w}]} for w in "ab"
        ],
    }
    (project / "promptyard.yaml").write_text(json.dumps(config))
    script = textwrap.dedent(
        """
        import sys
        from promptyard import evaluate
        result = evaluate("promptyard.yaml")
        print(result.summary["passed"], "sqlalchemy" in sys.modules)
        """
    )

    def run() -> str:
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    assert run() == "2 True"  # the first run creates the store: the full Store migrates it
    assert run() == "2 False"  # later runs write through the lean store
    with Store.open(f"sqlite:///{project / '.promptyard' / 'promptyard.db'}") as reader:
        runs = reader.list_runs()
        assert [r.trial_count for r in runs] == [2, 2]
        assert all(r.status == "succeeded" for r in runs)
