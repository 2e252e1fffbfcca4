"""The same eval with `--db postgresql://...`: runs, cache, listing and export in PostgreSQL.

Each test gets its own schema (created with psycopg, dropped after); skipped with the reason
when no server is reachable at 127.0.0.1:5432.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator

import pytest
from tests.e2e.clitools import Project, assert_clean_error, run_id_from, word_tests

PG = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG, connect_timeout=3, autocommit=True)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG}: {exc}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{PG}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_eval_runs_list_and_export_against_postgresql(project: Project, pg_url: str) -> None:
    project.config(word_tests("alpha", "beta", "gamma", expect={"gamma": "omega"}))
    first = project.eval("--db", pg_url, "-o", "out.json")
    assert first.returncode == 100, str(first)
    assert project.stub.request_count == 3
    run_id = run_id_from(first)
    assert "2/3 passed" in first.stdout
    # Nothing went to the project's SQLite file.
    assert not (project.root / ".promptyard" / "promptyard.db").exists()

    again = project.eval("--db", pg_url)
    assert again.returncode == 100, str(again)
    assert project.stub.request_count == 3, "the cache lives in PostgreSQL too"
    second_id = run_id_from(again)

    listing = project.cli("runs", "list", "--db", pg_url)
    assert listing.returncode == 0, str(listing)
    assert listing.stdout.index(second_id[:8]) < listing.stdout.index(run_id[:8])

    shown = project.cli("runs", "show", run_id[:8], "--db", pg_url)
    assert shown.returncode == 0, str(shown)
    assert "case-gamma" in shown.stdout

    exported = project.cli("export", run_id[:8], "--db", pg_url, "--format", "csv")
    assert exported.returncode == 0, str(exported)
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["success"] for r in table] == ["true", "true", "false"]
    doc = json.loads((project.root / "out.json").read_text())
    assert [r["success"] for r in doc["results"]["results"]] == [True, True, False]

    missing = project.cli("runs", "show", "zzzz", "--db", pg_url)
    assert_clean_error(missing, "no run matches 'zzzz'")
