"""API tokens: only a SHA-256 of each secret is stored, and the secret is shown once.

A secret is `pyd_` + 40 url-safe characters (240 random bits), so a plain hash is enough:
there is nothing to brute-force, unlike a password. verify() finds candidates by the
secret's first 8 characters (the `prefix` people see in listings) and compares the hashes
with hmac.compare_digest, so the lookup does not time a comparison of the secret itself.
Nothing here logs a secret or puts one in an exception message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from promptyard.errors import NotFound
from promptyard.store.part import Page, StorePart, json_ready, now, page
from promptyard.store.registry import check_printable
from promptyard.store.schema import tokens

SCOPES = ("read", "write", "admin")  # each includes the ones before it
KINDS = ("personal", "service")
SECRET_PREFIX = "pyd_"
PREFIX_LEN = 8
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most once a minute


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as listed: never its secret or its hash."""

    id: str
    name: str
    kind: str
    scopes: tuple[str, ...]
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        """Whether the token grants `scope` (admin includes write includes read)."""
        if scope not in SCOPES:
            raise ValueError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        need = SCOPES.index(scope)
        return any(s in SCOPES and SCOPES.index(s) >= need for s in self.scopes)

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


class TokenStore(StorePart):
    """Tokens for the server's API. Thread-safe; each method is one short transaction."""

    def create(
        self, name: str, *, scopes: Iterable[str], kind: str = "personal"
    ) -> tuple[TokenRecord, str]:
        """A new token and its secret. The secret is not stored and cannot be shown again."""
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > 200:
            raise ValueError("a token needs a name of 1 to 200 characters")
        check_printable(name, "token name")
        if kind not in KINDS:
            raise ValueError(f"token kind {kind!r} is not one of {', '.join(KINDS)}")
        wanted = [scopes] if isinstance(scopes, str) else list(scopes)
        bad = [s for s in wanted if s not in SCOPES]
        if bad or not wanted:
            raise ValueError(f"token scopes must be some of {', '.join(SCOPES)}, got {wanted!r}")
        secret = SECRET_PREFIX + secrets.token_urlsafe(30)
        rec = TokenRecord(
            str(uuid.uuid4()),
            name,
            kind,
            tuple(s for s in SCOPES if s in wanted),
            secret[:PREFIX_LEN],
            now(),
            None,
            None,
        )
        row = {**json_ready(rec), "token_hash": _hash(secret)}
        with self._errors(f"create token {name!r}"), self._write() as conn:
            conn.execute(tokens.insert(), row)
        return rec, secret

    def verify(self, secret: str) -> TokenRecord | None:
        """The live token whose secret this is, else None (unknown, malformed or revoked)."""
        if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
            return None
        digest = _hash(secret)
        q = sa.select(tokens).where(tokens.c.prefix == secret[:PREFIX_LEN])
        with self._errors("verify a token"), self.engine.connect() as conn:
            candidates = conn.execute(q).all()
        match = None
        for r in candidates:  # compare every candidate: no early exit on a match
            if hmac.compare_digest(r.token_hash, digest):
                match = r
        if match is None or match.revoked_at is not None:
            return None
        rec = _token(match)
        at = datetime.now(UTC)
        cutoff = (at - _TOUCH_EVERY).isoformat(timespec="microseconds")
        if rec.last_used_at is None or rec.last_used_at < cutoff:
            stamp = at.isoformat(timespec="microseconds")
            with self._errors("record a token's use"), self._write() as conn:
                conn.execute(
                    tokens.update().where(
                        tokens.c.id == rec.id,
                        sa.or_(tokens.c.last_used_at.is_(None), tokens.c.last_used_at < cutoff),
                    ),
                    {"last_used_at": stamp},
                )
            rec = _token(match, last_used_at=stamp)
        return rec

    def list(
        self, *, include_revoked: bool = True, limit: int | None = None, offset: int = 0
    ) -> Page[TokenRecord]:
        """Tokens (revoked ones too unless told otherwise), newest first, with `.total`."""
        where = [] if include_revoked else [tokens.c.revoked_at.is_(None)]
        with self._errors("list tokens"), self.engine.connect() as conn:
            rows, total = page(conn, tokens, where, limit, offset)
        return Page((_token(r) for r in rows), total)

    def get(self, token_id: str) -> TokenRecord:
        with self._errors(f"read token {token_id}"), self.engine.connect() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound(f"no token {token_id}")
        return _token(row)

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke a token for good; revoking again keeps the first revocation time."""
        with self._errors(f"revoke token {token_id}"), self._write() as conn:
            conn.execute(
                tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)),
                {"revoked_at": now()},
            )
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
            if row is None:
                raise NotFound(f"no token {token_id}")
        return _token(row)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(r: Any, *, last_used_at: str | None = None) -> TokenRecord:
    return TokenRecord(
        r.id,
        r.name,
        r.kind,
        tuple(r.scopes),
        r.prefix,
        r.created_at,
        last_used_at or r.last_used_at,
        r.revoked_at,
    )
