"""Which config keys hold secrets, and a copy of a config with their values hidden.

Secrets are referenced by environment variable name (`api_key_env`, `apiKeyEnvar`); a value
under a key like `apiKey`, `token` or `Authorization` is never stored, returned or logged.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SECRET_WORDS = frozenset({"token", "password", "passwd", "secret", "authorization"})
_KEY_WORDS = frozenset({"api", "access", "private", "secret", "auth"})


def is_secret_key(key: object) -> bool:
    """True for `apiKey`, `api_key`, `key`, `access_token`, `password`, `Authorization`...;
    False for names of variables (`api_key_env`, `apiKeyEnvar`) and `max_tokens` alike."""
    words = [w.lower() for w in _WORD.findall(str(key))]
    if not words or words[-1] in ("env", "envar"):
        return False
    return (
        words[-1] in _SECRET_WORDS
        or "".join(words) in ("apikey", "key")
        or (words[-1] == "key" and len(words) > 1 and words[-2] in _KEY_WORDS)
    )


def redact(value: Any) -> Any:
    """`value` with every secret-keyed value replaced by REDACTED, at any depth. Only the
    containers on the way to a secret are copied; the rest is shared (a config with 100,000
    inline tests is not duplicated to hide one key)."""
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            new = REDACTED if v and is_secret_key(k) else redact(v)
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [redact(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
