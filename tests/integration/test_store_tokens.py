"""API tokens on SQLite and PostgreSQL: secrets shown once, only hashes stored.

One database per module and backend: a SQLite file, or a fresh PostgreSQL schema (set through
the connection's search_path) dropped at the end. Each test starts from an empty tokens table.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from promptyard.errors import NotFound
from promptyard.store import Store
from promptyard.store.tokens import TokenStore


@pytest.fixture
def store(opened: Store) -> Store:
    with opened.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tokens"))
    return opened


@pytest.fixture
def ts(store: Store) -> TokenStore:
    return store.tokens


def raw_rows(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM tokens"))]


def test_create_shows_the_secret_once_and_stores_only_its_hash(
    store: Store, ts: TokenStore
) -> None:
    rec, secret = ts.create("ci", scopes=["write"], kind="service")
    assert re.fullmatch(r"pyd_[A-Za-z0-9_-]{40}", secret)
    assert (rec.name, rec.kind, rec.scopes, rec.prefix) == ("ci", "service", ("write",), secret[:8])
    assert rec.last_used_at is None and rec.revoked_at is None
    d = rec.to_dict()
    assert d["scopes"] == ["write"]
    assert "token_hash" not in d and secret not in json.dumps(d)
    assert secret not in repr(rec)

    (row,) = raw_rows(store)
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    # The secret is in no column, whole or as its random part.
    for value in row.values():
        text = json.dumps(value) if not isinstance(value, str) else value
        assert secret not in text and secret[4:] not in text
    assert row["prefix"] == secret[:8]

    _, other = ts.create("ci", scopes=["read"])
    assert other != secret  # names need not be unique; secrets are


def test_verify(ts: TokenStore) -> None:
    rec, secret = ts.create("me", scopes=["read", "admin"])
    got = ts.verify(secret)
    assert got is not None and got.id == rec.id
    assert got.scopes == ("read", "admin")
    assert got.allows("write") and got.allows("admin")
    assert got.last_used_at is not None

    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for wrong in (flipped, secret + "x", secret[:-1], "pyd_", "", "Bearer " + secret, secret[4:]):
        assert ts.verify(wrong) is None
    assert ts.verify(None) is None  # type: ignore[arg-type]


def test_verify_compares_every_candidate_with_the_same_prefix(store: Store, ts: TokenStore) -> None:
    rec, secret = ts.create("real", scopes=["read"])
    # A second row with the same shown prefix but another hash must not match.
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tokens (id, name, kind, scopes, token_hash, prefix, created_at) "
                "VALUES (:i, 'decoy', 'personal', '[\"admin\"]', :h, :p, :c)"
            ),
            {"i": str(uuid.uuid4()), "h": "0" * 64, "p": rec.prefix, "c": rec.created_at},
        )
    got = ts.verify(secret)
    assert got is not None and (got.id, got.name) == (rec.id, "real")


def test_last_used_at_is_written_at_most_once_a_minute(store: Store, ts: TokenStore) -> None:
    rec, secret = ts.create("me", scopes=["read"])
    first = ts.verify(secret)
    assert first is not None and first.last_used_at is not None
    second = ts.verify(secret)
    assert second is not None and second.last_used_at == first.last_used_at
    assert ts.get(rec.id).last_used_at == first.last_used_at

    old = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="microseconds")
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE tokens SET last_used_at = :t"), {"t": old})
    third = ts.verify(secret)
    assert third is not None and third.last_used_at is not None and third.last_used_at > old
    assert ts.get(rec.id).last_used_at == third.last_used_at


def test_revoke(ts: TokenStore) -> None:
    rec, secret = ts.create("me", scopes=["write"])
    keep, keep_secret = ts.create("keep", scopes=["read"])
    revoked = ts.revoke(rec.id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert ts.verify(secret) is None
    assert ts.verify(keep_secret) is not None
    again = ts.revoke(rec.id)
    assert again.revoked_at == revoked.revoked_at  # the first revocation time stays
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=missing):
        ts.revoke(missing)
    with pytest.raises(NotFound, match=missing):
        ts.get(missing)

    items = ts.list()
    assert ([t.id for t in items], items.total) == ([keep.id, rec.id], 2)
    live = ts.list(include_revoked=False)
    assert (live, live.total) == ([ts.get(keep.id)], 1)


def test_list_is_newest_first_and_paginated(ts: TokenStore) -> None:
    ids = [ts.create(f"t{i}", scopes=["read"])[0].id for i in range(5)]
    items = ts.list(limit=2, offset=1)
    assert ([t.id for t in items], items.total) == (ids[::-1][1:3], 5)
    past = ts.list(limit=2, offset=5)
    assert (past, past.total) == ([], 5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "x", "scopes": ["read"], "kind": "robot"}, "kind"),
        ({"name": " ", "scopes": ["read"]}, "name"),
    ],
)
def test_create_validates(ts: TokenStore, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ts.create(**kwargs)
    assert ts.list() == []


def test_scopes_include_the_ones_before() -> None:
    from promptyard.store.tokens import TokenRecord

    def rec(*scopes: str) -> TokenRecord:
        return TokenRecord("i", "n", "personal", scopes, "pyd_abcd", "t", None, None)

    assert [rec("read").allows(s) for s in ("read", "write", "admin")] == [True, False, False]
    assert [rec("write").allows(s) for s in ("read", "write", "admin")] == [True, True, False]
    assert [rec("admin").allows(s) for s in ("read", "write", "admin")] == [True, True, True]
    with pytest.raises(ValueError):
        rec("read").allows("superuser")


def test_tokens_part_is_built_once_on_the_store_engine(store: Store) -> None:
    assert store.tokens is store.tokens
    assert store.tokens.engine is store.engine
